"""An item's filed history packed in *pages*: what a long history read decodes in a few calls.

Reading an item's 10,000 changes row by row costs SQLite a step and a column
conversion per change and Python a tuple per row before any dict is built (~35 ms
of a ~75 ms read, measured). So when the recorder's thread files the changelog
(:func:`file_pass`, its own transaction, off the writers' path), it also copies each
filed change into its item's pages: ``changes_pages`` (see :mod:`.schema`), one row
per item and pass (at most :data:`PAGE_MAX` changes), whose columns hold the page's
changes already laid out as JSON bodies (seqs, ISO times, event codes, the
old/new texts joined, the cause runs). A read of the item fetches a few pages and
decodes each column of all of them with one ``json.loads`` (:func:`page_changes`).

A page's texts are joined without bounds, so the filing pass packs only single JSON values:
an old value another tool wrote that is not JSON (a set, delete or clear over it recorded
its text, :mod:`.changelog`) is packed as that text in a JSON string (:func:`_packed`), which
is what an item's history gives for it anyway (its text, as on Redis); it can never pair
with its neighbours and shift them. Pages are read by ``history()`` only.

Invariant: every change up to ``changes_filed.upto`` is in its item's pages (a pass
moves ``upto`` and writes the pages of the records it files in one transaction),
so an item's history is its pages, then the unfiled tail. Pages are copies: the
follower, group reads and ``get(at=)`` still read ``changes``. Pruning deletes a
prefix of the changes (by seq), so what is retained is every change from the
*horizon* (the oldest record's first seq) on: a read drops page changes below it,
and the pruner deletes the pages wholly below it.
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from ...events import CREATED, DELETED, UPDATED
from ...history import iso_micros
from ...jsontext import decode_lenient, decode_stored, encode_trusted, is_strict_json
from .changelog import FILE, _offsets, first_seq

__all__ = ["PAGES_SQL", "PAGE_MAX", "PAGE_MIN", "PAGED", "file_pass", "page_rows", "page_changes", "HORIZON", "PRUNE_PAGES", "EVENT_TYPES"]

#: the most changes one page holds (a read decodes at most one page more than it needs)
PAGE_MAX = 512
#: a filing pass pages the items it files at least this many changes of (the others are read
#: through ``changes_keys``, a rowid each: a few rows cost what a page would)
PAGE_MIN = 32

#: a change's event type from ``(old IS NULL) + 2 * (new IS NULL)`` (both absent cannot be
#: recorded; it reads as :func:`.schema.event_type` reads it: created)
EVENT_TYPES = (UPDATED, CREATED, DELETED, CREATED)

#: the first retained seq (None: nothing retained); pruning deletes a prefix of the changes
HORIZON = f"(SELECT {first_seq} FROM changes ORDER BY seq LIMIT 1)"

#: Schema 6: the pages (``n`` changes, seqs ``first``..``last`` of one item, in order).
#: The index covers what choosing pages reads, so the big columns are read only for
#: the pages chosen.
PAGES_SQL = """
CREATE TABLE IF NOT EXISTS changes_pages (
    id    INTEGER PRIMARY KEY,
    grp   TEXT    NOT NULL,
    key   TEXT    NOT NULL,
    first INTEGER NOT NULL,
    last  INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    upto  INTEGER NOT NULL,
    seqs  TEXT    NOT NULL,
    ats   TEXT    NOT NULL,
    who   TEXT    NOT NULL,
    vals  TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS changes_pages_item ON changes_pages (grp, key, first, last, n, upto);
CREATE INDEX IF NOT EXISTS changes_pages_last ON changes_pages (last)
"""

#: how far an item's pages hold its changes (``upto`` of the pass that wrote its newest page,
#: a record's seq: every change of the item up to it is in a page; 0: none)
PAGED = "coalesce((SELECT upto FROM changes_pages WHERE grp = ?1 AND key = ?2 ORDER BY first DESC LIMIT 1), 0)"
_PAGED = f"SELECT {PAGED}"
#: the items that the records in (?1, ?2] change at least ?3 times
_HOT = (
    "SELECT grp, key FROM (SELECT grp, key FROM changes WHERE seq > ?1 AND seq <= ?2 AND n IS NULL "
    "UNION ALL SELECT c.grp, j.value FROM changes c, json_each(c.key, '$[0]') j "
    "WHERE c.seq > ?1 AND c.seq <= ?2 AND c.n IS NOT NULL) GROUP BY grp, key HAVING count(*) >= ?3"
)
#: an item's records filed in (?3, ?4], oldest first (a big record of a batch without its layout
#: and texts: read once per pass, by :data:`_RECORD`)
_ITEM = (
    "SELECT c.seq, c.at_us, c.old_value, c.new_value, c.trace_id, c.cause, c.pid, c.n, "
    "CASE WHEN c.n <= 64 THEN c.key END FROM changes_keys k "
    "JOIN changes c ON c.seq = k.seq WHERE k.grp = ?1 AND k.key = ?2 AND k.seq > ?3 AND k.seq <= ?4 ORDER BY k.seq"
)
_RECORD = "SELECT key, old_value, new_value FROM changes WHERE seq = ?"
_INSERT = "INSERT INTO changes_pages (grp, key, first, last, n, upto, seqs, ats, who, vals) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

#: the pruner's (?1: at most how many): pages holding only changes below the horizon
PRUNE_PAGES = (
    "DELETE FROM changes_pages WHERE id IN (SELECT id FROM changes_pages WHERE last < "
    f"coalesce({HORIZON}, (SELECT max(last) + 1 FROM changes_pages)) LIMIT ?1)"
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def file_pass(conn: sqlite3.Connection, records: int) -> None:
    """One filing pass in the caller's write transaction: the keys of at most ``records``
    unfiled records in ``changes_keys`` (:data:`.changelog.FILE`), and the changes of the
    items they change at least :data:`PAGE_MIN` times in those items' pages."""
    (before,) = conn.execute("SELECT upto FROM changes_filed").fetchone()
    for sql in FILE:
        conn.execute(sql, (records,))
    (upto,) = conn.execute("SELECT upto FROM changes_filed").fetchone()
    if upto > before:
        conn.executemany(_INSERT, page_rows(conn, before, upto))


def page_rows(conn: sqlite3.Connection, before: int, upto: int) -> list[tuple[Any, ...]]:
    """The pages of the items that the records filed in (``before``, ``upto``] change at
    least :data:`PAGE_MIN` times (SQLite counts them): one parameter tuple of :data:`_INSERT`
    per :data:`PAGE_MAX` changes of each, from its last page on (its changes filed by
    earlier passes and not paged yet included). A record is decoded once per pass."""
    out: list[tuple[Any, ...]] = []
    decoded: dict[int, tuple[Any, ...]] = {}
    for grp, key in conn.execute(_HOT, (before, upto, PAGE_MIN)).fetchall():
        (paged,) = conn.execute(_PAGED, (grp, key)).fetchone()
        changes: list[tuple[Any, ...]] = []
        for seq, at, old, new, trace, cause, pid, n, layout in conn.execute(_ITEM, (grp, key, paged, upto)).fetchall():
            if n is None:
                changes.append((seq, at, old, new, trace, cause, pid))
                continue
            rec = decoded.get(seq)
            if rec is None:
                rec = decoded[seq] = _decoded(layout, old, new) if layout is not None else _decoded(*conn.execute(_RECORD, (seq,)).fetchone())
            where, old_lens, new_lens, old_at, new_at, old, new = rec
            i = where.get(key)  # a record holds an item once (changelog.insert_planned)
            if i is not None:  # None: trimmed out of the record since it was filed
                o = None if old_lens[i] < 0 else old[old_at[i] : old_at[i + 1]]
                v = None if new_lens[i] < 0 else new[new_at[i] : new_at[i + 1]]
                changes.append((seq - n + 1 + i, at, o, v, trace, cause, pid))
        for lo in range(0, len(changes), PAGE_MAX):
            first, last, n, *cols = _page(changes[lo : lo + PAGE_MAX])
            out.append((grp, key, first, last, n, upto, *cols))
    return out


def _decoded(layout: str, old: "str | None", new: "str | None") -> tuple[Any, ...]:
    """A record: where each key is, the texts' lengths, where each text starts, the texts."""
    keys, old_lens, new_lens = json.loads(layout)
    return {k: i for i, k in enumerate(keys)}, old_lens, new_lens, _offsets(old_lens), _offsets(new_lens), old, new


def _page(changes: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """``(first, last, n, seqs, ats, who, vals)`` of one page's changes (``who``: runs of
    ``[count, event code, trace_id, cause, pid]``)."""
    runs: list[list[Any]] = []
    last_who = None
    for seq, _at, old, new, trace, cause, pid in changes:
        who = ((old is None) + 2 * (new is None), trace, cause, pid)
        if who == last_who:
            runs[-1][0] += 1
        else:
            runs.append([1, *who])
            last_who = who
    return (
        changes[0][0], changes[-1][0], len(changes),
        ",".join([str(c[0]) for c in changes]),
        ",".join([f'"{t}"' for t in iso_micros([c[1] for c in changes])]),
        ",".join(map(_dumps, runs)),
        ",".join(_packed(changes)),
    )  # fmt: skip


def _packed(changes: list[tuple[Any, ...]]) -> list[str]:
    """The changes' ``old,new`` texts as a page holds them: ``null`` for an absent one; a new text
    as it is (only motia_nb writes one); an old text as it is when it is one JSON value, else
    as a JSON string of it (another tool's text, recorded when a set, delete or clear went over
    it: read back as that text, as ``history()`` reads it from ``changes``). An old text equal
    to the item's previous new text is motia_nb's: only the others are parsed here."""
    out: list[str] = []
    append = out.append
    before = None  # the previous change's new text
    for c in changes:
        old, new = c[2], c[3]
        if old is None:
            old = "null"
        elif old != before and not is_strict_json(old):  # (a BLOB, a number: read leniently first)
            old = encode_trusted(old if type(old) is str else decode_lenient(old))
        before = new
        append(f"{old},{'null' if new is None else new}")
    return out


def page_changes(pages: Sequence[Sequence[Any]], lo: int) -> "tuple[list[int], list[str], list[Any], list[str], list[Any], list[Any], list[Any], int]":
    """Pages ``(n, seqs, ats, who, vals)`` in seq order decoded, every column of all of them
    by one ``json.loads``: ``(seqs, ats, values, event types, traces, causes, pids,
    start)``, ``values`` two per change (old, new), ``start`` the index of the first change
    with a seq >= ``lo``."""
    seqs = json.loads("[" + ",".join([p[1] for p in pages]) + "]")
    ats = json.loads("[" + ",".join([p[2] for p in pages]) + "]")
    runs = json.loads("[" + ",".join([p[3] for p in pages]) + "]")
    try:
        values = json.loads("[" + ",".join([p[4] for p in pages]) + "]")
    except RecursionError:  # a value nested too deep for one call: page by page, deep-safe
        values = [v for p in pages for v in decode_stored("[" + p[4] + "]")]
    events: list[str] = []
    traces: list[Any] = []
    causes: list[Any] = []
    pids: list[Any] = []
    for count, ev, trace, cause, pid in runs:
        events += [EVENT_TYPES[ev]] * count
        traces += [trace or None] * count
        causes += [cause] * count
        pids += [pid] * count
    return seqs, ats, values, events, traces, causes, pids, bisect_left(seqs, lo)
