"""WAL checkpoints off the writers' path: a checkpointer thread per open SQLite file.

In WAL mode every commit appends its pages to ``<file>-wal``; a *checkpoint*
copies them back into the database file and syncs both (two ``fsync``: several
milliseconds). By default SQLite runs one inside the commit that makes the WAL
pass 1,000 pages, so every few hundred writes one of them pays for it (measured:
about half of a lone write's COMMIT, amortised). SQLite's documentation
suggests exactly this for applications that care: turn the automatic
checkpoint down and run ``PRAGMA wal_checkpoint(PASSIVE)`` from another thread.

- The write connection's ``wal_autocheckpoint`` is :data:`SAFETY_PAGES`
  (:func:`.schema.prepare`): a writer checkpoints by itself only when the WAL
  has grown that far (the checkpointer fell behind, or is blocked): the WAL
  never grows without bound.
- :meth:`Checkpointer.note_commit` is called by the write path right before
  each COMMIT (the write path's ``before_commit`` hook, next to the file
  guard's check). Every :data:`WAKE_COMMITS` commits, or :data:`WAKE_ROWS`
  changed rows, it wakes the checkpointer thread (started on the first wake:
  a backend that writes little starts none), which waits for that commit to
  end and runs a ``PASSIVE`` checkpoint on its own connection: it never takes
  the write lock, so writers never wait for it (another process's checkpoint in
  progress: it just tries again at the next wake).
- ``fork()``: a checkpoint in progress holds SQLite's checkpoint lock, so the
  parent waits for it before forking (:func:`motia_nb._threads.on_fork_prepare`);
  the child abandons every inherited checkpointer (its thread did not survive;
  its connection is kept alive, never closed, like the write connection in
  :mod:`.forking`); the backend makes a new one when it reopens.
- The thread ends on :meth:`Checkpointer.close`, or by itself once the write
  connection it serves has been closed (a backend collected without ``close()``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ...._threads import on_fork_child, on_fork_prepare, start_thread
from .executors import close_quietly
from .opening import mark_unclean, release_inherited

__all__ = ["Checkpointer", "SAFETY_PAGES", "WAKE_COMMITS", "WAKE_ROWS", "chain"]

log = logging.getLogger("motia_nb")

#: the write connection's ``wal_autocheckpoint``: a writer checkpoints itself past this many WAL pages
SAFETY_PAGES = 4000
#: commits between two checkpoints (a lone write dirties 3-6 pages: a few hundred pages)
WAKE_COMMITS = 200
#: changed rows between two checkpoints (a big batch: ~5,000 rows are a few hundred pages)
WAKE_ROWS = 5000
#: how long the thread waits for the commit that woke it to end before checkpointing (seconds)
_COMMIT_WAIT = 0.05
#: how often an idle thread checks that its write connection is still open (seconds)
_IDLE_CHECK = 5.0

_live: "weakref.WeakSet[Checkpointer]" = weakref.WeakSet()
_held: list[threading.Lock] = []
_abandoned: list[Any] = []  # what a forked child inherited: kept alive, never closed
#: seconds a fork waits, in all, for checkpoints in progress
FORK_WAIT = 10.0


class Checkpointer:
    """Checkpoints the WAL of the file at ``path``, whose write connection is ``wconn``.

    ``connect()`` opens the checkpointer's own connection (on its thread, on first use).
    :meth:`checkpoint` runs one pass on the caller's thread (tests); ``checkpoints``
    counts the passes that ran.
    """

    def __init__(self, wconn: sqlite3.Connection, connect: Callable[[], sqlite3.Connection]) -> None:
        self._wconn = wconn
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # held during a checkpoint (a fork waits for it)
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._commits = 0
        self._rows = _total_changes(wconn)
        self.checkpoints = 0
        _live.add(self)

    # ------------------------------------------------------------------ the writers' side
    def note_commit(self) -> None:
        """A commit is about to happen on the write connection (under its gate): wake the
        thread every :data:`WAKE_COMMITS` commits or :data:`WAKE_ROWS` changed rows."""
        self._commits += 1
        if self._commits < WAKE_COMMITS:
            rows = self._wconn.total_changes
            if rows - self._rows < WAKE_ROWS:
                return
        else:
            rows = _total_changes(self._wconn)
        self._commits = 0
        self._rows = rows
        if self._thread is None and not self._stop:
            self._thread = start_thread(self._main, "motia-nb-sqlite-checkpointer")
        self._wake.set()

    # ------------------------------------------------------------------ the thread
    def _main(self) -> None:
        try:
            while not self._stop:
                if not self._wake.wait(_IDLE_CHECK):
                    if _closed(self._wconn):  # the backend went away without close()
                        return
                    continue
                self._wake.clear()
                if self._stop:
                    return
                self._after_commit()
                try:
                    self.checkpoint()
                except sqlite3.Error as exc:  # a vanished file, a closed connection: try at the next wake
                    if self._stop or _closed(self._wconn):
                        return
                    log.debug("motia_nb: a WAL checkpoint failed (%s); the next one will retry", exc)
        finally:
            self._close_conn()

    def _after_commit(self) -> None:
        """Let the commit that woke us end, so the checkpoint takes its pages too."""
        deadline = time.monotonic() + _COMMIT_WAIT
        while not self._stop and time.monotonic() < deadline:
            try:
                if not self._wconn.in_transaction:
                    return
            except sqlite3.ProgrammingError:  # closed
                return
            time.sleep(0.001)

    def checkpoint(self) -> "tuple[int, int, int] | None":
        """One ``PRAGMA wal_checkpoint(PASSIVE)``: ``(busy, WAL pages, pages copied)``, None once stopped."""
        with self._lock:
            if self._stop:
                return None
            conn = self._conn
            if conn is None:
                conn = self._conn = self._connect()
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            return None if row is None else tuple(row)  # type: ignore[return-value]

    # ------------------------------------------------------------------ life cycle
    def close(self) -> None:
        """Stop the thread (after the checkpoint it is in, if any) and close its connection."""
        if self._stop:
            return
        self._stop = True
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
        self._close_conn()

    def _close_conn(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            close_quietly(conn)


def chain(first: "Callable[[], None] | None", then: Callable[[], None]) -> Callable[[], None]:
    """One ``before_commit`` hook running ``first`` (the file guard's check, which may raise) then ``then``."""
    if first is None:
        return then

    def both() -> None:
        first()
        then()

    return both


def _total_changes(conn: sqlite3.Connection) -> int:
    try:
        return conn.total_changes
    except sqlite3.ProgrammingError:  # closed
        return 0


def _closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.in_transaction
    except sqlite3.ProgrammingError:
        return True
    return False


# ---------------------------------------------------------------------- fork
def _before_fork() -> None:
    deadline = time.monotonic() + FORK_WAIT
    for c in list(_live):
        if c._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            _held.append(c._lock)
        else:
            mark_unclean()


def _after_fork() -> None:
    while _held:
        _held.pop().release()


def _in_child() -> None:
    """Every inherited checkpointer stops for good: its thread is gone, its connection is closed
    (or kept alive for good: :func:`.opening.release_inherited`)."""
    release_inherited([c._conn for c in list(_live)])
    for c in list(_live):
        _abandoned.append(c._conn)
        c._conn = None
        c._stop = True
        c._thread = None
        c._lock = threading.Lock()
    _live.clear()


on_fork_prepare(_before_fork, _after_fork)
on_fork_child(_in_child)
