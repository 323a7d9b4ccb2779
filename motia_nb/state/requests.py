"""Turning the API's arguments into validated write requests (pure: no I/O).

Validation happens in the caller, before anything is queued, so bad input never
reaches a backend and never half-happens: names are checked, values encoded to
JSON text, op lists normalized; a problem raises ``InvalidInputError`` (or
``UpdateOpError``) naming the group, the key and the part at fault.
"""

from __future__ import annotations

from typing import Any

from .backends.base import Write
from .cause import current_cause
from .errors import InvalidInputError
from .ops import normalize_ops
from .values import check_name, encode_value

__all__ = ["set_write", "update_write", "delete_write", "clear_write", "item_names", "prefix_args"]


def item_names(group_id: Any, key: Any) -> tuple[str, str]:
    """The checked ``(group_id, key)``."""
    g = check_name(group_id, "group_id")
    return g, check_name(key, "key", group_id=g)


def set_write(group_id: Any, key: Any, value: Any) -> Write:
    g, k = item_names(group_id, key)
    return Write("set", g, k, encode_value(value, group_id=g, key=k), None, *current_cause())


def update_write(group_id: Any, key: Any, ops: Any) -> Write:
    g, k = item_names(group_id, key)
    return Write("update", g, k, None, normalize_ops(ops, group_id=g, key=k), *current_cause())


def delete_write(group_id: Any, key: Any) -> Write:
    return Write("delete", *item_names(group_id, key), None, None, *current_cause())


def clear_write(group_id: Any) -> Write:
    return Write("clear", check_name(group_id, "group_id"), None, None, None, *current_cause())


def prefix_args(group_id: Any, prefix: Any, limit: Any) -> tuple[str, str, int]:
    """The checked arguments of ``keys_with_prefix``."""
    if not isinstance(prefix, str) or "\x00" in prefix or not _encodable(prefix):
        raise InvalidInputError(f"prefix must be a str of encodable characters, got {prefix!r}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidInputError(f"limit must be an int >= 0, got {limit!r}")
    return check_name(group_id, "group_id"), prefix, limit


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
