"""Substring key search on SQLite: an FTS5 trigram index over the keys of *searched big groups*.

A scan of a group's (grp, key) index with GLOB stops at LIMIT, so it is fast when
matches are common and slow (a pass over every key: ~200 ms on 1,000,000 keys) when
they are rare. The trigram index answers rare matches from a few posting lists.

It holds only the keys of groups in ``search_groups``: writes to other groups pay one
lookup in that (tiny) table in the triggers' WHEN clause, nothing else. The first
search of a text of 3+ characters in a group of at least :data:`INDEX_THRESHOLD`
items registers the group and indexes its keys in one write transaction; from then
on AFTER INSERT / AFTER DELETE triggers on ``items`` keep the index exact (an upsert
that changes a value fires no INSERT trigger, and a key never changes). The objects
are made on demand (``IF NOT EXISTS``), so the schema version is unchanged.

The index is contentless (``content=''``, no copy of the keys) with ``detail=none``
(no positions): a search ANDs the needle's trigrams, and the caller re-checks every
candidate with GLOB on ``items``, so the answer is exact.
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "INDEX_THRESHOLD", "MIN_NEEDLE", "CANDIDATE_CAP", "WINDOW", "SORT_CAP", "OBJECTS", "MADE_SQL", "EXISTS_SQL",
    "SIZE_SQL", "CANDIDATES_SQL", "FOUND_SQL", "WINDOW_SQL", "build", "fts_query",
]

#: groups with fewer items are scanned (a GLOB pass over < 20,000 keys takes a few ms)
INDEX_THRESHOLD = 20_000
#: up to this many candidates (rows holding every trigram), they are looked up and sorted
#: straight away (about 1 ms per 1,000)
CANDIDATE_CAP = 5_000
#: more than CANDIDATE_CAP: the text is common, so the first WINDOW keys in key order are
#: scanned first (a few ms), which usually fills the page ...
WINDOW = 20_000
#: ... else up to this many candidates are still sorted (~50 ms at 100,000); beyond it the
#: text is so common that a scan stopped at LIMIT is the faster way
SORT_CAP = 100_000
#: a trigram index cannot answer shorter texts
MIN_NEEDLE = 3

OBJECTS = (
    "CREATE TABLE IF NOT EXISTS search_groups (grp TEXT PRIMARY KEY) WITHOUT ROWID",
    ("CREATE VIRTUAL TABLE IF NOT EXISTS key_search USING fts5("
     "key, tokenize = 'trigram case_sensitive 1', content = '', columnsize = 0, detail = none)"),
    ("CREATE TRIGGER IF NOT EXISTS key_search_insert AFTER INSERT ON items "
     "WHEN EXISTS (SELECT 1 FROM search_groups WHERE grp = new.grp) "
     "BEGIN INSERT INTO key_search (rowid, key) VALUES (new.id, new.key); END"),
    ("CREATE TRIGGER IF NOT EXISTS key_search_delete AFTER DELETE ON items "
     "WHEN EXISTS (SELECT 1 FROM search_groups WHERE grp = old.grp) "
     "BEGIN INSERT INTO key_search (key_search, rowid, key) VALUES ('delete', old.id, old.key); END"),
)

#: whether the index objects were made (in this file, by any process)
MADE_SQL = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_groups'"
#: whether ``group`` is indexed
EXISTS_SQL = "SELECT 1 FROM search_groups WHERE grp = ?"
#: the group's size, counted no further than the threshold
SIZE_SQL = "SELECT count(*) FROM (SELECT 1 FROM items WHERE grp = ? LIMIT ?)"
#: how many rows hold every trigram of the text (in any searched group), counted to ?2 at most
CANDIDATES_SQL = "SELECT count(*) FROM (SELECT 1 FROM key_search WHERE key_search MATCH ? LIMIT ?)"
#: those rows of the group whose key really contains the text, in key order: the candidates
#: drive the join (CROSS JOIN), never a pass over the (grp, key) index for ORDER BY
FOUND_SQL = (
    "SELECT i.key FROM (SELECT rowid AS id FROM key_search WHERE key_search MATCH ?) AS c "
    "CROSS JOIN items AS i ON i.id = c.id WHERE i.grp = ? AND i.key GLOB ? ORDER BY i.key LIMIT ?"
)
#: the keys containing the text among the group's first ?2 keys in key order
WINDOW_SQL = "SELECT key FROM (SELECT key FROM items WHERE grp = ? ORDER BY key LIMIT ?) WHERE key GLOB ? LIMIT ?"
_REGISTER = "INSERT OR IGNORE INTO search_groups (grp) VALUES (?)"
_FILL = "INSERT INTO key_search (rowid, key) SELECT id, key FROM items WHERE grp = ?"


def fts_query(needle: str) -> str:
    """The MATCH expression of ``needle`` (3+ characters): each distinct trigram, quoted, ANDed."""
    grams = dict.fromkeys(needle[i:i + 3] for i in range(len(needle) - 2))
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def build(conn: sqlite3.Connection, group: str) -> None:
    """Make the index objects and index ``group``'s keys, in one write transaction.

    ``conn`` is a write connection no other thread uses meanwhile. Under ``BEGIN
    IMMEDIATE`` no other writer can add a key between the fill and the triggers. A
    :class:`sqlite3.Error` (no FTS5 module, a read-only file, another process holding the
    lock past ``busy_timeout``) leaves nothing behind.
    """
    conn.execute("BEGIN IMMEDIATE")  # waits busy_timeout at most: a search must not wait on
    # another process for long (the caller falls back to the scan)
    try:
        for stmt in OBJECTS:
            conn.execute(stmt)
        if conn.execute(_REGISTER, (group,)).rowcount == 1:  # not registered by another process meanwhile
            conn.execute(_FILL, (group,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
