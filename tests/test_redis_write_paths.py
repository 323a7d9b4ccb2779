"""The Redis backend's two write paths, observed by counters (never by timing):

- the async API's writes of one loop iteration reach the writer task together and
  commit in one pipeline, consecutive sets of a group in one ``set_many.lua`` call
  (one published message, which the author skips without parsing);
- a blocking write with nothing queued commits on its caller's thread (no pipeline),
  else behind the queued writes of the process, in order.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import RedisBackend, RedisBackendError
from motia_nb.state.backends.redis.wire import pack
from motia_nb.state.errors import StateError
from motia_nb.state.ops import normalize_ops
from motia_nb.testing import fixtures as shared
from motia_nb.testing.races import wait_until

pytestmark = pytest.mark.redis


backend = shared.redis_backend  # an opened RedisBackend on an emptied database
raw = shared.redis_client  # a plain redis-py client on it


def sets(group: str, n: int, start: int = 0) -> list[Write]:
    return [Write("set", group, f"k{i}", value_json=f'{{"i":{i}}}') for i in range(start, start + n)]


async def gather_all(b: RedisBackend, writes: list[Write], result_only: bool = True) -> list[Any]:
    return await asyncio.gather(*(b.submit_async(w, result_only=result_only) for w in writes))


def test_a_gather_of_sets_is_one_pipeline_one_script_call_and_one_skipped_echo(
    backend: RedisBackend, raw: Any, redis_url: str
) -> None:
    other = RedisBackend(redis_url)  # somebody else listens: the batch is published
    other.open()
    try:
        remote: list[Any] = []
        other.add_remote_listener(remote.extend)
        seen: list[Any] = []
        backend.add_listener(seen.extend)
        raw.hset("state:g", "k0", '{"old":true}')
        before = backend._writer.pipelines
        echoes = backend._subscriber.echoes
        results = asyncio.run(gather_all(backend, sets("g", 300)))
        assert backend._writer.pipelines - before == 1
        assert results[0] == {"new_value": {"i": 0}, "old_value": {"old": True}}
        assert results[1:] == [{"new_value": {"i": i}, "old_value": None} for i in range(1, 300)]
        expected = [("state:updated", "k0")] + [("state:created", f"k{i}") for i in range(1, 300)]
        assert [(e.event_type, e.item_id) for e in seen] == expected
        assert backend.keys("g") == [f"k{i}" for i in range(300)]  # insertion order kept
        # one published message for the whole call, recognised as ours without decoding it
        assert wait_until(lambda: backend._subscriber.echoes - echoes == 1)
        assert wait_until(lambda: len(remote) == 300)
        assert [(e.event_type, e.item_id) for e in remote] == expected and remote[0].old_value == {"old": True}
    finally:
        other.close()


def test_nothing_is_published_while_nobody_else_listens(backend: RedisBackend, raw: Any) -> None:
    def publishes() -> int:
        return int(raw.info("commandstats").get("cmdstat_publish", {}).get("calls", 0))

    assert wait_until(lambda: backend._subscriber.live)  # our own subscription is acknowledged
    before = publishes()
    asyncio.run(gather_all(backend, sets("g", 10)))
    backend.submit(Write("set", "g", "x", value_json="1")).result(5)
    backend.submit(Write("delete", "g", "x")).result(5)
    backend.submit(Write("clear", "g")).result(5)
    assert publishes() == before


def test_a_pattern_subscriber_still_gets_every_change(backend: RedisBackend, raw: Any) -> None:
    ps = raw.pubsub(ignore_subscribe_messages=True)
    ps.psubscribe("motia_nb:events:*")
    try:
        assert wait_until(lambda: raw.execute_command("PUBSUB", "NUMPAT") == 1)
        asyncio.run(gather_all(backend, sets("g", 3)))
        backend.submit(Write("delete", "g", "k0")).result(5)
        got: list[Any] = []

        def drained() -> bool:
            while (m := ps.get_message()) is not None:
                got.append(m)
            return len(got) >= 2

        assert wait_until(drained)
        kinds = [[e["t"] for e in json.loads(m["data"])["events"]] for m in got]
        assert kinds == [["state:created"] * 3, ["state:deleted"]]
    finally:
        ps.close()




def test_mixed_writes_in_one_batch_keep_insertion_order_and_results(backend: RedisBackend) -> None:
    inc = normalize_ops([{"type": "increment", "path": "n", "by": 1}], group_id="g", key="c")
    writes = [
        Write("set", "g", "a", value_json="1"),
        Write("update", "g", "c", ops=inc),  # creates c between a and b
        Write("set", "g", "b", value_json="2"),
        Write("set", "h", "x", value_json="3"),  # another group: its own call
        Write("set", "g", "d", value_json="4"),
        Write("delete", "g", "a"),  # same item as an earlier write: a new run
    ]
    results = asyncio.run(gather_all(backend, writes))
    assert results == [
        {"new_value": 1, "old_value": None},
        {"new_value": {"n": 1}, "old_value": None},
        {"new_value": 2, "old_value": None},
        {"new_value": 3, "old_value": None},
        {"new_value": 4, "old_value": None},
        1,
    ]
    assert backend.keys("g") == ["c", "b", "d"]
    assert backend.keys("h") == ["x"]


def test_a_set_batch_into_a_key_of_the_wrong_type_fails_whole_and_writes_nothing(backend: RedisBackend, raw: Any) -> None:
    raw.set("state:bad", "x")
    writes = sets("bad", 5) + sets("good", 5)
    async def main() -> list[Any]:
        return await asyncio.gather(*(backend.submit_async(w) for w in writes), return_exceptions=True)

    out = asyncio.run(main())
    assert all(isinstance(e, RedisBackendError) and "not a hash" in str(e) for e in out[:5])
    assert [r.result["new_value"] for r in out[5:]] == [{"i": i} for i in range(5)]
    assert raw.get("state:bad") == "x" and raw.zcard("motia_nb:order:bad") == 0


def test_a_blocking_write_with_nothing_queued_commits_on_the_callers_thread(backend: RedisBackend) -> None:
    threads: list[threading.Thread] = []
    backend.add_listener(lambda evs: threads.append(threading.current_thread()))
    before, direct = backend._writer.pipelines, backend._direct.commits
    inc = normalize_ops([{"type": "increment", "path": "n", "by": 2}], group_id="g", key="k")
    assert backend.submit(Write("set", "g", "k", value_json='{"n":1}')).result(0).result == {
        "new_value": {"n": 1}, "old_value": None}  # fmt: skip
    assert backend.submit(Write("update", "g", "k", ops=inc)).result(0).result["new_value"] == {"n": 3}
    assert backend.submit(Write("delete", "g", "k")).result(0).result == {"n": 3}
    backend.submit(Write("set", "g", "x", value_json="1")).result(0)
    assert backend.submit(Write("clear", "g")).result(0).result == 1
    assert backend._writer.pipelines == before  # the writer task was never involved
    assert backend._direct.commits - direct == 5
    assert threads == [threading.current_thread()] * 5


def test_a_lone_awaited_write_to_a_local_redis_commits_on_the_callers_thread(backend: RedisBackend) -> None:
    threads: list[threading.Thread] = []
    backend.add_listener(lambda evs: threads.append(threading.current_thread()))
    before, direct = backend._writer.pipelines, backend._direct.commits

    async def one_by_one() -> list[Any]:
        return [await backend.submit_async(w, result_only=True) for w in sets("g", 3)]

    assert asyncio.run(one_by_one())[2] == {"new_value": {"i": 2}, "old_value": None}
    assert backend._writer.pipelines == before and backend._direct.commits - direct == 3
    assert threads == [threading.current_thread()] * 3


def test_a_blocking_write_goes_behind_this_threads_unsent_async_writes(backend: RedisBackend) -> None:
    async def main() -> Any:
        pending = [backend.submit_async(w, result_only=True) for w in sets("g", 50)]
        # not awaited yet: a blocking write to the same item must not overtake them
        last = backend.submit(Write("set", "g", "k49", value_json='"sync"')).result(10)
        await asyncio.gather(*pending)
        return last.result

    assert asyncio.run(main()) == {"new_value": "sync", "old_value": {"i": 49}}
    assert backend.get("g", "k49") == "sync"


def test_a_blocking_write_from_a_listener_of_a_direct_commit_is_refused_not_deadlocked(backend: RedisBackend) -> None:
    errors: list[BaseException] = []

    def listener(evs: Any) -> None:
        if evs[0].group_id == "g":
            f = backend.submit(Write("set", "other", "k", value_json="1"))
            errors.append(f.exception(1))

    backend.add_listener(listener)
    backend.submit(Write("set", "g", "k", value_json="1")).result(5)
    assert len(errors) == 1 and isinstance(errors[0], StateError) and "subscriber" in str(errors[0])
    assert backend.get("other", "k") is None


def test_writes_from_many_threads_mixing_both_paths_lose_nothing(backend: RedisBackend) -> None:
    inc = normalize_ops([{"type": "increment", "path": "n", "by": 1}], group_id="g", key="n")

    def blocking() -> None:
        for _ in range(100):
            backend.submit(Write("update", "g", "n", ops=inc)).result(10)

    def gathered() -> None:
        asyncio.run(gather_all(backend, [Write("update", "g", "n", ops=inc) for _ in range(100)]))

    threads = [threading.Thread(target=f) for f in (blocking, blocking, gathered, gathered)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert backend.get("g", "n") == {"n": 400}


def test_the_facade_on_redis_gathers_and_sync_writes(redis_url: str) -> None:
    sm = StateManager(redis_url)
    try:
        before = sm.backend._writer.pipelines  # type: ignore[attr-defined]

        async def main() -> list[Any]:
            return await asyncio.gather(*(sm.set("f", f"k{i}", i) for i in range(100)))

        assert asyncio.run(main())[-1] == {"new_value": 99, "old_value": None}
        assert sm.backend._writer.pipelines - before == 1  # type: ignore[attr-defined]
        assert sm.sync.set("f", "k0", "x") == {"new_value": "x", "old_value": 0}
        assert sm.sync.list("f")[:2] == ["x", 1]
    finally:
        sm.close()


# ----------------------------------------------------------------------------- the direct path's wire (wire.py)
@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "f" * 40, 5, "state:g", "k", '{"a": "é ü 😀"}', "", 0, -1, 12345678901234567890, 2.5, 1e-7, b"\x00\xff"),
        ("HSET", "b", "k", ""),
    ],
)
def test_a_packed_call_is_byte_for_byte_what_redis_py_sends(args: tuple[Any, ...]) -> None:
    from redis.connection import Connection

    enc = Connection().encoder
    assert pack(args, enc.encoding, enc.encoding_errors, enc.encode) == b"".join(Connection().pack_command(*args))


def test_a_value_redis_py_refuses_is_refused_the_same_way() -> None:
    from redis.connection import Connection
    from redis.exceptions import DataError

    enc = Connection().encoder
    with pytest.raises(DataError):
        pack(("EVALSHA", True), enc.encoding, enc.encoding_errors, enc.encode)


def test_direct_writes_survive_a_killed_connection_and_a_flushed_script_cache(backend: RedisBackend, raw: Any) -> None:
    assert backend.submit(Write("set", "g", "a", value_json="1")).result(5).result["old_value"] is None
    raw.client_kill_filter(_type="normal", skipme=True)  # the direct path's kept connection dies
    assert backend.submit(Write("set", "g", "a", value_json="2")).result(5).result["old_value"] == 1
    raw.script_flush()  # NOSCRIPT: loaded again, then called
    assert backend.submit(Write("set", "g", "a", value_json="3")).result(5).result["old_value"] == 2
    assert backend.get("g", "a") == 3 and backend._direct is not None and backend._direct.commits == 3


def test_a_direct_write_interrupted_mid_round_trip_leaves_no_reply_for_the_next(backend: RedisBackend) -> None:
    """The reply of an interrupted call must not be read as the next call's (the connection goes)."""
    backend.submit(Write("set", "g", "warm", value_json="0")).result(5)
    direct = backend._direct
    assert direct is not None
    conn = direct._wire._connection()
    real = conn.read_response

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        conn.read_response = real  # once
        raise KeyboardInterrupt

    conn.read_response = interrupted
    with pytest.raises(KeyboardInterrupt):
        backend.submit(Write("set", "g", "x", value_json='"first"')).result(5)
    # the first set committed (its reply was never read); the next reads its own reply
    assert backend.submit(Write("set", "g", "y", value_json='"second"')).result(5).result["old_value"] is None
    assert backend.submit(Write("set", "g", "x", value_json='"third"')).result(5).result["old_value"] == "first"
