"""One write alone in its transaction, straight-line: the inline commit's hot path.

A sequence of awaited (or sync) writes commits each write alone, inline on the
caller's thread. :func:`commit_lone` does for a lone ``set``, ``update`` or
``delete`` exactly what the batch path does for a batch of one
(:func:`.isolate.isolated_steps` over :func:`.apply.batch_steps`) — the same
statements (read the old value, upsert or delete, the changelog row through the
recorder), the same outcome, errors and rows — without the generator, the plan's
overlay or the statement lists: each statement runs as soon as it is known. A
write's own failure (an update over a stored text that is not JSON, a value over
SQLite's size limit) undoes what it did and answers its :class:`StateError`; the caller's
``COMMIT`` then ends an empty transaction. ``tests/test_sqlite_lone.py`` checks
it against the batch path by property.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ...errors import StateError
from ...jsontext import decode_lenient, decode_one, decode_stored
from ...stored_text import as_stored_text
from ...op_result import encode_result
from ...ops import MISSING, apply_ops
from ...values import NOT_COPIED
from ..base import Write
from .apply import DELETE_ONE, UPSERT
from .outcomes import outcomes_of
from .isolate import is_per_write, write_error
from .reads import fetch_lenient, undecodable

__all__ = ["commit_lone", "LONE_KINDS", "LoneRecord"]

#: what :func:`commit_lone` takes (a clear goes through the batch path)
LONE_KINDS = frozenset({"set", "update", "delete"})

_SELECT_VALUE = "SELECT value FROM items WHERE grp = ? AND key = ?"


#: ``record(w, group, key, old_text, new_text)``: the lone write's changelog row as ``(sql,
#: parameters)``, or None (:meth:`.recorder.Recorder.lone_row`)
LoneRecord = Callable[[Write, str, str, "str | None", "str | None"], "tuple[str, tuple[Any, ...]] | None"]


def commit_lone(conn: sqlite3.Connection, w: Write, url: str, *, events: bool, record: LoneRecord | None) -> list[Any]:
    """Apply ``w`` (kind in :data:`LONE_KINDS`) inside ``conn``'s open transaction; its one
    outcome in a list, as ``drive(isolated_steps([w], ...))`` gives it (with ``record``, the
    same changelog row as the batch's ``record``). Raises what is the database's fault (the
    caller rolls back)."""
    ex = conn.execute
    try:
        g, k, kind = w.group_id, w.key, w.kind
        try:
            row = ex(_SELECT_VALUE, (g, k)).fetchone()
        except sqlite3.OperationalError as exc:  # text another tool wrote that is not UTF-8
            if not undecodable(exc):
                raise
            rows = fetch_lenient(conn, _SELECT_VALUE, (g, k))
            row = rows[0] if rows else None
        old_text = None if row is None else as_stored_text(row[0])  # a BLOB, a number: NotText
        new: Any
        if kind == "set":
            new, new_text = w.value, w.value_json
            ex(UPSERT, (g, k, new_text))
        elif kind == "update":
            try:  # (a stored text another tool wrote that is not JSON: its StoredValueError)
                current = decode_one(old_text, g, k) if old_text is not None else MISSING  # type: ignore[arg-type]
                new = apply_ops(current, w.ops or [], group_id=g, key=k)  # type: ignore[arg-type]
                new_text = encode_result(new, w.ops, current, group_id=g, key=k)  # type: ignore[arg-type]
            except StateError as exc:  # the write's own error: nothing of it was written
                return [exc]
            ex(UPSERT, (g, k, new_text))
        elif kind == "delete":
            new = new_text = None
            if old_text is not None:
                ex(DELETE_ONE, (g, k))
        else:
            return [StateError(f"unknown write kind {kind!r}")]
        if record is not None:
            change = record(w, g, k, old_text, new_text)
            if change is not None:
                ex(*change)
        entries = [(kind, g, k, old_text, new, new_text)]
        if events:
            return outcomes_of(entries, events=True)  # decoded before COMMIT: a bad old value undoes it
        old = None if old_text is None else decode_lenient(old_text)  # the result only, as outcomes_of gives it
        if kind == "delete":
            return [old]
        if new is NOT_COPIED:  # a set whose value was not copied at submission
            new = decode_stored(new_text)
        return [{"new_value": new, "old_value": old}]
    except Exception as exc:
        if not is_per_write(exc):
            raise
        ex("ROLLBACK")  # undo what it did; the caller's COMMIT then ends an empty deferred transaction
        ex("BEGIN")
        return [write_error(w, exc, url)]
