"""The on-disk layout of a state file, its migration, and how connections are made.

``items(id INTEGER PRIMARY KEY, grp, key, value)`` holds the state. ``id`` grows on
insert and an upsert keeps the row's id, so ``ORDER BY id`` is insertion order
and overwriting keeps an item's place. ``changes`` (schema 2) is the changelog:
one row per committed change, written in the change's own transaction
(:mod:`.changelog`). ``PRAGMA user_version`` holds
:data:`SCHEMA_VERSION`; :func:`migrate` creates or upgrades the schema in one
write transaction and refuses a file written by a newer motia_nb.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from ...errors import StateError

__all__ = ["SCHEMA", "CHANGES", "MIGRATIONS", "SCHEMA_VERSION", "BUSY_TIMEOUT_MS", "connect", "ensure_folder", "migrate", "prepare", "retry_busy", "is_busy"]

T = TypeVar("T")

#: Bumped whenever the on-disk layout changes; :func:`migrate` upgrades older files.
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id    INTEGER PRIMARY KEY,
    grp   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (grp, key)
);
CREATE INDEX IF NOT EXISTS items_grp_id ON items (grp, id);
"""

#: Schema 2: the changelog (SPEC §9). ``seq`` is AUTOINCREMENT, so a pruned seq is never reused.
CHANGES = """
CREATE TABLE IF NOT EXISTS changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         REAL    NOT NULL,
    event_type TEXT    NOT NULL,
    grp        TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    trace_id   TEXT,
    cause      TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    origin     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_item ON changes (grp, key, seq);
"""

#: The statements that bring a file from version ``n - 1`` to ``n`` (0 = a new file).
MIGRATIONS = {1: SCHEMA, 2: CHANGES}

BUSY_TIMEOUT_MS = 10_000


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def prepare(path: str, url: str, *, memory: bool) -> sqlite3.Connection:
    """Open the write connection: WAL, synchronous=NORMAL, schema migrated.

    Errors become one clear :class:`StateError` naming ``url``.
    """
    if not memory:
        ensure_folder(path, url)
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open the state database {url}: {exc}") from exc
    try:
        if not memory:
            retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        retry_busy(lambda: migrate(conn, url))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StateError(f"{url} is not a usable motia_nb state database: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


#: the one folder created on its own: the default ``.motia/`` (of ``.motia/state.db``)
DEFAULT_FOLDER = ".motia"


def ensure_folder(path: str, url: str) -> None:
    """Make sure the folder of ``path`` exists, or raise a one-line :class:`StateError`.

    Only a missing ``.motia`` folder (the default location) is created, and only
    when the folder holding it exists: a typo in an explicit path
    (``/nonexistent/dir/x.db``) is refused instead of creating directories.
    """
    folder = os.path.dirname(path) or "."
    if os.path.isdir(folder):
        return
    if os.path.basename(folder) == DEFAULT_FOLDER and os.path.isdir(os.path.dirname(folder) or "."):
        try:
            os.mkdir(folder)
        except FileExistsError:  # another process made it first, or it is a file (connect says so)
            pass
        except OSError as exc:
            raise StateError(f"cannot open the state database {url}: cannot create {folder}: {exc.strerror}") from None
        return
    raise StateError(f"cannot open the state database {url}: the folder {folder} does not exist (create it first)")


def migrate(conn: sqlite3.Connection, url: str) -> None:
    """Create the schema, or upgrade an older one, in one write transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{url} was written by a newer motia_nb (schema {version}, this one reads "
                f"up to {SCHEMA_VERSION}); upgrade motia_nb"
            )
        if version < SCHEMA_VERSION:
            # version 0 = new (or empty) file; each step runs once, in order, in this transaction
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in MIGRATIONS[step].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` means another connection holds the lock (SQLITE_BUSY / LOCKED)."""
    msg = str(exc)
    return "locked" in msg or "busy" in msg


def retry_busy(fn: Callable[[], T], attempts: int = 100) -> T:
    """Run ``fn``; wait out SQLITE_BUSY beyond busy_timeout instead of raising."""
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or i == attempts - 1:
                raise
            time.sleep(min(0.01 * (i + 1), 0.2))
    raise AssertionError("unreachable")  # pragma: no cover
