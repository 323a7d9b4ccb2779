"""The Redis changelog's item index (``motia_nb:history_index:<group>``, :mod:`.history_index`):
one item's history, ``since=``, ``limit=`` and ``get(at=)`` are read from it, and it stays
exactly the stream's changes through retention (by count and by age), stores written before it
existed, other programs writing the stream, and concurrent writers.

The reference every test compares with is the group's history (read from the stream itself,
not from the index) filtered by key.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.redis import history_index
from motia_nb.state.backends.redis.layout import HISTORY_INDEX_FROM_PREFIX
from motia_nb.state.cause import acting_as
from motia_nb.state.errors import StateError, StoredValueError
from motia_nb.testing import fixtures as shared

pytestmark = pytest.mark.redis

sm = shared.redis_manager  # an opened StateManager on an emptied Redis database
raw = shared.redis_client  # a plain redis-py client on it

G = "orders"
INDEX, MARK, STREAM = "motia_nb:history_index:" + G, HISTORY_INDEX_FROM_PREFIX + G, "motia_nb:history:" + G
UPTO, COUNT = "motia_nb:history_index_upto:" + G, "motia_nb:history_count:" + G


def by_key(m: StateManager, key: str) -> list[dict[str, Any]]:
    """The item's changes as the group's history (the stream) has them."""
    return [c for c in m.sync.history(G, limit=10**9) if c["key"] == key]


async def _churn(m: StateManager, rounds: int, keys: int = 4) -> None:
    """Sets, updates, deletes and a clear over a few keys, some gathered, some with a cause."""
    for r in range(rounds):
        await asyncio.gather(*[m.set(G, f"k{i}", {"r": r, "i": i}) for i in range(keys)])
        await m.update(G, "k0", [{"type": "increment", "path": "r", "by": 10}])
        with acting_as("step-x", f"trace-{r}"):
            await m.set(G, "k1", ["list", r, None, "é"])
        if r % 3 == 2:
            await m.delete(G, "k2")
        if r % 5 == 4:
            await m.clear(G)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def stream_changes(raw: Any) -> int:
    """The changes the group's stream holds (an entry of format 2 holds a script call's, ``m``)."""
    return sum(int(f.get("m", 1)) if f.get("v") == "2" else 1 for _id, f in raw.xrange(STREAM))


def assert_index_matches_stream(raw: Any, m: StateManager) -> None:
    """Once filed (the index is filed off the write path), the index holds every change of the
    stream, and the group's change count says how many."""
    m.backend.file_history_of(G)
    assert raw.get(MARK) == "0"
    assert raw.zcard(INDEX) == stream_changes(raw) == int(raw.get(COUNT))


