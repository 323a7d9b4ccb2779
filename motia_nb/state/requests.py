"""Turning the API's arguments into validated write requests (pure: no I/O).

Validation happens in the caller, before anything is queued, so bad input never
reaches a backend and never half-happens: names are checked, values encoded to
JSON text, op lists normalized; a problem raises ``InvalidInputError`` (or
``UpdateOpError``) naming the group, the key and the part at fault.
"""

from __future__ import annotations

from typing import Any

from .backends.base import Write
from .cause import cause_now as _cause
from .cause import current_cause
from .errors import InvalidInputError
from .history import MAX_LIMIT
from .numbers import as_int
from .ops import normalize_ops
from .values import check_name, encode_copy

__all__ = ["plain_names", "plain_set", "set_write", "update_write", "delete_write", "clear_write", "item_names", "prefix_args", "MAX_COUNT"]


def item_names(group_id: Any, key: Any) -> tuple[str, str]:
    """The checked ``(group_id, key)``."""
    g = check_name(group_id, "group_id")
    return g, check_name(key, "key", group_id=g)


def plain_names(group_id: Any, key: Any) -> bool:
    """Whether ``group_id`` and ``key`` are :func:`check_name`'s common case (plain ASCII
    ``str``, not empty, no NUL): both pass it unchanged."""
    return (type(group_id) is str and type(key) is str and group_id and key and group_id.isascii()  # type: ignore[return-value]
            and key.isascii() and "\x00" not in group_id and "\x00" not in key)  # fmt: skip


def plain_set(group_id: Any, key: Any, value: Any) -> Write | None:
    """:func:`set_write` of plain names (:func:`plain_names`) and a JSON value, else None (no
    error: :func:`set_write` then gives the same write, or raises). The hot path of a gather."""
    if not (type(group_id) is str and type(key) is str and group_id and key and group_id.isascii()
            and key.isascii() and "\x00" not in group_id and "\x00" not in key):  # plain_names, inline
        return None
    try:
        text, copy = encode_copy(value, group_id=group_id, key=key)
    except Exception:
        return None
    cause, trace_id = _cause()
    return Write("set", group_id, key, text, None, cause, trace_id, copy)


def set_write(group_id: Any, key: Any, value: Any) -> Write:
    write = plain_set(group_id, key, value)
    if write is not None:
        return write
    g, k = item_names(group_id, key)
    text, copy = encode_copy(value, group_id=g, key=k)
    cause, trace_id = _cause()
    return Write("set", g, k, text, None, cause, trace_id, copy)


def update_write(group_id: Any, key: Any, ops: Any) -> Write:
    g, k = (group_id, key) if plain_names(group_id, key) else item_names(group_id, key)
    return Write("update", g, k, None, normalize_ops(ops, group_id=g, key=k), *_cause())


def delete_write(group_id: Any, key: Any) -> Write:
    return Write("delete", *item_names(group_id, key), None, None, *current_cause())


def clear_write(group_id: Any) -> Write:
    return Write("clear", check_name(group_id, "group_id"), None, None, None, *current_cause())


def prefix_args(group_id: Any, prefix: Any, limit: Any, what: str = "prefix") -> tuple[str, str, int]:
    """The checked arguments of ``keys_with_prefix`` (and ``keys_containing``: ``what="text"``)."""
    if not isinstance(prefix, str) or "\x00" in prefix or not _encodable(prefix):
        raise InvalidInputError(f"{what} must be a str of encodable characters, got {prefix!r}")
    n = as_int(limit)  # a numpy integer too (a count taken from a DataFrame)
    if n is None or n < 0:
        raise InvalidInputError(f"limit must be an int >= 0, got {limit!r}")
    return check_name(group_id, "group_id"), prefix, min(n, MAX_COUNT)


#: The largest count or offset handed to a store: more items than any store holds (a Redis hash
#: holds at most 2**32 fields), an INTEGER to SQLite and an exact number to Redis's scripts (Lua
#: reads numbers as doubles: 2**63 - 1 reached ZRANGE as 9.2233720368547758e+18, an error). A
#: limit beyond it (``sys.maxsize``, ``10**30``) means the same as it, an offset beyond it an
#: empty page, on every backend.
MAX_COUNT = MAX_LIMIT
_MAX_ROW = MAX_COUNT


def page_args(group_id: Any, offset: Any, limit: Any) -> tuple[str, int, int | None]:
    """The checked arguments of ``items``: ``offset`` an int >= 0, ``limit`` None or an int >= 0.
    Any size of int is fine: one past the end is an empty page, a huge limit is no limit."""
    o, n = as_int(offset), None if limit is None else as_int(limit)  # numpy integers too
    if o is None or o < 0:
        raise InvalidInputError(f"offset must be an int >= 0, got {offset!r}")
    if limit is not None and (n is None or n < 0):
        raise InvalidInputError(f"limit must be None or an int >= 0, got {limit!r}")
    return check_name(group_id, "group_id"), min(o, _MAX_ROW), None if n is None or n >= _MAX_ROW else n


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
