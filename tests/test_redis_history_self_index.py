"""A small Redis write call indexes its own changes while the item index is caught up
(``lua/history.lua``: ``HIST_SELF_MIN`` to ``HIST_SELF_MAX`` changes): its members are added and
the forward marker moves past them in the same script call, so a one-item read right after a
run of small calls has nothing to file. A bigger call, a lone change (set, cas, delete), or a
call made while the index is behind (such a call not filed yet), leaves its changes to the
filer (``history_file.lua``), and the small calls after it index themselves again once that
caught up.

The background filer task is replaced by one that files nothing (it counts its calls), so what
the index holds is what the writes themselves put there.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from motia_nb.state import StateManager
from motia_nb.state.backends.redis import filer as filer_mod
from motia_nb.state.backends.redis import scripts
from motia_nb.state.cause import acting_as
from test_redis_history_packed import gathered, stream_changes  # (the same group, G)

pytestmark = pytest.mark.redis

G = "orders"
STREAM, INDEX = "motia_nb:history:" + G, "motia_nb:history_index:" + G
UPTO, COUNT, SEQ = "motia_nb:history_index_upto:" + G, "motia_nb:history_count:" + G, "motia_nb:history:seq"
#: the smallest and biggest calls that index themselves (read from the script, so the tests follow new thresholds)
SELF_MIN, SELF_MAX = map(int, re.search(r"local HIST_SELF_MIN, HIST_SELF_MAX = (\d+), (\d+)",
                                        scripts.source("history")).groups())  # type: ignore[union-attr]  # fmt: skip


@pytest.fixture
def braw(redis_url: str) -> Iterator[Any]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def filer_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The background filer's script calls (each answered 0: it files nothing)."""
    calls: list[Any] = []

    async def counting(keys: Any, args: Any) -> int:
        calls.append(keys)
        return 0

    monkeypatch.setattr(filer_mod, "SETTLE", 0.0)
    monkeypatch.setattr(filer_mod.HistoryFiler, "_script", lambda self, client: counting)
    return calls


@pytest.fixture
def m(redis_url: str, filer_calls: list[Any]) -> Iterator[StateManager]:
    sm = StateManager(redis_url)
    sm.sync.count(G)  # opened (its filer task is the counting one)
    yield sm
    sm.close()


def indexed_by_the_writes(braw: Any) -> bool:
    """The index holds every change of the stream, and the forward marker is its last seq."""
    changes = stream_changes(braw)
    last = changes[-1][0] if changes else 0
    return braw.zcard(INDEX) == len(changes) == int(braw.get(COUNT)) and int(braw.get(UPTO)) == last


def members_as_the_filer_makes_them(m: StateManager, braw: Any) -> set[bytes]:
    """The index made again from the stream by history_file.lua (the marker set back to 0)."""
    braw.delete(INDEX)
    braw.set(UPTO, 0)
    m.backend.file_history_of(G)
    return set(braw.zrange(INDEX, 0, -1))


def by_key(m: StateManager, key: str) -> list[dict[str, Any]]:
    return [c for c in m.sync.history(G, limit=10**9) if c["key"] == key]


def test_small_calls_index_themselves_as_the_filer_would(m: StateManager, braw: Any) -> None:
    gathered(lambda: [m.set(G, "a", {"v": 1}), m.set(G, "z", None)])  # a set_many call of two
    assert indexed_by_the_writes(braw) and braw.zcard(INDEX) == 2
    async def burst() -> None:  # one set_many call of three changes, two causes (one per change)
        with acting_as("step-a", "trace-a"):
            a = [m.set(G, k, {"k": k, "é": "ü 😀"}) for k in ("b", "c")]
        with acting_as("step-b"):
            b = [m.set(G, "a", "1],[2")]
        await asyncio.gather(*a, *b)

    asyncio.run(burst())
    assert indexed_by_the_writes(braw) and braw.zcard(INDEX) == 5
    braw.hset("state:" + G, "nul\x00key", b"\xff not json")  # another tool's field and text
    m.sync.clear(G)  # its five deletions, in one call
    assert indexed_by_the_writes(braw) and braw.zcard(INDEX) == 10
    mine = set(braw.zrange(INDEX, 0, -1))
    for key in ("a", "b", "c", "z"):
        assert m.sync.history(G, key, limit=100) == by_key(m, key)
    assert [c["event_type"] for c in m.backend.history(G, "nul\x00key", None, 10)] == ["state:deleted"]
    assert members_as_the_filer_makes_them(m, braw) == mine  # the very members: re-adding one is a no-op


def test_a_lone_change_leaves_itself_to_the_filer_and_small_calls_wait_for_it(m: StateManager, braw: Any) -> None:
    gathered(lambda: [m.set(G, "a", 1), m.set(G, "b", {"n": 1})])
    upto = int(braw.get(UPTO))
    m.sync.set(G, "a", 2)  # set, cas, delete: one change each
    m.sync.update(G, "b", [{"type": "increment", "path": "n", "by": 1}])
    m.sync.delete(G, "a")
    assert (int(braw.get(UPTO)), braw.zcard(INDEX)) == (upto, 2)
    gathered(lambda: [m.set(G, "c", 1), m.set(G, "d", 1)])  # behind: deferred too
    assert (int(braw.get(UPTO)), braw.zcard(INDEX)) == (upto, 2)
    assert m.sync.history(G, "b") == by_key(m, "b")  # the read files them
    assert indexed_by_the_writes(braw)
    gathered(lambda: [m.set(G, "c", 2), m.set(G, "d", 2)])  # caught up again
    assert indexed_by_the_writes(braw) and braw.zcard(INDEX) == 9


