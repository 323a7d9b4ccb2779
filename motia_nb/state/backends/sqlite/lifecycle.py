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

import sqlite3
import threading
import weakref
from typing import Any

from ...lifetime import release_when_collected
from . import forking
from . import guard
from .location import check_location

__all__ = ["before_open", "opened", "closing"]

_guards: "weakref.WeakKeyDictionary[Any, guard.FileGuard]" = weakref.WeakKeyDictionary()


def before_open(backend: Any) -> None:
    if not backend.memory:
        check_location(backend.path, backend.url)
        forking.check_usable(backend.path)
        guard.drop_stale_journals(backend.path)


def opened(backend: Any) -> None:
    """``backend`` has just set ``_writes``, ``_wconn``, ``_rconn``, ``_wlock``, ``_rlock``."""
    if not backend.memory:
        _guards[backend] = g = guard.FileGuard(backend.path, backend.url)
        backend._writes.before_commit = g.check
    forking.track(backend)
    release_when_collected(
        backend, _release, backend._writes, backend._wlock, backend._rlock, backend._wconn, backend._rconn
    )


def closing(backend: Any) -> None:
    """``backend.close()`` is about to close its connections (they are still open)."""
    g = _guards.pop(backend, None)
    if g is not None:
        guard.closing(g)


def _release(writes: Any, wlock: "threading.RLock", rlock: Any, *conns: "sqlite3.Connection | None") -> None:
    """What ``SQLiteBackend.close`` does, for a backend nobody refers to any more."""
    writes.close()  # commits whatever is still queued, stops the writer thread
    with wlock, rlock:
        for conn in {id(c): c for c in conns if c is not None}.values():
            try:
                conn.close()
            except sqlite3.Error:
                pass
