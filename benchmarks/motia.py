"""The motia_nb driver: the public default ``state_manager``, as a notebook uses it.

Each round selects an empty store with ``state_manager.use(...)`` (a fresh SQLite
file, or the Redis server with the group cleared) and switches back afterwards.
The async workloads run on one event loop per workload, as a kernel's cells do.
With ``idle_step=True`` a state step whose condition never matches stays
registered while the workload runs (what issue 12 calls a non-matching step).
With ``history=False`` the store keeps no history (``history_keep = "off"``):
the pair measured against raw sqlite3 doing exactly the same statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import motia_nb
import redis

from .core import COUNTER, GROUP, BenchError, Round, Sample, Timer, Workdir, expect, key_of, shuffled_keys, value_of

__all__ = ["MotiaDriver", "IDLE_STEP"]

IDLE_STEP = "bench-idle-step"
_CHUNK = 5_000  # setup writes, gathered this many at a time

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@contextlib.contextmanager
def _event_loop() -> Iterator[Runner]:
    loop = asyncio.new_event_loop()
    try:
        yield loop.run_until_complete
    finally:
        loop.close()


def _flushdb(url: str) -> None:
    """Empty the Redis database of ``url`` (the redis-py baseline uses another one)."""
    r = redis.Redis.from_url(url)
    try:
        r.flushdb()
    finally:
        r.close()


class MotiaDriver:
    """motia_nb on SQLite (``url=None``: a fresh file per round) or on ``url`` (Redis).

    A Redis ``url`` must name a database of its own: each round starts with FLUSHDB.
    """

    def __init__(self, wd: Workdir, url: str | None = None, *, idle_step: bool = False, history: bool = True) -> None:
        self.wd = wd
        self.url = url
        self.idle_step = idle_step
        self.history = history
        self.name = ("motia_nb redis" if url else "motia_nb") + (" + idle step" if idle_step else "")
        if idle_step:  # the step is registered around write rounds only
            self.only = ("set_gather", "set_awaited", "set_sync")
        if not history:
            self.name += " history off"
            self.only = ("set_gather", "set_awaited", "set_overwrite")
        where = "a private redis-server (--save '' --appendonly no)" if url else "a fresh SQLite file per round"
        self.how = (
            f"the default state_manager switched with use() to {where}; async API on one event loop, "
            "gathered = asyncio.gather of the calls; sync = state_manager.sync"
            + ("; a state step whose condition never matches is registered" if idle_step else "")
            + ("; history off (history_keep = 'off')" if not history else "; history on (the default retention)")
        )

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _opened(self) -> Iterator[Any]:
        """The default manager on an empty store; switched back on exit."""
        sm = motia_nb.state_manager
        previous, kept = sm.url, sm.history_keep
        with self.wd.fresh(self.name) as d:
            if self.url:
                _flushdb(self.url)  # start empty (clearing a big group through motia_nb is itself slow)
            if not self.history:
                sm.history_keep = "off"  # before use(): the new store opens with it
            try:
                sm.use(self.url or os.path.join(d, "state.db"))
                try:
                    yield sm
                finally:
                    sm.use(previous)
            finally:
                sm.history_keep = kept

    @contextlib.contextmanager
    def _step(self) -> Iterator[dict[str, int]]:
        """While ``idle_step``: a registered state step that never runs; yields its call counts."""
        calls = {"condition": 0, "handler": 0}
        if not self.idle_step:
            yield calls
            return

        def never(event: Any) -> bool:
            calls["condition"] += 1
            return False

        def handler(event: Any) -> None:
            calls["handler"] += 1

        config = {"name": IDLE_STEP, "description": "benchmark: never matches", "triggers": [motia_nb.state(never)]}
        motia_nb.step(config)(handler)
        try:
            yield calls
        finally:
            motia_nb.remove_step(IDLE_STEP)

    @staticmethod
    def _check_stored(sm: Any, n: int) -> None:
        expect(sm.sync.count(GROUP), n, "items stored")
        expect(sm.sync.get(GROUP, key_of(n - 1)), value_of(n - 1), "last value read back")

    @staticmethod
    async def _populate(sm: Any, n: int) -> None:
        for lo in range(0, n, _CHUNK):
            await asyncio.gather(*(sm.set(GROUP, key_of(i), value_of(i)) for i in range(lo, min(n, lo + _CHUNK))))

    def _write_rounds(self, n: int, timed: Callable[[Any, Runner], float]) -> Iterator[Round]:
        """Rounds of ``timed(sm, run)`` on an empty store, each checked afterwards."""
        with _event_loop() as run:

            def one() -> Sample:
                # the step is registered for this round only: a paired driver's rounds run without it
                with self._step() as calls, self._opened() as sm:
                    secs = timed(sm, run)
                    self._check_stored(sm, n)
                    if self.idle_step:
                        expect(calls["handler"], 0, "idle step runs")
                        if calls["condition"] == 0:
                            raise BenchError("the idle step's condition was never consulted: the step is not live")
                return Sample(secs)

            yield one

    # ------------------------------------------------------------------ workloads
    @contextlib.contextmanager
    def set_gather(self, n: int) -> Iterator[Round]:
        async def timed(sm: Any) -> float:
            await sm.get(GROUP, "warm")  # the store is open and warm before timing
            with Timer() as t:
                await asyncio.gather(*(sm.set(GROUP, key_of(i), value_of(i)) for i in range(n)))
            return t.seconds

        yield from self._write_rounds(n, lambda sm, run: run(timed(sm)))

    @contextlib.contextmanager
    def set_awaited(self, n: int) -> Iterator[Round]:
        async def timed(sm: Any) -> float:
            await sm.get(GROUP, "warm")
            with Timer() as t:
                for i in range(n):
                    await sm.set(GROUP, key_of(i), value_of(i))
            return t.seconds

        yield from self._write_rounds(n, lambda sm, run: run(timed(sm)))

    @contextlib.contextmanager
    def set_overwrite(self, n: int) -> Iterator[Round]:
        async def timed(sm: Any) -> float:
            for lo in range(0, n, _CHUNK):  # n items first (other values), not timed
                await asyncio.gather(*(sm.set(GROUP, key_of(i), value_of(n + i)) for i in range(lo, min(n, lo + _CHUNK))))
            with Timer() as t:
                for i in range(n):
                    await sm.set(GROUP, key_of(i), value_of(i))
            return t.seconds

        yield from self._write_rounds(n, lambda sm, run: run(timed(sm)))

    @contextlib.contextmanager
    def set_sync(self, n: int) -> Iterator[Round]:
        def timed(sm: Any, _run: Runner) -> float:
            sync = sm.sync  # called with no running event loop, as in a plain script
            sync.get(GROUP, "warm")
            with Timer() as t:
                for i in range(n):
                    sync.set(GROUP, key_of(i), value_of(i))
            return t.seconds

        yield from self._write_rounds(n, timed)

    @contextlib.contextmanager
    def get(self, n: int) -> Iterator[Round]:
        keys = shuffled_keys(n)
        with _event_loop() as run, self._opened() as sm:
            run(self._populate(sm, n))

            async def timed() -> float:
                found = 0
                with Timer() as t:
                    for k in keys:
                        if await sm.get(GROUP, k) is not None:
                            found += 1
                expect(found, n, "keys read back")
                return t.seconds

            yield lambda: Sample(run(timed()))

    @contextlib.contextmanager
    def incr(self, n: int) -> Iterator[Round]:
        op = [{"type": "increment", "path": "n", "by": 1}]
        with _event_loop() as run:

            async def timed(sm: Any) -> Sample:
                await sm.set(GROUP, COUNTER, {"n": 0})
                with Timer() as t:
                    await asyncio.gather(*(sm.update(GROUP, COUNTER, op) for _ in range(n)))
                final = await sm.get(GROUP, COUNTER)
                return Sample(t.seconds, lost=n - int(final["n"]))

            def one() -> Sample:
                with self._opened() as sm:
                    return run(timed(sm))

            yield one

    @contextlib.contextmanager
    def list(self, n: int) -> Iterator[Round]:
        with _event_loop() as run, self._opened() as sm:
            run(self._populate(sm, n))

            async def timed() -> float:
                with Timer() as t:
                    values = await sm.list(GROUP)
                expect(len(values), n, "values listed")
                expect(values[-1], value_of(n - 1), "last value listed")
                return t.seconds

            yield lambda: Sample(run(timed()))
