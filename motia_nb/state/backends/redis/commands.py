"""What each write sends to Redis and what its reply means, shared by both write paths.

The pipelined writer (:mod:`.writer`, motia_nb's loop thread) and the direct path
(:mod:`.direct`, a synchronous caller's own thread) build their script calls here and
read the replies here, so a write means the same on both. The argument layout of
each script is defined once, in :func:`script_call` and :func:`set_many_call`.
"""

from __future__ import annotations

import json
from typing import Any

from ...jsontext import encode_trusted
from ...ops import MISSING, apply_ops
from ..base import Write, WriteResult
from ..results import cleared, deleted, written
from .codec import decode, text
from .layout import write_keys

__all__ = ["Plan", "plan_update", "result_of", "set_result", "script_call", "set_many_call", "set_args", "SET_STRIDE"]

#: an update's plan: (the text it read, old value, new value, new JSON text)
Plan = tuple["bytes | None", Any, Any, str]

#: Arguments per set in ``set_many.lua`` (field, value); the script reads it from ARGV[4].
SET_STRIDE = 2


def plan_update(w: Write, raw: bytes | None) -> Plan:
    """Apply the ops to the text just read: (that text, old value, new value, new JSON)."""
    cur = MISSING if raw is None else decode(raw)
    new = apply_ops(cur, w.ops or [], group_id=w.group_id, key=w.key)
    old = None if raw is None else decode(raw)  # a private copy: apply_ops may share parts with `cur`
    return raw, old, new, encode_trusted(new)


def set_args(w: Write, channel: str, origin: str) -> list[Any]:
    """ARGV of ``set.lua``: field, value, channel, origin, group."""
    return [w.key, w.value_json, channel, origin, w.group_id]


def script_call(w: Write, plan: Plan | None, channel: str, origin: str) -> tuple[str, list[str], list[Any]]:
    """``(script name, KEYS, ARGV)`` committing one write (an update needs its ``plan``)."""
    keys = write_keys(w.group_id)
    if w.kind == "set":
        return "set", keys, set_args(w, channel, origin)
    if w.kind == "update":
        assert plan is not None
        raw = plan[0]
        return "cas", keys, [w.key, "0" if raw is None else "1", b"" if raw is None else raw, plan[3],
                             channel, origin, w.group_id]  # fmt: skip
    if w.kind == "delete":
        return "delete", keys[:2], [w.key, channel, origin, w.group_id]
    if w.kind == "clear":
        return "clear", keys[:2], [channel, origin, w.group_id]
    raise ValueError(f"unknown write kind {w.kind!r}")


def set_many_call(writes: list[Write], channel: str, origin: str) -> tuple[str, list[str], list[Any]]:
    """``(script name, KEYS, ARGV)`` committing consecutive sets *to one group* in one
    ``set_many.lua`` call: KEYS as ``set.lua``; ARGV channel, origin, group, stride, then
    field and value per set."""
    group = writes[0].group_id
    args: list[Any] = [channel, origin, group, SET_STRIDE]
    for w in writes:
        args += (w.key, w.value_json)
    return "set_many", write_keys(group), args


def result_of(w: Write, reply: Any, plan: Plan | None) -> WriteResult:
    """The result and events of a committed write, from its script's reply."""
    g, k = w.group_id, w.key
    if w.kind == "set":
        assert k is not None and w.value_json is not None
        return written(g, k, None if reply is None else decode(reply), json.loads(w.value_json), existed=reply is not None)
    if w.kind == "update":
        assert plan is not None and k is not None
        raw, old, new, _ = plan
        return written(g, k, old, new, existed=raw is not None)
    if w.kind == "delete":
        assert k is not None
        return deleted(g, k, None if reply is None else decode(reply), existed=reply is not None)
    # clear: flat [key, value, ...] in insertion order
    return cleared(g, [(text(kk), decode(v)) for kk, v in zip(reply[0::2], reply[1::2])])


def set_result(w: Write, reply: Any) -> WriteResult:
    """The result of a ``set`` committed by ``set.lua`` (``reply``: the old text or None)."""
    return result_of(w, reply, None)
