"""The counter fast path of :mod:`motia_nb.state.ops`: one plain increment or decrement.

A counter op (``{"type": "increment", "path": "n", "by": 1}``) is the most common
update; :func:`plain_incdec` checks it without walking the general validation, and
:func:`counted` applies it to a top-level field at once. Each answers None for
anything else, and the general code decides; ``tests/test_ops_counter_fast.py`` holds
both to the general code by property.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motia_nb.state.op_semantics import FORBIDDEN_SEGMENTS, I64_MAX, I64_MIN, MAX_SEGMENT_BYTES, U64_MAX

__all__ = ["plain_incdec", "counted"]


def plain_incdec(op: Any) -> tuple[str, str, int] | None:
    """``(type, field, by)`` of the common counter op — a plain dict with exactly ``type``
    (``increment``/``decrement``), a one-field ``path`` (printable ASCII, at most
    :data:`MAX_SEGMENT_BYTES`, not forbidden) and an exact int ``by`` in range — else None
    (the general checks then decide)."""
    if type(op) is not dict or len(op) != 3:
        return None
    op_type, path, by = op.get("type"), op.get("path"), op.get("by")
    if (
        type(op_type) is str and (op_type == "increment" or op_type == "decrement")
        and type(path) is str and path and len(path) <= MAX_SEGMENT_BYTES and path.isascii()
        and path not in FORBIDDEN_SEGMENTS and type(by) is int and I64_MIN <= by <= I64_MAX
    ):  # fmt: skip
        return op_type, path, by
    return None


def counted(current: dict[str, Any], op: Mapping[str, Any]) -> dict[str, Any] | None:
    """What ``apply_ops(current, [op])`` returns when ``op`` is an increment or decrement of
    one top-level field of the object ``current`` that is missing or an int whose result
    stays in the engine's range (a shallow copy of ``current`` with the field changed);
    None for anything else (the ops are applied the general way)."""
    op_type = op["type"]
    if (op_type != "increment" and op_type != "decrement") or "failure" in op:
        return None
    path = op["path"]
    if len(path) != 1:
        return None
    leaf = path[0]
    by = op["by"] if op_type == "increment" else -op["by"]
    if leaf in current:
        old = current[leaf]
        if type(old) is not int or not (I64_MIN <= old <= U64_MAX and I64_MIN <= old + by <= U64_MAX):
            return None
        by += old
    new = dict(current)
    new[leaf] = by
    return new
