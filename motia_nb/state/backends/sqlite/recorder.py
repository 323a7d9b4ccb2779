"""Recording the changelog in each batch's transaction, and pruning it off the writers' path.

:meth:`Recorder.statement` gives each batch its changelog statement (one
``INSERT``, :func:`.changelog.insert_planned`), which the batch runs in its own
transaction right after its write-back, on whichever executor runs it
(:func:`.apply.batch_steps`), so a change and its history row commit together
or not at all. With history ``off`` there is none.

Retention (``MotiaNB.history_keep``) is enforced by a pruning thread, never by
the writers: it wakes when about a tenth of the allowed count was recorded since
its last pass (and periodically for an age limit) and deletes old rows in short
transactions of at most ``PRUNE_CHUNK`` rows on its own connection, so a writer
waits at most one short delete for SQLite's lock.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import secrets
from collections.abc import Callable
from typing import Any

from ...._threads import start_thread
from ...history import Retention, micros
from ..base import Write
from .changelog import PRUNE_CHUNK, insert_planned, prune_by_age, prune_by_count

__all__ = ["Recorder"]

log = logging.getLogger("motia_nb")

#: the pruning thread's longest sleep with an age limit (seconds)
_AGE_CHECK_MAX = 60.0


class Recorder:
    """The changelog of one open SQLite backend.

    ``pruning_connection()`` returns ``(connection, lock)`` for the pruning thread: a
    private connection for a file, the shared one and its write lock for ``:memory:``.
    """

    def __init__(self, retention: Retention, pruning_connection: Callable[[], "tuple[sqlite3.Connection, Any]"]) -> None:
        #: this backend's id in the changelog's ``origin`` (random, never 0: migrated rows have 0)
        self.origin = secrets.randbits(62) + 1
        self._pid = os.getpid()  # a forked child makes a new Recorder when it reopens (forking.py)
        self.retention = retention
        self._pruning_connection = pruning_connection
        self._since_prune = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._prune_lock = threading.Lock()  # one pruning pass at a time
        self.pruned = 0  # rows deleted so far (a gauge for tests and benchmarks)
        self._start_pruner()

    # ------------------------------------------------------------------ recording
    def statement(self, writes: list[Write], entries: list[Any]) -> "tuple[str, tuple[Any, ...]] | None":
        """The batch's change rows as one statement for the batch's own statement list
        (:func:`.apply.batch_steps`), or None (history off, nothing changed)."""
        retention = self.retention
        if not retention.enabled:
            return None
        stmt = insert_planned(writes, entries, at=micros(time.time()), pid=self._pid, origin=self.origin)
        if stmt is not None and retention.max_count is not None:
            self._since_prune += len(stmt[1])
            if self._since_prune >= max(64, retention.max_count // 10):
                self._since_prune = 0
                self._wake.set()
        return stmt

    def set_retention(self, retention: Retention) -> None:
        """Apply a new retention now (the pruning thread runs a pass at once)."""
        self.retention = retention
        self._start_pruner()
        self._wake.set()

    # ------------------------------------------------------------------ pruning
    def prune_now(self) -> int:
        """Delete what the retention no longer keeps, chunk by chunk, on this thread; the count."""
        retention = self.retention
        if not retention.prunes:
            return 0
        with self._prune_lock:
            conn, lock = self._pruning_connection()
            total = 0
            if retention.max_count is not None:
                total += self._delete_chunks(conn, lock, lambda: prune_by_count(retention.max_count))  # type: ignore[arg-type]
            if retention.max_age is not None:
                total += self._delete_chunks(conn, lock, lambda: prune_by_age(time.time() - retention.max_age))  # type: ignore[operator]
            self.pruned += total
            return total

    def _delete_chunks(self, conn: sqlite3.Connection, lock: Any, stmt: Callable[[], "tuple[str, tuple[Any, ...]]"]) -> int:
        total = 0
        while not self._stop:
            with lock:
                conn.execute("BEGIN IMMEDIATE")  # waits out another process for the connection's busy timeout
                try:
                    n = conn.execute(*stmt()).rowcount
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            total += n
            if n < PRUNE_CHUNK:
                break
        return total

    def _start_pruner(self) -> None:
        if self._thread is None and self.retention.prunes and not self._stop:
            self._wake.set()  # a first pass at open: the file may hold more than is kept
            self._thread = start_thread(self._main, "motia-nb-history-pruner")

    def _main(self) -> None:
        while not self._stop:
            age = self.retention.max_age
            timeout = None if age is None else min(max(age / 20, 1.0), _AGE_CHECK_MAX)
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop:
                return
            try:
                self.prune_now()
            except Exception:  # closed under us, or a transient error: try again next time
                if self._stop:
                    return
                log.warning("motia_nb: pruning the state history failed; retrying later", exc_info=True)

    def close(self) -> None:
        """Stop the pruning thread (after the pass it is in, if any)."""
        self._stop = True
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
