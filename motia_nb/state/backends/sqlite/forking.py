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

A thread inside any SQLite call at the fork is as bad: it may hold one of
SQLite's process-wide mutexes (the memory allocator's is taken by every
allocation), which the child inherits locked, and the connection it was using
is mid-statement. So every SQLite call motia_nb makes on a file backend runs
holding one of the backend's locks, and a fork takes them all:

- **before**, in the parent (waiting at most :data:`FORK_WAIT` seconds in all), in
  this order: the lock around starting a follower (its first statements run under
  it), the poll lock of every follower of the process (:func:`.follower.live_followers`:
  a follower being stopped, already detached from its backend, may still be in a
  poll), then for every file backend: ``_open_lock`` (opening:
  the schema's statements), the write gate ``_wlock``
  (every write transaction: an inline commit, the SQLite loop's driver awaiting
  aiosqlite, ``write_all``, the history pruner, a step of the key indexer),
  ``_rlock`` (point reads and long reads on the caller's thread),
  ``_long_reads`` (each long read on aiosqlite's reader thread, statement to
  last row) and the key indexer's own lock (its WAL checkpoints). The WAL
  checkpointer's lock is taken by :mod:`.checkpointer`'s hook, :data:`.opening.OPENING`
  last of all. A wait that runs out marks the fork unclean (:func:`.opening.mark_unclean`);
- **after**, in the parent: release them;
- **in the child**: each backend forgets its connections (aiosqlite's too), locks
  and threads and reopens the file on first use with fresh ones; then every
  inherited connection is closed (:func:`.opening.release_inherited`: the
  child's new connections must take real locks), except after an unclean fork
  or inside a write transaction (those are kept alive for good, never closed).
  If a transaction was still open at the fork (the parent's wait ran out, or
  the fork came from inside the transaction), that file cannot be used safely
  in this child: opening it raises a clear :class:`StateError` at once instead
  of waiting forever.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from ...._threads import on_fork_child, on_fork_prepare
from ...errors import StateError
from .executors import Gate
from .follower import forget_followers, live_followers
from .opening import mark_unclean, release_inherited, unusable_here

__all__ = ["track", "check_usable", "open_here", "FORK_WAIT"]

#: Seconds a fork waits, in all, for this process's SQLite write transactions to end.
FORK_WAIT = 20.0

_backends: "weakref.WeakSet[Any]" = weakref.WeakSet()
_held: list[Any] = []  # write locks taken before the fork, released after it
_abandoned: list[Any] = []  # what children inherited: kept alive, never closed
_unusable: dict[str, str] = {}  # path -> why, in a child forked mid-transaction


def track(backend: Any) -> None:
    """Register an open file backend (``path``, ``_wlock``, ``_wconn``, ``_rconn``,
    ``_writes``, ``_open_lock``, ``_rlock`` as in :class:`~.backend.SQLiteBackend`), ``:memory:`` too
    (a fork waits for its statements as well)."""
    _backends.add(backend)


def open_here(backend: Any) -> bool:
    """Another open backend of this process uses ``backend``'s file. Then the file must not be
    opened and closed outside SQLite (:mod:`.location`'s header check): closing any descriptor
    of a file drops every POSIX lock the process holds on it, SQLite's included, and another
    process could then checkpoint and delete the WAL this one still writes to."""
    try:
        st = os.stat(backend.path)
    except OSError:
        return False
    for b in list(_backends):
        if b is backend or b.memory or b._writes is None:
            continue
        try:
            if os.path.samestat(st, os.stat(b.path)):
                return True
        except OSError:
            continue
    return False


def _inherited(b: Any) -> list[Any]:
    """The connections of backend ``b`` a child inherits (aiosqlite's long-read ones included)."""
    conns = [b._wconn, b._rconn, b._pconn]
    for reader in b._readers:  # Futures of aiosqlite connections: read without their lock
        conns.append(getattr(getattr(reader, "_result", None), "_connection", None))
    return conns


def check_usable(path: str) -> None:
    """Raise if this process is a child forked while its parent wrote to ``path``, or while a
    thread of its parent held one of SQLite's process-wide mutexes (:mod:`.mutexes`)."""
    why = _unusable.get(path) or unusable_here()
    if why is not None:
        raise StateError(why)


def _locks(backends: "list[Any]") -> list[Any]:
    """The locks a fork takes, in order (see above)."""
    follow = {id(lk): lk for lk in (type(b)._follow_lock for b in backends)}
    locks = [*follow.values(), *(f.poll_lock for f in live_followers())]
    for b in backends:
        locks += [b._open_lock, b._wlock, b._rlock, b._long_reads, b._indexer.lock]
    return locks


def _before() -> None:
    deadline = time.monotonic() + FORK_WAIT
    for lock in _locks(list(_backends)):
        if isinstance(lock, Gate) and lock.owned_here():  # forked from a listener of this thread's commit
            continue
        if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            _held.append(lock)
        else:
            mark_unclean()


def _after() -> None:
    while _held:
        _held.pop().release()


def _reset_in_child() -> None:
    """(In the child, after :func:`_after`.) Forget inherited connections; reopen lazily."""
    followers = live_followers()
    inherited: list[Any] = [f._conn for f in followers]
    _abandoned.append(followers)
    forget_followers()
    for b in list(_backends):
        inherited += _inherited(b)
        wconn = b._wconn
        # sqlite3_get_autocommit takes no mutex: safe to ask in the child
        if wconn is not None and not b.memory and wconn.in_transaction:
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
        b._follower = None
        type(b)._follow_lock = threading.Lock()
        b._open_lock = threading.Lock()
        b._wlock = Gate()
        b._rlock = threading.Lock()
        b._long_reads = threading.Lock()
    _backends.clear()
    release_inherited(inherited)


on_fork_prepare(_before, _after)
on_fork_child(_reset_in_child)
