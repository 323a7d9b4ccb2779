"""The changelog's statements (pure: builds SQL and parameters, runs nothing).

Every committed change gets one row in ``changes`` (see :mod:`.schema`), inserted
in the same transaction as the change itself, so a change and its row commit (or
vanish) together. :func:`insert_changes` turns a batch's writes and outcomes
into ONE statement: ``INSERT … SELECT … FROM json_each(?)``, the batch's rows
travelling as one JSON array (one C-level encode) out of which SQLite copies each
value's JSON text with ``->`` (the text of numbers is kept as written, so big
integers and floats round-trip exactly); a batch of one change (a lone awaited
write, the common case) is a plain ``INSERT … VALUES``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...events import CREATED, DELETED
from ..base import Write, WriteResult

__all__ = ["INSERT", "INSERT_ONE", "insert_changes", "change_rows", "prune_by_count", "prune_by_age", "PRUNE_CHUNK"]

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


def change_rows(writes: Sequence[Write], outcomes: Sequence[Any]) -> str | None:
    """The JSON array text of one row per event of the committed writes, in commit order
    (failed writes have none), or None when nothing changed.

    Built by splicing JSON texts: a ``set``'s new value is its ``value_json`` as the
    facade encoded it (never decoded and re-encoded), and each distinct group, cause
    and trace id is encoded once per batch."""
    parts: list[str] = []
    strs: dict[str, str] = {}

    def q(s: str) -> str:
        t = strs.get(s)
        if t is None:
            t = strs[s] = _dumps(s)
        return t

    for w, out in zip(writes, outcomes):
        if not isinstance(out, WriteResult):
            continue
        head = f',"c":{q(w.cause)}' + ("" if w.trace_id is None else f',"r":{q(w.trace_id)}')
        for ev in out.events:
            et = ev["event_type"]
            row = f'{{"t":"{et}","g":{q(ev["scope"])},"k":{_dumps(ev["key"])}{head}'
            if et != CREATED:
                row += ',"o":' + _dumps(ev["old_value"])
            if et != DELETED:
                row += ',"n":' + (w.value_json if w.kind == "set" else _dumps(ev["new_value"]))  # type: ignore[operator]
            parts.append(row + "}")
    return "[" + ",".join(parts) + "]" if parts else None


#: one change (most commits: a lone awaited write): plain parameters, no JSON array to parse
INSERT_ONE = (
    "INSERT INTO changes (at, event_type, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_changes(
    writes: Sequence[Write], outcomes: Sequence[Any], *, at: float, pid: int, origin: str
) -> "tuple[str, tuple[Any, ...]] | None":
    """The one statement recording a batch's changes, or None when nothing changed."""
    if len(writes) == 1:
        out = outcomes[0]
        if isinstance(out, WriteResult) and len(out.events) == 1:
            w, ev = writes[0], out.events[0]
            et = ev["event_type"]
            old = None if et == CREATED else _dumps(ev["old_value"])
            new = None if et == DELETED else (w.value_json if w.kind == "set" else _dumps(ev["new_value"]))
            return INSERT_ONE, (at, et, ev["scope"], ev["key"], old, new, w.trace_id, w.cause, pid, origin)
    rows = change_rows(writes, outcomes)
    if rows is None:
        return None
    return INSERT, (at, pid, origin, rows)


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
