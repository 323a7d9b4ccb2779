"""The Redis changelog's format 2 (``lua/history.lua``): one stream entry per script call, ID the
call's last seq, the changes in JSON arrays; the item index filed off the write path
(``history_file.lua``: by every one-item read first, and by a task once writes pause).

- every change round-trips exactly: values, another tool's texts (not JSON, not UTF-8, a NUL in
  a field), causes and traces per change, event types;
- a stream mixing entries of the format before 2 (one change each, an older motia_nb's) and
  format-2 entries reads whole, with ``since=``, ``limit=`` and ``get(at=)``, without migration;
- reads are complete right after writes; two filers at once, and the background task, leave the
  index exactly the stream's changes;
- retention by count and by age drops whole entries, and the index members of the filed ones.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
import redis

from motia_nb.state import StateManager
from motia_nb.state.backends.redis import filer as filer_mod
from motia_nb.state.backends.redis import history_index
from motia_nb.state.backends.redis.layout import HISTORY_INDEX_FROM_PREFIX
from motia_nb.state.backends.redis.history import _unpack
from motia_nb.state.cause import acting_as
from motia_nb.state.errors import StateError, StoredValueError
from motia_nb.testing import fixtures as shared

pytestmark = pytest.mark.redis

sm = shared.redis_manager  # an opened StateManager on an emptied Redis database
raw = shared.redis_client  # a plain redis-py client on it (str replies)

G = "orders"
STREAM, INDEX = "motia_nb:history:" + G, "motia_nb:history_index:" + G
FROM, UPTO, COUNT = (HISTORY_INDEX_FROM_PREFIX + G, "motia_nb:history_index_upto:" + G,
                     "motia_nb:history_count:" + G)  # fmt: skip
NOT_UTF8 = b"\xff\xfe caf\xe9"


@pytest.fixture
def braw(redis_url: str) -> Any:
    """A redis-py client answering bytes (texts that are not UTF-8)."""
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def gathered(make: Any) -> Any:
    """``asyncio.gather`` of the writes ``make()`` makes (inside the loop, so they form one burst)."""
    async def go() -> Any:
        return await asyncio.gather(*make())

    return asyncio.run(go())


def stream_changes(braw: Any) -> list[tuple[int, dict[bytes, bytes]]]:
    """Every change the stream holds, as the format before 2 has them, oldest first."""
    return [c for eid, f in braw.xrange(STREAM) for c in _unpack(int(eid.split(b"-")[0]), f)]


def assert_filed_exactly(m: StateManager, braw: Any) -> None:
    """Once filed, the index holds one member per change of the stream, the count says how many,
    and the forward marker is the stream's last seq."""
    m.backend.file_history_of(G)
    changes = stream_changes(braw)
    assert braw.zcard(INDEX) == len(changes) == int(braw.get(COUNT))
    assert int(braw.get(UPTO)) >= (changes[-1][0] if changes else 0)


def by_key(m: StateManager, key: str) -> list[dict[str, Any]]:
    """The item's changes as the group's history (read from the stream, not the index) has them."""
    return [c for c in m.sync.history(G, limit=10**9) if c["key"] == key]


