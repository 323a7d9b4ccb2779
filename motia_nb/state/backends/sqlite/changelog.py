"""The changelog's statements (pure: builds SQL and parameters, runs nothing).

Every committed change gets one row in ``changes`` (see :mod:`.schema`), inserted
in the same transaction as the change itself, so a change and its row commit (or
vanish) together. :func:`insert_planned` turns a batch's writes and plan entries
into ONE statement, :data:`INSERT_ONE` (``INSERT … VALUES``): with one row's parameters
for a batch of one change (a lone awaited write, the common case), with every row's
for a bigger batch (run with ``executemany``: measured cheaper than one ``INSERT …
SELECT FROM json_each(?)`` of a JSON array, :data:`INSERT`). Values travel as the
stored JSON texts, untouched (big integers and floats round-trip exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...events import CREATED, DELETED, UPDATED
from ..base import Write

__all__ = ["INSERT", "INSERT_ONE", "insert_planned", "prune_by_count", "prune_by_age", "PRUNE_CHUNK"]

#: How many rows one pruning transaction deletes at most (short write locks).
PRUNE_CHUNK = 2000

#: the former multi-row statement (a JSON array of rows), kept for whoever reads the changelog's history:
# j.value is {"t": event type, "g": group, "k": key, "o": old, "n": new, "r": trace id, "c": cause};
# "o" / "n" are absent when the value is (create / delete): `->` then gives NULL, and a
# stored JSON null gives the text 'null'.
INSERT = (
    "INSERT INTO changes (at, event_type, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
    "SELECT ?1, j.value ->> '$.t', j.value ->> '$.g', j.value ->> '$.k', j.value -> '$.o', j.value -> '$.n', "
    "j.value ->> '$.r', j.value ->> '$.c', ?2, ?3 FROM json_each(?4) j ORDER BY j.key"
)


#: one change (most commits: a lone awaited write): plain parameters, no JSON array to parse
INSERT_ONE = (
    "INSERT INTO changes (at, event_type, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_planned(
    writes: Sequence[Write], entries: Sequence[Any], *, at: float, pid: int, origin: str
) -> "tuple[tuple[str, tuple[Any, ...]] | None, int]":
    """The one statement recording a batch's changes, from its plan's entries (:class:`.apply.Plan`), before any
    value is decoded: the stored JSON texts go into the rows as they are. Also the row count."""
    rows: list[tuple[str, str, Any, str | None, str | None, Write]] = []
    for w, e in zip(writes, entries):
        if type(e) is not tuple:  # the write's own error: nothing changed
            continue
        kind, g, k, old_text, _, new_text = e
        if kind == "clear":
            rows.extend((DELETED, g, key, text, None, w) for key, text in old_text)
        elif kind == "delete":
            if old_text is not None:
                rows.append((DELETED, g, k, old_text, None, w))
        else:
            rows.append((CREATED if old_text is None else UPDATED, g, k, old_text, new_text, w))
    if not rows:
        return None, 0
    if len(rows) == 1:
        et, g, k, old, new, w = rows[0]
        return (INSERT_ONE, (at, et, g, k, old, new, w.trace_id, w.cause, pid, origin)), 1
    # several: the same statement, run with executemany (cheaper than building and parsing a JSON array)
    return (INSERT_ONE, [(at, et, g, k, old, new, w.trace_id, w.cause, pid, origin) for et, g, k, old, new, w in rows]), len(rows)


def prune_by_count(keep: int) -> "tuple[str, tuple[Any, ...]]":
    """Delete (at most :data:`PRUNE_CHUNK` of) the changes older than the newest ``keep``."""
    return (
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes "
        "WHERE seq <= (SELECT max(seq) FROM changes) - ?1 ORDER BY seq LIMIT ?2)",
        (keep, PRUNE_CHUNK),
    )


def prune_by_age(before: float) -> "tuple[str, tuple[Any, ...]]":
    """Delete (at most :data:`PRUNE_CHUNK` of) the changes committed before ``before`` (unix
    seconds). Rows are in ``at`` order by seq, so the scan stops at the first young row."""
    return (
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes "
        "WHERE seq < coalesce((SELECT seq FROM changes WHERE at >= ?1 ORDER BY seq LIMIT 1), "
        "(SELECT max(seq) + 1 FROM changes)) ORDER BY seq LIMIT ?2)",
        (before, PRUNE_CHUNK),
    )
