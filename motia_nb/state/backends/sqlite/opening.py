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

In a forked child each inherited connection the parent left idle is **closed**
(:func:`release_inherited`, given them by the modules that own them): SQLite keeps
one record per file and process of the locks its connections hold, and a child
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

The connections stay plain ``sqlite3.Connection`` objects: a subclass costs
about 1.5 µs more per ``execute`` (measured), which point reads and inline
commits would pay; only the long reads' connection is one (:class:`LockedReads`).
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any

from ...._threads import on_fork_prepare
from .mutexes import connection_mutex_held, process_mutex_held

__all__ = [
    "OPENING", "LockedReads", "open_connection", "close_connection", "mark_unclean", "fork_was_clean", "release_inherited",
    "unusable_here",
]

#: held around every open and close of a connection; a fork waits for it
OPENING = threading.Lock()
#: seconds a fork waits for an open or close in progress (each takes milliseconds)
FORK_WAIT = 10.0
_held: list[bool] = []


class LockedReads(sqlite3.Connection):
    """A read connection (aiosqlite's long reads) on which every statement runs to its last
    row holding ``lock``, so a fork waits for it (:mod:`.forking`); ``execute`` answers a
    cursor already fetched (aiosqlite's ``execute_fetchall`` calls ``fetchall()`` on it).
    It closes holding :data:`OPENING` (aiosqlite closes it on its own thread)."""

    __slots__ = ("lock",)

    def execute(self, sql: str, parameters: Any = (), /) -> "_Fetched":  # type: ignore[override]
        with self.lock:
            return _Fetched(super().execute(sql, parameters).fetchall())

    def close(self) -> None:
        with OPENING:
            super().close()


class _Fetched:
    __slots__ = ("rows",)

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def fetchall(self) -> list[Any]:
        return self.rows

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None


_unclean: list[int] = []  # pids of processes whose last fork's wait for a statement ran out
_forked_from: set[int] = set()  # pids of the processes this one descends from by fork (and itself)
_process_checked: dict[int, "str | None"] = {}  # pid -> unusable_here()
_kept: list[sqlite3.Connection] = []  # inherited connections a child must never close


def open_connection(
    path: str, busy_timeout: float = 0.0, *, create: bool = True, pragmas: "tuple[str, ...]" = (),
    reads_lock: "threading.Lock | None" = None,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread;
    with ``create=False`` a missing file stays missing (an error, not a new empty database).
    ``pragmas`` (statements) run on it before :data:`OPENING` is let go. With ``reads_lock``
    a :class:`LockedReads` connection."""
    factory = sqlite3.Connection if reads_lock is None else LockedReads
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
        try:
            for pragma in pragmas:
                conn.execute(pragma)
        except BaseException:
            sqlite3.Connection.close(conn)  # OPENING is held here (LockedReads.close would take it)
            raise
        return conn


def close_connection(conn: sqlite3.Connection) -> None:
    """``conn.close()``, holding :data:`OPENING`."""
    if isinstance(conn, LockedReads):
        conn.close()  # takes OPENING itself
        return
    with OPENING:
        conn.close()


def mark_unclean() -> None:
    """(A fork's ``before`` hook) a statement may still be running: the child closes nothing inherited."""
    _unclean.append(os.getpid())


def fork_was_clean() -> bool:
    """(In a forked child.) No statement of the parent's was left running at the fork."""
    return os.getppid() not in _unclean


def unusable_here() -> str | None:
    """(In a forked child.) Why SQLite cannot be used in this process at all, or None: a thread
    of the parent was inside SQLite at the fork, holding one of its process-wide mutexes
    (:mod:`.mutexes`). Asked once per process, before the child touches SQLite."""
    pid = os.getpid()
    if pid not in _process_checked:
        _process_checked[pid] = None
        if os.getppid() in _forked_from and process_mutex_held():
            _process_checked[pid] = (
                "this process was forked while another thread of its parent was inside SQLite (one of "
                "SQLite's process-wide locks was held at the fork and can never be released here): "
                "SQLite cannot be used in this child. Fork when no other thread uses SQLite, or use the "
                "'spawn' start method of multiprocessing"
            )
    return _process_checked[pid]


def release_inherited(conns: "Iterable[sqlite3.Connection | None]") -> None:
    """(In a forked child.) Close each of ``conns`` (inherited) that is safe to close, keep the
    others alive for good (see above)."""
    clean = fork_was_clean() and unusable_here() is None
    for conn in conns:
        if conn is None:
            continue
        try:
            # sqlite3_get_autocommit takes no mutex; a connection whose mutex a vanished thread
            # holds is never closed (its close would wait for that mutex forever)
            idle = clean and not conn.in_transaction and not connection_mutex_held(conn)
        except sqlite3.ProgrammingError:  # closed already
            continue
        if idle:
            try:
                sqlite3.Connection.close(conn)  # OPENING: released in this child by its after-fork hook
                continue
            except sqlite3.Error:
                pass
        _kept.append(conn)
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))  # never deallocated (closed), even at exit


def _before_fork() -> None:
    _forked_from.add(os.getpid())
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