def test_a_gathered_calls_changes_are_one_entry_and_round_trip_exactly(sm: StateManager, braw: Any) -> None:
    braw.hset("state:" + G, mapping={"foreign": b"not json", "latin": NOT_UTF8, "brackets": b"1"})

    async def burst() -> None:
        with acting_as("step-a", "trace-a"):
            a = [sm.set(G, k, {"v": k, "é": "ü 😀"}) for k in ("foreign", "latin", "fresh")]
        with acting_as("step-b"):  # no trace
            b = [sm.set(G, "brackets", "1],[2"), sm.set(G, "other", None)]
        await asyncio.gather(*a, *b)

    run(burst())
    [(eid, f)] = braw.xrange(STREAM)  # the five sets: one set_many call, one entry
    assert f[b"v"] == b"2" and f[b"m"] == b"5" and int(eid.split(b"-")[0]) == int(braw.get("motia_nb:history:seq"))
    changes = _unpack(int(eid.split(b"-")[0]), f)
    assert [seq for seq, _ in changes] == list(range(int(eid.split(b"-")[0]) - 4, int(eid.split(b"-")[0]) + 1))
    got = [(c[b"t"], c[b"k"], c.get(b"o"), c[b"c"], c.get(b"r")) for _, c in changes]
    assert got == [
        (b"state:updated", b"foreign", b"not json", b"step-a", b"trace-a"),
        (b"state:updated", b"latin", NOT_UTF8, b"step-a", b"trace-a"),
        (b"state:created", b"fresh", None, b"step-a", b"trace-a"),
        (b"state:updated", b"brackets", b"1", b"step-b", None),
        (b"state:created", b"other", None, b"step-b", None),
    ]
    assert [c[b"n"] for _, c in changes] == [braw.hget("state:" + G, g[1]) for g in got]  # the texts stored
    # the group's history (the stream) and each item's (the index) agree, every field
    whole = sm.sync.history(G, limit=100)
    assert [(c["event_type"], c["key"], c["cause"], c["trace_id"]) for c in whole] == [
        ("state:updated", "foreign", "step-a", "trace-a"), ("state:updated", "latin", "step-a", "trace-a"),
        ("state:created", "fresh", "step-a", "trace-a"), ("state:updated", "brackets", "step-b", None),
        ("state:created", "other", "step-b", None),
    ]  # fmt: skip
    assert whole[0]["old_value"] == "not json" and whole[3]["new_value"] == "1],[2" and whole[4]["new_value"] is None
    for c in whole:
        assert sm.sync.history(G, c["key"]) == [c]
    with pytest.raises(StoredValueError, match="before change"):  # the exact bytes: not UTF-8, refused
        sm.sync.get(G, "latin", at=whole[1]["seq"] - 1)
    assert sm.sync.get(G, "foreign", at=whole[0]["seq"]) == {"v": "foreign", "é": "ü 😀"}


def test_deletes_and_a_clear_are_entries_of_their_own(sm: StateManager, braw: Any) -> None:
    gathered(lambda: [sm.set(G, f"k{i}", i) for i in range(3)])
    sm.sync.delete(G, "k1")
    braw.hset("state:" + G, "nul\x00\x00key", NOT_UTF8)  # another tool's field and text
    sm.sync.clear(G)  # records the deletion of every field, that one too
    entries = braw.xrange(STREAM)  # a call of one change (the delete) writes the one-change shape
    assert [f.get(b"m") for _, f in entries] == [b"3", None, b"3"]
    assert (entries[1][1][b"t"], entries[1][1][b"k"], entries[1][1][b"o"], b"n" in entries[1][1]) == (
        b"state:deleted", b"k1", b"1", False)  # fmt: skip
    assert json.loads(entries[2][1][b"ns"]) == [False, False, False]
    assert _unpack(0, entries[2][1])[2][1][b"k"] == b"nul\x00\x00key"
    assert _unpack(0, entries[2][1])[2][1][b"o"] == NOT_UTF8
    assert [(c["event_type"], c["key"], c["old_value"]) for c in sm.sync.history(G, limit=10)][:5] == [
        ("state:created", "k0", None), ("state:created", "k1", None), ("state:created", "k2", None),
        ("state:deleted", "k1", 1), ("state:deleted", "k0", 0),
    ]  # fmt: skip
    assert [c["event_type"] for c in sm.sync.history(G, "k1")] == ["state:created", "state:deleted"]
    assert [c["event_type"] for c in sm.backend.history(G, "nul\x00\x00key", None, 10)] == ["state:deleted"]


def _old_entry(braw: Any, key: str, old: str | None, new: str | None, cause: str = "old-version") -> int:
    """A change as an older motia_nb recorded it (one entry, the format before 2)."""
    seq = braw.incr("motia_nb:history:seq")
    t = "state:created" if old is None else "state:deleted" if new is None else "state:updated"
    fields = {"t": t, "k": key, "at": f"{time.time():.6f}", "c": cause, "p": "7", "origin": "x"}
    if old is not None:
        fields["o"] = old
    if new is not None:
        fields["n"] = new
    braw.xadd(STREAM, fields, id=f"{seq}-0")
    return seq


