"""Substring key search on SQLite: an FTS5 trigram index over the keys of *searched big groups*.

A scan of a group's (grp, key) index with GLOB stops at LIMIT, so it is fast when
matches are common and slow (a pass over every key: 100–400 ms on 1,000,000 keys)
when they are rare. The trigram index answers rare matches from a few posting lists.

It holds only the keys of groups in ``search_groups``: writes to other groups pay one
lookup in that (tiny) table in the triggers' WHEN clause, nothing else. The first
search in a group of at least :data:`INDEX_THRESHOLD` items registers the group, and
a background thread (:mod:`.key_indexer`) fills the index in key order, one short
write transaction of :data:`BUILD_CHUNK` keys at a time (:func:`build_step`), so a
writer waits at most one chunk. Each chunk is a new segment of the FTS5 index; while a
fill runs, FTS5's own merging is off (``automerge`` 0, ``crisismerge`` high: else a
commit, the fill's or a writer's, would merge dozens of segments at once, ~0.3 s on
1,000,000 keys), and after it the builder merges them in steps of :data:`MERGE_PAGES`
pages (:func:`merge_step`), then turns FTS5's merging back on. A registered group's row says how far the fill got:
``upto`` (the last key filled) and ``done``. Invariant: the index holds exactly the
group's keys ``<= upto`` (all of them once ``done``; none before the first chunk).
The AFTER INSERT / AFTER DELETE triggers on ``items`` keep it by acting only on keys
inside that range; a key past it is filled (or not, if deleted meanwhile) by a later
chunk, in the transaction that moves ``upto`` over it. An upsert that changes a value
fires no INSERT trigger, and a key never changes. Until ``done`` a search takes the keys up
to ``upto`` from the index and scans the rest (see :mod:`.searching`). The objects are made on demand (``IF NOT EXISTS``), so the schema
version is unchanged; a file from the first version of this index (``search_groups``
without ``upto``/``done``, triggers without the range) is brought up to date by
:func:`prepare`, its groups counting as done (they were filled in one transaction).

The index is contentless (``content=''``, no copy of the keys) with ``detail=none``
(no positions): a search ANDs the needle's trigrams, and the caller re-checks every
candidate with GLOB on ``items`` (not needed for a needle of exactly 3 characters: its
one trigram is the needle), so the answer is exact.
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "INDEX_THRESHOLD", "MIN_NEEDLE", "BUILD_CHUNK", "CANDIDATE_CAP", "WINDOW", "SORT_STEPS", "MADE_SQL", "STATE_SQL",
    "SIZE_SQL", "CANDIDATES_SQL", "MERGE_PAGES", "window_sql", "found_sql", "prepare", "register", "build_step",
    "merge_step", "fts_query",
]  # fmt: skip

#: groups with fewer items are scanned (a GLOB pass over < 20,000 keys takes a few ms)
INDEX_THRESHOLD = 20_000
#: keys filled per write transaction of a build (~10–30 ms: what a writer may wait)
BUILD_CHUNK = 10_000
#: pages of segment merging per write transaction after a fill (~10–50 ms; a step that
#: merges the doclist of a trigram most keys hold takes longer: ~100 ms on 1,000,000 keys)
MERGE_PAGES = 32
#: up to this many candidates (rows holding every trigram), they are looked up and sorted
#: straight away (about 1 ms per 1,000)
CANDIDATE_CAP = 5_000
#: more than CANDIDATE_CAP: the text is common, so the first WINDOW keys in key order are
#: scanned first (a few ms), which usually fills the page ...
WINDOW = 5_000
#: ... else the candidates are still sorted, if that takes at most this many SQLite VM
#: instructions (10–13 per candidate: ~150,000 candidates, ~50 ms); beyond it the statement
#: is interrupted, as the text is so common that a scan stopped at LIMIT is the faster way
SORT_STEPS = 2_000_000
#: a trigram index cannot answer shorter texts
MIN_NEEDLE = 3

_OBJECTS = (
    "CREATE TABLE IF NOT EXISTS search_groups (grp TEXT PRIMARY KEY, upto TEXT, done INTEGER NOT NULL DEFAULT 1) "
    "WITHOUT ROWID",
    ("CREATE VIRTUAL TABLE IF NOT EXISTS key_search USING fts5("
     "key, tokenize = 'trigram case_sensitive 1', content = '', columnsize = 0, detail = none)"),
    # the first version's triggers indexed every key of a registered group (no fill in chunks)
    "DROP TRIGGER IF EXISTS key_search_insert",
    "DROP TRIGGER IF EXISTS key_search_delete",
    ("CREATE TRIGGER IF NOT EXISTS key_search_ins AFTER INSERT ON items "
     "WHEN EXISTS (SELECT 1 FROM search_groups WHERE grp = new.grp AND (done OR new.key <= upto)) "
     "BEGIN INSERT INTO key_search (rowid, key) VALUES (new.id, new.key); END"),
    ("CREATE TRIGGER IF NOT EXISTS key_search_del AFTER DELETE ON items "
     "WHEN EXISTS (SELECT 1 FROM search_groups WHERE grp = old.grp AND (done OR old.key <= upto)) "
     "BEGIN INSERT INTO key_search (key_search, rowid, key) VALUES ('delete', old.id, old.key); END"),
)
_COLUMNS = "SELECT name FROM pragma_table_info('search_groups')"
_UPGRADE = (  # the first version's groups were filled whole: done
    "ALTER TABLE search_groups ADD COLUMN upto TEXT",
    "ALTER TABLE search_groups ADD COLUMN done INTEGER NOT NULL DEFAULT 1",
)

#: whether the index objects were made, as this version makes them (in this file, by any process)
MADE_SQL = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'key_search_ins'"
#: ``group``'s build: no row (not registered), or (done, upto)
STATE_SQL = "SELECT done, upto FROM search_groups WHERE grp = ?"
#: the group's size, counted no further than the threshold
SIZE_SQL = "SELECT count(*) FROM (SELECT 1 FROM items WHERE grp = ? LIMIT ?)"
#: how many rows hold every trigram of the text (in any searched group), counted to ?2 at most
CANDIDATES_SQL = "SELECT count(*) FROM (SELECT 1 FROM key_search WHERE key_search MATCH ? LIMIT ?)"


def window_sql(lower: bool) -> str:
    """The keys containing the text among the group's first WINDOW keys (after ?) in key order:
    params (group, [after,] window, pattern, limit)."""
    after = " AND key > ?" if lower else ""
    return f"SELECT key FROM (SELECT key FROM items WHERE grp = ?{after} ORDER BY key LIMIT ?) WHERE key GLOB ? LIMIT ?"


def found_sql(recheck: bool, lower: bool = False, upper: bool = False) -> str:
    """The candidates of the group whose key really contains the text, in key order: params
    (match, group, [pattern,] [after,] [upto,] limit). The candidates drive the join (CROSS
    JOIN), never a pass over the (grp, key) index for ORDER BY; ``recheck=False`` (a
    3-character text, whose one trigram is the text) skips the GLOB."""
    where = (" AND i.key GLOB ?" if recheck else "") + (" AND i.key > ?" if lower else "") + (" AND i.key <= ?" if upper else "")
    return ("SELECT i.key FROM (SELECT rowid AS id FROM key_search WHERE key_search MATCH ?) AS c "
            f"CROSS JOIN items AS i ON i.id = c.id WHERE i.grp = ?{where} ORDER BY i.key LIMIT ?")


_REGISTER = "INSERT OR IGNORE INTO search_groups (grp, upto, done) VALUES (?, NULL, 0)"
_PROGRESS = "SELECT upto, done FROM search_groups WHERE grp = ?"
# the last key of the next chunk (None: the rest of the group is one chunk)
_NEXT_FIRST = "SELECT key FROM items WHERE grp = ? ORDER BY key LIMIT 1 OFFSET ?"
_NEXT_AFTER = "SELECT key FROM items WHERE grp = ? AND key > ? ORDER BY key LIMIT 1 OFFSET ?"
_FILL = "INSERT INTO key_search (rowid, key) SELECT id, key FROM items WHERE grp = ?"
_ADVANCE = "UPDATE search_groups SET upto = ? WHERE grp = ?"
#: FTS5's merging while a fill runs, and after (its defaults)
_MERGING_OFF = ("INSERT INTO key_search (key_search, rank) VALUES ('automerge', 0)",
                "INSERT INTO key_search (key_search, rank) VALUES ('crisismerge', 2000)")
_MERGING_ON = ("INSERT INTO key_search (key_search, rank) VALUES ('automerge', 4)",
               "INSERT INTO key_search (key_search, rank) VALUES ('crisismerge', 16)")
_MERGE = "INSERT INTO key_search (key_search, rank) VALUES ('merge', ?)"
_FILLING = "SELECT 1 FROM search_groups WHERE NOT done LIMIT 1"
_FINISH = "UPDATE search_groups SET upto = NULL, done = 1 WHERE grp = ?"


def fts_query(needle: str) -> str:
    """The MATCH expression of ``needle`` (3+ characters): each distinct trigram, quoted, ANDed."""
    grams = dict.fromkeys(needle[i:i + 3] for i in range(len(needle) - 2))
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def _transaction(conn: sqlite3.Connection, work) -> bool:  # type: ignore[no-untyped-def]
    conn.execute("BEGIN IMMEDIATE")  # waits busy_timeout at most (another process writing)
    try:
        result = bool(work())
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def prepare(conn: sqlite3.Connection) -> None:
    """Make (or bring up to date) the index objects, in one write transaction."""
    if conn.execute(MADE_SQL).fetchone():
        return

    def work() -> bool:
        if conn.execute(MADE_SQL).fetchone():  # made by another connection meanwhile
            return True
        columns = {r[0] for r in conn.execute(_COLUMNS)}
        if columns and "done" not in columns:
            for stmt in _UPGRADE:
                conn.execute(stmt)
        for stmt in _OBJECTS:
            conn.execute(stmt)
        return True

    _transaction(conn, work)


def register(conn: sqlite3.Connection, group: str) -> None:
    """Register ``group`` for indexing (nothing filled yet; a registered group is left as it
    is) and turn FTS5's merging off while it is filled."""
    prepare(conn)

    def work() -> bool:
        conn.execute(_REGISTER, (group,))
        if conn.execute(_FILLING).fetchone():
            for stmt in _MERGING_OFF:
                conn.execute(stmt)
        return True

    _transaction(conn, work)


