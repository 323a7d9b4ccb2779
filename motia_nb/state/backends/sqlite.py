"""SQLite backend: one file in WAL mode, one writer thread, group commit.

Design (measured on a 2-core machine: commit-per-op ~15k ops/s, one transaction
~100k rows/s, a point read ~14 µs):

- **One writer thread owns the write connection** (as in aiosqlite), but it runs
  a whole *batch* of queued writes per wake-up: everything that arrived while the
  previous transaction was committing goes into the next ``BEGIN IMMEDIATE …
  COMMIT``. Each write is acknowledged (its future resolved) only after that
  commit, so an acknowledged write survives ``kill -9`` (WAL + synchronous=NORMAL
  is durable against process crashes). aiosqlite is not used because it costs a
  thread hop per statement, which makes batching impossible through its public API.
- **Reads do not hop**: a separate read connection (WAL readers never block the
  writer) is used directly in the calling thread under a small lock. For
  ``:memory:`` there is a single connection shared by reader and writer.
- ``BEGIN IMMEDIATE`` takes SQLite's write lock before the current value is read,
  so read-modify-write (``update``, ``set``'s old value) is atomic across threads
  *and processes* sharing the file. Busy waits are handled with ``busy_timeout``
  plus a retry loop, never raised to the user.
- Insertion order: ``id INTEGER PRIMARY KEY`` grows on insert; an upsert keeps the
  row's id, so overwriting keeps an item's place.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from ..errors import StateClosedError, StateError
from ..events import CREATED, DELETED, UPDATED, StateEvent
from ..ops import MISSING, apply_ops
from ..values import encode_trusted
from .base import Backend, Write, WriteResult

__all__ = ["SQLiteBackend", "SCHEMA_VERSION"]

#: Bumped whenever the on-disk layout changes; ``_migrate`` upgrades older files.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id    INTEGER PRIMARY KEY,
    grp   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (grp, key)
);
CREATE INDEX IF NOT EXISTS items_grp_id ON items (grp, id);
"""

_SELECT_ONE = "SELECT value FROM items WHERE grp = ? AND key = ?"
_UPSERT = (
    "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value"
)
_DELETE_ONE = "DELETE FROM items WHERE grp = ? AND key = ?"

_STOP = object()
_MAX_BATCH = 2000
_BUSY_TIMEOUT_MS = 10_000

_loads = json.loads


