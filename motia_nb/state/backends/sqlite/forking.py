"""SQLite across ``fork()``: the parent waits for its write transactions, the child reopens.

SQLite keeps the locks of every connection to a file in one table per process
(POSIX locks belong to the process, so SQLite tracks which connection holds
what). A child forked while the parent's connection held the write lock
inherits that record but not the thread that would release it: every
``BEGIN IMMEDIATE`` of the child then answers SQLITE_BUSY forever (issue 12
§2.2: the child's first write hung for minutes). Closing or rolling back the
inherited connection in the child is no cure: its rollback would rewrite the
WAL index the parent is still using, and its mutex may be held by a parent
thread that does not exist in the child.

So, around a fork (hooks installed through :func:`motia_nb._threads.on_fork_prepare`):

- **before**, in the parent: take the write lock (the gate) of every open file
  backend (waiting at most :data:`FORK_WAIT` seconds in all): every write
  transaction holds it — an inline commit, the SQLite loop's driver awaiting
  aiosqlite, ``write_all``, the history pruner — so none is in progress at the fork;
- **after**, in the parent: release them;
- **in the child**: each backend forgets its connections (aiosqlite's too), locks
  and threads (the objects are kept alive, never closed: closing would touch the
  parent's state) and reopens the file on first use with fresh ones. If a
  transaction was still open at the fork (the parent's wait ran out, or the
  fork came from inside the transaction), that file cannot be used safely in
  this child: opening it raises a clear :class:`StateError` at once instead of
  waiting forever.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from ...._threads import on_fork_child, on_fork_prepare
from ...errors import StateError
from .executors import Gate

__all__ = ["track", "check_usable", "FORK_WAIT"]

#: Seconds a fork waits, in all, for this process's SQLite write transactions to end.
FORK_WAIT = 20.0

_backends: "weakref.WeakSet[Any]" = weakref.WeakSet()
_held: list[Any] = []  # write locks taken before the fork, released after it
_abandoned: list[Any] = []  # what children inherited: kept alive, never closed
_unusable: dict[str, str] = {}  # path -> why, in a child forked mid-transaction


def track(backend: Any) -> None:
    """Register an open file backend (``path``, ``_wlock``, ``_wconn``, ``_rconn``,
    ``_writes``, ``_open_lock``, ``_rlock`` as in :class:`~.backend.SQLiteBackend`)."""
    if not backend.memory:
        _backends.add(backend)


def check_usable(path: str) -> None:
    """Raise if this process is a child forked while its parent wrote to ``path``."""
    why = _unusable.get(path)
    if why is not None:
        raise StateError(why)


def _before() -> None:
    deadline = time.monotonic() + FORK_WAIT
    for b in list(_backends):
        lock = b._wlock
        if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            _held.append(lock)


def _after() -> None:
    while _held:
        _held.pop().release()


def _reset_in_child() -> None:
    """(In the child, after :func:`_after`.) Forget inherited connections; reopen lazily."""
    for b in list(_backends):
        wconn = b._wconn
        # sqlite3_get_autocommit takes no mutex: safe to ask in the child
        if wconn is not None and wconn.in_transaction:
            _unusable[b.path] = (
                f"this process was forked while its parent was writing to {b.url} (a write "
                "transaction was open); SQLite cannot be used on that file in this child. Fork "
                "outside a write, or use the 'spawn' start method of multiprocessing"
            )
        _abandoned.append((b._writes, b._wconn, b._rconn, b._pconn, b._recorder, b._reader, list(b._readers)))
        # the history recorder's pruner thread did not survive the fork, nor did aiosqlite's
        # threads (the write path's and the long reads'): new ones come with the reopen
        b._writes = b._wconn = b._rconn = b._pconn = b._recorder = b._reader = None
        b._readers = []
        # the follower thread did not survive either (a remote listener added later starts one)
        _abandoned.append(b._follower)
        b._follower = None
        type(b)._follow_lock = threading.Lock()
        b._open_lock = threading.Lock()
        b._wlock = Gate()
        b._rlock = threading.Lock()
    _backends.clear()


on_fork_prepare(_before, _after)
on_fork_child(_reset_in_child)
