"""The SQLite backend: one file in WAL mode, a write path, point reads direct, long reads on aiosqlite.

Measured on a 2-core machine: commit-per-op ~15k ops/s, one transaction ~100k
rows/s, a point read ~14 µs. Hence group commit on aiosqlite (:mod:`.writer`),
point reads on the caller's thread (:mod:`.reads`) and long reads (whole groups,
counts) awaited on a read-only aiosqlite connection (its own thread) when the
caller is on a loop. ``BEGIN IMMEDIATE`` takes SQLite's write lock before the
current value is read, so read-modify-write (``update``, ``set``'s old value) is
atomic across threads *and processes* sharing the file; another process's lock is
waited out for ``busy_timeout`` seconds off the caller's loop, then reported as
one clear error. ``:memory:`` has one shared connection.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from time import monotonic as _monotonic
from typing import Any

import aiosqlite

from ...errors import StateClosedError, StateError
from ...history import Retention
from ...lifetime import WeakCall
from ...._threads import adopt_aiosqlite, get_sqlite_loop
from ..base import WRITE_ALL_CHUNK, Backend, Write, WriteResult
from ..retained import RetainedHistory
from . import lifecycle
from .checkpointer import SAFETY_PAGES, Checkpointer, chain
from .executors import Gate
from .file_errors import FileErrors
from .follower import Following
from .history import SQLiteHistory
from .key_indexer import KeyIndexer
from .opening import open_connection
from .reads import READ_PLANS, SQLiteReads, fetch_bounded, release_cursor, undecodable
from .recorder import Recorder
from .searching import SQLiteKeySearch
from .schema import busy_timeout_setting, connect, prepare
from .writer import WritePath, in_listener, listener_state

__all__ = ["FILE_RECHECK", "SQLiteBackend"]

#: seconds a read trusts the last check that the file is still the one opened (guard.py): an
#: ``os.stat`` is 1-2 µs against a get's ~7 µs, a clock compare ~60 ns; a burst of reads stats once
#: per FILE_RECHECK, an isolated read (any a person makes after an ``rm``) always
FILE_RECHECK = 0.002


class SQLiteBackend(Following, RetainedHistory, SQLiteHistory, SQLiteKeySearch, SQLiteReads, FileErrors, Backend):
    """State in one SQLite file (or ``:memory:``)."""

    direct_reads = True
    atomic_write_all = True
    keeps_history = True

    def __init__(self, path: str = ":memory:", *, busy_timeout: float | None = None) -> None:
        super().__init__()
        self.memory = self.private = path == ":memory:"
        self.path = path if self.memory else os.path.abspath(os.path.expanduser(path))
        self.url = self.path
        #: seconds a write waits for another process's lock (then a clear StateError)
        self.busy_timeout = busy_timeout_setting(busy_timeout)
        self._open_lock = threading.Lock()
        self._writes: WritePath | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        #: held around every write transaction (inline, the driver's, write_all, the pruner's);
        #: a fork takes it first (forking.py)
        self._wlock = Gate()
        self._rlock = threading.Lock()
        #: held by each long read on aiosqlite's reader thread, statement to last row (a fork waits for it)
        self._long_reads = threading.Lock()
        self._reader: "Future[aiosqlite.Connection] | None" = None  # long reads, opened on first use
        self._readers: "list[Future[aiosqlite.Connection]]" = []  # the same, for release (no backend ref)
        self._closed = False
        self._retention = Retention.parse(None)
        self._recorder: Recorder | None = None
        self._pconn: sqlite3.Connection | None = None  # the history pruner's connection (a file)
        #: fills the trigram index of searched big groups on the side connection (key search)
        self._indexer = KeyIndexer(
            WeakCall(self._indexer_side), None if self.memory else WeakCall(self._indexer_connection)
        )
        self._checkpointer: Checkpointer | None = None  # WAL checkpoints off the writers' path (a file)
        #: until when (monotonic) a read trusts the file's last check (_check_file)
        self._file_trusted_until = 0.0

    # ------------------------------------------------------------------ life cycle
    def open(self) -> None:
        with self._open_lock:
            if self._closed:
                raise self._closed_error()
            if self._writes is not None:
                return
            lifecycle.before_open(self)
            wconn = prepare(self.path, self.url, memory=self.memory, busy_timeout=self.busy_timeout)
            self._wconn = wconn
            if self.memory:
                self._rconn = wconn
            else:
                self._rconn = connect(self.path, self.busy_timeout)
                self._rconn.execute("PRAGMA query_only = ON")
                # up to 16 MiB of pages (filled only as read): a long history read (10,000 changes,
                # ~1,000 pages) is not re-read from the file by syscalls at each call
                self._rconn.execute("PRAGMA cache_size = -16384")
            self._recorder = Recorder(self._retention, self._pruning_connection)
            # weak callbacks: the write path (and the SQLite loop) must not keep this backend alive
            self._writes = WritePath(
                wconn, gate=self._wlock, url=self.url, busy_timeout=self.busy_timeout,
                on_commit=WeakCall(self._notify), listening=_weak_listening(self), record=WeakCall(self._recorder.statement),
                lone_record=weakref.WeakMethod(self._recorder.lone_row),
            )  # fmt: skip
            lifecycle.opened(self)
            self._file_trusted_until = 0.0  # (a new file, or the same one opened again: checked at the next read)
            if not self.memory:
                path = self.path
                self._checkpointer = cp = Checkpointer(wconn, lambda: connect(path))
                self._writes.before_commit = chain(self._writes.before_commit, cp.note_commit)

    @property
    def origin(self) -> int | None:
        """The random id this backend writes in the changelog's ``origin`` (None before open)."""
        return None if self._recorder is None else self._recorder.origin

    _store_wide_horizon = True  # (RetainedHistory: the retention counts the store's changes)

    def set_history_keep(self, retention: Retention) -> None:
        if self._recorder is not None and retention != self._retention:
            self._keep_hidden([""])  # (the group does not matter: the horizon is the store's)
        self._retention = retention
        if self._recorder is not None:
            self._recorder.set_retention(retention)
        self._follow() if retention.enabled else self._stop_following()  # remote listeners need the changelog

    def prune_history(self) -> int:
        if self._recorder is None:
            self.open()
        assert self._recorder is not None
        return self._recorder.prune_now()

    def file_history(self) -> int:
        """File the changelog records not filed yet now (the recorder's thread does it on its own)."""
        if self._recorder is None:
            self.open()
        assert self._recorder is not None
        return self._recorder.file_now()

    def _pruning_connection(self) -> "tuple[sqlite3.Connection, Any]":
        if self.memory:
            assert self._wconn is not None
            return self._wconn, self._wlock
        if self._pconn is None:  # never creates the file: deleted meanwhile, it stays deleted (guard.py tells)
            # its commits hold the gate: no checkpoint in them below the writers' own safety valve
            self._pconn = open_connection(
                self.path, self.busy_timeout, create=False, pragmas=(f"PRAGMA wal_autocheckpoint = {SAFETY_PAGES}",)
            )
        # under the write lock: this process's writers would wait for SQLite's lock anyway, and a
        # fork (forking.py takes every write lock first) never happens mid-prune
        return self._pconn, self._wlock

    def _indexer_side(self) -> "tuple[sqlite3.Connection | None, Any]":
        """The key indexer's (connection, lock): ``:memory:``'s one connection, or (None: its own) the gate."""
        return self._pruning_connection() if self.memory else (None, self._wlock)

    def _indexer_connection(self) -> sqlite3.Connection:
        """The key indexer's own connection (it checkpoints the WAL itself, off the write gate)."""
        # the pragmas run holding OPENING, like the open itself: this is the indexer's thread,
        # and a fork waits for no other lock here
        return open_connection(
            self.path, self.busy_timeout, pragmas=("PRAGMA synchronous = NORMAL", "PRAGMA wal_autocheckpoint = 0")
        )

    def set_busy_timeout(self, seconds: float) -> None:
        self.busy_timeout = busy_timeout_setting(seconds)
        if self._writes is not None:
            self._writes.busy_timeout = self.busy_timeout

    def close(self) -> None:
        with self._open_lock:
            if self._closed:
                return
            self._closed = True
            writes = self._writes
        self._indexer.close()  # after the chunk in progress: the side connection is closed below
        if writes is not None:
            writes.close()  # commits what is queued first, closes the write connection
        if self._recorder is not None:
            self._recorder.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._stop_following()
        lifecycle.closing(self)  # a moved file's stale journal goes (guard.py); connections still open
        rconn, self._rconn = self._rconn, None
        pconn, self._pconn = self._pconn, None
        self._wconn = None
        lifecycle.release(writes, self._readers, self._rlock, None if self.memory else rconn, pconn)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def writer_thread(self) -> threading.Thread | None:
        return None if self._writes is None else self._writes.thread

    def _closed_error(self) -> StateClosedError:
        return StateClosedError(f"the state database {self.url} was closed")

    # ------------------------------------------------------------------ writes
    def _write_path(self) -> "WritePath | StateError":
        """The open write path, or the error a write must answer now."""
        if self._closed:
            return self._closed_error()
        if in_listener():
            return StateError(
                "motia_nb: a state write was made from inside a state subscriber callback; "
                "subscribers must only record or schedule work"
            )
        if self._writes is None:
            self.open()
        assert self._writes is not None
        return self._writes

    def submit(self, write: Write) -> "Future[WriteResult]":
        path = self._write_path()
        if isinstance(path, StateError):
            fut: Future[WriteResult] = Future()
            fut.set_exception(path)
            return fut
        return path.submit(write)

    def submit_async(self, write: Write, *, result_only: bool = False) -> "asyncio.Future[Any]":
        """Like :meth:`submit`, for a caller on a running loop: writes submitted in the
        same loop iteration are committed together (see :mod:`.writer`)."""
        path = self._writes
        if path is not None and not self._closed and not listener_state.active:  # the common case, first
            return path.submit_async(write, result_only=result_only)
        path = self._write_path()
        if isinstance(path, StateError):
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            fut.set_exception(path)
            return fut
        return path.submit_async(write, result_only=result_only)

    def set_submitter(self) -> "Callable[..., Any] | None":
        """The open write path's ``set_async`` (:mod:`.buffers`); None before open."""
        path = self._writes
        return None if path is None else path.set_async

    def write_submitter(self) -> "Callable[..., Any] | None":
        """The open write path's ``submit_checked`` (:mod:`.buffers`); None before open."""
        path = self._writes
        return None if path is None else path.submit_checked

    def write_all(
        self, writes: Sequence[Write], progress: Callable[[int], None] | None = None
    ) -> list[WriteResult]:
        """Every write in one ``BEGIN IMMEDIATE … COMMIT``: all or nothing (see :mod:`.writer`)."""
        path = self._write_path()
        if isinstance(path, StateError):
            raise path
        return path.write_all(writes, WRITE_ALL_CHUNK, progress)

    # ------------------------------------------------------------------ reads
    def _query(self, sql: str, params: Sequence[Any], steps: int | None = None) -> list[Any]:
        """One statement on the read connection; with ``steps``, None if it needed more than
        about that many SQLite VM instructions (it is interrupted there)."""
        writes = self._writes
        if writes is None:
            if self._closed:
                raise self._closed_error()
            self.open()
            writes = self._writes
            assert writes is not None
        elif writes.buffered:
            writes.flush_here(wait=True)  # read-your-writes
        if self.memory:  # one connection: read between transactions (or inside our own listener's)
            gate = writes.gate
            if gate.owned_here():
                return self._read_locked(sql, params, steps)
            gate.acquire()
            try:
                return self._read_locked(sql, params, steps)
            finally:
                gate.release()
        # SQLite reads a deleted or replaced file's old inode on: a read checks the file first,
        # unless a check less than FILE_RECHECK ago found it there (a clock compare on the hot path)
        if _monotonic() >= self._file_trusted_until:
            self._check_file()
        return self._read_locked(sql, params, steps)

    def _check_file(self) -> None:
        """Raise the read's one-line :class:`StateError` if the file was deleted or replaced since
        it was opened (guard.py); else let reads trust it for :data:`FILE_RECHECK` seconds."""
        what = self._file_problem()
        if what is not None:
            raise self._moved_error(what)
        self._file_trusted_until = _monotonic() + FILE_RECHECK

    def _read_locked(self, sql: str, params: Sequence[Any], steps: int | None = None) -> list[Any]:
        with self._rlock:
            conn = self._rconn
            if conn is None:  # closed while this read waited for the lock
                raise self._closed_error()
            try:
                return fetch_bounded(conn, sql, params, steps)
            except sqlite3.DatabaseError as exc:  # corrupt page, I/O error: one clear line
                raise self._read_failed(exc) from exc

    async def read_async(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A long read awaited on aiosqlite's thread (its own read-only connection):
        the caller's loop never waits on SQLite. Batches queued before it commit first."""
        sql, params, post = READ_PLANS[name](*args, **kwargs)
        if self.memory or self._closed:
            return post(self._query(sql, params))
        writes = self._writes
        if writes is None:
            self.open()
            writes = self._writes
            assert writes is not None
        writes.flush_here()
        settled = writes.barrier()  # read-your-writes: what this process queued commits first
        if settled is not None:
            await settled
        if _monotonic() >= self._file_trusted_until:  # (its connection would read a deleted file's inode on)
            self._check_file()
        try:
            reader = await asyncio.wrap_future(self._open_reader())
        except sqlite3.Error as exc:  # the file deleted or replaced since the check: it cannot open
            raise self._read_failed(exc) from exc
        try:
            rows = await reader.execute_fetchall(sql, params)
        except ValueError:  # aiosqlite: "Connection closed"
            raise self._closed_error() from None
        except sqlite3.DatabaseError as exc:
            if undecodable(exc):  # text another tool wrote that is not UTF-8: the read connection's fetch names it
                release_cursor(exc)
                return post(self._query(sql, params))
            raise self._read_failed(exc) from exc
        return post(rows if isinstance(rows, list) else list(rows))

    def _open_reader(self) -> "Future[aiosqlite.Connection]":
        with self._open_lock:
            if self._closed:
                raise self._closed_error()
            if self._reader is None:
                path, timeout, lock = self.path, self.busy_timeout, self._long_reads

                def connector() -> sqlite3.Connection:  # never creates the file: deleted meanwhile, it stays deleted
                    return open_connection(path, timeout, create=False, pragmas=("PRAGMA query_only = ON",), reads_lock=lock)

                async def start() -> aiosqlite.Connection:
                    return await adopt_aiosqlite(aiosqlite.Connection(connector, 64), "motia-nb-sqlite-reader")

                loop = get_sqlite_loop().loop
                assert loop is not None
                self._reader = asyncio.run_coroutine_threadsafe(start(), loop)
                self._readers.append(self._reader)
            return self._reader

    def change_token(self) -> Any:
        """Changes whenever any connection (this process's writer included) commits."""
        with self._rlock:
            conn = self._rconn
            if conn is None:
                return None
            data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        writes = self._writes
        return (data_version, 0 if writes is None else writes.commits)


def _weak_listening(backend: SQLiteBackend) -> Callable[[], bool]:
    """``backend`` has local listeners (False once it is collected)."""
    ref = weakref.ref(backend)

    def listening() -> bool:
        b = ref()
        return b is not None and bool(b._listeners)

    return listening