@pytest.mark.parametrize("indexed", [False, True], ids=["stream alone", "indexed by an older motia_nb"])
def test_a_stream_mixing_old_and_new_entries_reads_whole_since_limit_and_at(
    sm: StateManager, braw: Any, indexed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_entry(braw, "a", None, "1")
    _old_entry(braw, "b", None, '"x"')
    _old_entry(braw, "a", "1", "2")
    if indexed:  # an older motia_nb kept the index at each write: marker 0, no forward marker, no count
        sm.backend._fill_index(G, reset=True)
        braw.delete(UPTO, COUNT)
        assert braw.zcard(INDEX) == 3
    braw.hset("state:" + G, mapping={"a": "2", "b": '"x"'})
    monkeypatch.setattr(history_index, "_FILL", 2)  # (the older changes in several chunks)
    gathered(lambda: [sm.set(G, "a", 3), sm.set(G, "c", 1)])  # format 2 from here on
    _old_entry(braw, "c", "1", "5")  # another (older) program records one more
    braw.hset("state:" + G, "c", "5")
    sm.sync.delete(G, "b")
    want = [("a", None, 1), ("b", None, "x"), ("a", 1, 2), ("a", 2, 3), ("c", None, 1), ("c", 1, 5), ("b", "x", None)]
    whole = sm.sync.history(G, limit=100)
    assert [(c["key"], c["old_value"], c["new_value"]) for c in whole] == want
    seqs = [c["seq"] for c in whole]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7
    assert [c["cause"] for c in whole] == ["old-version"] * 3 + ["cell"] * 2 + ["old-version", "cell"]
    for s in seqs:
        assert [c["seq"] for c in sm.sync.history(G, since=s, limit=100)] == [x for x in seqs if x > s]
        assert [c["seq"] for c in sm.sync.history(G, since=s, limit=2)] == [x for x in seqs if x > s][:2]
    assert sm.sync.history(G, limit=3) == whole[-3:]
    for key in ("a", "b", "c"):
        mine = [c for c in whole if c["key"] == key]
        assert sm.sync.history(G, key, limit=100) == mine
        assert sm.sync.history(G, key, limit=1) == mine[-1:]
        for s in seqs:
            assert sm.sync.history(G, key, since=s) == [c for c in mine if c["seq"] > s]
            before = [c for c in mine if c["seq"] <= s]
            assert sm.sync.get(G, key, at=s) == (before[-1]["new_value"] if before else mine[0]["old_value"])
    assert_filed_exactly(sm, braw)
    # the same from the stream itself, when the index cannot serve (the scan)
    braw.delete(FROM)
    monkeypatch.setattr(history_index.ItemHistory, "_fill_index", lambda self, g, reset: None)
    for key in ("a", "b", "c"):
        mine = [c for c in whole if c["key"] == key]
        assert sm.sync.history(G, key, limit=100) == mine
        for s in seqs:
            assert sm.sync.history(G, key, since=s) == [c for c in mine if c["seq"] > s]
            before = [c for c in mine if c["seq"] <= s]
            assert sm.sync.get(G, key, at=s) == (before[-1]["new_value"] if before else mine[0]["old_value"])


def test_a_read_right_after_writes_files_what_is_not_filed(sm: StateManager, braw: Any) -> None:
    gathered(lambda: [sm.set(G, f"k{i}", i % 7) for i in range(300)])  # one call of 300: too big to index itself
    gathered(lambda: [sm.set(G, f"k{i}", -i) for i in range(3)])  # small, but behind: not indexed either
    assert braw.zcard(INDEX) == 0  # nothing indexed on the write path
    got = sm.sync.history(G, "k2", limit=1000)  # the read files first
    assert got == by_key(sm, "k2") and len(got) == 2
    assert braw.zcard(INDEX) == 303 == int(braw.get(COUNT))
    sm.sync.set(G, "k3", "last")
    assert sm.sync.get(G, "k3", at=int(braw.get("motia_nb:history:seq"))) == "last"


def test_two_processes_filing_at_once_index_each_change_once(
    sm: StateManager, braw: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def bursts() -> None:
        for r in range(6):
            await asyncio.gather(*[sm.set(G, f"k{i}", r) for i in range(50)])
            with acting_as(f"step-{r}"):
                await sm.set(G, "k0", -r)

    run(bursts())
    monkeypatch.setattr(history_index, "_FILE", 7)  # many calls each, interleaved
    other = StateManager(redis_url)
    try:
        start = threading.Barrier(2)

        def file(m: StateManager) -> None:
            start.wait()
            m.backend.file_history_of(G)

        threads = [threading.Thread(target=file, args=(m,)) for m in (sm, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert_filed_exactly(sm, braw)
        for key in ("k0", "k1", "k49"):
            assert other.sync.history(G, key, limit=1000) == sm.sync.history(G, key, limit=1000) == by_key(sm, key)
    finally:
        other.close()


def test_the_background_task_files_once_writes_pause(redis_url: str, braw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filer_mod, "SETTLE", 0.01)
    m = StateManager(redis_url)
    try:
        m.sync.count(G)  # opened
        filer = m.backend._filer
        filer.passes.clear()
        gathered(lambda: [m.set(G, f"k{i}", i) for i in range(500)])
        assert filer.passes.wait(10)  # no read: the task filed
        assert braw.zcard(INDEX) == 500 == int(braw.get(COUNT))
        assert int(braw.get(UPTO)) == int(braw.get("motia_nb:history:seq"))
    finally:
        m.close()


def test_retention_by_count_drops_whole_entries_and_their_members(redis_url: str, braw: Any) -> None:
    m = StateManager(redis_url, history_keep="25")
    try:
        async def calls() -> None:
            for r in range(12):
                await asyncio.gather(*[m.set(G, f"k{i}", r) for i in range(10)])  # one entry of 10 each
                if r % 4 == 0:
                    m.backend.file_history_of(G)  # some entries dropped filed, some not

        run(calls())
        assert_filed_exactly(m, braw)
        entries = braw.xrange(STREAM)
        kept = sum(int(f[b"m"]) for _, f in entries)
        assert 25 <= kept < 25 + 10 and {f[b"m"] for _, f in entries} == {b"10"}  # whole entries only
        first = int(entries[0][0].split(b"-")[0]) - 9
        assert [c["seq"] for c in m.sync.history(G, "k3", limit=100)] == [
            c["seq"] for c in m.sync.history(G, limit=100) if c["key"] == "k3"
        ] and all(c["seq"] >= first for c in m.sync.history(G, "k3", limit=100))
        assert braw.zcard(INDEX) == kept  # the members of the dropped entries are gone
        # reads show the newest 25 (the oldest entry's newest 5 among them:
        # tests/test_history_retention_exact.py); get(at=) just before the oldest change shown is
        # known: that change's old value; one seq earlier was pruned
        shown = m.sync.history(G, limit=100)
        assert len(shown) == 25 and shown[0]["seq"] == first + kept - 25
        k, first = shown[0]["key"], shown[0]["seq"]
        assert m.sync.get(G, k, at=first - 1) == next(c for c in m.sync.history(G, k, limit=100))["old_value"]
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get(G, k, at=first - 2)
    finally:
        m.close()


def test_retention_by_age_drops_whole_entries_and_their_members(redis_url: str, braw: Any) -> None:
    m = StateManager(redis_url, history_keep="1s")
    try:
        gathered(lambda: [m.set(G, f"old{i}", i) for i in range(20)])
        m.backend.file_history_of(G)
        assert braw.zcard(INDEX) == 20
        time.sleep(1.2)  # (an age: there is no event to wait for)
        gathered(lambda: [m.set(G, f"new{i}", i) for i in range(3)])  # the write trims the old entry
        assert [c["key"] for c in m.sync.history(G, limit=100)] == ["new0", "new1", "new2"]
        assert m.sync.history(G, "old3") == []
        assert_filed_exactly(m, braw)
        assert braw.zcard(INDEX) == 3
    finally:
        m.close()


def test_closing_ends_the_filer_even_when_the_client_swallows_its_cancel(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the benchmark: a close waited 30 s for the filer task, which sat in its wait for
    the next commit, a cancel lost inside a redis-py command (the client may swallow it)."""
    monkeypatch.setattr(filer_mod, "SETTLE", 0.0)
    entered = threading.Event()

    async def swallowing(keys: Any, args: Any) -> int:  # a command that swallows the task's cancel
        entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            pass
        return 0

    monkeypatch.setattr(filer_mod.HistoryFiler, "_script", lambda self, client: swallowing)
    m = StateManager(redis_url)
    try:
        m.sync.set(G, "a", 1)
        assert entered.wait(10)
    finally:
        started = time.monotonic()
        m.close()
        assert time.monotonic() - started < 10
