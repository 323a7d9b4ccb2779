"""The hooks :class:`~.backend.SQLiteBackend` calls around opening a file.

- :func:`before_open`: refuse a path that cannot hold a database, in one line
  (:mod:`.location`), or a file this forked child must not use (:mod:`.forking`);
  drop the journal a replaced file left behind (:mod:`.guard`); :func:`closing`
  does the same as a backend closes;
- :func:`opened`: check the file's identity before every commit (:mod:`.guard`,
  through ``WritePath.before_commit``); register the open backend for fork handling, and release its
  writer thread and connections if it is collected without ``close()``
  (:mod:`motia_nb.state.lifetime`); the write path's ``on_commit`` must be a
  :class:`~motia_nb.state.lifetime.WeakCall` so the writer thread does not keep
  the backend alive.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import weakref
from typing import Any

from ...._threads import get_sqlite_loop, sqlite_loop_thread
from ...lifetime import release_when_collected
from . import forking
from . import guard
from .location import check_location
from .opening import close_connection

__all__ = ["before_open", "opened", "file_problem", "closing", "release"]

_guards: "weakref.WeakKeyDictionary[Any, guard.FileGuard]" = weakref.WeakKeyDictionary()


def before_open(backend: Any) -> None:
    forking.track(backend)  # from now on a fork waits for its open (under _open_lock) to end
    forking.check_usable(backend.path)  # a forked child that must not use SQLite (here) says so
    if not backend.memory:
        check_location(backend.path, backend.url, in_use=forking.open_here(backend))
        guard.drop_stale_journals(backend.path)


def opened(backend: Any) -> None:
    """``backend`` has just set ``_writes``, ``_wconn``, ``_rconn``, ``_readers``, ``_rlock``."""
    if not backend.memory:
        _guards[backend] = g = guard.FileGuard(backend.path, backend.url)
        backend._writes.before_commit = g.check
    rconn = None if backend.memory else backend._rconn
    release_when_collected(backend, release, backend._writes, backend._readers, backend._rlock, rconn)


def file_problem(backend: Any) -> "str | None":
    """What happened to ``backend``'s file since it was opened (``"was deleted"``…), or None."""
    g = _guards.get(backend)
    return None if g is None else g.problem()


def closing(backend: Any) -> None:
    """``backend.close()`` is about to close its connections (they are still open)."""
    g = _guards.pop(backend, None)
    if g is not None:
        guard.closing(g)


def release(writes: Any, readers: "list[Any]", rlock: "threading.Lock", *conns: "sqlite3.Connection | None") -> None:
    """Close what a backend opened: its write path (the queue commits first; the write
    connection and its aiosqlite thread), its long-read aiosqlite connections, then ``conns``
    under ``rlock`` (a read in progress finishes first). ``SQLiteBackend.close`` calls it,
    and so does collecting a backend nobody closed (it refers to none of these)."""
    if writes is not None:
        writes.close()
    while readers:
        _close_reader(readers.pop())
    with rlock:
        for conn in {id(c): c for c in conns if c is not None}.values():
            try:
                close_connection(conn)
            except sqlite3.Error:
                pass


def _close_reader(reader: Any) -> None:
    """Close a long-read aiosqlite connection (a Future of it) on the SQLite loop."""
    if not reader.done() or reader.cancelled() or reader.exception() is not None:
        return
    loop = get_sqlite_loop().loop
    if loop is None:
        return
    if threading.current_thread() is sqlite_loop_thread():  # collected on the loop itself: no waiting
        loop.create_task(reader.result().close())
        return
    try:
        asyncio.run_coroutine_threadsafe(reader.result().close(), loop).result(timeout=30)
    except Exception:
        pass