@pytest.fixture(params=[None, 3, "piped"], ids=["one call", "3 members a call", "pipelined calls of 2, then 3"])
def budget(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reads as they are, with each script call examining 3 members (many calls, each
    going on from the last member the previous one examined), and pipelined (every read of
    more than 2 changes: a call of 2, then calls of 3, each sent before the last one's
    changes are built)."""
    if request.param == "piped":
        monkeypatch.setattr(history_index, "_FIRST", 2)
        monkeypatch.setattr(history_index, "_CHUNK", 3)
    elif request.param is not None:
        monkeypatch.setattr(history_index, "_BUDGET", request.param)


def test_an_items_history_since_and_limit_equal_the_streams(sm: StateManager, raw: Any, budget: None) -> None:
    run(_churn(sm, 12))
    assert_index_matches_stream(raw, sm)
    for key in ("k0", "k1", "k2", "k3", "nope"):
        want = by_key(sm, key)
        assert sm.sync.history(G, key, limit=10**9) == want
        assert sm.sync.history(G, key, limit=3) == want[-3:]
        for c in want[::4]:
            assert sm.sync.history(G, key, since=c["seq"], limit=10**9) == [w for w in want if w["seq"] > c["seq"]]
            assert sm.sync.history(G, key, since=c["seq"], limit=2) == [w for w in want if w["seq"] > c["seq"]][:2]
            when = datetime.fromisoformat(c["at"])
            assert sm.sync.history(G, key, since=when, limit=10**9) == [w for w in want if w["at"] >= c["at"]]
    assert sm.sync.history(G, "k1", since=10**30) == []
    assert [c["trace_id"] for c in sm.sync.history(G, "k1", limit=3)] == ["trace-10", None, "trace-11"]


def test_get_at_a_seq_or_a_time_reads_the_value_as_it_was(sm: StateManager, budget: None) -> None:
    run(_churn(sm, 7))
    everything = sm.sync.history(G, limit=10**9)
    for key in ("k0", "k1", "k2"):
        mine = [c for c in everything if c["key"] == key]
        for c in everything:  # at every seq of the group: the newest change of the key up to it
            before = [m for m in mine if m["seq"] <= c["seq"]]
            want = before[-1]["new_value"] if before else mine[0]["old_value"]
            assert sm.sync.get(G, key, at=c["seq"]) == want, (key, c["seq"])
        for c in mine:
            assert sm.sync.get(G, key, at=datetime.fromisoformat(c["at"])) == [
                m for m in mine if m["at"] <= c["at"]
            ][-1]["new_value"]
    assert sm.sync.get(G, "k1", at=0) is None  # before its first change: it did not exist
    assert sm.sync.get(G, "k1", at=datetime(1990, 1, 1, tzinfo=timezone.utc)) is None


def test_retention_by_count_keeps_the_index_exactly_the_streams(redis_url: str, raw: Any) -> None:
    m = StateManager(redis_url, history_keep="50")
    try:
        run(_churn(m, 60))
        kept = m.sync.history(G, limit=10**9)
        assert len(kept) == 50  # what reads show (tests/test_history_retention_exact.py)
        assert_index_matches_stream(raw, m)
        assert 50 <= raw.zcard(INDEX) <= 55  # what the stream keeps: a tenth over the count at most before a trim
        for key in ("k0", "k1", "k3"):
            assert m.sync.history(G, key, limit=10**9) == [c for c in kept if c["key"] == key]
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get(G, "k3", at=kept[0]["seq"] - 5)
        m.history_keep = "5"  # lowered: the next write trims the rest, members too (whole entries:
        m.sync.set(G, "k9", 1)  # a gather's 4 changes are kept or dropped together)
        assert_index_matches_stream(raw, m)
        assert 5 <= raw.zcard(INDEX) < 5 + 4
    finally:
        m.close()


def test_retention_by_age_drops_the_index_members_too(redis_url: str, raw: Any) -> None:
    m = StateManager(redis_url, history_keep="1s")
    try:
        for i in range(5):
            m.sync.set(G, "old", i)
        time.sleep(1.2)  # (an age: there is no event to wait for)
        m.sync.set(G, "fresh", 1)  # the write trims what is older than the age
        assert m.sync.history(G, "old") == []
        assert [c["key"] for c in m.sync.history(G, "fresh")] == ["fresh"]
        assert raw.zcard(INDEX) == raw.xlen(STREAM) == int(raw.get(COUNT)) == 1
    finally:
        m.close()


def test_a_store_written_before_the_index_existed_is_indexed_by_the_first_read(
    sm: StateManager, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(_churn(sm, 9))
    want = {k: by_key(sm, k) for k in ("k0", "k1", "k2")}
    raw.delete(INDEX, MARK, UPTO)  # what an older motia_nb left: the stream alone
    monkeypatch.setattr(history_index, "_FILL", 7)  # the fill in many chunks
    run(_churn(sm, 3))  # newer writes: indexed from their first seq on
    first_new = int(raw.get(MARK))
    assert 0 < first_new and raw.zcard(INDEX) < raw.xlen(STREAM)
    got = sm.sync.history(G, "k0", limit=10**9)
    assert got == by_key(sm, "k0") and got[: len(want["k0"])] == want["k0"]
    assert_index_matches_stream(raw, sm)
    for k in ("k1", "k2"):
        assert sm.sync.history(G, k, limit=10**9) == by_key(sm, k)
    assert sm.sync.get(G, "k0", at=first_new - 1) == want["k0"][-1]["new_value"]


def test_a_store_with_no_index_at_all_reads_the_same(sm: StateManager, raw: Any) -> None:
    run(_churn(sm, 5))
    want = by_key(sm, "k1")
    raw.delete(INDEX, MARK, UPTO)
    assert sm.sync.get(G, "k1", at=want[1]["seq"]) == want[1]["new_value"]  # a read builds it
    assert_index_matches_stream(raw, sm)
    assert sm.sync.history(G, "k1", limit=10**9) == want


def test_history_of_a_group_never_written_creates_nothing(sm: StateManager, raw: Any) -> None:
    assert sm.sync.history("ghost", "k") == []
    assert sm.sync.get("ghost", "k", at=3) is None
    assert raw.keys("motia_nb:history*") == []


def test_another_program_writing_the_stream_makes_the_index_again(sm: StateManager, raw: Any) -> None:
    run(_churn(sm, 4))
    # an older motia_nb (no index) records a change of k1: the stream has one entry more
    seq = raw.incr("motia_nb:history:seq")
    fields = {"t": "state:updated", "k": "k1", "at": f"{time.time():.6f}", "c": "old-version", "p": "7",
              "origin": "x", "o": '{"a": 1}', "n": '{"a": 2}'}  # fmt: skip
    raw.xadd(STREAM, fields, id=f"{seq}-0")
    got = sm.sync.history(G, "k1", limit=10**9)
    assert got == by_key(sm, "k1") and got[-1]["cause"] == "old-version" and got[-1]["new_value"] == {"a": 2}
    assert_index_matches_stream(raw, sm)


def test_reads_scan_the_stream_when_the_index_cannot_be_made_consistent(
    sm: StateManager, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(_churn(sm, 6))
    want = by_key(sm, "k0")
    raw.delete(MARK)  # the index is not known to be complete, and the fill never makes it so
    monkeypatch.setattr(history_index.ItemHistory, "_fill_index", lambda self, g, reset: None)
    assert sm.sync.history(G, "k0", limit=10**9) == want
    assert sm.sync.history(G, "k0", since=want[2]["seq"], limit=2) == want[3:5]
    assert sm.sync.get(G, "k0", at=want[3]["seq"]) == want[3]["new_value"]


def test_values_another_tool_wrote_are_read_back_as_before(sm: StateManager, raw: Any) -> None:
    raw.hset("state:" + G, "k", "not json")  # Motia or redis-cli
    sm.sync.set(G, "k", {"a": "ü"})
    raw.hset("state:" + G, "k", "NaN")
    with acting_as("étape ü", "trace-é"):  # read tail by tail too: UTF-8 in the change's own fields
        sm.sync.set(G, "k", "1],[2")  # a JSON string that looks like the index's own brackets
    raw.hset("state:" + G, "k", "")
    sm.sync.delete(G, "k")
    got = sm.sync.history(G, "k")
    assert got == by_key(sm, "k")
    assert (got[1]["cause"], got[1]["trace_id"]) == ("étape ü", "trace-é")
    assert [(c["event_type"], c["old_value"], c["new_value"]) for c in got] == [
        ("state:updated", "not json", {"a": "ü"}),
        ("state:updated", "NaN", "1],[2"),
        ("state:deleted", "", None),
    ]
    with pytest.raises(StoredValueError, match="before change"):  # a past value, strictly
        sm.sync.get(G, "k", at=got[0]["seq"] - 1)


def test_a_field_holding_a_nul_stays_out_of_other_keys_ranges(sm: StateManager, raw: Any) -> None:
    sm.sync.set(G, "a", 1)
    raw.hset("state:" + G, "a\x00\x000000000000000000001", "2")  # another tool's field: inside a\0\0 unescaped
    sm.sync.set(G, "b", 3)
    sm.sync.clear(G)  # records the deletion of every field, that one too
    assert_index_matches_stream(raw, sm)
    assert [(c["event_type"], c["new_value"]) for c in sm.sync.history(G, "a")] == [
        ("state:created", 1), ("state:deleted", None)
    ]  # fmt: skip


def test_concurrent_writers_keep_the_index_exactly_the_streams(redis_url: str, raw: Any) -> None:
    a, b = StateManager(redis_url), StateManager(redis_url)
    try:
        async def both() -> None:
            await asyncio.gather(_churn(a, 8, keys=3), _churn(b, 8, keys=3),
                                 *[b.update(G, "k0", [{"type": "increment", "path": "n", "by": 1}]) for _ in range(30)])  # fmt: skip

        run(both())
        assert_index_matches_stream(raw, a)
        for key in ("k0", "k1", "k2"):
            assert a.sync.history(G, key, limit=10**9) == b.sync.history(G, key, limit=10**9) == by_key(a, key)
    finally:
        a.close()
        b.close()


def test_one_items_history_reads_the_index_not_the_stream(sm: StateManager, raw: Any) -> None:
    async def fill() -> None:  # 300 changes of the item among 1,200
        for lo in range(0, 300, 100):
            await asyncio.gather(*[w for i in range(lo, lo + 100)
                                   for w in (sm.set(G, "hot", i), *[sm.set(G, f"o{i}-{j}", j) for j in range(3)])])  # fmt: skip

    run(fill())
    sm.sync.history(G, "hot", limit=1)  # (the scripts loaded)
    raw.config_resetstat()
    rows = sm.sync.history(G, "hot", limit=10_000)
    assert [r["new_value"] for r in rows] == list(range(300))
    stats = raw.info("commandstats")
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    assert calls.get("evalsha") == 2  # one script call for the whole history, one for the retention's
    # horizon (a GET of the group's change count when it holds no more than is kept)
    assert "xrevrange" not in calls and calls.get("xrange", 0) <= 1  # no stream entry read (the filer's
    # look past the index's forward marker finds none)
    assert calls.get("zrevrangebylex") == 1  # one range of the index: the item's 300 members
    raw.config_resetstat()
    assert sm.sync.get(G, "hot", at=rows[150]["seq"]) == 150
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in raw.info("commandstats").items()}
    assert calls.get("xrange", 0) <= 1 and "xrevrange" not in calls and calls.get("zrevrangebylex") == 1


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipelined reads in calls of 2, then 3 changes."""
    monkeypatch.setattr(history_index, "_FIRST", 2)
    monkeypatch.setattr(history_index, "_CHUNK", 3)


def _in_use(m: StateManager) -> int:
    """The client's pool connections in use (the direct writes keep one: :class:`.wire.ScriptWire`)."""
    return len(m.backend._client().connection_pool._in_use_connections)


def test_a_pipelined_read_sends_the_next_call_before_building_the_last_ones_changes(
    sm: StateManager, raw: Any, piped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(_churn(sm, 12))
    want, in_use = by_key(sm, "k1"), _in_use(sm)
    assert len(want) > 12
    seen: list[tuple[int, int]] = []  # (calls sent, changes read) as each reply's changes are built
    sent = history_index._Wire.send
    calls = [0]

    def send(self: Any, args: list[Any]) -> None:
        calls[0] += 1
        sent(self, args)

    build = history_index.IndexRead.build

    def built(self: Any, group_id: str, key: str) -> None:
        seen.append((calls[0], self.count))
        build(self, group_id, key)

    monkeypatch.setattr(history_index._Wire, "send", send)
    monkeypatch.setattr(history_index.IndexRead, "build", built)
    assert sm.sync.history(G, "k1", limit=10**9) == want
    n = len(want)
    reads = [min(n, 2 + 3 * i) for i in range(len(seen))]
    assert [c for c, _ in seen[:-1]] == list(range(2, len(seen) + 1))  # the next call already sent
    assert [r for _, r in seen] == reads and reads[-1] == n and calls[0] == len(seen)
    assert _in_use(sm) == in_use


def test_a_pipelined_read_loads_the_script_again_when_the_server_forgot_it(sm: StateManager, raw: Any, piped: None) -> None:
    run(_churn(sm, 6))
    want, in_use = by_key(sm, "k0"), _in_use(sm)
    raw.script_flush()
    assert sm.sync.history(G, "k0", limit=10**9) == want
    assert sm.sync.history(G, "k0", since=want[1]["seq"], limit=4) == want[2:6]
    assert _in_use(sm) == in_use


def test_a_pipelined_read_that_loses_its_connection_reads_again_on_redis_pys_calls(
    sm: StateManager, raw: Any, piped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    run(_churn(sm, 6))
    want, in_use = by_key(sm, "k0"), _in_use(sm)
    recv, dropped = history_index._Wire.recv, []

    def lost(self: Any) -> Any:  # the second reply never comes
        if self._sent and len(dropped) == 0 and getattr(self, "_replies", 0) == 1:
            dropped.append((self._conn, self._conn._sock))
            raise redis.ConnectionError("Connection closed by server.")
        self._replies = getattr(self, "_replies", 0) + 1
        return recv(self)

    monkeypatch.setattr(history_index._Wire, "recv", lost)
    assert sm.sync.history(G, "k0", limit=10**9) == want
    conn, sock = dropped[0]  # disconnected (a reply was on its way: never read as another call's)
    assert len(dropped) == 1 and conn._sock is not sock and sock.fileno() == -1
    assert _in_use(sm) == in_use


def test_a_pipelined_read_that_finds_the_stream_written_by_another_program_reads_again(
    sm: StateManager, raw: Any, piped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(_churn(sm, 6))
    build, done, in_use = history_index.IndexRead.build, [], _in_use(sm)

    def built(self: Any, group_id: str, key: str) -> None:
        if not done:  # between two calls: an older motia_nb records a change of k1
            done.append(1)
            seq = raw.incr("motia_nb:history:seq")
            fields = {"t": "state:updated", "k": "k1", "at": f"{time.time():.6f}", "c": "old-version", "p": "7",
                      "origin": "x", "o": '{"a": 1}', "n": '{"a": 2}'}  # fmt: skip
            raw.xadd(STREAM, fields, id=f"{seq}-0")
        build(self, group_id, key)

    monkeypatch.setattr(history_index.IndexRead, "build", built)
    got = sm.sync.history(G, "k1", limit=10**9)
    assert done and got == by_key(sm, "k1") and got[-1]["cause"] == "old-version"
    assert_index_matches_stream(raw, sm)
    assert _in_use(sm) == in_use


def test_a_pipelined_read_cuts_whole_members_of_any_key(sm: StateManager, raw: Any, piped: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a time, the server sends whole members and the reader cuts their prefixes: keys
    holding regex characters and UTF-8, old texts another tool wrote holding NULs (kept as JSON
    strings), read as the stream has them."""
    modes: list[Any] = []
    send = history_index._Wire.send
    monkeypatch.setattr(history_index._Wire, "send", lambda self, args: (modes.append(args[-1]), send(self, args))[1])
    keys = ["a.b*(c)", "é\\d", "[x]+?", "k", "k\x01"]
    for i in range(4):
        for k in keys:
            if i == 2:
                raw.hset("state:" + G, k, "\x00\x00x")  # another tool's text
            sm.sync.set(G, k, {"i": i, "k": k})
    for k in keys:
        want = by_key(sm, k)
        assert sm.sync.history(G, k, limit=10**9) == want and want[2]["old_value"] == "\x00\x00x"
        assert sm.sync.history(G, k, since=want[0]["seq"], limit=10**9) == want[1:]
    assert modes and set(modes) == {"w"}


def test_a_member_holding_two_nuls_in_a_value_is_cut_by_the_server(
    sm: StateManager, raw: Any, piped: None, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member made before the index kept texts holding NULs as JSON strings: the reader
    cannot tell its prefix, so the read goes on with the server cutting (the tails)."""
    import redis as redis_py

    raw.hset("state:" + G, "k", "\x00\x00x")
    for i in range(6):
        sm.sync.set(G, "k", i)
    sm.backend.file_history_of(G)
    b = redis_py.Redis.from_url(redis_url)
    try:
        q = b'"\\u0000\\u0000x"'  # (as cjson writes it)
        (m,) = [m for m in b.zrange(INDEX, 0, -1) if q in m]
        old = m.replace(b",%d," % (-2 - len(q)), b",3,", 1).replace(b"," + q + b",", b",\x00\x00x,", 1)
        assert old != m
        b.zrem(INDEX, m)
        b.zadd(INDEX, {old: 0})
    finally:
        b.close()
    want = by_key(sm, "k")
    assert want[0]["old_value"] == "\x00\x00x"
    cut, uncut = history_index._Cut.__call__, []

    def spied(self: Any, parts: list[bytes], count: int) -> bytes:
        try:
            return cut(self, parts, count)
        except history_index._Uncut:
            uncut.append(count)
            raise

    monkeypatch.setattr(history_index._Cut, "__call__", spied)
    assert sm.sync.history(G, "k", limit=10**9) == want
    assert uncut


def test_an_index_key_of_another_type_is_said_alike_by_a_pipelined_read(sm: StateManager, raw: Any, piped: None) -> None:
    run(_churn(sm, 3))
    raw.delete(INDEX)
    raw.set(INDEX, "another program's string")
    errors = []
    for limit in (1, 10**9):  # (a read of one change: one plain call; more: pipelined)
        with pytest.raises(StateError) as info:
            sm.sync.history(G, "k0", limit=limit)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1] and "WRONGTYPE" not in errors[0][1] and G in errors[0][1], errors
