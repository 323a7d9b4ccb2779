"""The hooks :class:`~.backend.SQLiteBackend` calls around opening a file.

- :func:`before_open`: refuse a path that cannot hold a database, in one line
  (:mod:`.location`), or a file this forked child must not use (:mod:`.forking`);
  drop the journal a replaced file left behind (:mod:`.guard`);
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
from typing import Any

from ...lifetime import release_when_collected
from . import forking
from .guard import FileGuard, drop_stale_journal
from .location import check_location

__all__ = ["before_open", "opened"]


def before_open(backend: Any) -> None:
    if not backend.memory:
        check_location(backend.path, backend.url)
        forking.check_usable(backend.path)
        drop_stale_journal(backend.path)


def opened(backend: Any) -> None:
    """``backend`` has just set ``_writes``, ``_wconn``, ``_rconn``, ``_wlock``, ``_rlock``."""
    if not backend.memory:
        backend._writes.before_commit = FileGuard(backend.path, backend.url).check
    forking.track(backend)
    release_when_collected(
        backend, _release, backend._writes, backend._wlock, backend._rlock, backend._wconn, backend._rconn
    )


def _release(writes: Any, wlock: "threading.RLock", rlock: Any, *conns: "sqlite3.Connection | None") -> None:
    """What ``SQLiteBackend.close`` does, for a backend nobody refers to any more."""
    writes.close()  # commits whatever is still queued, stops the writer thread
    with wlock, rlock:
        for conn in {id(c): c for c in conns if c is not None}.values():
            try:
                conn.close()
            except sqlite3.Error:
                pass
