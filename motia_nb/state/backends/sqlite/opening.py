"""Opening and closing SQLite connections, never while this process forks; their fate in a child.

SQLite guards its table of open files with a process-wide mutex, taken by every
``sqlite3.connect`` and every ``close()``. A child forked while another thread
held it (the history pruner opening its connection right after the store
opened, a checkpointer closing its own) inherits it locked, with no thread left
to unlock it: the child's first ``connect`` then waits forever. So every
connection motia_nb opens or closes does it holding :data:`OPENING`, and a fork
takes :data:`OPENING` after every other motia_nb fork hook (this module registers
first, so its ``before`` runs last: a thread holding a write gate or a checkpoint
lock may still open or close a connection while those are awaited), so none is
half-way at the fork.

Every connection opened here is remembered (weakly). In a forked child each one
the parent left idle is **closed** (:func:`release_inherited`): SQLite keeps one
record per file and process of the locks its connections hold, and a child
inherits the parent's records but none of its locks (POSIX locks belong to a
process). A connection the child opened next to still-open inherited ones would
reuse those records, believe it held a shared lock on the file and on the WAL
index it never took, and the parent's last ``close()`` would then checkpoint
and delete the WAL under the child's feet: every write the child had
acknowledged since was lost (measured: 250 of 300). Closed, the records go, and
the child's connections take real locks. A connection is closed only when no
thread was inside SQLite at the fork (the fork hooks waited for every motia_nb
thread's statement to end: :func:`mark_unclean` says one did not) and it was
not inside a write transaction (a rollback in the child would rewrite the WAL
index the parent is still using); any other is kept alive for good and never
closed, not even by the child's exit.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import threading
import urllib.parse
import weakref
from typing import Any

from ...._threads import on_fork_prepare

__all__ = [
    "OPENING", "Connection", "open_connection", "close_connection", "open_here", "mark_unclean", "release_inherited",
]

#: held around every open and close of a connection; a fork waits for it
OPENING = threading.Lock()
#: seconds a fork waits for an open or close in progress (each takes milliseconds)
FORK_WAIT = 10.0
_held: list[bool] = []


class Connection(sqlite3.Connection):
    """``sqlite3.Connection`` that can be referred to weakly (the stdlib's cannot) and
    closes holding :data:`OPENING` (aiosqlite closes its connection itself)."""

    __slots__ = ("__weakref__", "file_id")

    def close(self) -> None:
        with OPENING:
            super().close()


class LockedReads(Connection):
    """A read connection (aiosqlite's long reads) on which every statement runs to its last
    row holding ``lock``, so a fork waits for it (:mod:`.forking`); ``execute`` answers a
    cursor already fetched (aiosqlite's ``execute_fetchall`` calls ``fetchall()`` on it)."""

    __slots__ = ("lock",)

    def execute(self, sql: str, parameters: Any = (), /) -> "_Fetched":  # type: ignore[override]
        with self.lock:
            return _Fetched(super().execute(sql, parameters).fetchall())


class _Fetched:
    __slots__ = ("rows",)

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def fetchall(self) -> list[Any]:
        return self.rows

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None


_live: "weakref.WeakSet[Connection]" = weakref.WeakSet()  # every connection opened here
_unclean: list[int] = []  # pids of forks whose wait for a statement to end ran out
_kept: list[sqlite3.Connection] = []  # inherited connections a child must never close


def open_connection(
    path: str, busy_timeout: float = 0.0, *, create: bool = True, pragmas: "tuple[str, ...]" = (),
    reads_lock: "threading.Lock | None" = None,
) -> Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread;
    with ``create=False`` a missing file stays missing (an error, not a new empty database).
    ``pragmas`` (statements) run on it before :data:`OPENING` is let go. With ``reads_lock``
    a :class:`LockedReads` connection."""
    factory = Connection if reads_lock is None else LockedReads
    with OPENING:
        if create:
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout, factory=factory
            )
        else:
            conn = sqlite3.connect(
                f"file:{urllib.parse.quote(path)}?mode=rw", uri=True,
                isolation_level=None, check_same_thread=False, timeout=busy_timeout, factory=factory,
            )  # fmt: skip
        if reads_lock is not None:
            conn.lock = reads_lock
        conn.file_id = _file_id(path)
        _live.add(conn)
        try:
            for pragma in pragmas:
                conn.execute(pragma)
        except BaseException:
            sqlite3.Connection.close(conn)  # OPENING is held here
            raise
        return conn


def _file_id(path: str) -> "tuple[int, int] | None":
    try:
        st = os.stat(path)
    except OSError:  # ":memory:"
        return None
    return (st.st_dev, st.st_ino)


def open_here(path: str) -> bool:
    """This process has a connection open on the file at ``path``. Then the file must not be
    opened and closed outside SQLite: closing any descriptor of a file drops every POSIX lock
    the process holds on it, SQLite's included (another process could then checkpoint and
    delete the WAL this process still writes to)."""
    fid = _file_id(path)
    return fid is not None and any(c.file_id == fid for c in list(_live))


def close_connection(conn: sqlite3.Connection) -> None:
    """``conn.close()``, holding :data:`OPENING`."""
    if isinstance(conn, Connection):
        conn.close()  # takes OPENING itself
        return
    with OPENING:
        conn.close()


def mark_unclean() -> None:
    """(A fork's ``before`` hook) a statement may still be running: the child closes nothing inherited."""
    _unclean.append(os.getpid())


def release_inherited() -> None:
    """(In a forked child, once the backends have looked at their connections.) Close every
    inherited connection that is safe to close, keep the others alive for good (see above)."""
    clean = not _unclean
    _unclean.clear()
    for conn in list(_live):
        try:
            idle = clean and not conn.in_transaction  # sqlite3_get_autocommit: takes no mutex
        except sqlite3.ProgrammingError:  # closed already
            continue
        if idle:
            try:
                conn.close()
                continue
            except sqlite3.Error:
                pass
        _kept.append(conn)
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))  # never deallocated (closed), even at exit
    _live.clear()


def _before_fork() -> None:
    if OPENING.acquire(timeout=FORK_WAIT):
        _held.append(True)
    else:
        mark_unclean()


def _after_fork() -> None:
    if _held:
        _held.clear()
        OPENING.release()
    if _unclean and _unclean[-1] == os.getpid():  # the parent: the next fork starts clean
        _unclean.clear()


on_fork_prepare(_before_fork, _after_fork)
