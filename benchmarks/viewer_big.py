"""The viewer on a 1,000,000-item SQLite group: what a live refresh, a page, a key search and
go to key cost, next to what the viewer did before (a whole count and an ``OFFSET`` page per
refresh). Best of 5 of each (the first substring search, which builds the group's
trigram index, once), in milliseconds; "on the loop" is the longest the viewer's loop
went without running a 1 ms probe during the operation.

    python benchmarks/viewer_big.py [--items N] [--db PATH]

The group is written once with ``executemany`` (about 20 s for 1,000,000 items) unless
``--db`` names a file made before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motia_nb.notebook.viewer import viewer  # noqa: E402
from motia_nb.notebook.viewer.data import off_loop  # noqa: E402
from motia_nb.notebook.viewer.paging import find_keys, page_of_key  # noqa: E402
from motia_nb.state import StateManager  # noqa: E402


def build(path: str, n: int) -> None:
    m = StateManager(path)
    m.sync.set("small", "x", 1)
    m.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO items (grp, key, value) VALUES ('big', ?, ?)",
        ((f"item-{i:07d}", json.dumps({"n": i, "status": "ok"})) for i in range(n)),
    )
    conn.execute("COMMIT")
    conn.close()


class Stall:
    """The longest gap between ticks of a 1 ms timer on the running loop."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._last = time.perf_counter()
        self._handle: asyncio.TimerHandle | None = None

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last)
        self._last = now
        self._handle = asyncio.get_running_loop().call_later(0.001, self._tick)

    def __enter__(self) -> "Stall":
        self.worst, self._last = 0.0, time.perf_counter()
        self._tick()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.cancel()


async def best(fn: Callable[[], Awaitable[Any]], runs: int = 5) -> tuple[float, float]:
    """(best wall ms, worst loop stall ms over the runs)."""
    wall, stall = float("inf"), 0.0
    for _ in range(runs):
        with Stall() as s:
            t0 = time.perf_counter()
            await fn()
            wall = min(wall, time.perf_counter() - t0)
            await asyncio.sleep(0.003)  # let the probe see the end
        stall = max(stall, s.worst)
    return wall * 1000, stall * 1000


async def main(path: str) -> None:
    m = StateManager(path)
    heavy = off_loop(m)
    rows: list[tuple[str, float, float]] = []

    async def row(label: str, fn: Callable[[], Awaitable[Any]], runs: int = 5) -> None:
        wall, stall = await best(fn, runs)
        rows.append((label, wall, stall))
        print(f"{label:58s} {wall:9.2f} ms   on the loop ≤ {stall:7.2f} ms", flush=True)

    v = viewer("big", manager=m, page_size=50, live=True, debounce=0.0, poll_interval=30)
    try:
        v.go_to_page(10_000)  # a page far in (by position once, off the loop)
        total = v.total
        print(f"group 'big': {total:,} items; viewer on page {v.page + 1:,}", flush=True)
        i = iter(range(10**9))

        async def live_refresh() -> None:  # one local write, then the refresh it causes
            await m.set("big", f"zz-new-{next(i)}", {"n": -1})
            await v._refresh_async()

        async def old_refresh() -> None:  # what a refresh read before: every count, then OFFSET
            await m.group_counts()
            await m.count("big")
            await m.items("big", 10_000 * 50, 50)

        await row("live refresh after a write (counts from events, keyset)", live_refresh)
        assert v._data.rescans == 1, v._data.rescans
        await row("before: group_counts + count + OFFSET page, on the loop", old_refresh)
        await row("next page (keyset)", lambda: v._go_by(+1))
        await row("previous page (keyset)", lambda: v._go_by(-1))
        await row("last page (keyset, backwards)", lambda: v._go_to(10**9))
        await row("key search, prefix 'item-09999' (index range)", lambda: find_keys(m, "big", "item-09999", 50, heavy))
        await row("key search, substring '99' (common: the scan stops at 50)", lambda: find_keys(m, "big", "99", 50, heavy))
        await row("first substring search '99999' (builds the trigram index)",
                  lambda: find_keys(m, "big", "99999", 50, heavy), runs=1)
        await row("key search, substring '99999' (20 matches: trigram index)",
                  lambda: find_keys(m, "big", "99999", 50, heavy))
        await row("key search, substring 'nope' (no match: trigram index)",
                  lambda: find_keys(m, "big", "nope", 50, heavy))
        await row("key search, substring '-09' (100,000 matches, late in key order)",
                  lambda: find_keys(m, "big", "-09", 50, heavy))
        await row("go to key 'item-0500000', insertion order (rank + pages)",
                  lambda: page_of_key(m, "big", "item-0500000", "insertion", 50, heavy))
        await row("go to key 'item-0500000', key order", lambda: page_of_key(m, "big", "item-0500000", "key", 50, heavy))
    finally:
        v.close()
        m.close()
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--db", help="a file made by an earlier run (kept)")
    args = ap.parse_args()
    if args.db and Path(args.db).exists():
        db = args.db
    else:
        db = args.db or os.path.join(tempfile.mkdtemp(prefix="viewer-big-"), "state.db")
        print(f"writing {args.items:,} items to {db} …", flush=True)
        build(db, args.items)
    asyncio.run(main(db))
