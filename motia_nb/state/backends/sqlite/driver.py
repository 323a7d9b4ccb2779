"""The queue of batches and its driver on the SQLite loop: :class:`QueueDriver`, a part of ``WritePath``.

Every batch that does not commit inline (a loop iteration's several writes, a write
that finds the lock taken) is queued; one driver coroutine on the SQLite loop
(:func:`motia_nb._threads.get_sqlite_loop`, which runs no user code) takes the queued
batches in order, merging what queued behind a batch up to :data:`MAX_MERGE` writes,
and awaits, per batch, ``BEGIN IMMEDIATE`` (another process's lock waited out on
aiosqlite's thread for the busy timeout), the statements and ``COMMIT`` on aiosqlite's
connection thread. A barrier (``write`` None) resolves once every batch before it has
committed. Nothing queued is ever left without an answer.
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
from .delivery import deliver, refuse
from .executors import Gate, begin_async, claim, drive_async
from .isolate import isolated_steps

__all__ = ["QueueDriver", "MAX_MERGE", "Item"]

#: The driver merges queued batches into one transaction up to this many writes
#: (a batch itself — one loop iteration's writes — is never split).
MAX_MERGE = 4000

#: (write or None for a barrier, waiter): a concurrent Future, or (loop, asyncio future, result_only)
Item = tuple[Any, Any]


class QueueDriver:
    """The queue and the driver; ``WritePath`` provides the connection, the gate and the outcomes."""

    _conn: sqlite3.Connection
    gate: Gate
    busy_timeout: float
    _url: str
    _record: Record | None
    _qlock: threading.Lock
    _queue: collections.deque[list[Item]]
    _pending: int
    _driving: bool
    _idle: threading.Event
    _closed: bool
    _aconn: aiosqlite.Connection | None
    before_commit: Any

    if TYPE_CHECKING:  # WritePath's

        def _closed_error(self) -> Exception: ...
        def _want_events(self, batch: list[Item]) -> bool: ...
        def _committed(self, batch: list[Item], outcomes: list[Any], events: bool) -> list[tuple[Any, Any]]: ...
        def _failed(self, batch: list[Item], exc: BaseException) -> list[tuple[Any, Any]]: ...

    def _enqueue(self, batch: list[Item]) -> None:
        with self._qlock:  # close() sets _closed under this lock
            if self._closed:
                refuse(batch, self._closed_error())
                return
            self._pending += len(batch)
            self._queue.append(batch)
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
                if not self._queue:
                    self._driving = False
                    self._idle.set()
                    return
                batch = self._queue.popleft()
                if batch[0][0] is not None:  # merge what queued behind it (not barriers)
                    while self._queue and self._queue[0][0][0] is not None and len(batch) + len(self._queue[0]) <= MAX_MERGE:
                        batch = batch + self._queue.popleft()
            try:
                await self._run_async(batch)
            except BaseException as exc:  # never leave a waiter hanging
                deliver([(waiter, StateError(f"write to {self._url} failed: {exc}")) for _, waiter in batch])
                with self._qlock:
                    self._pending -= len(batch)

    async def _run_async(self, batch: list[Item]) -> None:
        if batch[0][0] is None:  # a barrier: every batch before it has committed
            done: list[tuple[Any, Any]] = [(waiter, None) for _, waiter in batch]
        else:
            await self.gate.acquire_async()
            try:
                done = await self._commit_async(batch)
            finally:
                self.gate.release()
        with self._qlock:
            self._pending -= len(batch)
        deliver(done)

    async def _connection(self) -> aiosqlite.Connection:
        """The aiosqlite connection on the write connection (its thread starts on first use)."""
        if self._aconn is None:
            conn = self._conn
            aconn = adopt_aiosqlite(aiosqlite.Connection(lambda: conn, 64), "motia-nb-sqlite-writer")
            self._aconn = await aconn
        return self._aconn

    async def _commit_async(self, batch: list[Item]) -> list[tuple[Any, Any]]:
        a = await self._connection()
        try:
            await begin_async(a, self.busy_timeout, self._url)
        except BaseException as exc:
            return self._failed(batch, exc)
        batch = [item for item in batch if claim(item[1])]  # the lock is ours: withdrawn ones drop
        try:
            events = self._want_events(batch)
            steps = isolated_steps([w for w, _ in batch], self._url, events=events, record=self._record)
            outcomes = await drive_async(steps, a)
            if self.before_commit is not None:
                self.before_commit()
            await a.commit()
        except BaseException as exc:
            try:
                await a.rollback()
            except BaseException:
                pass
            return self._failed(batch, exc)
        return self._committed(batch, outcomes, events)


def _start(coro: Any) -> None:
    asyncio.ensure_future(coro)
