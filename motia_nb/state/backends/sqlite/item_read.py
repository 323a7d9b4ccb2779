"""One item's history in one statement, and its change dicts built in one pass.

An item's history is the hot read (the viewer's item panel, ``%state history G K``,
a key changed 10,000 times). :func:`item_changes_sql` reads it with ONE statement:
the changes filed in ``changes_keys`` (an index range, each joined to its row by
rowid) and those of the unfiled tail (a range scan of the newest rows; a batch's
record is looked into only when its key text holds the item's JSON name, so
``json_each`` parses the few records that may hold it), merged in seq order by
SQLite (each side already is: no sort). Each row carries just what a change dict
needs, the old and new texts already joined by SQLite (``old,new``) and the event
type as a small int, so fetching costs few columns and :func:`item_change_dicts`
decodes every value of the page with ONE ``json.loads``.

A record of a batch holding the item answers a *slot* (its seq, no texts): the
caller reads those records and puts the item's change in its place
(:func:`record_row`). The answer is exactly what the one-row-per-change model
gives (``tests/test_history_item_read.py`` checks it by property).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...events import CREATED, DELETED, UPDATED
from ...history import iso_micros
from ...jsontext import decode_stored

__all__ = ["item_changes_sql", "item_change_dicts", "record_row", "EVENT_TYPES"]

#: a row's event type from ``(old IS NULL) + 2 * (new IS NULL)`` (both absent cannot be
#: recorded; it reads as :func:`.schema.event_type` reads it: created)
EVENT_TYPES = (UPDATED, CREATED, DELETED, CREATED)

_quoted = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # as a record's layout holds a key

# (seq, at_us, "old,new" or NULL for a record's slot, event code, trace_id, cause, pid)
_ROW = (
    "at_us, CASE WHEN n IS NULL THEN coalesce(old_value, 'null') || ',' || coalesce(new_value, 'null') END, "
    "(old_value IS NULL) + 2 * (new_value IS NULL), trace_id, cause, pid"
)
# ?1 group, ?2 key, ?3 the key as a record's layout spells it, ?4 since (a seq or a time), ?5 limit
_TAIL = (
    f"SELECT seq, {_ROW} FROM changes WHERE seq > (SELECT upto FROM changes_filed) AND grp = ?1 "
    "AND (n IS NULL AND key = ?2 OR n IS NOT NULL AND instr(key, ?3) "
    "AND EXISTS (SELECT 1 FROM json_each(changes.key, '$[0]') j WHERE j.value = ?2))"
)
_FILED = f"SELECT k.seq, {_ROW} FROM changes_keys k JOIN changes c ON c.seq = k.seq WHERE k.grp = ?1 AND k.key = ?2"


def item_changes_sql(
    group_id: str, key: str, *, seq_after: "int | None", at_from: "float | None", limit: int, newest: bool
) -> "tuple[str, list[Any]]":
    """The statement and parameters of an item's changes: the newest ``limit`` (``newest``,
    newest first) or the first ``limit`` after a seq / from a time (oldest first). After a
    seq, one more: the oldest record may hold only a change up to it."""
    if seq_after is not None:
        tail_cond, filed_cond, since, limit = " AND seq > ?4", " AND k.seq > ?4", seq_after, limit + 1
    elif at_from is not None:
        tail_cond = filed_cond = " AND at_us >= ?4"
        since = at_from
    else:
        tail_cond = filed_cond = ""
        since = None
    order = "DESC" if newest else ""
    sql = f"{_TAIL}{tail_cond} UNION ALL {_FILED}{filed_cond} ORDER BY 1 {order} LIMIT ?5"
    return sql, [group_id, key, _quoted(key), since, limit]


def record_row(seq: int, at: int, old: "str | None", new: "str | None", trace: Any, cause: str, pid: int) -> tuple[Any, ...]:
    """One change of a record as a row of :func:`item_changes_sql`."""
    return (seq, at, f"{old or 'null'},{new or 'null'}", (old is None) + 2 * (new is None), trace, cause, pid)


def item_change_dicts(rows: Sequence[Sequence[Any]], group_id: str, key: str) -> list[dict[str, Any]]:
    """Rows of :func:`item_changes_sql` (every slot filled, oldest first) as the dicts of SPEC §9,
    exactly as :func:`~motia_nb.state.history.change_dict` makes them: every old and new value
    decoded by ONE ``json.loads`` (a value nested too deep for it: each row on its own, by the
    deep-safe decoder), the times by :func:`~motia_nb.state.history.iso_micros`."""
    if not rows:
        return []
    try:
        values = iter(json.loads("[" + ",".join([r[2] for r in rows]) + "]"))
    except RecursionError:
        values = iter([v for r in rows for v in decode_stored("[" + r[2] + "]")])
    times = iso_micros([r[1] for r in rows])
    ev = EVENT_TYPES
    return [
        {"seq": seq, "at": at, "event_type": ev[e], "group_id": group_id, "key": key, "old_value": old_value,
         "new_value": new_value, "trace_id": trace or None, "cause": cause, "pid": pid}
        for (seq, _, _, e, trace, cause, pid), at, old_value, new_value in zip(rows, times, values, values)
    ]  # fmt: skip
