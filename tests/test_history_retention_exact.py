"""What ``history_keep`` keeps is what every read shows, at once (SPEC §9, issue 16).

Pruning runs off the writers' path, in batches (SQLite: the recorder's thread once the
writers pause; Redis: the write scripts, once a tenth of the count is over, in whole script
calls, and by age only when they run), so the store may still hold changes the retention no
longer keeps. ``history()``, ``get(at=)`` (and through them ``%state history``, the viewer's
item history) and the SQLite follower never show them. The count is of the store on SQLite
and of the group on Redis (README); one group here, so both read alike.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.redis import filer as filer_mod
from motia_nb.state.errors import StateError

BACKENDS = ["sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def url(request: Any, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("redis_url")


def values(changes: list[dict[str, Any]]) -> list[Any]:
    return [c["new_value"] for c in changes]


def test_history_shows_exactly_the_count_kept_right_after_the_writes(url: str) -> None:
    # 105 changes, 100 kept: SQLite showed all 105 until its pruning thread got there (after
    # every max(64, count/10) writes, once the writers paused), Redis kept them (it trims once
    # a tenth of the count, at most 100, is over)
    m = StateManager(url, history_keep="100")
    try:
        for i in range(105):
            m.sync.set("g", "k", i)
        assert values(m.sync.history("g", "k", limit=1000)) == list(range(5, 105))
        assert values(m.sync.history("g", limit=1000)) == list(range(5, 105))
        assert values(asyncio.run(m.history("g", "k", limit=1000))) == list(range(5, 105))
        # from a point before the kept ones, the first kept ones (not the hidden ones, nor none)
        assert values(m.sync.history("g", "k", since=0, limit=2)) == [5, 6]
        assert values(m.sync.history("g", since=0, limit=2)) == [5, 6]
        epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
        assert values(m.sync.history("g", "k", since=epoch, limit=2)) == [5, 6]
        assert values(m.sync.history("g", since=epoch, limit=2)) == [5, 6]
        first = m.sync.history("g", "k", limit=1000)[0]
        # get(at=) answers from what history shows: just before the oldest kept change, its old
        # value; earlier than that only a change history no longer shows could tell: refused
        assert m.sync.get("g", "k", at=first["seq"] - 1) == 4 == first["old_value"]
        assert m.sync.get("g", "k", at=first["seq"]) == 5
        with pytest.raises(StateError, match=r"^the history of 'g'/'k' at \d+ was pruned \(.*oldest change kept is \d+"):
            m.sync.get("g", "k", at=first["seq"] - 2)
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get("g", "k", at=epoch)
    finally:
        m.close()


def test_a_gather_bigger_than_the_count_shows_only_the_count(url: str) -> None:
    # one gather's 50 sets: one SQLite record, one Redis stream entry, each kept whole until pruned
    m = StateManager(url, history_keep="10")
    try:
        async def gather() -> None:
            await asyncio.gather(*[m.set("g", f"k{i:02d}", i) for i in range(50)])

        asyncio.run(gather())
        shown = m.sync.history("g", limit=1000)
        assert [c["key"] for c in shown] == [f"k{i}" for i in range(40, 50)]
        assert m.sync.history("g", "k39") == [] and values(m.sync.history("g", "k40")) == [40]
        assert m.sync.get("g", "k49", at=shown[0]["seq"] - 1) is None  # created later
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get("g", "k00", at=shown[0]["seq"] - 2)
    finally:
        m.close()


def test_a_smaller_count_set_later_applies_to_reads_at_once(url: str) -> None:
    m = StateManager(url, history_keep="all")
    try:
        for i in range(20):
            m.sync.set("g", "k", i)
        m.history_keep = "5"
        assert values(m.sync.history("g", "k")) == list(range(15, 20))
        m.history_keep = "all"  # nothing was lost that a wider setting could show again: no promise
        assert len(m.sync.history("g", "k")) >= 5
    finally:
        m.close()


def test_sqlite_age_hides_old_changes_before_the_pruning_thread_runs(tmp_path: Any) -> None:
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="1h")  # the pruning thread checks an hour's age once a minute
    try:
        for i in range(5):
            m.sync.set("g", f"k{i}", i)
        con = sqlite3.connect(path)
        con.execute("UPDATE changes SET at_us = at_us - 7200000000 WHERE key IN ('k0', 'k1', 'k2')")  # two hours old
        con.commit()
        seqs = dict(con.execute("SELECT key, seq FROM changes").fetchall())
        con.close()
        assert [c["key"] for c in m.sync.history("g")] == ["k3", "k4"]
        assert m.sync.history("g", "k1") == []
        assert m.sync.get("g", "k2", at=seqs["k2"]) == 2  # just before the oldest kept change: known
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get("g", "k1", at=seqs["k1"])
    finally:
        m.close()


def test_redis_age_hides_old_changes_once_writes_stop(redis_url: str) -> None:
    # Redis trims by age in the write scripts: with no write after them, changes older than the
    # age stayed in every read
    m = StateManager(redis_url, history_keep="1s")
    try:
        for i in range(5):
            m.sync.set("g", f"k{i}", i)
        seq = m.sync.history("g")[0]["seq"]
        time.sleep(1.2)  # the age passing is what is tested (no event stands for the clock)
        assert m.sync.history("g") == [] and m.sync.history("g", "k0") == []
        assert m.sync.get("g", "k4", at=datetime.now(timezone.utc)) == 4  # after every change: known
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get("g", "k0", at=seq)
    finally:
        m.close()


def test_sqlite_prunes_once_the_writers_pause_however_few_changes_are_over(tmp_path: Any) -> None:
    # 10 changes, 3 kept: pruning waited for max(64, count/10) writes, so with no more writes the
    # file kept all 10 for good
    # (the pass at open may meet the first writes: two rounds, the second long after it)
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="3")
    con = sqlite3.connect(path)
    try:
        for round in range(2):
            for i in range(10):
                m.sync.set("g", "k", 10 * round + i)
            deadline = time.monotonic() + 15  # a deadline only: the thread prunes ~0.5 s after the last write
            while con.execute("SELECT sum(coalesce(n, 1)) FROM changes").fetchone()[0] > 3:
                assert time.monotonic() < deadline, f"round {round}: nothing was pruned after the writes stopped"
                time.sleep(0.05)
            assert values(m.sync.history("g", "k")) == [10 * round + 7, 10 * round + 8, 10 * round + 9]
    finally:
        con.close()
        m.close()


def test_redis_age_finds_the_first_young_change_among_old_ones_a_write_left(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a write trims at most 256 old entries: the rest stay in the stream, before the young ones
    # (the old ones as a process that wrote them and stopped leaves them: this process's filer,
    # which trims by age the groups it wrote once writes pause, is kept from trimming them here)
    async def no_trim(self: Any, trim: Any) -> None:
        return None

    monkeypatch.setattr(filer_mod.HistoryFiler, "_trim_aged", no_trim)
    m = StateManager(redis_url, history_keep="1s")
    try:
        for i in range(1000):
            m.sync.set("g", f"old{i}", i)
        time.sleep(1.2)  # the age passing is what is tested
        for i in range(3):
            m.sync.set("g", f"new{i}", i)
        assert 3 < m.backend._sync.xlen("motia_nb:history:g") < 1000  # old entries are still stored
        shown = m.sync.history("g", limit=1000)
        assert [c["key"] for c in shown] == ["new0", "new1", "new2"]
        assert m.sync.history("g", "old999") == []
        assert m.sync.get("g", "new0", at=shown[0]["seq"] - 1) is None
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get("g", "old999", at=shown[0]["seq"] - 2)
    finally:
        m.close()
