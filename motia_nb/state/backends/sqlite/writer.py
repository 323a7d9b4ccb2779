"""The SQLite write path: a lone write inline, every batch on aiosqlite's connection thread.

A write reaches the database by one of two ways, on ONE connection:

- **inline**: a lone write (a sync call, or the only async write of a loop
  iteration) or a loop iteration's small batch (a gather of up to
  :data:`~.buffers.INLINE_MAX` writes), when nothing is queued or running in this process and SQLite's
  write lock is free right now (the connection's busy timeout is 0, so trying
  costs nothing). No thread hop: what makes a sequence of awaited writes fast.
  A write awaited at once as its loop's only buffered one commits at its
  ``await``, without suspending (:class:`~..write_future.WriteFuture`,
  :meth:`WritePath.await_lone`); a set, update or delete alone takes the
  straight-line path of :mod:`.lone`.
- **aiosqlite**: everything else — a loop iteration's many writes (a
  ``gather`` is ONE batch, one transaction, never split), a write that finds the
  lock taken (another process, or a batch in flight): queued for the driver on
  the SQLite loop (:mod:`.driver`), which awaits each batch's statements on
  aiosqlite's connection thread; a lock held by another process is waited out
  there, for the busy timeout. No loop of the caller's ever waits on SQLite.

Every write is acknowledged (its future resolved) only after its commit, so an
acknowledged write survives ``kill -9`` (WAL + synchronous=NORMAL). Listeners are
called under the gate, right after each commit, so they see commits in order;
a write from a listener is refused. Events are built only when someone listens
(or a caller asked for them); results are decoded in one ``json.loads`` per batch.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import aiosqlite

from ...errors import StateClosedError, StateError
from ...events import StateEvent
from ..base import Write, WriteResult
from ...._threads import get_sqlite_loop, sqlite_loop_thread
from .apply import Record, batch_steps
from .buffers import LoopBuffers, _listener_state, in_listener, listener_state
from .delivery import Barrier, Done, LoopBatch, SyncWrite, Unit, deliver
from .driver import QueueDriver
from .executors import Gate, busy_error, close_quietly, drive, is_busy, rollback
from .isolate import isolated_steps
from .lone import LONE_KINDS, LoneRecord, commit_lone

__all__ = ["WritePath", "in_listener", "listener_state"]

class WritePath(LoopBuffers, QueueDriver):
    """Owns the write connection's use: inline commits, the batch queue and its driver.

    ``conn`` has busy_timeout 0; ``busy_timeout`` (seconds) is how long a queued
    batch waits for another process's lock. ``gate`` (the backend's ``_wlock``) is
    held around every write transaction. ``on_commit(events)`` runs after each
    commit that produced events, under the gate, when ``listening()`` is true.
    ``record(writes, entries)`` gives a batch's changelog statement, run in the
    batch's transaction right after its write-back (:mod:`.recorder`); ``lone_record``, a weak
    reference to the :data:`.lone.LoneRecord` of a write committed alone.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        gate: Gate,
        url: str,
        busy_timeout: float,
        on_commit: Callable[[Sequence[StateEvent]], None],
        listening: Callable[[], bool],
        record: Record | None = None,
        lone_record: "weakref.WeakMethod[LoneRecord] | None" = None,
    ) -> None:
        self._conn = conn
        self.gate = gate
        self._record = record
        self._lone_record = lone_record
        #: called inside each write transaction right before COMMIT; raising rolls it back
        #: (lifecycle sets it: the file-identity check of guard.py)
        self.before_commit: Callable[[], None] | None = None
        self._url = url
        self.busy_timeout = busy_timeout
        self._on_commit = on_commit
        self._listening = listening
        self._qlock = threading.Lock()
        self._queue: collections.deque[Unit] = collections.deque()
        self._pending = 0  # writes queued for, or being run by, the driver
        self._driving = False
        self._idle = threading.Event()
        self._idle.set()
        self._loop_buffers: dict[asyncio.AbstractEventLoop, LoopBatch] = {}
        self._closed = False
        self._aconn: aiosqlite.Connection | None = None
        self.commits = 0
        get_sqlite_loop()  # started with the first open file: writer_thread names it from now on

    @property
    def thread(self) -> threading.Thread | None:
        """The thread where queued batches commit and their listeners run (the SQLite loop's)."""
        return sqlite_loop_thread()

    def _closed_error(self) -> StateClosedError:
        return StateClosedError(f"the state database {self._url} was closed")

    # ------------------------------------------------------------------ submission
    def submit(self, write: Write) -> "Future[WriteResult]":
        fut: Future[WriteResult] = Future()
        self.flush_here()  # program order: this thread's not-yet-flushed async writes go first
        unit = SyncWrite(write, fut)
        if not self._run_inline(unit):
            self._enqueue(unit)
        return fut

    def barrier(self) -> "asyncio.Future[None] | None":
        """A future resolved once every batch queued now has committed (None: none is)."""
        if not self._pending:
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._enqueue(Barrier(fut, loop))
        return fut

    # ------------------------------------------------------------------ inline
    def _run_inline(self, unit: "LoopBatch | SyncWrite") -> bool:
        """Commit ``unit`` on this thread if that cannot wait or reorder; else False."""
        if self._pending or self._closed:
            return False
        gate = self.gate
        if not gate.acquire(False):
            return False
        try:
            if self._pending or self._closed:  # the driver took work meanwhile: queue behind it
                return False
            done = self._commit_inline(unit)
        finally:
            gate.release()
        if done is None:  # the database is locked by another process right now
            return False
        deliver(done)
        return True

    def _commit_inline(self, unit: "LoopBatch | SyncWrite") -> Done | None:
        conn = self._conn
        units: list[Unit] = [unit]
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                return None
            return self._failed(units, exc)
        if not unit.claim():  # the lock is ours: a withdrawn sync write is not made
            rollback(conn)
            return []
        try:
            events = self._want_events(units)
            writes = unit.writes
            if len(writes) == 1 and writes[0].kind in LONE_KINDS:  # sequential writes: straight-line
                lone_record = None if self._lone_record is None else self._lone_record()
                outcomes = commit_lone(conn, writes[0], self._url, events=events, record=lone_record)
            else:
                outcomes = drive(isolated_steps(writes, self._url, events=events, record=self._record), conn)
            if self.before_commit is not None:
                self.before_commit()
            conn.execute("COMMIT")
        except BaseException as exc:  # I/O error, disk full…: nothing of the batch stands
            rollback(conn)
            return self._failed(units, exc)
        return self._committed(units, outcomes, events)

    # ------------------------------------------------------------------ outcomes
    def _want_events(self, units: list[Unit]) -> bool:
        """Events (WriteResults) are built when someone listens or a caller wants more than the result."""
        if self._listening():
            return True
        for u in units:
            if u.wants_events():  # type: ignore[union-attr]
                return True
        return False

    def _committed(self, units: list[Unit], outcomes: list[Any], events: bool) -> Done:
        """After COMMIT: listeners told; each unit with its outcomes."""
        self.commits += 1
        if events and self._listening():
            self._tell([ev for out in outcomes if type(out) is WriteResult for ev in out.events])
        if len(units) == 1:
            return [(units[0], outcomes)]
        done: Done = []
        i = 0
        for u in units:
            n = len(u)
            done.append((u, outcomes[i : i + n]))
            i += n
        return done

    def _tell(self, events: list[StateEvent]) -> None:
        """Hand a commit's events to the listeners (under the gate; a write from them is refused)."""
        if not events:
            return
        _listener_state.active = True
        try:
            self._on_commit(events)
        finally:
            _listener_state.active = False

    def _failed(self, units: list[Unit], exc: BaseException) -> Done:
        if isinstance(exc, StateError):
            err = exc
        else:
            err = StateError(f"write to {self._url} failed and was rolled back: {exc}")
            err.__cause__ = exc
        return [(u, [err] * len(u)) for u in units]

    # ------------------------------------------------------------------ all or nothing, and close
    def write_all(self, writes: Sequence[Write], chunk: int, progress: Callable[[int], None] | None) -> list[WriteResult]:
        """Commit ``writes`` in ONE transaction, on this thread: all of them or, when any
        fails (a bad update, an I/O error), none (rolled back; the error is raised).
        Writes this thread made before go first; listeners get every event after the commit."""
        if self._closed:
            raise self._closed_error()
        self.flush_here()
        self._wait_for_queue()
        conn = self._conn
        with self.gate:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if is_busy(exc):
                    raise busy_error(self._url, self.busy_timeout) from None
                raise StateError(f"write to {self._url} failed (nothing written): {exc}") from exc
            finally:
                conn.execute("PRAGMA busy_timeout = 0")
            try:
                outcomes: list[Any] = []
                for i in range(0, len(writes), chunk):
                    some = list(writes[i : i + chunk])
                    part = drive(batch_steps(some, record=self._record), conn).outcomes(events=True)
                    failed = next((o for o in part if isinstance(o, BaseException)), None)
                    if failed is not None:
                        raise failed
                    outcomes.extend(part)
                    if progress is not None:
                        progress(len(part))
                if self.before_commit is not None:
                    self.before_commit()
                conn.execute("COMMIT")
            except BaseException as exc:
                rollback(conn)
                if isinstance(exc, StateError):
                    raise
                raise StateError(f"write to {self._url} failed and was rolled back (nothing written): {exc}") from exc
            self.commits += 1
            if self._listening():
                self._tell([ev for out in outcomes for ev in out.events])
        return outcomes

    def _wait_for_queue(self) -> None:
        """Block until every batch queued now has committed (program order for a sync caller)."""
        if not self._pending:
            return
        fut: Future[Any] = Future()
        self._enqueue(Barrier(fut))
        fut.result()

    def close(self) -> None:
        """Refuse new writes, commit everything queued, close the write connection."""
        self.flush_here()  # writes this thread's loop buffered were made before close(): commit them
        with self._qlock:
            if self._closed:
                return
            self._closed = True
        if threading.current_thread() is sqlite_loop_thread():
            # from a listener (or a collection) on the SQLite loop: waiting here would stop the
            # driver, so the connections close once it has finished the queue
            asyncio.ensure_future(self._close_when_idle(), loop=get_sqlite_loop().loop)
            return
        self._idle.wait()
        with self.gate:
            # closed here first, holding OPENING (a fork waits for it); aiosqlite's own close
            # then finds it closed and only stops its thread
            close_quietly(self._conn)
            aconn, self._aconn = self._aconn, None
            if aconn is not None:
                loop = get_sqlite_loop().loop
                assert loop is not None
                try:
                    asyncio.run_coroutine_threadsafe(aconn.close(), loop).result(timeout=30)
                except Exception:
                    pass

    async def _close_when_idle(self) -> None:
        while not self._idle.is_set():
            await asyncio.sleep(0.01)
        await self.gate.acquire_async()
        try:
            close_quietly(self._conn)  # first, holding OPENING (as in close())
            aconn, self._aconn = self._aconn, None
            if aconn is not None:
                try:
                    await aconn.close()
                except Exception:
                    pass
        finally:
            self.gate.release()

