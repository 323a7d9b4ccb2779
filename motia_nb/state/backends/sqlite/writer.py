"""The SQLite write path: one transaction per batch, committed inline or by the writer thread.

A write reaches the database by one of two ways:

- **inline**: the submitting thread commits the batch itself, when no other batch
  is queued or running in this process and SQLite's write lock is free right now
  (busy_timeout 0). No thread hop: this is what makes a sequence of awaited writes
  fast.
- **the writer thread** (one per open file, as in aiosqlite: one owner, one
  queue): everything else (contention, another process holding the lock). It
  takes *everything queued* per wake-up into one ``BEGIN IMMEDIATE … COMMIT``
  (group commit) and waits out busy databases instead of raising.

Async callers buffer their writes for one event-loop iteration first, so a
``gather`` of thousands of writes still becomes one transaction. Every write is
acknowledged (its future resolved) only after its commit, so an acknowledged
write survives ``kill -9`` (WAL + synchronous=NORMAL). Listeners are called
under the write lock, right after the commit, so they see commits in order: on
the writer thread, or on the caller's thread for an inline commit.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from ...errors import StateClosedError, StateError
from ...events import StateEvent
from ..base import Write, WriteResult
from ...._threads import start_thread
from .apply import apply_batch
from .schema import BUSY_TIMEOUT_MS, is_busy, retry_busy

__all__ = ["WritePath", "in_listener"]

_STOP = object()
_MAX_BATCH = 4000
#: A loop's buffered writes go to the writer thread as soon as there are this many.
_EARLY_FLUSH = 512

_listener_state = threading.local()  # .active while this thread runs state listeners

#: (waiter, outcome): a concurrent Future, or (loop, asyncio future, result_only)
Item = tuple[Write, Any]


def in_listener() -> bool:
    """True while the current thread runs state listeners (a write now is refused)."""
    return getattr(_listener_state, "active", False)


class WritePath:
    """Owns the write connection's use: the queue, the writer thread, the loop buffers.

    ``lock`` guards ``conn`` (an RLock: listeners run under it and may read, and
    ``:memory:`` reads share it). ``on_commit(events)`` runs after each commit
    that produced events, under ``lock``. ``record(conn, writes, outcomes)`` writes
    the changelog rows of each applied batch inside its transaction (the one hook).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: "threading.RLock",
        *,
        url: str,
        memory: bool,
        on_commit: Callable[[Sequence[StateEvent]], None],
        record: Callable[[sqlite3.Connection, list[Write], list[Any]], None] | None = None,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._url = url
        self._memory = memory
        self._on_commit = on_commit
        self._record = record or _no_record
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0  # writes queued for, or being run by, the writer thread
        self._pending_lock = threading.Lock()
        self._loop_buffers: dict[asyncio.AbstractEventLoop, list[Item]] = {}
        self._closed = False
        self.commits = 0
        self.thread = start_thread(self._main, "motia-nb-sqlite-writer")

    def _closed_error(self) -> StateClosedError:
        return StateClosedError(f"the state database {self._url} was closed")

    # ------------------------------------------------------------------ submission
    def submit(self, write: Write) -> "Future[WriteResult]":
        fut: Future[WriteResult] = Future()
        self.flush_here()  # program order: this thread's not-yet-flushed async writes go first
        item = (write, fut)
        if not self._run_inline([item]):
            self._enqueue([item])
        return fut

    def submit_async(self, write: Write, *, result_only: bool) -> "asyncio.Future[Any]":
        """Buffer ``write`` until the running loop's next iteration; writes submitted
        in the same iteration are committed together, and their results reach the
        loop in one wake-up."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        buf = self._loop_buffers.get(loop)
        if buf is None:
            buf = self._loop_buffers[loop] = []
            loop.call_soon(self._flush_loop_buffer, loop)
        buf.append((write, (loop, fut, result_only)))
        if len(buf) >= _EARLY_FLUSH:
            # a burst (gather of thousands): let the writer thread start committing
            # while this loop keeps producing; the flush callback queues the rest.
            self._loop_buffers[loop] = []
            self._enqueue(buf)
        return fut

    def write_all(self, writes: Sequence[Write], chunk: int, progress: Callable[[int], None] | None) -> list[WriteResult]:
        """Commit ``writes`` in ONE transaction, on this thread: all of them or, when any
        fails (a bad update, an I/O error), none (rolled back; the error is raised).
        Writes this thread buffered before go first; listeners get every event after
        the commit, as for any batch."""
        if self._closed:
            raise self._closed_error()
        self.flush_here()
        with self._lock:
            conn = self._conn
            retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                outcomes: list[Any] = []
                for i in range(0, len(writes), chunk):
                    some = list(writes[i : i + chunk])
                    part = apply_batch(conn, some)
                    failed = next((o for o in part if isinstance(o, BaseException)), None)
                    if failed is not None:
                        raise failed
                    self._record(conn, some, part)
                    outcomes.extend(part)
                    if progress is not None:
                        progress(len(part))
                retry_busy(lambda: conn.execute("COMMIT"))
            except BaseException as exc:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, StateError):
                    raise
                raise StateError(f"write to {self._url} failed and was rolled back (nothing written): {exc}") from exc
            self.commits += 1
            self._tell_listeners([ev for out in outcomes for ev in out.events])
        return outcomes

    def flush_here(self) -> None:
        """Flush the async writes buffered by the loop running in this thread, if any
        (a read or a sync write must see, and follow, the writes made before it)."""
        if not self._loop_buffers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop in self._loop_buffers:
            self._flush_loop_buffer(loop)

    def _flush_loop_buffer(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._loop_buffers.pop(loop, None)
        if batch and not self._run_inline(batch):  # (empty after an early flush)
            self._enqueue(batch)

    def _enqueue(self, batch: list[Item]) -> None:
        with self._pending_lock:  # close() sets _closed under this lock, then queues _STOP
            if self._closed:
                closed = self._closed_error()
                _deliver([(waiter, closed) for _, waiter in batch])
                return
            self._pending += len(batch)
            for item in batch:
                self._queue.put(item)

    def _run_inline(self, batch: list[Item]) -> bool:
        """Commit ``batch`` on this thread if that cannot wait or reorder; else False."""
        if self._pending or self._closed:
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._pending or self._closed:  # the writer took work meanwhile: queue behind it
                return False
            done = self._commit(batch, wait=False)
        finally:
            self._lock.release()
        if done is None:  # the database is locked by another process right now
            return False
        _deliver(done)
        return True

    # ------------------------------------------------------------------ the writer thread
    def _main(self) -> None:
        q = self._queue
        while True:
            item = q.get()
            stop = item is _STOP
            batch = [] if stop else [item]
            while len(batch) < _MAX_BATCH:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    continue  # finish what is queued, then stop
                batch.append(nxt)
            if batch:
                with self._lock:
                    done = self._commit(batch, wait=True)
                    with self._pending_lock:
                        self._pending -= len(batch)
                _deliver(done or [])
            if stop:
                # fail anything that raced in after close()
                while True:
                    try:
                        late = q.get_nowait()
                    except queue.Empty:
                        break
                    if late is not _STOP:
                        _deliver([(late[1], self._closed_error())])
                return

    def close(self) -> None:
        """Refuse new writes, commit everything queued, stop the writer thread."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        if threading.current_thread() is not self.thread:
            self.thread.join()

    # ------------------------------------------------------------------ one transaction
    def _commit(self, batch: list[Item], *, wait: bool) -> list[tuple[Any, Any]] | None:
        """Apply ``batch`` in one transaction; the caller holds the lock.

        Returns (waiter, outcome) pairs to deliver, or None when ``wait`` is False
        and another connection holds SQLite's write lock (nothing was done).
        """
        conn = self._conn
        writes = [w for w, _ in batch]
        try:
            if wait or self._memory:
                retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
            elif not self._try_begin(conn):
                return None
            outcomes = apply_batch(conn, writes)
            self._record(conn, writes, outcomes)  # the changelog, in the same transaction
            retry_busy(lambda: conn.execute("COMMIT"))
        except BaseException as exc:  # I/O error, disk full…: nothing of the batch stands
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            err = StateError(f"write to {self._url} failed and was rolled back: {exc}")
            err.__cause__ = exc
            return [(waiter, err) for _, waiter in batch]
        self.commits += 1
        self._tell_listeners([ev for out in outcomes if isinstance(out, WriteResult) for ev in out.events])
        return [(waiter, out) for (_, waiter), out in zip(batch, outcomes)]

    def _tell_listeners(self, events: list[Any]) -> None:
        """Hand a commit's events to the listeners (under the write lock; a write from them is refused)."""
        if not events:
            return
        _listener_state.active = True
        try:
            self._on_commit(events)
        finally:
            _listener_state.active = False

    @staticmethod
    def _try_begin(conn: sqlite3.Connection) -> bool:
        """``BEGIN IMMEDIATE`` without waiting: False if another connection holds the lock."""
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                return False
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return True


