"""The on-disk layout of a state file, its migration, and how connections are made.

``items(id INTEGER PRIMARY KEY, grp, key, value)`` holds the state. ``id`` grows on
insert and an upsert keeps the row's id, so ``ORDER BY id`` is insertion order
and overwriting keeps an item's place. ``changes`` is the changelog (schema 2;
schema 3 without AUTOINCREMENT nor a stored event type; schema 4 without an index
written by each commit; schema 5 with one record per batch of one group's changes
and no trigger on insert; schema 6 with ``changes_pages``): written in the change's
own transaction (:mod:`.changelog`); ``changes_keys`` finds an item's rows, and
``changes_pages`` holds the hot items' changes packed (:mod:`.pages`), both filed
behind the writers by the recorder's thread (``changes_filed``). ``PRAGMA user_version`` holds
:data:`SCHEMA_VERSION`; :func:`migrate` creates or upgrades the schema in one
write transaction and refuses a file written by a newer motia_nb.
"""

from __future__ import annotations

import os
import sqlite3

from ...errors import StateError
from ...events import CREATED, DELETED, UPDATED
from ...numbers import as_number
from .checkpointer import SAFETY_PAGES
from .executors import is_busy
from .opening import close_connection, open_connection
from .pages import PAGES_SQL

__all__ = [
    "SCHEMA", "CHANGES", "CHANGES_2_TO_3", "CHANGES_3_TO_4", "CHANGES_4_TO_5", "CHANGES_5_TO_6", "MIGRATIONS", "event_type", "SCHEMA_VERSION", "DEFAULT_BUSY_TIMEOUT", "BUSY_TIMEOUT_ENV", "busy_timeout_setting",
    "connect", "ensure_folder", "migrate", "prepare", "statements", "FILE_EVERY", "changes_sql", "filing_sql",
]  # fmt: skip

#: Bumped whenever the on-disk layout changes; :func:`migrate` upgrades older files.
SCHEMA_VERSION = 6

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

#: Schema 3: the changelog (SPEC §9), one row per committed change. ``seq`` is the rowid
#: (no AUTOINCREMENT: one page less per commit); it is never reused because pruning
#: always keeps the newest row. The event type is not stored: it is what the values
#: say (old NULL: created; new NULL: deleted; else updated, see :func:`event_type`).
#: ``origin`` is the writing backend's random id (a follower skips its own rows).
#: ``at_us`` is the commit time in whole microseconds (what ``at`` shows, exactly:
#: :func:`motia_nb.state.history.micros`).
_CHANGES_COLUMNS = """
    seq        INTEGER PRIMARY KEY,
    at_us      INTEGER NOT NULL,
    grp        TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    trace_id   TEXT,
    cause      TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    origin     INTEGER NOT NULL
"""
#: Schema 4: a commit writes its rows to ``changes`` only (one table page; an index on
#: (grp, key, seq), written by every commit, cost a second page: measured, about a third
#: of a lone write's extra cost with history on). An item's rows are found through
#: ``changes_keys``, which the trigger ``changes_file`` fills in bulk in the transaction
#: of every :data:`FILE_EVERY`-th row (a write pays for a thousand rows' keys at once,
#: a few pages, once in a thousand commits). ``changes_filed.upto``: every row with
#: ``seq <= upto`` is in ``changes_keys``; the newer rows (fewer than
#: :data:`FILE_EVERY`) are the *tail*, read by a range scan of ``changes``
#: (:func:`.changelog.item_seqs`). The trigger ``changes_unfile`` deletes a pruned
#: row's key.
FILE_EVERY = 1000


def filing_sql(every: int = FILE_EVERY) -> str:
    """``changes_keys``, ``changes_filed`` and the two triggers, filing every ``every`` rows."""
    return f"""
CREATE TABLE IF NOT EXISTS changes_keys (
    grp TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (grp, key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes_filed (upto INTEGER NOT NULL);
INSERT INTO changes_filed (upto) SELECT coalesce((SELECT max(seq) FROM changes), 0)
    WHERE NOT EXISTS (SELECT 1 FROM changes_filed);
CREATE TRIGGER IF NOT EXISTS changes_file AFTER INSERT ON changes WHEN NEW.seq % {every} = 0
BEGIN
    INSERT OR IGNORE INTO changes_keys (grp, key, seq)
        SELECT grp, key, seq FROM changes WHERE seq > (SELECT upto FROM changes_filed) AND seq <= NEW.seq;
    UPDATE changes_filed SET upto = NEW.seq WHERE upto < NEW.seq;
END;
CREATE TRIGGER IF NOT EXISTS changes_unfile AFTER DELETE ON changes
BEGIN
    DELETE FROM changes_keys WHERE grp = OLD.grp AND key = OLD.key AND seq = OLD.seq;
END
"""


