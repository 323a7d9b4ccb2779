"""Recording the changelog in each batch's transaction; filing and pruning it off the writers' path.

:meth:`Recorder.statement` gives each batch its changelog statement (one
``INSERT``, :func:`.changelog.insert_planned`), which the batch runs in its own
transaction right after its write-back, on whichever executor runs it
(:func:`.apply.batch_steps`), so a change and its history row commit together
or not at all. With history ``off`` there is none.

The recorder's thread (``motia-nb-history-keeper``, started on first need) does the
rest in short transactions of its own, on its own connection, so a writer waits
at most one of them for SQLite's lock:

- *filing*: every :data:`FILE_EVERY` rows recorded, the rows not filed yet are
  added to ``changes_keys`` (:data:`.changelog.FILE_STEPS`, at most
  :data:`.changelog.FILE_CHUNK` rows a transaction). Reads never depend on it: the
  rows not filed yet are found by a range scan of the newest rows.
- *pruning*: retention (``MotiaNB.history_keep``) is enforced here, never by the
  writers: the thread wakes when about a tenth of the allowed count was recorded
  since its last pass (and periodically for an age limit) and deletes old rows, at
  most :data:`.changelog.PRUNE_CHUNK` a transaction.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ...._threads import start_thread
from ...history import Retention, micros
from ..base import Write
from .changelog import FILE_CHUNK, FILE_STEPS, PRUNE_CHUNK, insert_planned, prune_by_age, prune_by_count

__all__ = ["Recorder", "FILE_EVERY"]

log = logging.getLogger("motia_nb")

#: the thread's longest sleep with an age limit (seconds)
_AGE_CHECK_MAX = 60.0
#: rows recorded between two filing passes (the tail a read scans stays about this short)
FILE_EVERY = 1000

Statements = Callable[[], "tuple[Sequence[str], tuple[Any, ...]]"]


class Recorder:
    """The changelog of one open SQLite backend.

    ``pruning_connection()`` returns ``(connection, lock)`` for the recorder's thread: a
    private connection for a file, the shared one and its write lock for ``:memory:``.
    """

    def __init__(self, retention: Retention, pruning_connection: Callable[[], "tuple[sqlite3.Connection, Any]"]) -> None:
        #: this backend's id in the changelog's ``origin`` (random, never 0: migrated rows have 0)
        self.origin = secrets.randbits(62) + 1
        self._pid = os.getpid()  # a forked child makes a new Recorder when it reopens (forking.py)
        self.retention = retention
        self._pruning_connection = pruning_connection
        self._since_prune = 0
        self._since_file = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._pass_lock = threading.Lock()  # one pass (filing or pruning) at a time
        self.pruned = 0  # rows deleted so far (a gauge for tests and benchmarks)
        self.filed = 0  # rows filed so far (the same)
        if retention.prunes:
            self._start()  # a first pass at open: the file may hold more than is kept

    # ------------------------------------------------------------------ recording
    def statement(self, writes: list[Write], entries: list[Any]) -> "tuple[str, tuple[Any, ...]] | None":
        """The batch's change rows as one statement for the batch's own statement list
        (:func:`.apply.batch_steps`), or None (history off, nothing changed)."""
        retention = self.retention
        if not retention.enabled:
            return None
        stmt = insert_planned(writes, entries, at=micros(time.time()), pid=self._pid, origin=self.origin)
        if stmt is not None:
            n = len(stmt[1])
            self._since_file += n
            wake = self._since_file >= FILE_EVERY
            if retention.max_count is not None:
                self._since_prune += n
                wake = wake or self._since_prune >= max(64, retention.max_count // 10)
            if wake:
                self._since_file = self._since_prune = 0
                self._start()
        return stmt

    def set_retention(self, retention: Retention) -> None:
        """Apply a new retention now (the thread runs a pass at once)."""
        self.retention = retention
        if retention.prunes:
            self._start()

    # ------------------------------------------------------------------ filing and pruning
    def file_now(self) -> int:
        """File every row not filed yet into ``changes_keys``, chunk by chunk, on this thread; the count."""
        with self._pass_lock:
            conn, lock = self._pruning_connection()
            total = self._chunks(conn, lock, lambda: (FILE_STEPS, (FILE_CHUNK,)), FILE_CHUNK, filing=True)
            self.filed += total
            return total

    def prune_now(self) -> int:
        """Delete what the retention no longer keeps, chunk by chunk, on this thread; the count."""
        retention = self.retention
        if not retention.prunes:
            return 0
        with self._pass_lock:
            conn, lock = self._pruning_connection()
            total = 0
            if retention.max_count is not None:
                keep = retention.max_count
                total += self._chunks(conn, lock, lambda: prune_by_count(keep), PRUNE_CHUNK)
            if retention.max_age is not None:
                age = retention.max_age
                total += self._chunks(conn, lock, lambda: prune_by_age(time.time() - age), PRUNE_CHUNK)
            self.pruned += total
            return total

    def _chunks(self, conn: sqlite3.Connection, lock: Any, stmt: Statements, chunk: int, *, filing: bool = False) -> int:
        """Run ``stmt()``'s statements in one short write transaction, again while a whole
        ``chunk`` was done; the rows done (filing: the first statement's, pruning: the last's)."""
        total = 0
        while not self._stop:
            sqls, params = stmt()
            with lock:
                conn.execute("BEGIN IMMEDIATE")  # waits out another process for the connection's busy timeout
                try:
                    counts = [conn.execute(sql, params).rowcount for sql in sqls]
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            n = counts[0] if filing else counts[-1]
            total += n
            if n < chunk:
                break
        return total

    def _start(self) -> None:
        """Wake the thread (a pass now), starting it on first need."""
        if self._stop:
            return
        self._wake.set()
        if self._thread is None:
            self._thread = start_thread(self._main, "motia-nb-history-keeper")

    def _main(self) -> None:
        while not self._stop:
            age = self.retention.max_age if self.retention.prunes else None
            timeout = None if age is None else min(max(age / 20, 1.0), _AGE_CHECK_MAX)
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop:
                return
            try:
                if self.retention.enabled:
                    self.file_now()
                self.prune_now()
            except Exception:  # closed under us, or a transient error: try again next time
                if self._stop:
                    return
                log.warning("motia_nb: filing or pruning the state history failed; retrying later", exc_info=True)

    def close(self) -> None:
        """Stop the thread (after the pass it is in, if any)."""
        self._stop = True
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