def _no_record(conn: sqlite3.Connection, writes: list[Write], outcomes: list[Any]) -> None:
    """No changelog."""


# ---------------------------------------------------------------------- delivering outcomes
def _deliver(pairs: list[tuple[Any, Any]]) -> None:
    """Resolve waiters with results (or exceptions): concurrent Futures directly,
    asyncio futures with one ``call_soon_threadsafe`` per loop."""
    by_loop: dict[Any, list[tuple[Any, Any]]] = {}
    for waiter, out in pairs:
        if isinstance(waiter, Future):
            if isinstance(out, BaseException):
                waiter.set_exception(out)
            else:
                waiter.set_result(out)
        else:
            loop, fut, result_only = waiter
            if result_only and isinstance(out, WriteResult):
                out = out.result
            by_loop.setdefault(loop, []).append((fut, out))
    if not by_loop:
        return
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for loop, items in by_loop.items():
        if loop is here:  # committed inline on the loop's own thread
            _resolve_on_loop(items)
            continue
        try:
            loop.call_soon_threadsafe(_resolve_on_loop, items)
        except RuntimeError:  # that loop was closed meanwhile: nobody is waiting
            pass


def _resolve_on_loop(items: list[tuple["asyncio.Future[Any]", Any]]) -> None:
    for fut, out in items:
        if fut.done():  # the awaiting task was cancelled; the write stands
            continue
        if isinstance(out, BaseException):
            fut.set_exception(out)
        else:
            fut.set_result(out)
