"""Issue 12 §2.5 and §2.7 on the Redis backend: values written by another tool that are
not JSON are errors naming the group and key; an update whose result cannot be
stored is an ``UpdateOpError`` naming the op (never a bare ``ValueError``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.errors import StateError, StoredValueError

pytestmark = pytest.mark.redis

BAD_VALUES = {
    "text": "hello",  # plain text (redis-cli HSET state:g text hello)
    "nan": "NaN",
    "huge": "1e400",  # json.loads would give inf
    "deep": '{"x": [1e400]}',
    "bigint": "1" + "0" * 5000,  # over Python's int digit limit
    "latin1": b"\xff\xfe caf\xe9",  # not UTF-8
}


@pytest.fixture
def sm(redis_url: str) -> Iterator[StateManager]:
    m = StateManager(redis_url)
    yield m
    m.close()


@pytest.fixture
def raw(redis_server: Any, redis_url: str) -> Iterator[Any]:
    import redis

    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.mark.parametrize("key", sorted(BAD_VALUES))
def test_a_value_that_is_not_json_is_an_error_naming_group_and_key(sm: StateManager, raw: Any, key: str) -> None:
    sm.sync.set("g", "ok", {"a": 1})
    raw.hset("state:g", key, BAD_VALUES[key])
    with pytest.raises(StoredValueError, match=rf"'g'/'{key}'") as info:
        sm.sync.get("g", key)
    assert info.value.group_id == "g" and info.value.key == key
    for read in (lambda: sm.sync.items("g"), lambda: sm.sync.list("g"), lambda: sm.sync.items("g", order="key")):
        with pytest.raises(StoredValueError, match=rf"'g'/'{key}'"):
            read()
    with pytest.raises(StoredValueError, match=rf"'g'/'{key}'"):
        sm.backend.rows_json("g")  # the DataFrame path
    # an update cannot start from it: nothing is written
    with pytest.raises(StoredValueError, match=rf"'g'/'{key}'"):
        sm.sync.update("g", key, [{"type": "set", "path": "y", "value": 1}])
    assert raw.hget("state:g", key) == (BAD_VALUES[key] if isinstance(BAD_VALUES[key], bytes) else BAD_VALUES[key].encode())
    # the good item still reads; a plain set (or delete) repairs the bad one
    assert sm.sync.get("g", "ok") == {"a": 1}
    sm.sync.set("g", key, 2)
    assert sm.sync.get("g", key) == 2


def test_stored_value_error_is_a_state_error() -> None:
    assert issubclass(StoredValueError, StateError)


def test_one_bad_update_in_a_pipelined_batch_fails_alone(sm: StateManager, raw: Any) -> None:
    import asyncio

    raw.hset("state:g", "bad", "1e400")

    async def batch() -> list[Any]:
        return await asyncio.gather(
            sm.set("g", "a", 1),
            sm.update("g", "bad", [{"type": "increment", "path": "", "by": 1}]),
            sm.set("g", "b", 2),
            return_exceptions=True,
        )

    a, bad, b = asyncio.run(batch())
    assert isinstance(bad, StoredValueError) and "'g'/'bad'" in str(bad)
    assert isinstance(a, dict) and isinstance(b, dict)
    assert sm.sync.get("g", "a") == 1 and sm.sync.get("g", "b") == 2


def test_an_unreachable_redis_from_the_python_api_is_a_short_traceback() -> None:
    """``state_manager.use('redis://127.0.0.1:1/0')`` in a cell showed 116 lines: redis-py's own
    connection traceback chained under ours. The message already says why; no chain."""
    import traceback

    from motia_nb.state.backends.redis import RedisBackendError

    sm = StateManager(":memory:")
    with pytest.raises(RedisBackendError, match=r"127\.0\.0\.1:1.*refused") as info:
        sm.use("redis://127.0.0.1:1/0")
    shown = "".join(traceback.format_exception(info.value))
    assert "direct cause" not in shown and "During handling" not in shown, shown
    assert len(shown.splitlines()) < 20, shown
    sm.close()
