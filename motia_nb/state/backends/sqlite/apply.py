"""Applying a batch of writes inside an open SQLite transaction.

:func:`apply_batch` is the entry point. It has two strategies with identical
results, events and final rows (tests/test_sqlite_apply.py proves it by property):

- :func:`apply_each`: two statements per write (read the old row, write). Used
  for small batches and for any batch holding a ``clear``.
- :func:`apply_set_based`: a constant number of statements for the whole batch
  (one ``json_each`` fetch, one delete, one upsert). Each SQLite call releases and
  re-acquires the GIL; one call per batch instead of two per write keeps the
  writer from stalling behind the event loop's thread.

Neither commits: the caller owns the transaction. An update whose ops cannot
apply answers its own ``StateError`` and leaves its item untouched.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ...errors import StateError
from ...ops import MISSING, apply_ops
from ...op_result import encode_result
from ..base import Write, WriteResult
from ..results import cleared, deleted, written

__all__ = ["apply_batch", "apply_each", "apply_set_based", "SMALL_BATCH"]

#: Batches up to this size run statement by statement; larger ones set-based.
SMALL_BATCH = 4

_loads = json.loads
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_SELECT_ONE = "SELECT value FROM items WHERE grp = ? AND key = ?"
_UPSERT = (
    "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value"
)
_DELETE_ONE = "DELETE FROM items WHERE grp = ? AND key = ?"
_SELECT_GROUP = "SELECT key, value FROM items WHERE grp = ? ORDER BY id"
_DELETE_GROUP = "DELETE FROM items WHERE grp = ?"

_FETCH_MANY = (
    "SELECT json_group_array(json_array(i.grp, i.key, i.value)) FROM json_each(?) j "
    "JOIN items i ON i.grp = json_extract(j.value, '$[0]') AND i.key = json_extract(j.value, '$[1]')"
)
_DELETE_MANY = (
    "DELETE FROM items WHERE id IN (SELECT i.id FROM json_each(?) j JOIN items i "
    "ON i.grp = json_extract(j.value, '$[0]') AND i.key = json_extract(j.value, '$[1]'))"
)
_UPSERT_MANY = (
    "INSERT INTO items (grp, key, value) "
    "SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') "
    "FROM json_each(?) j WHERE true ORDER BY j.key "
    "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value"
)


def apply_batch(conn: sqlite3.Connection, writes: list[Write]) -> "list[WriteResult | StateError]":
    """Apply ``writes`` in order inside the caller's transaction; one outcome per write."""
    if len(writes) <= SMALL_BATCH or any(w.kind == "clear" for w in writes):
        return apply_each(conn, writes)
    return apply_set_based(conn, writes)


# ---------------------------------------------------------------------- one by one
def apply_each(conn: sqlite3.Connection, writes: list[Write]) -> "list[WriteResult | StateError]":
    out: list[WriteResult | StateError] = []
    for w in writes:
        try:
            out.append(_apply_one(conn, w))
        except StateError as exc:  # this write alone fails; nothing of it was written
            out.append(exc)
    return out


def _apply_one(conn: sqlite3.Connection, w: Write) -> WriteResult:
    g, k = w.group_id, w.key
    if w.kind == "clear":
        rows = conn.execute(_SELECT_GROUP, (g,)).fetchall()
        if rows:
            conn.execute(_DELETE_GROUP, (g,))
        return cleared(g, [(key, _loads(v)) for key, v in rows])
    assert k is not None
    row = conn.execute(_SELECT_ONE, (g, k)).fetchone()
    if w.kind == "delete":
        if row is not None:
            conn.execute(_DELETE_ONE, (g, k))
        return deleted(g, k, None if row is None else _loads(row[0]), existed=row is not None)
    if w.kind == "set":
        new_json: str = w.value_json  # type: ignore[assignment]
        new = _loads(new_json)
    elif w.kind == "update":
        current = _loads(row[0]) if row else MISSING
        new = apply_ops(current, w.ops or [], group_id=g, key=k)  # raises before any write
        new_json = encode_result(new, w.ops, current, group_id=g, key=k)
    else:
        raise StateError(f"unknown write kind {w.kind!r}")
    conn.execute(_UPSERT, (g, k, new_json))
    old = _loads(row[0]) if row else None  # a private copy: apply_ops may share parts with `current`
    return written(g, k, old, new, existed=row is not None)