def merge_step(conn: sqlite3.Connection, pages: int | None = None) -> bool:
    """Merge the index's segments by up to ``pages`` pages in one write transaction; True when
    nothing was left to merge (FTS5's merging is then on again, unless a fill is running)."""

    def work() -> bool:
        before = conn.total_changes
        conn.execute(_MERGE, (MERGE_PAGES if pages is None else pages,))
        if conn.total_changes - before >= 2:  # FTS5's sign that it merged something
            return False
        if not conn.execute(_FILLING).fetchone():
            for stmt in _MERGING_ON:
                conn.execute(stmt)
        return True

    return _transaction(conn, work)


def build_step(conn: sqlite3.Connection, group: str, chunk: int | None = None) -> bool:
    """Fill the next ``chunk`` keys of ``group`` (in key order) in one write transaction;
    True when the group is done (or not registered). ``conn`` is a write connection no
    other thread uses meanwhile. A :class:`sqlite3.Error` leaves the previous state."""
    n = BUILD_CHUNK if chunk is None else chunk

    def work() -> bool:
        row = conn.execute(_PROGRESS, (group,)).fetchone()
        if row is None or row[1]:
            return True
        upto = row[0]
        if upto is None:
            last = conn.execute(_NEXT_FIRST, (group, n - 1)).fetchone()
            sql, params = _FILL, [group]
        else:
            last = conn.execute(_NEXT_AFTER, (group, upto, n - 1)).fetchone()
            sql, params = _FILL + " AND key > ?", [group, upto]
        if last is not None:
            sql, params = sql + " AND key <= ?", [*params, last[0]]
        conn.execute(sql, params)
        if last is None:
            conn.execute(_FINISH, (group,))
            return True
        conn.execute(_ADVANCE, (last[0], group))
        return False

    return _transaction(conn, work)
