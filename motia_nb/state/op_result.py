"""Encoding the value an update produced, or an :class:`UpdateOpError` naming the op (pure: no I/O).

Every backend applies ops with :func:`motia_nb.state.ops.apply_ops` and then
stores the result as JSON text. Ops are validated, but the *stored* value they
start from may hold something JSON cannot carry once decoded (``1e400`` read
back as ``inf``, an integer Python will not turn into text), so encoding the
result can still fail. :func:`encode_result` turns that failure into an
``UpdateOpError`` with the code ``<op>.result_not_json`` and the index of the
first op whose result cannot be stored, instead of a bare ``ValueError`` that
would fail the whole batch the write travelled in.
"""

from __future__ import annotations

from typing import Any

from .errors import UpdateOpError
from .jsontext import encode_trusted
from .ops import apply_ops
from .values import find_json_problem

__all__ = ["encode_result"]

#: What the C encoder raises for a value it cannot write (inf/NaN, a huge int, a cycle).
_ENCODE_ERRORS = (ValueError, OverflowError, TypeError)


def encode_result(new: Any, ops: Any, current: Any, *, group_id: str, key: str) -> str:
    """``new`` (what ``apply_ops(current, ops)`` returned) as JSON text.

    When it cannot be encoded, raise :class:`UpdateOpError` naming the first op
    after which the value could not be stored (found by replaying the ops, which
    are pure and never mutate ``current``); the item is left unchanged.
    """
    try:
        return encode_trusted(new)
    except _ENCODE_ERRORS as exc:
        raise _failure(new, ops or [], current, group_id, key, exc) from None


def _failure(new: Any, ops: list[Any], current: Any, group_id: str, key: str, exc: BaseException) -> UpdateOpError:
    index = len(ops) - 1
    for i in range(len(ops)):  # the first op whose result cannot be encoded
        partial = apply_ops(current, ops[: i + 1], group_id=group_id, key=key)
        try:
            encode_trusted(partial)
        except _ENCODE_ERRORS:
            index = i
            break
    op = ops[index] if ops else None
    op_type = op.get("type", "op") if isinstance(op, dict) else "op"
    problem = find_json_problem(new) or f"{type(exc).__name__}: {exc}"
    return UpdateOpError(
        f"the value after this op cannot be stored as JSON ({problem})",
        code=f"{op_type}.result_not_json",
        group_id=group_id,
        key=key,
        index=index if ops else None,
        op=op,
    )