# ---------------------------------------------------------------------- set-based
_UNDECODED = object()


class _Slot:
    """What a batch knows about one item: its text now, and how to write it back."""

    __slots__ = ("text", "in_db", "recreated", "created_at")

    def __init__(self, text: str | None) -> None:
        self.text = text  # current JSON text, None = absent
        self.in_db = text is not None  # a row existed before the batch
        self.recreated = False  # deleted during the batch after having existed
        self.created_at = -1  # batch position of its (last) creation, -1 = not created here


def apply_set_based(conn: sqlite3.Connection, writes: list[Write]) -> "list[WriteResult | StateError]":
    """Apply many set/update/delete writes (no ``clear``) with a constant number of
    statements; semantics are exactly those of :func:`apply_each`."""
    if any(w.kind == "clear" for w in writes):
        raise ValueError("apply_set_based does not take clear writes; use apply_each")
    pairs = list({(w.group_id, w.key): None for w in writes})
    (agg,) = conn.execute(_FETCH_MANY, (_dumps([list(p) for p in pairs]),)).fetchone()
    slots: dict[tuple[str, Any], _Slot] = {(p[0], p[1]): _Slot(p[2]) for p in _loads(agg)}
    # Pass 1: apply in order on the slots (texts only). Decoding of results is
    # deferred to one json.loads call for the whole batch (pass 2).
    plan: list[Any] = []  # per write: a StateError, or (kind, g, k, old_text, new_text | new_obj)
    for pos, w in enumerate(writes):
        pk = (w.group_id, w.key)
        slot = slots.get(pk)
        if slot is None:
            slot = slots[pk] = _Slot(None)
        g, k = pk
        old_text = slot.text
        if w.kind == "delete":
            if old_text is not None:
                slot.text = None
                if slot.in_db:
                    slot.recreated = True
            plan.append(("delete", g, k, old_text, None))
            continue
        if w.kind == "set":
            new_text = w.value_json
            new_obj: Any = _UNDECODED
        elif w.kind == "update":
            try:
                current = _loads(old_text) if old_text is not None else MISSING
                new_obj = apply_ops(current, w.ops or [], group_id=g, key=k)  # type: ignore[arg-type]
                new_text = encode_result(new_obj, w.ops, current, group_id=g, key=k)  # type: ignore[arg-type]
            except StateError as exc:
                plan.append(exc)
                continue
        else:
            plan.append(StateError(f"unknown write kind {w.kind!r}"))
            continue
        if old_text is None:
            slot.created_at = pos
        slot.text = new_text
        plan.append((w.kind, g, k, old_text, new_text if new_obj is _UNDECODED else new_obj))
    outcomes = _decode_plan(plan)
    _write_back(conn, slots)
    return outcomes


def _decode_plan(plan: list[Any]) -> "list[WriteResult | StateError]":
    """Pass 2: decode every old value and every set's new value in one call."""
    texts = []
    for p in plan:
        if isinstance(p, tuple):
            if p[3] is not None:
                texts.append(p[3])
            if p[0] == "set":
                texts.append(p[4])
    decoded = iter(_loads("[" + ",".join(texts) + "]")) if texts else iter(())
    outcomes: list[WriteResult | StateError] = []
    for p in plan:
        if not isinstance(p, tuple):
            outcomes.append(p)
            continue
        kind, g, k, old_text, new = p
        old = next(decoded) if old_text is not None else None
        if kind == "delete":
            outcomes.append(deleted(g, k, old, existed=old_text is not None))
            continue
        if kind == "set":
            new = next(decoded)
        outcomes.append(written(g, k, old, new, existed=old_text is not None))
    return outcomes


def _write_back(conn: sqlite3.Connection, slots: dict[tuple[str, Any], _Slot]) -> None:
    """Rows deleted during the batch go first (a re-created item must move to the
    end), then every present item, new ones in creation order."""
    gone = [[g, k] for (g, k), sl in slots.items() if sl.in_db and (sl.recreated or sl.text is None)]
    if gone:
        conn.execute(_DELETE_MANY, (_dumps(gone),))
    present = [(sl.created_at, g, k, sl.text) for (g, k), sl in slots.items() if sl.text is not None]
    present.sort(key=lambda t: t[0])
    if present:
        conn.execute(_UPSERT_MANY, (_dumps([[g, k, text] for _, g, k, text in present]),))
