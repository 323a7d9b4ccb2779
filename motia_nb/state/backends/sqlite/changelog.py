"""The changelog's statements (pure: builds SQL and parameters, runs nothing).

Every committed change gets one row in ``changes`` (see :mod:`.schema`), inserted
in the same transaction as the change itself, so a change and its row commit (or
vanish) together. :func:`insert_changes` turns a batch's writes and outcomes
into ONE ``INSERT … SELECT … FROM json_each(?)``: the batch's rows travel as one
JSON array (one C-level encode), and SQLite copies each value's JSON text out of
it with ``->`` (the text of numbers is kept as written, so big integers and
floats round-trip exactly).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...events import CREATED, DELETED
from ..base import Write, WriteResult

__all__ = ["INSERT", "insert_changes", "change_rows", "prune_by_count", "prune_by_age", "PRUNE_CHUNK"]

#: How many rows one pruning transaction deletes at most (short write locks).
PRUNE_CHUNK = 2000

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

# j.value is {"t": event type, "g": group, "k": key, "o": old, "n": new, "r": trace id, "c": cause};
# "o" / "n" are absent when the value is (create / delete): `->` then gives NULL, and a
# stored JSON null gives the text 'null'.
INSERT = (
    "INSERT INTO changes (at, event_type, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
    "SELECT ?1, j.value ->> '$.t', j.value ->> '$.g', j.value ->> '$.k', j.value -> '$.o', j.value -> '$.n', "
    "j.value ->> '$.r', j.value ->> '$.c', ?2, ?3 FROM json_each(?4) j ORDER BY j.key"
)


def change_rows(writes: Sequence[Write], outcomes: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per event of the committed writes, in commit order (failed writes have none)."""
    rows: list[dict[str, Any]] = []
    for w, out in zip(writes, outcomes):
        if not isinstance(out, WriteResult):
            continue
        for ev in out.events:
            et = ev["event_type"]
            row: dict[str, Any] = {"t": et, "g": ev["scope"], "k": ev["key"], "c": w.cause}
            if w.trace_id is not None:
                row["r"] = w.trace_id
            if et != CREATED:
                row["o"] = ev["old_value"]
            if et != DELETED:
                row["n"] = ev["new_value"]
            rows.append(row)
    return rows


def insert_changes(
    writes: Sequence[Write], outcomes: Sequence[Any], *, at: float, pid: int, origin: str
) -> "tuple[str, tuple[Any, ...]] | None":
    """The one statement recording a batch's changes, or None when nothing changed."""
    rows = change_rows(writes, outcomes)
    if not rows:
        return None
    return INSERT, (at, pid, origin, _dumps(rows))


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
