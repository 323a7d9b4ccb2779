"""An age (``history_keep = "1h"``) on Redis trims the stored changelog when writes stop too.

The write scripts trim a group's stream by age only when they run (``lua/history.lua``), and
reads already hide the changes older than the age (``retention.py``); the changes themselves
stayed stored until the group's next write, for good when none came. The background filer
(``filer.py``) now trims by age the groups this process wrote, once the writes pause, a bounded
number of script calls per pass (``lua/history_trim_age.lua``), and sleeps until the oldest
change kept will be older than the age (at most ``AGE_SLEEP_MAX``).

The age passing is what is tested: the waits below poll the stream with a deadline (no event
stands for the clock).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from motia_nb.state import StateManager
from motia_nb.state.backends.redis import filer as filer_mod
from motia_nb.state.errors import StateError

pytestmark = pytest.mark.redis

G = "aging"
STREAM, INDEX, COUNT = "motia_nb:history:" + G, "motia_nb:history_index:" + G, "motia_nb:history_count:" + G


@pytest.fixture
def braw(redis_url: str) -> Any:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


def until(cond: Any, what: str, timeout: float = 15.0) -> float:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)
    return time.monotonic()


def stored_keys(braw: Any) -> list[str]:
    return [f.get("k", "") for _, f in braw.xrange(STREAM)]


def test_changes_older_than_the_age_leave_the_stream_once_writes_stop(redis_url: str, braw: Any) -> None:
    # was: with no write after them, every aged change stayed stored for good (XLEN 651)
    m = StateManager(redis_url, history_keep="1s")
    try:
        for i in range(600):  # 600 entries: more than one trim call drops (256 at most)
            m.sync.set(G, f"k{i}", i)

        async def gather() -> None:
            await asyncio.gather(*[m.set(G, f"g{i}", i) for i in range(50)])  # one entry of 50

        asyncio.run(gather())
        gathered_at = time.time()  # (after its commit: its entry's time is before this)
        seq = m.sync.history(G, "k0")[0]["seq"]
        assert len(m.sync.history(G, limit=1000)) == 650  # young: every change shown and stored
        assert braw.xlen(STREAM) == 601
        # the newest entry stays (the gather's 50), as a write's own does: its time is from when
        # the stored values are the state
        until(lambda: braw.xlen(STREAM) == 1, "the aged entries leave the stream, with no write")
        assert braw.xrange(STREAM)[0][1]["m"] == "50"
        # the last lone entry aged out a few ms before the gather's: past its age too before reading
        # (was flaky: read as the lone ones left, the gather's 50 were still younger than 1 s)
        until(lambda: time.time() > gathered_at + 1.0, "the gather's entry is older than the age")
        # what reads show is unchanged: nothing of the history, every value, the state known now
        assert m.sync.history(G) == [] and m.sync.history(G, "k0") == [] and m.sync.history(G, "g49") == []
        assert m.sync.get(G, "k599") == 599 and m.sync.count(G) == 650
        assert m.sync.get(G, "g49", at=datetime.now(UTC)) == 49
        with pytest.raises(StateError, match="was pruned"):
            m.sync.get(G, "k0", at=seq)
        # the bookkeeping follows the stream: the changes it holds counted, no member of a dropped one
        assert int(braw.get(COUNT)) == 50
        assert {m.split("\x00\x00")[0] for m in braw.zrange(INDEX, 0, -1)} == {f"g{i}" for i in range(50)}
    finally:
        m.close()


def test_the_filer_wakes_again_when_the_next_kept_change_ages_out(redis_url: str, braw: Any) -> None:
    # two bursts half the age apart, no write after: the first leaves the stream when it ages
    # out, the second stays until it does too (the task sleeps until then, not for good)
    m = StateManager(redis_url, history_keep="1s")
    try:
        for i in range(3):
            m.sync.set(G, f"a{i}", i)
        time.sleep(0.5)  # the second burst half the age later
        second = time.monotonic()
        for i in range(3):
            m.sync.set(G, f"b{i}", i)
        last_at = time.time()  # (after b2's commit)
        assert braw.xlen(STREAM) == 6
        seen = until(lambda: braw.xlen(STREAM) <= 3, "the first burst leaves the stream")
        if seen - second < 0.8:  # (unless the machine was too slow to look before the second aged)
            assert stored_keys(braw) == ["b0", "b1", "b2"]
        assert [c["key"] for c in m.sync.history(G)] in (["b0", "b1", "b2"], [])
        until(lambda: braw.xlen(STREAM) == 1, "the second burst leaves the stream (but its newest entry), with no write")
        assert stored_keys(braw) == ["b2"] and int(braw.get(COUNT)) == 1
        until(lambda: time.time() > last_at + 1.0, "b2 is older than the age")  # (b1 left a few ms before)
        assert m.sync.history(G) == [] and m.sync.get(G, "b2", at=datetime.now(UTC)) == 2
    finally:
        m.close()


def test_a_count_without_an_age_makes_no_trim_call(redis_url: str, braw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filer_mod, "SETTLE", 0.01)
    m = StateManager(redis_url, history_keep="2")
    try:
        m.sync.count(G)  # opened
        filer = m.backend._filer
        filer.passes.clear()
        for i in range(5):
            m.sync.set(G, "k", i)
        assert filer.passes.wait(10)
        assert filer.trim_calls == 0
        assert [c["new_value"] for c in m.sync.history(G)] == [3, 4]
    finally:
        m.close()