def changes_sql(every: int = FILE_EVERY) -> str:
    """The changelog's tables and triggers of schema 4 (a new file's, or one of schema 1,
    before :data:`CHANGES_4_TO_5`)."""
    return f"CREATE TABLE IF NOT EXISTS changes ({_CHANGES_COLUMNS});\n{filing_sql(every)}"


#: Schema 5: a batch of changes to distinct items of ONE group with one cause (a gather)
#: is ONE row, its
#: *record* (``n`` = how many changes; NULL on a row of one change): it holds the seqs
#: ``seq - n + 1 .. seq``, in order, ``key`` is the JSON text ``[[keys…], [old lengths…],
#: [new lengths…]]`` and ``old_value``/``new_value`` are the changes' JSON texts joined
#: end to end (length -1: absent), so each change's texts come back exactly as written
#: (:func:`.changelog.expand`). Measured on 20,000 gathered sets: one record costs the
#: writer ~9 ms of CPU where 20,000 rows cost ~120 ms (a cell, a key and a record per
#: row, and the filing trigger). No trigger runs on insert any more: ``changes_keys``
#: is filed by the recorder's thread on its own connection (:data:`.changelog.FILE`),
#: never in a writer's transaction; it files a record's keys against the record's
#: ``seq``. ``changes_unfile`` also removes a pruned record's keys.
CHANGES_4_TO_5 = """
ALTER TABLE changes ADD COLUMN n INTEGER;
DROP TRIGGER IF EXISTS changes_file;
DROP TRIGGER IF EXISTS changes_unfile;
CREATE TRIGGER changes_unfile AFTER DELETE ON changes
BEGIN
    DELETE FROM changes_keys WHERE grp = OLD.grp AND key = OLD.key AND seq = OLD.seq AND OLD.n IS NULL;
    DELETE FROM changes_keys WHERE OLD.n IS NOT NULL AND grp = OLD.grp AND seq = OLD.seq
        AND key IN (SELECT value FROM json_each(OLD.key, '$[0]'));
END
"""

#: Schema 6: ``changes_pages``, each filed change also copied, packed, into its item's pages
#: (:mod:`.pages`), written by the filing passes. A file of schema 5 gets the table and
#: files every record again (``INSERT OR IGNORE`` keeps ``changes_keys`` as it is): until
#: the recorder's thread has, an item's changes are read from the tail.
CHANGES_5_TO_6 = PAGES_SQL + ";\nUPDATE changes_filed SET upto = 0"

CHANGES = changes_sql() + ";" + CHANGES_4_TO_5 + ";" + PAGES_SQL

#: Schema 2 → 3: the rows copied, seq for seq, into the new table (event_type dropped:
#: the values say it; ``at`` seconds become microseconds rounded half to even, as
#: ``datetime`` rounds them; origins of old rows become 0, which no backend uses).
CHANGES_2_TO_3 = f"""
CREATE TABLE changes_v3 ({_CHANGES_COLUMNS});
INSERT INTO changes_v3 (seq, at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin)
    SELECT seq, cast(at AS INT) * 1000000 + cast(x AS INT)
               + (x - cast(x AS INT) > 0.5 OR (x - cast(x AS INT) = 0.5 AND cast(x AS INT) % 2 = 1)),
           grp, key, old_value, new_value, trace_id, cause, pid, 0
    FROM (SELECT *, (at - cast(at AS INT)) * 1e6 AS x FROM changes) ORDER BY seq;
DROP TABLE changes;
ALTER TABLE changes_v3 RENAME TO changes;
CREATE INDEX changes_item ON changes (grp, key, seq)
"""

#: Schema 3 → 4: the (grp, key, seq) index becomes ``changes_keys``, every row filed.
CHANGES_3_TO_4 = f"""
DROP INDEX IF EXISTS changes_item;
{filing_sql()};
INSERT INTO changes_keys (grp, key, seq) SELECT grp, key, seq FROM changes
"""

