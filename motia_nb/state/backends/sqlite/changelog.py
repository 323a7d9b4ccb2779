"""The changelog's statements (pure: builds SQL and parameters, runs nothing).

Every committed change gets one row in ``changes`` (see :mod:`.schema`), inserted
in the same transaction as the change itself, so a change and its row commit (or
vanish) together. :func:`insert_planned` turns a batch's writes and plan entries
into ONE statement: a plain ``INSERT … VALUES`` run with ``executemany`` over the
batch's rows (one tuple per change, the stored JSON texts as they are: numbers
keep the text they were written with). Measured against the ``INSERT … SELECT …
FROM json_each(?)`` it replaces, on 20,000 changes: building tuples costs a few
ms where building the JSON array cost ~70 ms, and SQLite binds them faster than
it parses the array. The event type is not stored: the values say it.

An item's rows are found through ``changes_keys`` (see :mod:`.schema`), filed a
thousand rows at a time by a trigger, so a commit writes one table page for its
history, not two; :func:`item_seqs` reads an item's seqs from it plus the rows not
filed yet (a range scan of the newest rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import Write

__all__ = ["INSERT", "insert_planned", "prune_by_count", "prune_by_age", "PRUNE_CHUNK", "item_seqs", "group_seqs"]

#: How many rows one pruning transaction deletes at most (short write locks).
PRUNE_CHUNK = 2000
# the rows past changes_filed.upto: not in changes_keys yet
_TAIL = "SELECT seq FROM changes WHERE seq > (SELECT upto FROM changes_filed)"


#: one change's row: (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin)
INSERT = (
    "INSERT INTO changes (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_planned(
    writes: Sequence[Write], entries: Sequence[Any], *, at: int, pid: int, origin: int
) -> "tuple[str, list[tuple[Any, ...]]] | None":
    """The one statement recording a batch's changes, from its plan's entries (:class:`.apply.Plan`),
    before any value is decoded: ``(INSERT, rows)`` for ``executemany``, or None (nothing changed).
    ``at`` is the commit time in whole microseconds."""
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for w, e in zip(writes, entries):
        if type(e) is not tuple:  # the write's own error: nothing changed
            continue
        kind, g, k, old_text, _, new_text = e
        if kind == "clear":
            trace, cause = w.trace_id, w.cause
            rows.extend([(at, g, key, text, None, trace, cause, pid, origin) for key, text in old_text])
        elif old_text is not None or new_text is not None:  # deleting an absent item changes nothing
            append((at, g, k, old_text, new_text, w.trace_id, w.cause, pid, origin))
    return (INSERT, rows) if rows else None


def item_seqs(group: str, key: str, cond: str = "") -> str:
    """A subquery: the seqs of the item's retained changes (``group`` and ``key`` are SQL
    parameter names; ``cond``, if any, a further condition on ``seq``): those filed, and
    those of the tail. As ``seq IN (...)`` on ``changes``, the rows are read in seq
    order (either way), one rowid lookup each."""
    also = f" AND {cond}" if cond else ""
    return (
        f"SELECT seq FROM changes_keys WHERE grp = {group} AND key = {key}{also} "
        f"UNION ALL {_TAIL} AND grp = {group} AND key = {key}{also}"
    )


def group_seqs(group: str, cond: str = "") -> str:
    """As :func:`item_seqs`, for every item of a group."""
    also = f" AND {cond}" if cond else ""
    return f"SELECT seq FROM changes_keys WHERE grp = {group}{also} UNION ALL {_TAIL} AND grp = {group}{also}"


def prune_by_count(keep: int) -> "tuple[str, tuple[Any, ...]]":
    """Delete (at most :data:`PRUNE_CHUNK` of) the changes older than the newest ``keep`` (>= 1:
    the newest row stays, so its seq is never given again)."""
    return (
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes "
        "WHERE seq <= (SELECT max(seq) FROM changes) - ?1 ORDER BY seq LIMIT ?2)",
        (keep, PRUNE_CHUNK),
    )


def prune_by_age(before: float) -> "tuple[str, tuple[Any, ...]]":
    """Delete (at most :data:`PRUNE_CHUNK` of) the changes committed before ``before`` (unix
    seconds), except the newest row, whatever its age: ``seq`` is the rowid, and keeping the
    newest is what keeps a seq from being given twice. Rows are in ``at`` order by seq, so
    the scan stops at the first young row."""
    return (
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes "
        "WHERE seq < coalesce((SELECT seq FROM changes WHERE at_us >= ?1 ORDER BY seq LIMIT 1), "
        "(SELECT max(seq) FROM changes)) ORDER BY seq LIMIT ?2)",
        (before * 1e6, PRUNE_CHUNK),
    )