class SQLiteBackend(Backend):
    """State in one SQLite file (or ``:memory:``)."""

    direct_reads = True

    def __init__(self, path: str = ":memory:") -> None:
        super().__init__()
        self.memory = path == ":memory:"
        self.path = path if self.memory else os.path.abspath(os.path.expanduser(path))
        self.url = self.path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._open_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._wlock = threading.Lock()
        self._rlock = self._wlock
        self._closed = False
        self._local_commits = 0

    # ------------------------------------------------------------------ life cycle
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        return conn

    def open(self) -> None:
        with self._open_lock:
            if self._closed:
                raise StateClosedError(f"the state database {self.url} was closed")
            if self._writer is not None:
                return
            if not self.memory:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            try:
                wconn = self._connect()
            except sqlite3.Error as exc:
                raise StateError(f"cannot open the state database {self.url}: {exc}") from exc
            try:
                if not self.memory:
                    self._retry_busy(lambda: wconn.execute("PRAGMA journal_mode = WAL"))
                wconn.execute("PRAGMA synchronous = NORMAL")
                self._retry_busy(lambda: self._migrate(wconn))
            except sqlite3.DatabaseError as exc:
                wconn.close()
                raise StateError(f"{self.url} is not a usable motia_nb state database: {exc}") from exc
            except BaseException:
                wconn.close()
                raise
            self._wconn = wconn
            if self.memory:
                self._rconn = wconn
                self._rlock = self._wlock
            else:
                self._rconn = self._connect()
                self._rconn.execute("PRAGMA query_only = ON")
                self._rlock = threading.Lock()
            self._writer = threading.Thread(target=self._writer_main, name="motia-nb-sqlite-writer", daemon=True)
            self._writer.start()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create the schema, or upgrade an older one, in one write transaction."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.url} was written by a newer motia_nb (schema {version}, this one reads "
                    f"up to {SCHEMA_VERSION}); upgrade motia_nb"
                )
            if version < SCHEMA_VERSION:
                # version 0 = new (or empty) file. Future versions add their steps here.
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._open_lock:
            if self._closed:
                return
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(_STOP)
            writer.join()
        for conn in {id(c): c for c in (self._rconn, self._wconn) if c is not None}.values():
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._rconn = self._wconn = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def writer_thread(self) -> threading.Thread | None:
        return self._writer

    # ------------------------------------------------------------------ writes
    def submit(self, write: Write) -> "Future[WriteResult]":
        fut: Future[WriteResult] = Future()
        if self._closed:
            fut.set_exception(StateClosedError(f"the state database {self.url} was closed"))
            return fut
        if self._writer is None:
            self.open()
        self._queue.put((write, fut))
        return fut

    def _writer_main(self) -> None:
        q = self._queue
        while True:
            item = q.get()
            stop = item is _STOP
            batch = [] if stop else [item]
            while len(batch) < _MAX_BATCH:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    continue  # finish what is queued, then stop
                batch.append(nxt)
            if batch:
                self._run_batch(batch)
            if stop:
                # fail anything that raced in after close()
                while True:
                    try:
                        late = q.get_nowait()
                    except queue.Empty:
                        break
                    if late is not _STOP:
                        late[1].set_exception(StateClosedError(f"the state database {self.url} was closed"))
                return

    def _run_batch(self, batch: list[tuple[Write, Future]]) -> None:
        conn = self._wconn
        assert conn is not None
        outcomes: list[WriteResult | BaseException] = []
        with self._wlock:
            try:
                self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
                for write, _ in batch:
                    try:
                        outcomes.append(self._apply(conn, write))
                    except StateError as exc:  # this write alone fails; nothing of it was written
                        outcomes.append(exc)
                self._retry_busy(lambda: conn.execute("COMMIT"))
            except BaseException as exc:  # I/O error, disk full…: nothing of the batch stands
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                err = StateError(f"write to {self.url} failed and was rolled back: {exc}")
                err.__cause__ = exc
                for _, fut in batch:
                    fut.set_exception(err)
                return
            self._local_commits += 1
        events = [ev for out in outcomes if isinstance(out, WriteResult) for ev in out.events]
        if events:
            for fn in list(self._listeners):
                try:
                    fn(events)
                except Exception:  # a listener must never break the writer
                    import logging

                    logging.getLogger("motia_nb").exception("state listener failed")
        for (_, fut), out in zip(batch, outcomes):
            if isinstance(out, BaseException):
                fut.set_exception(out)
            else:
                fut.set_result(out)

    @staticmethod
    def _apply(conn: sqlite3.Connection, w: Write) -> WriteResult:
        g, k = w.group_id, w.key
        if w.kind == "set":
            row = conn.execute(_SELECT_ONE, (g, k)).fetchone()
            conn.execute(_UPSERT, (g, k, w.value_json))
            old = _loads(row[0]) if row else None
            new = _loads(w.value_json)  # type: ignore[arg-type]
            ev = StateEvent(UPDATED if row else CREATED, g, k, old, new)  # type: ignore[arg-type]
            return WriteResult({"new_value": new, "old_value": old}, [ev])
        if w.kind == "update":
            row = conn.execute(_SELECT_ONE, (g, k)).fetchone()
            current = _loads(row[0]) if row else MISSING
            new = apply_ops(current, w.ops or [], group_id=g, key=k)  # raises before any write
            new_json = encode_trusted(new)
            conn.execute(_UPSERT, (g, k, new_json))
            old = _loads(row[0]) if row else None  # a private copy: apply_ops may share parts with `current`
            ev = StateEvent(UPDATED if row else CREATED, g, k, old, new)  # type: ignore[arg-type]
            return WriteResult({"new_value": new, "old_value": old}, [ev])
        if w.kind == "delete":
            row = conn.execute(_SELECT_ONE, (g, k)).fetchone()
            if row is None:
                return WriteResult(None, [])
            conn.execute(_DELETE_ONE, (g, k))
            old = _loads(row[0])
            return WriteResult(old, [StateEvent(DELETED, g, k, old, None)])  # type: ignore[arg-type]
        if w.kind == "clear":
            rows = conn.execute("SELECT key, value FROM items WHERE grp = ? ORDER BY id", (g,)).fetchall()
            if rows:
                conn.execute("DELETE FROM items WHERE grp = ?", (g,))
            return WriteResult(len(rows), [StateEvent(DELETED, g, key, _loads(v), None) for key, v in rows])
        raise StateError(f"unknown write kind {w.kind!r}")

    @staticmethod
    def _retry_busy(fn: Any, attempts: int = 100) -> Any:
        """Run ``fn``; wait out SQLITE_BUSY beyond busy_timeout instead of raising."""
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                msg = str(exc)
                if ("locked" not in msg and "busy" not in msg) or i == attempts - 1:
                    raise
                time.sleep(min(0.01 * (i + 1), 0.2))

    # ------------------------------------------------------------------ reads
    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self._rconn is None:
            if self._closed:
                raise StateClosedError(f"the state database {self.url} was closed")
            self.open()
        with self._rlock:
            return self._rconn.execute(sql, params).fetchall()  # type: ignore[union-attr]

    def get(self, group_id: str, key: str) -> Any:
        rows = self._read(_SELECT_ONE, (group_id, key))
        return _loads(rows[0][0]) if rows else None

    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: str = "insertion"
    ) -> list[tuple[str, Any]]:
        order_sql = {"insertion": "id", "key": "key", "-key": "key DESC", "-insertion": "id DESC"}.get(order)
        if order_sql is None:
            raise ValueError(f"order must be one of insertion, -insertion, key, -key; got {order!r}")
        rows = self._read(
            f"SELECT key, value FROM items WHERE grp = ? ORDER BY {order_sql} LIMIT ? OFFSET ?",
            (group_id, -1 if limit is None else limit, offset),
        )
        if not rows:
            return []
        keys = [r[0] for r in rows]
        values = _loads("[" + ",".join(r[1] for r in rows) + "]")  # one parse for the whole page
        return list(zip(keys, values))

    def keys(self, group_id: str) -> list[str]:
        return [r[0] for r in self._read("SELECT key FROM items WHERE grp = ? ORDER BY id", (group_id,))]

    def values_json(self, group_id: str) -> list[str]:
        return [r[0] for r in self._read("SELECT value FROM items WHERE grp = ? ORDER BY id", (group_id,))]

    def rows_json(self, group_id: str) -> list[tuple[str, str]]:
        """(key, JSON text) pairs in insertion order, undecoded (the DataFrame fast path)."""
        return self._read("SELECT key, value FROM items WHERE grp = ? ORDER BY id", (group_id,))

    def count(self, group_id: str) -> int:
        return self._read("SELECT count(*) FROM items WHERE grp = ?", (group_id,))[0][0]

    def group_counts(self) -> dict[str, int]:
        return dict(self._read("SELECT grp, count(*) FROM items GROUP BY grp ORDER BY grp", ()))

    def change_token(self) -> Any:
        """Changes whenever any connection (this process's writer included) commits."""
        if self._rconn is None:
            return None
        with self._rlock:
            data_version = self._rconn.execute("PRAGMA data_version").fetchone()[0]
        return (data_version, self._local_commits)
