"""The Redis backend against the Backend contract, on a real redis-server.

Covers what the shared contract suite (tests/test_state_contract.py, parametrized
over backends) cannot: Motia's key layout in both directions, insertion order
beyond Redis' small-hash encoding, pipelined writes keeping their order, events
published to other processes, two processes x 1,000 increments, recovery after
SCRIPT FLUSH, and clear errors for bad URLs, dead servers and foreign key types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import asyncio
import threading
import time
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import RedisBackend, RedisBackendError
from motia_nb.state.errors import StateClosedError, StoredValueError, UpdateOpError
from motia_nb.state.ops import normalize_ops
from motia_nb.state.values import encode_value
from motia_nb.testing import fixtures as shared

pytestmark = pytest.mark.redis


# --------------------------------------------------------------------------- helpers
backend = shared.redis_backend  # an opened RedisBackend on an emptied database
raw = shared.redis_client  # a plain redis-py client on it: the 'by hand' / Motia side


def put(b: RedisBackend, group: str, key: str, value: Any) -> Any:
    return b.submit(Write("set", group, key, value_json=encode_value(value, group_id=group, key=key))).result(10)


def upd(b: RedisBackend, group: str, key: str, ops: list[dict[str, Any]]) -> Any:
    return b.submit(Write("update", group, key, ops=normalize_ops(ops, group_id=group, key=key))).result(10)


def delete(b: RedisBackend, group: str, key: str) -> Any:
    return b.submit(Write("delete", group, key)).result(10)


def clear(b: RedisBackend, group: str) -> Any:
    return b.submit(Write("clear", group)).result(10)


def wait_for(cond: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


# --------------------------------------------------------------------------- the contract, directly
def test_set_get_items_count_group_counts(backend: RedisBackend) -> None:
    r = put(backend, "orders", "o1", {"id": "o1", "total": 9.5})
    assert r.result == {"new_value": {"id": "o1", "total": 9.5}, "old_value": None}
    assert [(e.event_type, e.group_id, e.item_id) for e in r.events] == [("state:created", "orders", "o1")]
    r = put(backend, "orders", "o1", {"id": "o1", "total": 10})
    assert r.result["old_value"] == {"id": "o1", "total": 9.5}
    assert r.events[0].event_type == "state:updated"
    put(backend, "orders", "o2", [1, None])
    put(backend, "users", "u", "x")
    assert backend.get("orders", "o1") == {"id": "o1", "total": 10}
    assert backend.get("orders", "nope") is None
    assert backend.items("orders") == [("o1", {"id": "o1", "total": 10}), ("o2", [1, None])]
    assert backend.count("orders") == 2 and backend.count("empty") == 0
    assert backend.group_counts() == {"orders": 2, "users": 1}
    assert backend.values_json("orders") == ['{"id":"o1","total":10}', "[1,null]"]


def test_every_op_and_big_numbers_round_trip_exactly(backend: RedisBackend) -> None:
    big = 2**63 - 1  # i64::MAX: one more is the engine's u64, exactly
    put(backend, "g", "k", {"n": big, "f": 0.1, "tags": ["a"], "a": {"b": 1}, "gone": True, "s": "ab"})
    r = upd(
        backend,
        "g",
        "k",
        [
            {"type": "increment", "path": "n", "by": 1},
            {"type": "increment", "path": "f", "by": 2},
            {"type": "decrement", "path": ["new", "counter"], "by": 2},
            {"type": "append", "path": "tags", "value": {"x": [1]}},
            {"type": "append", "path": "s", "value": "c"},
            {"type": "merge", "path": "a", "value": {"c": {"d": 2}}},
            {"type": "set", "path": ["dotted.key", "x"], "value": None},
            {"type": "set", "path": "dotted.key", "value": 1},
            {"type": "remove", "path": "gone"},
            {"type": "remove", "path": "absent.deeper"},
        ],
    )
    expected = {
        "n": big + 1,
        "f": 0.1 + 2,
        "tags": ["a", {"x": [1]}],
        "a": {"b": 1, "c": {"d": 2}},
        "s": "abc",
        "new": {"counter": -2},
        "dotted.key": 1,
    }
    assert r.result["new_value"] == expected
    stored = backend.get("g", "k")
    assert stored == expected and stored["n"] == 2**63 and type(stored["n"]) is int
    assert stored["f"] == 2.1  # Python's float formatting, not Lua's %.14g
    # update of a missing item starts from {}
    r = upd(backend, "g", "fresh", [{"type": "set", "path": "status", "value": "new"}])
    assert r.result == {"new_value": {"status": "new"}, "old_value": None}
    assert r.events[0].event_type == "state:created"


@pytest.mark.parametrize(
    "ops,index",
    [
        ([{"type": "increment", "path": "count", "by": 1}, {"type": "increment", "path": "name", "by": 1}], 1),
        ([{"type": "set", "path": "x", "value": 1}, {"type": "append", "path": "name", "value": {"a": 1}}], 1),
        ([{"type": "append", "path": "count", "value": 1}], 0),
        ([{"type": "set", "path": "", "value": [1]}, {"type": "set", "path": "x", "value": 1}], 1),
        ([{"type": "increment", "path": "flag", "by": 1}], 0),
    ],
)
def test_failing_ops_leave_the_item_exactly_as_it_was(backend: RedisBackend, raw: Any, ops: Any, index: int) -> None:
    put(backend, "g", "k", {"count": 1, "name": "n", "flag": True})
    before = raw.hget("state:g", "k")
    seen: list[Any] = []
    backend.add_listener(seen.extend)
    with pytest.raises(UpdateOpError) as ei:
        upd(backend, "g", "k", ops)
    assert ei.value.index == index and ei.value.group_id == "g" and ei.value.key == "k"
    assert "'g'" in str(ei.value) and "'k'" in str(ei.value)
    assert raw.hget("state:g", "k") == before
    assert seen == []
    # a failing update in the middle of a pipelined run fails alone
    futs = [
        backend.submit(Write("set", "g", "a", value_json="1")),
        backend.submit(Write("update", "g", "k", ops=normalize_ops(ops, group_id="g", key="k"))),
        backend.submit(Write("set", "g", "b", value_json="2")),
    ]
    assert futs[0].result(5).result["new_value"] == 1
    with pytest.raises(UpdateOpError):
        futs[1].result(5)
    assert futs[2].result(5).result["new_value"] == 2
    assert raw.hget("state:g", "k") == before


def test_insertion_order_survives_large_hashes_overwrites_and_deletes(backend: RedisBackend, raw: Any) -> None:
    limit = int(raw.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
    keys = [f"k{(i * 7919) % 10007:05d}" for i in range(limit + 100)]  # unsorted, beyond the listpack limit
    futs = [backend.submit(Write("set", "big", k, value_json=json.dumps(i))) for i, k in enumerate(keys)]
    for f in futs:
        f.result(10)
    assert raw.object("encoding", "state:big") == "hashtable"  # Redis' own order is gone now
    assert [k for k, _ in backend.items("big")] == keys
    put(backend, "big", keys[5], "over")  # overwrite keeps its place
    delete(backend, "big", keys[0])
    put(backend, "big", keys[0], "back")  # re-created goes last
    expect = keys[1:] + [keys[0]]
    got = backend.items("big")
    assert [k for k, _ in got] == expect and got[4] == (keys[5], "over")
    assert backend.items("big", offset=10, limit=3) == got[10:13]
    assert backend.items("big", offset=len(got) - 2) == got[-2:]
    assert backend.items("big", offset=len(got)) == [] and backend.items("big", limit=0) == []
    assert backend.keys("big") == expect
    assert [k for k, _ in backend.items("big", order="key")] == sorted(expect)
    with pytest.raises(ValueError, match="offset"):
        backend.items("big", offset=-1)


def test_pipelined_writes_keep_this_process_order(backend: RedisBackend) -> None:
    """Writes submitted without waiting touch the same item: they must apply in order."""
    seen: list[Any] = []
    backend.add_listener(seen.extend)
    inc = normalize_ops([{"type": "increment", "path": "n", "by": 1}], group_id="g", key="k")
    writes = [
        Write("set", "g", "k", value_json='{"n":10}'),
        Write("update", "g", "k", ops=inc),
        Write("set", "g", "other", value_json="1"),
        Write("clear", "g"),
        Write("update", "g", "k", ops=inc),
        Write("delete", "g", "other"),
        Write("update", "g", "k", ops=inc),
    ]
    futs = [backend.submit(w) for w in writes]
    results = [f.result(10).result for f in futs]
    assert results[1] == {"new_value": {"n": 11}, "old_value": {"n": 10}}
    assert results[3] == 2
    assert results[4] == {"new_value": {"n": 1}, "old_value": None}
    assert results[5] is None
    assert results[6]["new_value"] == {"n": 2}
    assert [(e.event_type, e.item_id) for e in seen] == [
        ("state:created", "k"),
        ("state:updated", "k"),
        ("state:created", "other"),
        ("state:deleted", "k"),
        ("state:deleted", "other"),
        ("state:created", "k"),
        ("state:updated", "k"),
    ]
    assert threading.current_thread() is not backend.writer_thread


def test_clear_returns_count_and_one_event_per_item_in_order(backend: RedisBackend, raw: Any) -> None:
    for k in ["c", "a", "b"]:
        put(backend, "g", k, {"k": k})
    r = clear(backend, "g")
    assert r.result == 3
    assert [(e.event_type, e.item_id, e.old_value, e.new_value) for e in r.events] == [
        ("state:deleted", "c", {"k": "c"}, None),
        ("state:deleted", "a", {"k": "a"}, None),
        ("state:deleted", "b", {"k": "b"}, None),
    ]
    assert raw.exists("state:g", "motia_nb:order:g") == 0
    assert clear(backend, "g").result == 0 and backend.group_counts() == {}


# --------------------------------------------------------------------------- Motia's layout, both ways
def test_motia_layout_round_trip(redis_url: str, raw: Any) -> None:
    """Hashes written by hand in Motia's layout show up in list, items, counts and the DataFrame;
    what motia_nb writes is plain Motia layout (JSON text in hash state:<group>)."""
    raw.hset("state:orders", mapping={"m1": json.dumps({"id": "m1", "total": 5, "ship": {"city": "Oslo"}})})
    raw.hset("state:orders", "m2", json.dumps({"id": "m2", "total": 7, "ship": {"city": "Lima"}}))
    raw.set("state:not-a-hash", "ignored")  # some other key type under the prefix
    sm = StateManager(redis_url)
    try:
        assert sm.sync.list_groups() == ["orders"]
        assert sm.sync.get("orders", "m1") == {"id": "m1", "total": 5, "ship": {"city": "Oslo"}}
        assert sorted(v["id"] for v in sm.sync.list("orders")) == ["m1", "m2"]
        sm.sync.set("orders", "n1", {"id": "n1", "total": 1, "ship": {"city": "Rome"}})
        # the hand-written items were indexed by that write (in hash order) and keep their place
        first = [k for k, _ in sm.sync.items("orders")]
        assert first[2] == "n1" and sorted(first[:2]) == ["m1", "m2"]
        sm.sync.update("orders", "m2", [{"type": "increment", "path": "total", "by": 3}])
        assert [k for k, _ in sm.sync.items("orders")] == first
        df = sm.sync.frame("orders")
        assert list(df["key"]) == first
        assert dict(zip(df["key"], df["ship.city"])) == {"m1": "Oslo", "m2": "Lima", "n1": "Rome"}
        assert dict(zip(df["key"], df["total"])) == {"m1": 5, "m2": 10, "n1": 1}
        # vice versa: what motia_nb wrote is Motia layout, readable with plain HGETALL + JSON
        plain = {k: json.loads(v) for k, v in raw.hgetall("state:orders").items()}
        assert plain == {
            "m1": {"id": "m1", "total": 5, "ship": {"city": "Oslo"}},
            "m2": {"id": "m2", "total": 10, "ship": {"city": "Lima"}},
            "n1": {"id": "n1", "total": 1, "ship": {"city": "Rome"}},
        }
        assert raw.type("state:orders") == "hash"
        # an item added by hand later is listed after the ordered ones, and indexed by the next write
        raw.hset("state:orders", "m3", json.dumps({"id": "m3", "total": 0}))
        assert [k for k, _ in sm.sync.items("orders")] == first + ["m3"]
        assert sm.sync.count("orders") == 4 and sm.sync.group_counts() == {"orders": 4}
        sm.sync.set("orders", "n2", 2)
        assert [k for k, _ in sm.sync.items("orders")] == first + ["m3", "n2"]
        # an item deleted by hand disappears although the order index still names it
        raw.hdel("state:orders", "m1")
        assert [k for k, _ in sm.sync.items("orders")] == first[1:] + ["m3", "n2"]
        assert sm.sync.items("orders", offset=1, limit=2) == [("n1", sm.sync.get("orders", "n1")), ("m3", {"id": "m3", "total": 0})]
        sm.sync.delete("orders", "n1")
        assert [k for k, _ in sm.sync.items("orders")] == ["m2", "m3", "n2"]
        sm.sync.set("orders", "n3", 3)
        assert [k for k, _ in sm.sync.items("orders")] == ["m2", "m3", "n2", "n3"]
        assert raw.zrange("motia_nb:order:orders", 0, -1) == ["m2", "m3", "n2", "n3"]  # reconciled
    finally:
        sm.close()


def test_non_json_text_written_by_hand_is_an_error_naming_the_item(backend: RedisBackend, raw: Any) -> None:
    """SPEC §6: never returned as a string (see tests/test_defects_redis.py for every kind)."""
    raw.hset("state:h", mapping={"ok": '{"a":1}', "bad": "not json {", "nan": "NaN"})
    with pytest.raises(StoredValueError, match=r"'h'/'bad'.*not JSON"):
        backend.get("h", "bad")
    with pytest.raises(StoredValueError, match=r"'h'/'nan'"):
        backend.get("h", "nan")
    with pytest.raises(StoredValueError, match=r"'h'/'(bad|nan)'"):
        backend.items("h")
    with pytest.raises(StoredValueError, match=r"'h'/'bad'"):
        upd(backend, "h", "bad", [{"type": "set", "path": "", "value": {"fixed": True}}])
    # a plain set repairs it; the write stands, and its old value is the text that was there
    r = put(backend, "h", "bad", {"fixed": True})
    assert r.result == {"new_value": {"fixed": True}, "old_value": "not json {"}
    assert backend.get("h", "bad") == {"fixed": True}


def test_a_state_key_that_is_not_a_hash_gives_a_clear_error(backend: RedisBackend, raw: Any) -> None:
    raw.set("state:str", "x")
    with pytest.raises(RedisBackendError, match=r"state:str.*not a hash"):
        put(backend, "str", "k", 1)
    with pytest.raises(RedisBackendError, match=r"state:str.*not a hash"):
        upd(backend, "str", "k", [{"type": "increment", "path": "n", "by": 1}])
    with pytest.raises(RedisBackendError, match="not a hash"):
        backend.items("str")
    assert raw.get("state:str") == "x"
    put(backend, "fine", "k", 1)  # the writer survives
    assert backend.get("fine", "k") == 1


# --------------------------------------------------------------------------- events across processes
def test_changes_reach_other_backends_but_not_their_author(redis_url: str, redis_server: Any) -> None:
    a, b = RedisBackend(redis_url), RedisBackend(redis_url)
    other_db = RedisBackend(redis_url.rsplit("/", 1)[0] + "/1")
    try:
        for x in (a, b, other_db):
            x.open()
        got_a: list[Any] = []
        got_b: list[Any] = []
        got_other: list[Any] = []
        a.add_remote_listener(got_a.extend)
        b.add_remote_listener(got_b.extend)
        other_db.add_remote_listener(got_other.extend)
        token = b.change_token()
        put(a, "g", "k", {"v": 1})
        upd(a, "g", "k", [{"type": "increment", "path": "v", "by": 1}])
        delete(a, "g", "k")
        put(a, "g", "x", 1)
        put(a, "g", "y", 2)
        clear(a, "g")
        assert wait_for(lambda: len(got_b) == 7)
        assert [(e.event_type, e.item_id, e.old_value, e.new_value) for e in got_b] == [
            ("state:created", "k", None, {"v": 1}),
            ("state:updated", "k", {"v": 1}, {"v": 2}),
            ("state:deleted", "k", {"v": 2}, None),
            ("state:created", "x", None, 1),
            ("state:created", "y", None, 2),
            ("state:deleted", "x", 1, None),
            ("state:deleted", "y", 2, None),
        ]
        assert got_b[0].group_id == "g" and got_b[0]["scope"] == "g"
        assert b.change_token() != token
        put(b, "g", "from-b", True)
        assert wait_for(lambda: len(got_a) == 1) and got_a[0].item_id == "from-b"
        time.sleep(0.1)
        assert got_other == []  # pub/sub is server-wide: channels are per database
        assert len(got_a) == 1 and len(got_b) == 7  # nobody hears their own writes as remote
    finally:
        for x in (a, b, other_db):
            x.close()


_INCREMENTER = textwrap.dedent(
    """
    import sys, time
    import redis
    from motia_nb.state.backends.base import Write
    from motia_nb.state.backends.redis import RedisBackend
    from motia_nb.state.ops import normalize_ops

    url, n = sys.argv[1], int(sys.argv[2])
    b = RedisBackend(url)
    b.open()
    r = redis.Redis.from_url(url)
    r.incr("test:ready")
    while int(r.get("test:ready")) < 2:  # start together
        time.sleep(0.005)
    ops = normalize_ops([{"type": "increment", "path": "n", "by": 1}], group_id="c", key="k")
    half = [b.submit(Write("update", "c", "k", ops=ops)) for _ in range(n // 2)]  # pipelined
    for f in half:
        f.result(60)
    for _ in range(n - n // 2):  # one at a time
        b.submit(Write("update", "c", "k", ops=ops)).result(60)
    b.close()
    print("ok", b.cas_retries)
    """
)


@pytest.mark.slow
def test_two_processes_times_1000_increments_add_exactly_2000(redis_url: str, raw: Any) -> None:
    env = dict(os.environ)
    procs = [
        subprocess.Popen([sys.executable, "-c", _INCREMENTER, redis_url, "1000"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.split()[0] == "ok", err
    assert json.loads(raw.hget("state:c", "k")) == {"n": 2000}


# --------------------------------------------------------------------------- life cycle and errors
def test_facade_use_selects_the_redis_backend(redis_url: str) -> None:
    sm = StateManager()
    try:
        assert sm.use(redis_url) == redis_url
        assert isinstance(sm.backend, RedisBackend)
        sm.sync.set("g", "k", 1)
        assert sm.sync.get("g", "k") == 1
    finally:
        sm.close()


def test_scripts_are_reloaded_after_script_flush(backend: RedisBackend, raw: Any) -> None:
    put(backend, "g", "a", 1)
    raw.script_flush()
    futs = [backend.submit(Write("set", "g", k, value_json="2")) for k in "bcd"]
    assert [f.result(5).result["old_value"] for f in futs] == [None, None, None]
    raw.script_flush()
    assert upd(backend, "g", "a", [{"type": "increment", "path": [], "by": 1}]).result["new_value"] == 2
    raw.script_flush()
    assert [k for k, _ in backend.items("g")] == ["a", "b", "c", "d"]


def test_bad_urls_and_dead_servers_fail_clearly() -> None:
    with pytest.raises(RedisBackendError, match="not a Redis URL"):
        RedisBackend("http://localhost:6379")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    b = RedisBackend(f"redis://:secret@127.0.0.1:{port}/0")
    t = time.monotonic()
    with pytest.raises(RedisBackendError) as ei:
        b.open()
    assert time.monotonic() - t < 10
    assert f"127.0.0.1:{port}" in str(ei.value) and "secret" not in str(ei.value)


def test_closed_backend_refuses_writes_and_flushes_queued_ones(redis_url: str, raw: Any) -> None:
    b = RedisBackend(redis_url)
    b.open()
    futs = [b.submit(Write("set", "g", f"k{i}", value_json=str(i))) for i in range(200)]
    b.close()
    assert all(f.done() and f.exception() is None for f in futs)
    assert raw.hlen("state:g") == 200
    with pytest.raises(StateClosedError):
        b.submit(Write("set", "g", "late", value_json="1")).result(5)
    with pytest.raises(StateClosedError):
        b.get("g", "k0")
    b.close()  # idempotent


def test_backends_run_on_motia_nb_loop_thread_and_leave_no_thread_behind(redis_url: str) -> None:
    """No loop (and no thread) per backend: writer and subscriber tasks share motia_nb's loop.
    A blocking write with nothing queued commits (and calls listeners) on its caller's
    thread; an async write commits on the shared loop thread."""
    from motia_nb._threads import get_loop_thread

    shared = get_loop_thread().thread
    before = set(threading.enumerate())
    backends = [RedisBackend(redis_url) for _ in range(3)]
    seen: list[threading.Thread] = []
    for b in backends:
        b.open()
        b.add_listener(lambda evs: seen.append(threading.current_thread()))
        put(b, "g", "k", 1)

        async def later(b: RedisBackend = b) -> Any:  # two at once: the writer task commits them
            return await asyncio.gather(
                *(b.submit_async(Write("set", "g", k, value_json="1"), result_only=True) for k in ("k", "k2"))
            )

        asyncio.run(later())
    assert set(threading.enumerate()) - before == set()
    me = threading.current_thread()
    assert [b.writer_thread for b in backends] == [shared] * 3 and seen == [me, shared] * 3
    for b in backends:
        b.close()
    assert shared.is_alive()  # closing a backend does not stop the shared loop
    put_after = RedisBackend(redis_url)
    put_after.open()
    try:
        assert put(put_after, "g", "k", 2).result == {"new_value": 2, "old_value": 1}
    finally:
        put_after.close()


def test_a_backend_first_opened_on_the_loop_thread_works_and_sync_writes_there_commit_or_are_refused(
    redis_url: str,
) -> None:
    """An async step handler may be the first to touch state: opening on motia_nb's loop
    must not wait on that loop (deadlock). A blocking write there commits directly when
    nothing is queued (as on SQLite); behind queued writes, which the writer task would
    commit on this very thread, it is refused clearly."""
    from motia_nb._threads import get_loop_thread

    sm = StateManager(redis_url)

    async def handler() -> Any:
        r = await sm.set("g", "k", {"n": 1})  # opens the backend on the loop thread
        assert sm.sync.set("g", "k", {"n": 5}) == {"new_value": {"n": 5}, "old_value": {"n": 1}}
        queued = sm.set("g", "q", 1)  # not awaited yet: queued for the writer task on this thread
        with pytest.raises(RuntimeError, match="await"):
            sm.sync.set("g", "k", 2)
        await queued
        return r, await sm.update("g", "k", [{"type": "increment", "path": "n", "by": 1}])

    try:
        first, second = get_loop_thread().submit(handler()).result(10)
        assert first == {"new_value": {"n": 1}, "old_value": None}
        assert second["new_value"] == {"n": 6}
        assert sm.sync.get("g", "k") == {"n": 6} and sm.sync.get("g", "q") == 1
    finally:
        sm.close()


# --------------------------------------------------------------------------- Redis == SQLite, by property
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_KEYS = st.sampled_from(["a", "b", "c"])
_GROUPS = st.sampled_from(["g", "h"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "n"]), inner, max_size=3)), max_leaves=6)
_PATHS = st.sampled_from(["n", "x", "x.y", ["x", "y"], ["y", "n"], ""])
_OPS = st.lists(
    st.one_of(
        st.builds(lambda p, v: {"type": "set", "path": p, "value": v}, _PATHS, _VALUES),
        st.builds(lambda p, v: {"type": "merge", "path": p, "value": v}, _PATHS, st.dictionaries(st.sampled_from(["x", "n"]), _VALUES, max_size=2)),
        st.builds(lambda t, p, by: {"type": t, "path": p, "by": by}, st.sampled_from(["increment", "decrement"]), st.sampled_from(["n", "x.n", ["x", "n"]]), st.integers(-5, 5) | st.sampled_from([2**63 - 1, -(2**63)])),
        st.builds(lambda p: {"type": "remove", "path": p}, st.sampled_from(["n", "x", "x.y", ["x", "y"], ""])),
        st.builds(lambda p, v: {"type": "append", "path": p, "value": v}, st.sampled_from(["x", "y", ["x", "y"], ""]), _SCALARS),
    ),
    min_size=1,
    max_size=3,
)
_WRITES = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _GROUPS, _KEYS, _VALUES),
        st.tuples(st.just("update"), _GROUPS, _KEYS, _OPS),
        st.tuples(st.just("delete"), _GROUPS, _KEYS),
        st.tuples(st.just("clear"), _GROUPS),
    ),
    min_size=1,
    max_size=12,
)


def _to_write(spec: tuple[Any, ...]) -> Write:
    kind, group = spec[0], spec[1]
    if kind == "set":
        return Write("set", group, spec[2], value_json=encode_value(spec[3], group_id=group, key=spec[2]))
    if kind == "update":
        return Write("update", group, spec[2], ops=normalize_ops(spec[3], group_id=group, key=spec[2]))
    if kind == "delete":
        return Write("delete", group, spec[2])
    return Write("clear", group)


def _outcome(fut: Any) -> Any:
    exc = fut.exception(10)
    if exc is not None:
        return ("error", type(exc).__name__, getattr(exc, "index", None))
    wr = fut.result()
    return (wr.result, [dict(e) for e in wr.events])


async def _all_in_flight(b: RedisBackend, writes: list[Write]) -> list[Any]:
    """Submit every write in one loop iteration (one batch for the writer task); their outcomes."""
    futs = [b.submit_async(w) for w in writes]
    await asyncio.gather(*futs, return_exceptions=True)  # (asyncio.wait refuses writes, as it refuses Motia's coroutines)
    out = []
    for f in futs:
        exc = f.exception()
        if exc is not None:
            out.append(("error", type(exc).__name__, getattr(exc, "index", None)))
        else:
            out.append((f.result().result, [dict(e) for e in f.result().events]))
    return out


@pytest.mark.slow
def test_redis_and_sqlite_agree_on_random_pipelined_write_sequences(redis_server: Any, redis_url: str) -> None:
    from motia_nb.state.backends.sqlite import SQLiteBackend

    red = RedisBackend(redis_url)
    red.open()
    flush = redis_server.client()
    try:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(_WRITES)
        def check(specs: list[tuple[Any, ...]]) -> None:
            flush.flushdb()
            lite = SQLiteBackend(":memory:")
            lite.open()
            try:
                writes = [_to_write(s) for s in specs]
                red_out = asyncio.run(_all_in_flight(red, writes))  # one batch: exercises pipelined runs
                lite_futs = [lite.submit(w) for w in writes]
                assert red_out == [_outcome(f) for f in lite_futs]
                for g in ("g", "h"):
                    assert red.items(g) == lite.items(g)
                assert red.group_counts() == lite.group_counts()
            finally:
                lite.close()

        check()
    finally:
        flush.close()
        red.close()


@pytest.mark.parametrize(
    "url,local",
    [
        ("redis://127.0.0.1:6379/0", True),
        ("redis://localhost/1", True),
        ("redis://[::1]:6379", True),
        ("unix:///tmp/redis.sock?db=0", True),
        ("redis://:secret@127.0.0.2:7000/3", True),
        ("redis://10.0.0.5:6379/0", False),
        ("rediss://redis.example.com:6380/0", False),
    ],
)
def test_only_a_local_redis_is_read_on_the_callers_thread(url: str, local: bool) -> None:
    """A local round trip is cheaper than a thread hop; a remote one must not block a loop."""
    assert RedisBackend(url).direct_reads is local


def test_reverse_insertion_pages_are_read_on_the_server_also_with_hand_written_items(
    backend: RedisBackend, raw: Any
) -> None:
    for i in range(7):
        backend.submit(Write("set", "g", f"k{i}", value_json=str(i))).result()
    assert [k for k, _ in backend.items("g", 0, 3, order="-insertion")] == ["k6", "k5", "k4"]
    assert [k for k, _ in backend.items("g", 5, 10, order="-insertion")] == ["k1", "k0"]
    raw.hset("state:g", "by-hand", "99")  # not in the order index: listed last, so first reversed
    assert [k for k, _ in backend.items("g", 0, 2, order="-insertion")] == ["by-hand", "k6"]
    assert [k for k, _ in backend.items("g", 7, 5, order="-insertion")] == ["k0"]
    assert backend.items("g", order="-insertion") == list(reversed(backend.items("g")))



def test_remote_triggers_hand_other_processes_batches_to_the_dispatcher(redis_url: str) -> None:
    """The manager, not the backend, runs its dispatcher for remote changes: on motia_nb's
    loop thread, in commit order, once per batch, and only while opted in."""
    from motia_nb._threads import get_loop_thread

    a, b = StateManager(redis_url), StateManager(redis_url)
    got: list[tuple[list[tuple[str, str]], bool]] = []

    def dispatch(events: list[Any]) -> None:
        got.append(([(e.event_type, e.item_id) for e in events], threading.current_thread() is get_loop_thread().thread))

    a.set_dispatcher(dispatch)
    a.run_remote_triggers(True)
    try:
        a.sync.count("g")  # open a: it hears b from now on
        b.sync.set("g", "k", 1)
        b.sync.set("g", "j", 2)
        b.sync.clear("g")
        assert wait_for(lambda: len(got) == 3)
        assert got == [
            ([("state:created", "k")], True),
            ([("state:created", "j")], True),
            ([("state:deleted", "k"), ("state:deleted", "j")], True),
        ]
        a.sync.set("g", "own", 1)  # a's own write: dispatched inline, in the caller's thread, once
        assert got[3:] == [([("state:created", "own")], False)]
        a.run_remote_triggers(False)
        b.sync.set("g", "after", 1)
        assert wait_for(lambda: a.sync.exists("g", "after"))
        time.sleep(0.2)
        assert len(got) == 4
    finally:
        a.close()
        b.close()
    lite = StateManager(":memory:")
    try:
        lite.sync.count("g")
        with pytest.raises(NotImplementedError, match="does not publish"):
            lite.run_remote_triggers(True)
    finally:
        lite.close()
