"""A key of motia_nb's layout holding another kind of Redis value (another tool wrote a string
where a sorted set, a stream or a counter belongs): every write refuses before it changes
anything, in one line naming the key and what it holds, or goes through whole.

Redis has no rollback: a write script that met WRONGTYPE half-way kept what it had written. Found
by writing the wrong type into each of :func:`write_keys`' keys in turn and making each kind of
write: a delete with the order or key index wrong removed the item from the hash and failed; a
new item's set with ``motia_nb:seq`` or the key text's chunks wrong stored it, unordered; any
write with the history counter or the group's stream wrong stored the change with no history
(and each said "not a hash; nothing was written", though the hash was fine and it was written).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis.layout import write_keys
from motia_nb.state.errors import StateError

pytestmark = pytest.mark.redis

KEYS = write_keys("g")
COUNTERS = ("motia_nb:seq", "motia_nb:history:seq", "motia_nb:keys_ready:g", "motia_nb:history_index_from:g",
            "motia_nb:history_index_upto:g", "motia_nb:history_count:g")  # fmt: skip
#: (key, write) pairs that half-wrote before the scripts checked their keys first
HALF_WROTE = {
    ("motia_nb:order:g", "delete"), ("motia_nb:keys:g", "delete"),
    *[("motia_nb:seq", w) for w in ("set-new", "update-new", "write_all")],
    *[("motia_nb:keys_chunks:g", w) for w in ("set-new", "update-new", "delete", "write_all")],
    *[(k, w) for k in ("motia_nb:history:seq", "motia_nb:history:g")
      for w in ("set-new", "set-old", "update", "update-new", "delete", "clear", "write_all")],
}  # fmt: skip


def _writes(m: StateManager) -> dict[str, Callable[[], Any]]:
    async def gather() -> None:
        for r in await asyncio.gather(*(m.set("g", f"n{i}", i) for i in range(3)), return_exceptions=True):
            if isinstance(r, BaseException):
                raise r

    return {
        "set-new": lambda: m.sync.set("g", "new", 1),
        "set-old": lambda: m.sync.set("g", "a", 9),
        "gather": lambda: asyncio.run(gather()),
        "update": lambda: m.sync.update("g", "a", [{"type": "set", "path": "x", "value": 2}]),
        "update-new": lambda: m.sync.update("g", "u", [{"type": "set", "path": "x", "value": 2}]),
        "delete": lambda: m.sync.delete("g", "a"),
        "clear": lambda: m.sync.clear("g"),
        "write_all": lambda: m.backend.write_all([Write("set", "g", "w1", value_json="1"), Write("set", "g", "w2", value_json="2")]),
    }


WRITES = list(_writes(None))  # type: ignore[arg-type]


def _snapshot(c: Any, skip: str) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    for k in sorted(c.keys("*")):
        if k.decode() == skip:
            continue
        t = c.type(k).decode()
        if t == "hash":
            out[k] = sorted(c.hgetall(k).items())
        elif t == "zset":
            out[k] = c.zrange(k, 0, -1, withscores=True)
        elif t == "string":
            out[k] = c.get(k)
        elif t == "stream":
            out[k] = [e[0] for e in c.xrange(k)]
        else:
            out[k] = t
    return out


@pytest.fixture(scope="module")
def sm(redis_server: Any) -> Iterator[StateManager]:
    m = StateManager(redis_server.url)
    yield m
    m.close()


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("key", KEYS)
def test_a_write_meeting_a_key_of_the_wrong_type_refuses_before_changing_anything(
    sm: StateManager, redis_server: Any, key: str, write: str
) -> None:
    c = redis_server.client()
    try:
        c.flushall()
        sm.sync.set("g", "a", {"v": 1})
        sm.sync.set("g", "b", 2)
        c.delete(key)
        if key in COUNTERS:
            c.hset(key, "f", "v")  # a hash where a counter's string belongs
            holds = "holds a hash"
        else:
            c.set(key, "x")  # a string where a hash, a sorted set or a stream belongs
            holds = "holds a string"
        before = _snapshot(c, key)
        try:
            _writes(sm)[write]()
        except StateError as exc:
            assert "\n" not in str(exc), exc
            assert _snapshot(c, key) == before, f"{write} half-wrote with {key} of the wrong type: {exc}"
            if write == "write_all" and key in ("state:g", "motia_nb:order:g"):  # (Redis's WRONGTYPE, naming the item)
                assert "'g'/'w1': WRONGTYPE" in str(exc), exc
            elif key == "state:g" or (key == "motia_nb:order:g" and write != "delete"):  # (read first: the group's 'not a hash')
                assert "state:g (or its order index)" in str(exc) and "not a hash" in str(exc), exc
            else:
                assert f"{key} {holds}" in str(exc), exc
            if write != "write_all":  # (a set failing inside EXEC: the transaction's line says how many stood)
                assert str(exc).endswith("nothing was written"), exc
        else:
            assert (key, write) not in HALF_WROTE, f"{write} went through with {key} of the wrong type"
    finally:
        c.close()


def test_a_counter_holding_text_is_refused_naming_it(sm: StateManager, redis_server: Any) -> None:
    c = redis_server.client()
    try:
        c.flushall()
        sm.sync.set("g", "a", 1)
        c.set("motia_nb:history:seq", "not a number")
        with pytest.raises(StateError, match=r"motia_nb:history:seq holds a string that is not an integer, not an integer .*nothing was written$"):
            sm.sync.set("g", "a", 2)
        assert sm.sync.get("g", "a") == 1
    finally:
        c.close()
