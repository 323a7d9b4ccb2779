"""What each write sends to Redis and what its reply means, shared by both write paths.

The pipelined writer (:mod:`.writer`, motia_nb's loop thread) and the direct path
(:mod:`.direct`, a synchronous caller's own thread) build their script calls here and
read the replies here, so a write means the same on both. The argument layout of
each script is defined once, in :func:`script_call` and :func:`set_many_call`: every
write script ends its KEYS with the changelog's two (``lua/history.lua``) and its ARGV
with the six a ``history_args(write)`` callable returns (cause, trace id, pid, origin,
max length, max age; :func:`history_off` when no changelog is kept).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ...ops import MISSING, apply_ops
from ...op_result import encode_result
from ...values import NOT_COPIED
from ..base import Write, WriteResult
from ..results import cleared, deleted, written
from .codec import decode, decode_item, text
from .layout import item_keys, write_keys

__all__ = [
    "Plan", "HistoryArgs", "plan_update", "result_of", "set_result", "script_call", "set_many_call", "set_args",
    "history_off", "SET_STRIDE", "set_many_olds", "set_outcome",
]  # fmt: skip

#: an update's plan: (the text it read, old value, new value, new JSON text)
Plan = tuple["bytes | None", Any, Any, str]
#: a write's six trailing ARGV for ``lua/history.lua``
HistoryArgs = Callable[[Write], list[Any]]

#: Arguments per set in ``set_many.lua`` (field, value, cause, trace id); the script reads it from ARGV[4].
SET_STRIDE = 4


def history_off(w: Write) -> list[Any]:
    """``history.lua``'s ARGV when no changelog is kept (max length -1)."""
    return [w.cause, "", 0, "", -1, 0]


def plan_update(w: Write, raw: bytes | None) -> Plan:
    """Apply the ops to the text just read: (that text, old value, new value, new JSON).

    A stored text that is not JSON raises :class:`~motia_nb.state.errors.StoredValueError`
    and a result that cannot be stored an ``UpdateOpError``, both before anything is sent."""
    assert w.key is not None
    cur = MISSING if raw is None else decode_item(raw, w.group_id, w.key)
    new = apply_ops(cur, w.ops or [], group_id=w.group_id, key=w.key)
    new_json = encode_result(new, w.ops, cur, group_id=w.group_id, key=w.key)
    old = None if raw is None else decode(raw)  # a private copy: apply_ops may share parts with `cur`
    return raw, old, new, new_json


def set_args(w: Write, channel: str, origin: str, hist: Sequence[Any]) -> list[Any]:
    """ARGV of ``set.lua``: field, value, channel, origin, group, then ``history.lua``'s six."""
    return [w.key, w.value_json, channel, origin, w.group_id, *hist]


def script_call(
    w: Write, plan: Plan | None, channel: str, origin: str, history_args: HistoryArgs
) -> tuple[str, list[str], list[Any]]:
    """``(script name, KEYS, ARGV)`` committing one write (an update needs its ``plan``)."""
    if w.kind == "set":
        return "set", write_keys(w.group_id), set_args(w, channel, origin, history_args(w))
    if w.kind == "update":
        assert plan is not None
        raw = plan[0]
        return "cas", write_keys(w.group_id), [w.key, "0" if raw is None else "1", b"" if raw is None else raw,
                                               plan[3], channel, origin, w.group_id, *history_args(w)]  # fmt: skip
    if w.kind == "delete":
        return "delete", item_keys(w.group_id), [w.key, channel, origin, w.group_id, *history_args(w)]
    if w.kind == "clear":
        return "clear", item_keys(w.group_id), [channel, origin, w.group_id, *history_args(w)]
    raise ValueError(f"unknown write kind {w.kind!r}")


def set_many_call(
    writes: list[Write], channel: str, origin: str, history_args: HistoryArgs
) -> tuple[str, list[str], list[Any]]:
    """``(script name, KEYS, ARGV)`` committing consecutive sets *to one group* in one
    ``set_many.lua`` call: KEYS as ``set.lua``; ARGV channel, origin, group, stride, then per
    set its field and value (stride 2: every set has the first one's cause and trace id, the
    common case) or its field, value, cause and trace id (:data:`SET_STRIDE`: the sets come
    from different causes, each recorded with its own), then ``history.lua``'s six."""
    first = writes[0]
    group, cause, trace = first.group_id, first.cause, first.trace_id
    args: list[Any] = [channel, origin, group, 2]
    if all(w.cause == cause and w.trace_id == trace for w in writes):
        for w in writes:
            args += (w.key, w.value_json)
    else:
        args[3] = SET_STRIDE
        for w in writes:
            args += (w.key, w.value_json, w.cause, w.trace_id or "")
    args += history_args(first)
    return "set_many", write_keys(group), args


def set_many_olds(reply: Sequence[bytes], n: int) -> list[bytes | None]:
    """The old texts of a ``set_many.lua`` call's ``n`` sets (None: the item was new), from
    its reply ``[header, olds]``: ``"<i> <length> "`` per set whose item existed, and their
    old texts end to end."""
    out: list[bytes | None] = [None] * n
    head, blob = reply
    if head:
        nums = head.split()
        pos = 0
        for j in range(0, len(nums), 2):
            size = int(nums[j + 1])
            out[int(nums[j]) - 1] = blob[pos : pos + size]
            pos += size
    return out


def result_of(w: Write, reply: Any, plan: Plan | None) -> WriteResult:
    """The result and events of a committed write, from its script's reply."""
    g, k = w.group_id, w.key
    if w.kind == "set":
        out = set_outcome(w, reply, True)
        assert isinstance(out, WriteResult)
        return out
    if w.kind == "update":
        assert plan is not None and k is not None
        raw, old, new, _ = plan
        return written(g, k, old, new, existed=raw is not None)
    if w.kind == "delete":
        assert k is not None
        return deleted(g, k, None if reply is None else decode(reply), existed=reply is not None)
    # clear: flat [key, value, ...] in insertion order
    return cleared(g, [(text(kk), decode(v)) for kk, v in zip(reply[0::2], reply[1::2])])


def set_outcome(w: Write, old: bytes | None, events: bool) -> "WriteResult | dict[str, Any]":
    """A committed ``set``'s outcome from its old text (None: the item was new): its
    :class:`WriteResult`, or only the result (``{"new_value", "old_value"}``, no event built)
    when ``events`` is False (nobody listens and its caller wants the result only). The new
    value is the copy taken at submission (``w.value``), else ``value_json`` decoded."""
    new = w.value
    if new is NOT_COPIED:
        assert w.value_json is not None
        new = json.loads(w.value_json)
    prev = None if old is None else decode(old)
    if not events:
        return {"new_value": new, "old_value": prev}
    assert w.key is not None
    return written(w.group_id, w.key, prev, new, existed=old is not None)


def set_result(w: Write, reply: Any) -> WriteResult:
    """The result of a ``set`` committed by ``set.lua`` (``reply``: the old text or None)."""
    return result_of(w, reply, None)
