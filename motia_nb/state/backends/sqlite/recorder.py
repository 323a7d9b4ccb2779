"""Recording the changelog in each batch's transaction; filing and pruning it off the writers' path.

:meth:`Recorder.statement` gives each batch its changelog statement (one
``INSERT``, :func:`.changelog.insert_planned`), which the batch runs in its own
transaction right after its write-back, on whichever executor runs it
(:func:`.apply.batch_steps`), so a change and its history record commit together
or not at all. With history ``off`` there is none.

The recorder's thread does the rest, never the writers, on its own connection in
short transactions: it files the new records' keys in ``changes_keys`` and the hot items'
changes in their pages (an item's history is found through them, :func:`.pages.file_pass`)
when :data:`.schema.FILE_EVERY` changes were recorded since its last pass, once the
writers paused (or at once past :data:`TAIL_MAX` unfiled rows: a long burst) (:data:`SETTLE`;
measured: filing a 20,000-change record costs ~30 ms of CPU, which a gather should
not compete with while its results are delivered), and once at open (another
process may have left some); and it enforces the retention (``MotiaNB.history_keep``) after any change was
recorded (and periodically for an age limit), also once the writers paused (a pass
takes the write lock, which would push a lone write off its inline commit; a long
burst of writes is pruned every :data:`SETTLE_MAX` seconds), deleting old records at
most ``PRUNE_CHUNK`` at a time. Reads do not wait for it: they show what the retention
keeps whatever is still stored (:mod:`..retained`). The
pass at open and the one after ``set_retention`` run at once; the one at open prunes only once
this process recorded a change (a process that only reads, a report script, deletes no history).
A writer waits at most one such short transaction for SQLite's lock.

A pass also steps aside for this process's history reads (:meth:`Recorder.reading`): it
waits between its transactions while one runs, at most :data:`READ_YIELD_MAX`. Measured
(2 cores): a filing pass still running when one key's history of 10,000 changes was read
right after a burst took the read from ~20-40 ms to 45-75 ms (the pass's Python, building
pages, holds the GIL the read's decoding needs); the read scans the unfiled tail instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from ...._threads import start_thread
from ...history import Retention
from ...stored_text import NotText
from ..base import Write
from .changelog import FILE_CHUNK, OLDEST, PRUNE_CHUNK, RECORD, TRIM, first_seq, insert_one, insert_planned, prune_by_age, prune_by_count, trim
from .pages import PRUNE_PAGES, file_pass
from .schema import FILE_EVERY

__all__ = ["Recorder"]

log = logging.getLogger("motia_nb")

# An old value another tool stored that is not text (a BLOB, text that is not UTF-8, a number),
# as a write carries it (NotText: its lenient text), is recorded as it was stored: get(at=)
# before that change refuses it as a read refuses it now, history() reads it leniently.
sqlite3.register_adapter(NotText, lambda t: bytes(t.raw) if isinstance(t.raw, (bytes, bytearray, memoryview)) else t.raw)

#: filing does not wait for the writers to pause once this many rows of ``changes`` (a lone
#: write's, or a batch's record) wait unfiled: an item's read scans the tail row by row
#: (~4 µs a row of the item, ~0.5 µs another), the filed part in pages
TAIL_MAX = 8192
#: the pruning thread's longest sleep with an age limit (seconds)
_AGE_CHECK_MAX = 60.0
#: filing waits for the writers to pause this long (seconds), but never longer than SETTLE_MAX
SETTLE = 0.5
SETTLE_MAX = 5.0
#: the longest a filing or pruning pass waits between its transactions for history reads to end (seconds)
READ_YIELD_MAX = 1.0
#: the first seq of the oldest record, its time, and the newest seq (all None: no record)
_OLDEST_NEWEST = (
    f"SELECT (SELECT {first_seq} FROM changes ORDER BY seq LIMIT 1), (SELECT at_us FROM changes ORDER BY seq LIMIT 1), "
    "(SELECT max(seq) FROM changes)"
)
#: the oldest record not filed yet (None: all filed)
_UNFILED = "SELECT min(seq), max(seq) FROM changes WHERE seq > (SELECT upto FROM changes_filed)"
_FILED_UPTO = "SELECT upto FROM changes_filed"


class Recorder:
    """The changelog of one open SQLite backend.

    ``pruning_connection()`` returns ``(connection, lock)`` for the pruning thread: a
    private connection for a file, the shared one and its write lock for ``:memory:``.
    """

    def __init__(self, retention: Retention, pruning_connection: Callable[[], "tuple[sqlite3.Connection, Any]"]) -> None:
        #: this backend's id in the changelog's ``origin`` (random, never 0: migrated rows have 0)
        self.origin = secrets.randbits(62) + 1
        self._pid = os.getpid()  # a forked child makes a new Recorder when it reopens (forking.py)
        self._insert_one = insert_one(self._pid, self.origin)  # a lone write's row: 7 parameters
        self.retention = retention
        self._pruning_connection = pruning_connection
        self._since_file = 0
        self._tail = 0  # rows recorded since the last filing pass began (about: other processes write too)
        self._last_record = 0.0  # time.monotonic() of the last change recorded
        self._file_due = True  # a first pass at open: records another process did not file
        self._prune_due = True
        # pruning deletes: only once this process recorded a change or was given a retention after
        # open (set_retention); a process that only reads (a report script opened with the default
        # keep) never deletes the history a writer keeps more of
        self._may_prune = False
        self._urgent = True  # the pass at open (and after set_retention) does not wait for writers to pause
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._prune_lock = threading.Lock()  # one pruning (or filing) pass at a time
        self._readers = 0  # history reads running in this process (a pass waits for them)
        self._no_readers = threading.Condition()
        self.pruned = 0  # records deleted so far (a gauge for tests and benchmarks)
        self.passed = threading.Event()  # set after each pass of the thread (lets a test wait for the one at open)
        self._start_pruner()

    # ------------------------------------------------------------------ recording
    def statement(self, writes: list[Write], entries: list[Any]) -> "tuple[str, list[tuple[Any, ...]]] | None":
        """The batch's change rows as one statement for the batch's own statement list
        (:func:`.apply.batch_steps`), or None (history off, nothing changed)."""
        if len(entries) == 1 and type(e := entries[0]) is tuple and e[0] != "clear":  # a batch of one write
            one = self.lone_row(writes[0], e[1], e[2], e[3], e[5])
            return None if one is None else (one[0], [one[1]])
        retention = self.retention
        if not retention.enabled:
            return None
        stmt = insert_planned(writes, entries, at=time.time_ns() // 1000, pid=self._pid, origin=self.origin)
        if stmt is None:
            return None
        sql, rows = stmt
        self._note(rows[0][0] if sql is RECORD else len(rows), len(rows))  # changes; rows of ``changes`` (a record is one)
        return stmt

    def lone_row(self, w: Write, g: str, k: str, old_text: "str | None", new_text: "str | None") -> "tuple[str, tuple[Any, ...]] | None":
        """A lone write's change (a set, update or delete of one item, committed alone: the
        sequential awaits' path, :func:`.lone.commit_lone`) as ``(sql, parameters)`` of ONE row, or
        None (history off, nothing changed). Kept lean: measured, the general path's lists and
        checks cost a lone write about 1 µs of the ~9 µs history adds to it."""
        if not self.retention.enabled or (old_text is None and new_text is None):  # deleting an absent item changes nothing
            return None
        self._note(1, 1)
        return self._insert_one, (time.time_ns() // 1000, g, k, old_text, new_text, w.trace_id, w.cause)

    def _note(self, count: int, stored: int) -> None:
        """``count`` changes recorded in ``stored`` rows: wake the thread when filing or pruning is due."""
        self._last_record = time.monotonic()
        first, self._may_prune = not self._may_prune, True  # the first: the pass held back at open is due
        self._since_file += count
        self._tail += stored
        if self._since_file >= FILE_EVERY:
            self._since_file = 0
            self._file_due = True
            self._wake.set()
        if self._tail >= TAIL_MAX:  # a long burst: file now, so a read never scans a longer tail
            self._tail = 0
            self._file_due = self._urgent = True
            self._wake.set()
        if (first or not self._prune_due) and self.retention.max_count is not None:  # once per pass, not per write
            self._prune_due = True
            self._wake.set()

    def set_retention(self, retention: Retention) -> None:
        """Apply a new retention now (the pruning thread runs a pass at once)."""
        self.retention = retention
        self._prune_due = self._urgent = self._may_prune = True
        self._start_pruner()
        self._wake.set()

    # ------------------------------------------------------------------ reads first
    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around a history read: a filing or pruning pass waits for it between transactions."""
        with self._no_readers:
            self._readers += 1
        try:
            yield
        finally:
            with self._no_readers:
                self._readers -= 1
                if not self._readers:
                    self._no_readers.notify_all()

    def _yield_to_readers(self) -> None:
        """Before a pass's next transaction: wait while history reads run (at most
        :data:`READ_YIELD_MAX`: reads one after another do not stop maintenance for good)."""
        if self._readers:
            with self._no_readers:
                self._no_readers.wait_for(lambda: not self._readers or self._stop, READ_YIELD_MAX)

    # ------------------------------------------------------------------ filing
    def file_now(self) -> int:
        """File every record not filed yet (in ``changes_keys``, and the hot items' in their pages),
        chunk by chunk, on this thread; how many filing transactions it took (0: nothing to
        file). Records written meanwhile wait for the next pass (a pass during a long burst
        does not chase the writers)."""
        passes = 0
        with self._prune_lock:
            conn, lock = self._pruning_connection()
            with lock:  # read first: nothing to file (a new store, a quiet one) takes no write lock
                unfiled, newest = conn.execute(_UNFILED).fetchone()
                if unfiled is None:
                    return 0
            while not self._stop:
                self._yield_to_readers()
                with lock:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        if conn.execute(_FILED_UPTO).fetchone()[0] >= newest:
                            conn.execute("COMMIT")
                            return passes
                        file_pass(conn, FILE_CHUNK)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                passes += 1
        return passes

    # ------------------------------------------------------------------ pruning
    def prune_now(self) -> int:
        """Delete what the retention no longer keeps, chunk by chunk, on this thread; the count."""
        with self._prune_lock:  # the retention read under the lock: a pass queued behind another
            retention = self.retention  # prunes by the retention of when it runs
            if not retention.prunes:
                return 0
            conn, lock = self._pruning_connection()
            with lock:  # read first: nothing to prune takes no write lock (a writer's inline commit never meets it)
                oldest, oldest_at, newest = conn.execute(_OLDEST_NEWEST).fetchone()
            if oldest is None or (
                (retention.max_count is None or oldest > newest - retention.max_count)
                and (retention.max_age is None or oldest_at >= (time.time() - retention.max_age) * 1e6)
            ):
                return 0
            total = 0
            if retention.max_count is not None:
                total += self._delete_chunks(conn, lock, lambda: prune_by_count(retention.max_count))  # type: ignore[arg-type]
                total += self._trim_oldest(conn, lock, retention.max_count)
            if retention.max_age is not None:
                total += self._delete_chunks(conn, lock, lambda: prune_by_age(time.time() - retention.max_age))  # type: ignore[operator]
            if total:  # the pages holding only pruned changes (a read skips them already)
                self._delete_chunks(conn, lock, lambda: (PRUNE_PAGES, (PRUNE_CHUNK,)))
            self.pruned += total
            return total

    def _delete_chunks(self, conn: sqlite3.Connection, lock: Any, stmt: Callable[[], "tuple[str, tuple[Any, ...]]"]) -> int:
        total = 0
        while not self._stop:
            self._yield_to_readers()
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

    def _trim_oldest(self, conn: sqlite3.Connection, lock: Any, keep: int) -> int:
        """The oldest record without its changes older than the newest ``keep`` (a record of a
        batch is kept or deleted whole by the chunks); how many changes it lost."""
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(OLDEST, (keep,)).fetchone()
                lost = 0
                if row is not None:
                    seq, n, grp, layout, olds, news = row
                    (newest,) = conn.execute("SELECT max(seq) FROM changes").fetchone()
                    params, gone = trim(seq, n, layout, olds, news, newest - keep)
                    conn.execute(TRIM, params)
                    conn.executemany("DELETE FROM changes_keys WHERE grp = ? AND key = ? AND seq = ?",
                                     [(grp, k, seq) for k in gone])  # fmt: skip
                    lost = n - params[0]
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return lost

    def _start_pruner(self) -> None:
        if self._thread is None and self.retention.enabled and not self._stop:
            self._wake.set()  # a first pass at open: the file may hold more than is kept, or unfiled records
            self._thread = start_thread(self._main, "motia-nb-history-pruner")

    def _main(self) -> None:
        while not self._stop:
            age = self.retention.max_age
            timeout = None if age is None else min(max(age / 20, 1.0), _AGE_CHECK_MAX)
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop:
                return
            if not self._urgent:  # due after a burst of writes: maintenance waits for them to pause
                self._settle()
            self._urgent = False
            file_due, self._file_due = self._file_due, False
            if file_due:  # (a pass for pruning alone leaves the unfiled tail as it counted it)
                self._tail = 0
            prune_due, self._prune_due = self._prune_due or age is not None, False
            if not self._may_prune:  # nothing recorded here yet: keep the due pass for the first change
                self._prune_due, prune_due = prune_due, False
            try:
                if file_due and self.retention.enabled:
                    self.file_now()
                if prune_due:
                    self.prune_now()
            except Exception:  # closed under us, or a transient error: try again next time
                if self._stop:
                    return
                self._file_due = self._file_due or file_due
                self._prune_due = self._prune_due or prune_due
                log.warning("motia_nb: filing or pruning the state history failed; retrying later", exc_info=True)
            self.passed.set()

    def _settle(self) -> None:
        """Wait until no change was recorded for :data:`SETTLE` seconds (a burst of writes is
        over), at most :data:`SETTLE_MAX`: filing is maintenance, done when the writers
        pause rather than in the middle of their work. Reads do not wait for it (the
        records not filed yet are read by a scan of the newest)."""
        start = time.monotonic()
        while not self._stop:
            now = time.monotonic()
            idle = now - self._last_record
            if idle >= SETTLE or now - start >= SETTLE_MAX or self._urgent:
                return
            self._wake.wait(min(SETTLE - idle, SETTLE_MAX - (now - start)))
            self._wake.clear()

    def close(self) -> None:
        """Stop the pruning thread (after the pass it is in, if any)."""
        self._stop = True
        self._wake.set()
        with self._no_readers:
            self._no_readers.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