def test_a_call_of_the_threshold_indexes_itself_one_more_defers(m: StateManager, braw: Any) -> None:
    gathered(lambda: [m.set(G, f"k{i}", i) for i in range(SELF_MAX)])
    assert braw.xlen(STREAM) == 1 and indexed_by_the_writes(braw)
    upto = int(braw.get(UPTO))
    gathered(lambda: [m.set(G, f"j{i}", i) for i in range(SELF_MAX + 1)])
    assert braw.xlen(STREAM) == 2 and int(braw.get(UPTO)) == upto and braw.zcard(INDEX) == SELF_MAX
    assert m.sync.history(G, "j7") == by_key(m, "j7")  # the read files what is left
    assert indexed_by_the_writes(braw)


def test_small_calls_defer_while_a_big_call_is_not_filed_then_index_themselves_again(
    m: StateManager, braw: Any
) -> None:
    gathered(lambda: [m.set(G, "first", 0), m.set(G, "second", 0)])
    gathered(lambda: [m.set(G, f"k{i}", i) for i in range(300)])  # a big call: left to the filer
    upto, size = int(braw.get(UPTO)), braw.zcard(INDEX)
    assert size == 2 and upto < int(braw.get(SEQ))
    gathered(lambda: [m.set(G, "k2", "small"), m.set(G, "k3", "small")])
    assert (int(braw.get(UPTO)), braw.zcard(INDEX)) == (upto, size)  # behind: it deferred too
    m.backend.file_history_of(G)  # the filer catches up
    assert indexed_by_the_writes(braw)
    gathered(lambda: [m.set(G, "k2", "again"), m.set(G, "k3", "again")])
    assert indexed_by_the_writes(braw) and braw.zcard(INDEX) == 306
    for key in ("k1", "k2", "k3", "first"):
        assert m.sync.history(G, key, limit=100) == by_key(m, key)


def test_an_entry_another_program_appended_is_not_skipped(m: StateManager, braw: Any) -> None:
    """The check is the stream itself (no entry past the marker), not a counter only motia_nb's
    writes keep: an entry another program appended keeps the next small call from indexing."""
    gathered(lambda: [m.set(G, "a", 1), m.set(G, "b", 1)])
    seq = braw.incr(SEQ)
    braw.xadd(STREAM, {"t": "state:created", "k": "x", "at": "1.000000", "c": "other", "p": "7", "origin": "o",
                       "n": "5"}, id=f"{seq}-0")  # fmt: skip
    braw.hset("state:" + G, "x", "5")
    gathered(lambda: [m.set(G, "a", 2), m.set(G, "b", 2)])
    assert int(braw.get(UPTO)) < seq  # deferred: the marker did not jump over the other's entry
    assert [c["new_value"] for c in m.sync.history(G, "x")] == [5]


def test_two_clients_writing_small_and_big_calls_keep_the_index_the_stream(
    redis_url: str, braw: Any, filer_calls: list[Any]
) -> None:
    ms = [StateManager(redis_url), StateManager(redis_url)]
    try:
        for x in ms:
            x.sync.count(G)
        start = threading.Barrier(2)

        def writes(x: StateManager, who: int) -> None:
            async def go() -> None:
                for r in range(40):
                    if r % 10 == 3 + who:  # now and then a big call
                        await asyncio.gather(*[x.set(G, f"big{who}-{i}", r) for i in range(SELF_MAX + 20)])
                    elif r % 3 == 0:
                        await asyncio.gather(*[x.set(G, f"s{(r + i) % 9}", [who, r]) for i in range(4)])
                    else:
                        await x.set(G, f"s{r % 9}", [who, r])
                    if r % 13 == 12:
                        x.backend.file_history_of(G)  # filing beside the other's writes

            start.wait()
            asyncio.run(go())

        threads = [threading.Thread(target=writes, args=(x, i)) for i, x in enumerate(ms)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ms[0].backend.file_history_of(G)
        assert indexed_by_the_writes(braw)
        mine = set(braw.zrange(INDEX, 0, -1))
        for key in ("s0", "s4", "s8", "big0-3", "big1-0"):
            assert ms[1].sync.history(G, key, limit=1000) == by_key(ms[0], key)
        assert members_as_the_filer_makes_them(ms[0], braw) == mine
    finally:
        for x in ms:
            x.close()


def test_retention_drops_the_members_small_calls_indexed(redis_url: str, braw: Any, filer_calls: list[Any]) -> None:
    m = StateManager(redis_url, history_keep="25")
    try:
        for r in range(30):
            gathered(lambda r=r: [m.set(G, f"k{i}", r) for i in range(2 + r % 2)])  # calls of 2 and 3
            assert indexed_by_the_writes(braw)  # the trims took the members of the entries they dropped
        kept = len(stream_changes(braw))
        assert 25 <= kept < 25 + 10 and braw.zcard(INDEX) == kept
        for key in ("k0", "k3"):
            assert m.sync.history(G, key, limit=100) == by_key(m, key)
    finally:
        m.close()
