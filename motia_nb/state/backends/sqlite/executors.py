"""Where a batch's statements are executed: one function per executor, and the gate.

A batch (:func:`.apply.batch_steps`) yields lists of ``(sql, params)`` statements
and receives their rows. Two executors run them, on one shared connection:

- :func:`run_statements`: on the calling thread, with the stdlib connection
  (a lone write committed inline);
- :func:`run_statements_async`: awaiting aiosqlite, whose own thread runs each
  statement (batches, writes that wait for another process's lock).

:class:`Gate` says who may hold a transaction on that connection: a thread (an
inline commit, an import) takes it without waiting or blocking; the SQLite loop's
driver awaits it without blocking its loop.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading
from typing import Any

from ...errors import StateError
from ...stored_text import text_or_undecodable
from .apply import Statement, Steps
from .opening import close_connection
from .reads import fetch_lenient, release_cursor, undecodable

__all__ = [
    "run_statements", "run_statements_async", "drive", "drive_async", "begin_async", "Gate", "is_busy", "busy_error",
    "rollback", "close_quietly",
]  # fmt: skip


def run_statements(conn: sqlite3.Connection, statements: list[Statement]) -> list[list[Any]]:
    """Execute ``statements`` in order on this thread; the rows of each (a list of
    parameter tuples runs with ``executemany`` and gives no rows)."""
    out: list[list[Any]] = []
    for sql, params in statements:
        if type(params) is not list:
            try:
                out.append(conn.execute(sql, params).fetchall())
            except sqlite3.OperationalError as exc:  # text another tool wrote that is not UTF-8
                if not undecodable(exc):
                    raise
                out.append(fetch_lenient(conn, sql, params))
        elif len(params) == 1:  # a lone write: execute is cheaper than executemany
            conn.execute(sql, params[0])
            out.append([])
        else:
            conn.executemany(sql, params)
            out.append([])
    return out


async def run_statements_async(conn: Any, statements: list[Statement]) -> list[list[Any]]:
    """Execute ``statements`` in order on aiosqlite connection ``conn``'s thread; the rows of each."""
    out: list[list[Any]] = []
    for sql, params in statements:
        if type(params) is list:
            await conn.executemany(sql, params)
            out.append([])
        else:
            try:
                out.append(list(await conn.execute_fetchall(sql, params)))
            except sqlite3.OperationalError as exc:  # text another tool wrote that is not UTF-8
                if not undecodable(exc):
                    raise
                release_cursor(exc)
                factory = conn.text_factory
                conn.text_factory = text_or_undecodable
                try:
                    out.append(list(await conn.execute_fetchall(sql, params)))
                finally:
                    conn.text_factory = factory
    return out


def drive(steps: Steps, conn: sqlite3.Connection) -> Any:
    """Run a batch generator to its end with :func:`run_statements`; its return value."""
    try:
        statements = next(steps)
        while True:
            try:
                rows = run_statements(conn, statements)
            except Exception as exc:  # the batch decides (isolate.py): its fault, or raised on
                statements = steps.throw(exc)
                continue
            statements = steps.send(rows)
    except StopIteration as stop:
        return stop.value


async def drive_async(steps: Steps, conn: Any) -> Any:
    """Run a batch generator to its end with :func:`run_statements_async`; its return value."""
    try:
        statements = next(steps)
        while True:
            try:
                rows = await run_statements_async(conn, statements)
            except Exception as exc:
                statements = steps.throw(exc)
                continue
            statements = steps.send(rows)
    except StopIteration as stop:
        return stop.value


async def begin_async(a: Any, timeout: float, url: str) -> None:
    """``BEGIN IMMEDIATE`` on aiosqlite connection ``a``; when another process holds the lock,
    wait for it on aiosqlite's thread for ``timeout`` seconds, then give up with a clear error."""
    try:
        await a.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise
    await a.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    try:
        await a.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise busy_error(url, timeout) from None
        raise
    finally:
        await a.execute("PRAGMA busy_timeout = 0")


def rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def close_quietly(conn: sqlite3.Connection) -> None:
    try:
        close_connection(conn)
    except sqlite3.Error:
        pass


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` means another connection holds the lock (SQLITE_BUSY / LOCKED)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    msg = str(exc)
    return "locked" in msg or "busy" in msg


def busy_error(url: str, timeout: float) -> StateError:
    """Running out of the busy timeout: one line naming the file and the timeout."""
    return StateError(
        f"{url} stayed locked by another connection for the whole busy timeout ({timeout:g} s); "
        "nothing was written (raise it with busy_timeout=, MOTIA_NB_BUSY_TIMEOUT or %config MotiaNB.busy_timeout)"
    )


class Gate:
    """A lock on the write connection's transaction, for threads and for one event loop.

    ``acquire(False)`` / ``acquire()`` / ``with gate:`` from a thread (the backend's
    ``_wlock``: the history pruner and a fork take it too); ``await acquire_async()`` from
    a loop (its thread never blocks: a release wakes it). ``owned_here()``: the
    current thread holds it (a listener reading ``:memory:`` under its commit).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = collections.deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking, timeout):
            self._owner = threading.get_ident()
            return True
        return False

    async def acquire_async(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.acquire(False):
            fut = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
            if self.acquire(False):  # released between the try and the append
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass
                return
            await fut

    def release(self) -> None:
        self._owner = None
        self._lock.release()
        waiters = self._waiters
        while waiters:
            try:
                loop, fut = waiters.popleft()
            except IndexError:
                break
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # that loop is closed
                pass

    def __enter__(self) -> "Gate":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def owned_here(self) -> bool:
        return self._owner == threading.get_ident() and self._lock.locked()


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)
