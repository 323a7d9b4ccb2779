"""Filling the trigram index of a searched big group in the background (see :mod:`.key_search`).

One thread per backend while there is work (``motia-nb-key-indexer``): for each group
asked for, it registers the group, runs :func:`.key_search.build_step` until the group
is done, then :func:`.key_search.merge_step` until the segments are merged; one short
write transaction per step under the backend's write gate, pausing between steps so
that this process's writers take the gate in turn. For a file the thread has a
connection of its own (synchronous=NORMAL like the writer's; no automatic checkpoint:
after each step it checkpoints the WAL itself, outside the gate, so neither its commits
nor a writer's copy the megabytes a build writes); ``:memory:`` uses the shared one. A search meanwhile scans (with a
time budget, the viewer's; see :mod:`.searching`). On failure (no FTS5 in this SQLite, a
read-only file, another process holding the lock past the busy timeout) the group is
dropped with a warning and searches keep scanning; a search after :data:`RETRY_AFTER`
seconds asks again.

Another process may build the same group at the same time: each chunk reads the fill's
state in its own transaction, so the two take turns. A build interrupted by ``close()``
or a crash resumes, from the stored state, at the group's next search.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ...._threads import on_fork_child, start_thread
from . import key_search
from .opening import close_connection, release_inherited

__all__ = ["KeyIndexer", "PAUSE", "RETRY_AFTER"]

log = logging.getLogger("motia_nb")

#: seconds between two chunks of a build (the gate is free meanwhile)
PAUSE = 0.002
#: seconds before a group whose build failed is tried again (searches scan meanwhile)
RETRY_AFTER = 60.0

_indexers: "weakref.WeakSet[KeyIndexer]" = weakref.WeakSet()


class KeyIndexer:
    """Builds the trigram index of the groups it is asked for, one at a time, on its own thread.

    ``side_connection()`` returns ``(connection, lock)``: a write connection only used under
    ``lock``, the backend's write gate (the connection None when ``connect()`` opens the
    thread's own); or None once the backend is gone.
    """

    def __init__(
        self, side_connection: Callable[[], "tuple[sqlite3.Connection | None, Any] | None"],
        connect: Callable[[], "sqlite3.Connection | None"] | None = None,
    ) -> None:
        self._side = side_connection
        self._connect = connect
        self._lock = threading.Lock()
        #: held around the thread's own WAL checkpoints (its build steps hold the write gate): a fork takes it
        self.lock = threading.Lock()
        self._own: sqlite3.Connection | None = None  # the thread's own connection (a fork's child closes it)
        self._pending: dict[str, None] = {}  # groups to build, in the order asked
        self._failed: dict[str, float] = {}  # group -> when its build failed (time.monotonic())
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self.failures = 0  # builds given up (a gauge for tests)
        _indexers.add(self)

    def ensure(self, group: str) -> None:
        """Build ``group``'s index in the background, unless it is being built already."""
        with self._lock:
            failed = self._failed.get(group)
            if self._stop or (failed is not None and time.monotonic() - failed < RETRY_AFTER):
                return
            self._pending.setdefault(group)
            if self._thread is None or not self._thread.is_alive():
                self._idle.clear()
                self._thread = start_thread(self._main, "motia-nb-key-indexer")

    def building(self, group: str) -> bool:
        with self._lock:
            return group in self._pending

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is left to build (True), or ``timeout`` seconds (False)."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop after the chunk in progress (the build resumes at the group's next search)."""
        with self._lock:
            self._stop = True
            t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()

    def _next(self) -> str | None:
        with self._lock:
            if self._stop or not self._pending:
                self._thread = None
                self._idle.set()
                return None
            return next(iter(self._pending))

    def _main(self) -> None:
        own: list[sqlite3.Connection] = []  # the thread's own connection, opened on first need
        try:
            while (group := self._next()) is not None:
                try:
                    if not own and self._connect is not None:
                        conn = self._connect()
                        if conn is None:  # the backend was collected
                            continue
                        own.append(conn)
                        self._own = conn
                    self._build(group, own[0] if own else None)
                except Exception as exc:  # the scan keeps answering; a later search asks again
                    self.failures += 1
                    self._failed[group] = time.monotonic()
                    if not self._stop:
                        log.warning("motia_nb: indexing the keys of %r for key search failed (%s); "
                                    "searches scan instead", group, exc)
                finally:
                    with self._lock:
                        self._pending.pop(group, None)
        finally:
            self._own = None
            for conn in own:
                close_connection(conn)

    def _build(self, group: str, own: sqlite3.Connection | None) -> None:
        first, filled = True, False
        while not self._stop:
            side = self._side()
            if side is None:  # the backend was collected
                return
            conn, lock = side
            conn = own or conn
            assert conn is not None
            with lock:
                if first:
                    key_search.register(conn, group)
                    first = False
                if filled:
                    if key_search.merge_step(conn):
                        return
                else:
                    filled = key_search.build_step(conn, group)
            if own is not None:
                with self.lock:
                    own.execute("PRAGMA wal_checkpoint(PASSIVE)")
            time.sleep(PAUSE)


def _reset_in_child() -> None:
    """(In a forked child.) The thread did not survive: forget it (its connection is closed:
    :func:`.opening.release_inherited`); searches ask again."""
    release_inherited([ix._own for ix in list(_indexers)])
    for ix in list(_indexers):
        ix._own = None
        ix._lock = threading.Lock()
        ix.lock = threading.Lock()
        ix._pending.clear()
        ix._thread = None
        ix._idle.set()


on_fork_child(_reset_in_child)
