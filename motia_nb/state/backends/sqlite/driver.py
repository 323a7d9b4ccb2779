"""The queue of units and its driver on the SQLite loop: :class:`QueueDriver`, a part of ``WritePath``.

Every unit (:mod:`.delivery`) that does not commit inline (a loop iteration's several
writes, a write that finds the lock taken) is queued; one driver coroutine on the SQLite
loop (:func:`motia_nb._threads.get_sqlite_loop`, which runs no user code) takes the queued
units in order, merging what queued behind a unit into its transaction up to
:data:`MAX_MERGE` writes, and awaits, per transaction, ``BEGIN IMMEDIATE`` (another
process's lock waited out on aiosqlite's thread for the busy timeout), the statements and
``COMMIT`` on aiosqlite's connection thread. A :class:`~.delivery.Barrier` is answered once
every unit before it has committed. Nothing queued is ever left without an answer.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import aiosqlite

from ...errors import StateError
from ...._threads import adopt_aiosqlite, get_sqlite_loop
from .apply import Record
from .delivery import Barrier, Done, Unit, deliver
from .executors import Gate, begin_async, drive_async
from .isolate import isolated_steps

__all__ = ["QueueDriver", "MAX_MERGE", "writes_of"]

#: The driver merges queued units into one transaction up to this many writes
#: (a unit itself — one loop iteration's writes — is never split).
MAX_MERGE = 4000


def writes_of(units: list[Unit]) -> list[Any]:
    """The writes of ``units``, in order (one unit's own list, not a copy)."""
    if len(units) == 1:
        return units[0].writes
    return [w for u in units for w in u.writes]


class QueueDriver:
    """The queue and the driver; ``WritePath`` provides the connection, the gate and the outcomes."""

    _conn: sqlite3.Connection
    gate: Gate
    busy_timeout: float
    _url: str
    _record: Record | None
    _qlock: threading.Lock
    _queue: collections.deque[Unit]
    _pending: int
    _driving: bool
    _idle: threading.Event
    _closed: bool
    _aconn: aiosqlite.Connection | None
    before_commit: Any

    if TYPE_CHECKING:  # WritePath's

        def _closed_error(self) -> Exception: ...
        def _want_events(self, units: list[Unit]) -> bool: ...
        def _committed(self, units: list[Unit], outcomes: list[Any], events: bool) -> Done: ...
        def _failed(self, units: list[Unit], exc: BaseException) -> Done: ...

    def _enqueue(self, unit: Unit) -> None:
        with self._qlock:  # close() sets _closed under this lock
            if self._closed:
                unit.refuse(self._closed_error())
                return
            self._pending += len(unit)
            self._queue.append(unit)
            if self._driving:
                return
            self._driving = True
            self._idle.clear()
        loop = get_sqlite_loop().loop
        assert loop is not None
        loop.call_soon_threadsafe(_start, self._drive())

    async def _drive(self) -> None:
        while True:
            with self._qlock:
                queue = self._queue
                if not queue:
                    self._driving = False
                    self._idle.set()
                    return
                units = [queue.popleft()]
                if type(units[0]) is not Barrier:  # merge what queued behind it (not barriers)
                    n = len(units[0])
                    while queue and type(queue[0]) is not Barrier and n + len(queue[0]) <= MAX_MERGE:
                        n += len(queue[0])
                        units.append(queue.popleft())
            try:
                await self._run_async(units)
            except BaseException as exc:  # never leave a waiter hanging
                err = StateError(f"write to {self._url} failed: {exc}")
                deliver([(u, [err] * len(u)) for u in units])
                with self._qlock:
                    self._pending -= sum(map(len, units))

    async def _run_async(self, units: list[Unit]) -> None:
        if type(units[0]) is Barrier:  # every unit before it has committed
            done: Done = [(units[0], [None])]
        else:
            await self.gate.acquire_async()
            try:
                done = await self._commit_async(units)
            finally:
                self.gate.release()
        with self._qlock:
            self._pending -= sum(map(len, units))
        deliver(done)

    async def _connection(self) -> aiosqlite.Connection:
        """The aiosqlite connection on the write connection (its thread starts on first use)."""
        if self._aconn is None:
            conn = self._conn
            aconn = adopt_aiosqlite(aiosqlite.Connection(lambda: conn, 64), "motia-nb-sqlite-writer")
            self._aconn = await aconn
        return self._aconn

    async def _commit_async(self, units: list[Unit]) -> Done:
        a = await self._connection()
        try:
            await begin_async(a, self.busy_timeout, self._url)
        except BaseException as exc:
            return self._failed(units, exc)
        units = [u for u in units if u.claim()]  # the lock is ours: withdrawn ones drop
        try:
            events = self._want_events(units)
            steps = isolated_steps(writes_of(units), self._url, events=events, record=self._record)
            outcomes = await drive_async(steps, a)
            if self.before_commit is not None:
                self.before_commit()
            await a.commit()
        except BaseException as exc:
            try:
                await a.rollback()
            except BaseException:
                pass
            return self._failed(units, exc)
        return self._committed(units, outcomes, events)


def _start(coro: Any) -> None:
    asyncio.ensure_future(coro)