#: The statements that bring a file from version ``n`` (0 = a new file) to :data:`SCHEMA_VERSION`.
MIGRATIONS = {
    0: SCHEMA + ";" + CHANGES,
    1: CHANGES,
    2: CHANGES_2_TO_3 + ";" + CHANGES_3_TO_4 + ";" + CHANGES_4_TO_5 + ";" + CHANGES_5_TO_6,
    3: CHANGES_3_TO_4 + ";" + CHANGES_4_TO_5 + ";" + CHANGES_5_TO_6,
    4: CHANGES_4_TO_5 + ";" + CHANGES_5_TO_6,
    5: CHANGES_5_TO_6,
}


def event_type(old_value: "str | None", new_value: "str | None") -> str:
    """A change's event type, from which of its values are absent (SQL NULL)."""
    if old_value is None:
        return CREATED
    return DELETED if new_value is None else UPDATED


#: Seconds a write waits for another process's lock before it fails with a clear error,
#: unless ``busy_timeout=`` or ``$MOTIA_NB_BUSY_TIMEOUT`` says otherwise.
DEFAULT_BUSY_TIMEOUT = 10.0
BUSY_TIMEOUT_ENV = "MOTIA_NB_BUSY_TIMEOUT"


def busy_timeout_setting(value: float | None = None) -> float:
    """``value``, else ``$MOTIA_NB_BUSY_TIMEOUT``, else :data:`DEFAULT_BUSY_TIMEOUT` (seconds, >= 0)."""
    where = "busy_timeout"
    if value is None:
        raw = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_BUSY_TIMEOUT
        where = f"${BUSY_TIMEOUT_ENV}"
        try:
            value = float(raw)
        except ValueError:
            raise StateError(f"{where} must be a number of seconds, got {raw!r}") from None
    seconds = as_number(value)  # a numpy number too
    if seconds is None or not 0 <= seconds < 1e6:
        raise StateError(f"{where} must be a number of seconds >= 0, got {value!r}")
    return float(seconds)


def connect(path: str, busy_timeout: float = 0.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread."""
    return open_connection(path, busy_timeout)


def prepare(path: str, url: str, *, memory: bool, busy_timeout: float) -> sqlite3.Connection:
    """Open the write connection: WAL, synchronous=NORMAL, schema migrated; busy timeout 0.

    Nothing takes the write lock when the file is already in WAL mode at the current
    schema (reads and first calls never wait for another process's write). Errors
    become one clear :class:`StateError` naming ``url``.
    """
    if not memory:
        ensure_folder(path, url)
    try:
        conn = connect(path, busy_timeout)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open the state database {url}: {exc}") from exc
    try:
        if not memory and conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if not memory:  # checkpoints run on the checkpointer's thread; the writer's own only past this
            conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_PAGES}")
        migrate(conn, url)
        conn.execute("PRAGMA busy_timeout = 0")  # an inline commit only tries; waits happen off the loop
    except sqlite3.OperationalError as exc:
        close_connection(conn)
        if is_busy(exc):
            raise StateError(
                f"{url} stayed locked by another connection for the whole busy timeout ({busy_timeout:g} s) "
                "while being opened"
            ) from None
        raise StateError(f"{url} is not a usable motia_nb state database: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        close_connection(conn)
        raise StateError(f"{url} is not a usable motia_nb state database: {exc}") from exc
    except BaseException:
        close_connection(conn)
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


def statements(script: str) -> list[str]:
    """``script`` cut into its statements (a trigger's body keeps its own semicolons)."""
    out: list[str] = []
    text = ""
    for part in script.split(";"):
        text += part + ";"
        if sqlite3.complete_statement(text):
            if text.strip(" \t\n;"):
                out.append(text)
            text = ""
    if text.strip(" \t\n;"):
        out.append(text)
    return out


def migrate(conn: sqlite3.Connection, url: str) -> None:
    """Create the schema, or upgrade an older one, in one write transaction.

    A file already at :data:`SCHEMA_VERSION` is only read (no write lock taken)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{url} was written by a newer motia_nb (schema {version}, this one reads "
                f"up to {SCHEMA_VERSION}); upgrade motia_nb"
            )
        if version < SCHEMA_VERSION:
            # version 0 = new (or empty) file; one step, in this transaction
            for stmt in statements(MIGRATIONS[version]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
