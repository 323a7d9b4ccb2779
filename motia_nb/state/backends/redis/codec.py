"""Turning what Redis holds into values: stored texts, pages, and published events.

Values are stored as JSON text (UTF-8). Anyone can write a ``state:<group>``
hash (Motia, ``redis-cli``), so a read checks what it decodes: text that is not
JSON, ``NaN``/``Infinity``, a number too large for a float (``1e400`` would
come back as ``inf``), an integer over Python's digit limit, or bytes that are
not UTF-8 raise :class:`~motia_nb.state.errors.StoredValueError` naming the
group and key (SPEC §6), never a string standing in for the value.

The results of writes already committed (a set's or delete's old value, a
clear's removed items) are decoded leniently instead: the write stands, so a
foreign old value is handed back as its text rather than raised after the fact.
What is JSON and what is not is :mod:`motia_nb.state.jsontext`'s (``decode_strict``,
``decode_lenient``), the very definition the SQLite backend reads by.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...errors import StoredValueError
from ...events import StateEvent
from ...jsontext import _strict_scan, decode_lenient, decode_strict, strict_loads

__all__ = [
    "text", "decode", "decode_item", "decode_many", "rows_as_json", "event_from_wire", "key_text",
]  # fmt: skip


_strict_loads = strict_loads  # (1e400 and NaN are not JSON: never inf or nan)


def text(raw: bytes | str) -> str:
    """Lenient UTF-8 (published messages, old values of committed writes)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def key_text(raw: bytes | str, group_id: str) -> str:
    """A hash field name as the item's key; a name that is not UTF-8 is an error."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        shown = raw.decode("utf-8", "backslashreplace")
        raise StoredValueError(
            f"a key of group {group_id!r} in Redis is not UTF-8 text ({shown!r}), so motia_nb cannot "
            f"name it; rename or delete that field of state:{group_id}",
            group_id=group_id,
            key=shown,
        ) from None


def decode(raw: bytes | str) -> Any:
    """Lenient: a committed write's old value; text that is not JSON is returned as a str
    (deep text too: the state core's iterative decoder)."""
    return decode_lenient(text(raw))


def decode_item(raw: bytes | str, group_id: str, key: str, when: str | None = None) -> Any:
    """A stored value, strictly: :class:`StoredValueError` naming the item if it is not JSON
    (and ``when``, for a past value the history recorded: ``before change 42``)."""
    try:
        return decode_strict(raw if isinstance(raw, str) else raw.decode("utf-8"))  # (deep values too)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int digit limit, inf
        raise _bad_value(raw, group_id, key, exc, when) from None


def _bad_value(
    raw: bytes | str, group_id: str, key: str, exc: BaseException, when: str | None = None
) -> StoredValueError:
    if isinstance(exc, UnicodeDecodeError):
        why = "its bytes are not UTF-8 text"
    elif isinstance(exc, json.JSONDecodeError):
        why = f"it is not JSON ({exc.msg} at character {exc.pos})"
    else:
        why = str(exc)
    shown = text(raw)
    preview = shown[:60] + ("…" if len(shown) > 60 else "")
    if when is not None:  # a past value: the item as it is now is not the problem
        return StoredValueError(
            f"the value of {group_id!r}/{key!r} {when} cannot be read: {why}; it starts {preview!r} "
            f"(written by another tool?)",
            group_id=group_id,
            key=key,
        )
    return StoredValueError(
        f"the value of {group_id!r}/{key!r} in Redis cannot be read: {why}; it starts {preview!r} "
        f"(written by another tool?). Overwrite it with set() or delete it",
        group_id=group_id,
        key=key,
    )


def decode_many(raws: Sequence[bytes], group_id: str, keys: Sequence[str]) -> list[Any]:
    """A page of values, each by the C scanner on its own (never one parse of them joined or
    wrapped: texts that are not JSON could balance each other there and move values to the
    wrong keys, as :func:`~motia_nb.state.jsontext.decode_all` explains); the first that is
    not one JSON value raises, naming its key."""
    scan = _strict_scan
    out: list[Any] = []
    append = out.append
    for r in raws:
        try:
            t = r if isinstance(r, str) else r.decode("utf-8")
            obj, end = scan(t, 0)
            if end == len(t):
                append(obj)
                continue
        except (StopIteration, ValueError, RecursionError):
            pass  # not JSON, not UTF-8, NaN, 1e400, too deep (decode_item's iterative decoder)
        append(decode_item(r, group_id, keys[len(out)]))
    return out


def rows_as_json(flat: Sequence[bytes], group_id: str) -> list[tuple[str, str]]:
    """A flat ``[key, value, ...]`` reply as (key, JSON text) pairs, every text checked."""
    keys = [key_text(k, group_id) for k in flat[0::2]]
    raws = flat[1::2]
    decode_many(raws, group_id, keys)  # raises for the first value that is not JSON
    return list(zip(keys, [text(v) for v in raws]))


def event_from_wire(ev: dict[str, Any]) -> StateEvent:
    """One event of a message published by the write scripts (``t g k o n``; values as text)."""
    old, new = ev.get("o"), ev.get("n")
    return StateEvent(ev["t"], ev["g"], ev["k"], None if old is None else decode(old), None if new is None else decode(new))
