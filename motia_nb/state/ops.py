"""Update ops (SPEC §3): validate op lists and apply them to a value (pure: no I/O).

:func:`normalize_ops` checks an op list's *structure* before anything is queued
(types, fields, paths, JSON values); :func:`apply_ops` applies a list to the
current value of one item and is the only implementation of update semantics in
motia_nb (every backend calls it). Both raise
:class:`~motia_nb.state.errors.UpdateOpError` naming the group, the key, the op's
0-based index and the reason; ``apply_ops`` never mutates its input, so an error
leaves the item exactly as it was.

Op reference (``path`` is ``"a.b.c"`` or a list of segments such as
``["a.b", "c"]`` for keys containing dots; ``""``/``[]`` is the root):

========== ===================== ==========================================================
type       fields                behaviour
========== ===================== ==========================================================
set        path (optional),      set the field (creating parent objects); root: replace
           value                 the whole value
merge      path (optional),      deep-merge into the object at path (created if missing);
           value (an object)     nested objects merge, arrays and scalars replace
increment  path, by (default 1)  add ``by``; a missing field counts as 0
decrement  path, by (default 1)  subtract ``by``; a missing field counts as 0
remove     path                  delete the field; absent field or parent: no change
append     path, value           append to the array at path (``[]`` if missing)
========== ===================== ==========================================================
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any, Final

from motia_nb.state.errors import UpdateOpError
from motia_nb.state.values import (
    MAX_DEPTH,
    _article,
    _short_repr,
    decode_value,
    describe,
    encode_value,
    find_json_problem,
    json_depth,
)

__all__ = ["MISSING", "OP_TYPES", "NormalizedOp", "normalize_ops", "apply_ops", "format_path"]


class _Missing:
    """The type of :data:`MISSING`."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


#: Passed to :func:`apply_ops` as ``current`` when the item does not exist
#: (it then starts as ``{}``, as Motia's engine does).
MISSING: Final = _Missing()

#: Allowed fields per op type (besides ``type``); required ones listed separately.
_FIELDS: Final[dict[str, frozenset[str]]] = {
    "set": frozenset({"path", "value"}),
    "merge": frozenset({"path", "value"}),
    "increment": frozenset({"path", "by"}),
    "decrement": frozenset({"path", "by"}),
    "remove": frozenset({"path"}),
    "append": frozenset({"path", "value"}),
}
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "set": ("value",),
    "merge": ("value",),
    "increment": ("path",),
    "decrement": ("path",),
    "remove": ("path",),
    "append": ("path", "value"),
}
OP_TYPES: Final[tuple[str, ...]] = tuple(_FIELDS)


class NormalizedOp(dict):  # type: ignore[type-arg]
    """An op dict produced by :func:`normalize_ops`.

    ``type`` is one of :data:`OP_TYPES`; ``path`` is a list of str segments
    (``[]`` for the root); ``value`` (set/merge/append) is a private copy made of
    plain JSON types; ``by`` (increment/decrement) is a finite ``int`` or ``float``.
    :func:`apply_ops` trusts such ops and skips validating them again.
    """

    __slots__ = ()


# ------------------------------------------------------------------ formatting


def format_path(segments: list[str] | tuple[str, ...], *, as_list: bool = False) -> str:
    """Quote a path for messages: ``'a.b'``, ``['a.b', 'c']`` when a segment has a dot
    (or ``as_list`` is true), or ``the root``."""
    if not segments:
        return "the root"
    if as_list or any("." in s for s in segments):
        return repr(list(segments))
    return repr(".".join(segments))


def _suggest(word: str, choices: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# -------------------------------------------------------------- normalisation


def _norm_path(raw: Any, op_type: str, fail: Any) -> list[str]:
    """Turn an op's ``path`` into a list of non-empty str segments (``[]`` = root)."""
    if isinstance(raw, str):
        if raw == "":
            return []
        segs = raw.split(".")
        if "" in segs:
            raise fail(
                f"path {raw!r} has an empty segment; for keys that contain dots "
                "give the path as a list of segments, e.g. ['a.b', 'c']"
            )
    elif isinstance(raw, (list, tuple)):
        segs = []
        for i, seg in enumerate(raw):
            if not isinstance(seg, str):
                raise fail(
                    f"path segment {i} is {describe(seg)}; segments must be non-empty str "
                    "(paths go through objects only, not array indices)"
                )
            if seg == "":
                raise fail(f"path segment {i} is an empty string")
            segs.append(str.__str__(seg))
    else:
        raise fail(
            f"path must be a dot string like 'a.b' or a list of str segments, got {describe(raw)}"
        )
    for seg in segs:
        if not seg.isascii():
            problem = find_json_problem(seg)
            if problem is not None:
                raise fail(f"path segment {seg!r} {problem.partition(' ')[2]}")
    if len(segs) >= MAX_DEPTH:
        raise fail(f"path has {len(segs)} segments; values nest at most {MAX_DEPTH} levels")
    return segs


def normalize_ops(ops: Any, *, group_id: str | None, key: str | None) -> list[NormalizedOp]:
    """Validate the structure of an op list and return normalised copies of its ops.

    Checks, before any I/O: ``ops`` is a list or tuple of dicts; each has a known
    ``type`` and exactly the fields that type allows (a typo such as ``"valeu"`` is
    an error, with a suggestion); required fields are present; ``value`` is JSON
    (``merge``'s is an object); ``by`` is a finite int or float (not a bool);
    ``path`` is a dot string or a list of non-empty str segments — missing,
    ``None``, ``""`` or ``[]`` means the root, which only ``set``/``merge`` may omit,
    and ``remove`` may not target (use ``delete()``).

    Returns :class:`NormalizedOp` dicts with ``path`` as a list (``[]`` = root),
    ``by`` filled in (default 1) and ``value`` copied. Raises
    :class:`UpdateOpError` with the op's index.
    """
    if isinstance(ops, Mapping):
        raise UpdateOpError(
            f"ops must be a list of op dicts, got a single {type(ops).__name__}; wrap it in a list: [op]",
            group_id=group_id,
            key=key,
        )
    if not isinstance(ops, (list, tuple)):
        raise UpdateOpError(
            f"ops must be a list of op dicts, got {describe(ops)}", group_id=group_id, key=key
        )
    out: list[NormalizedOp] = []
    for index, op in enumerate(ops):
        out.append(_normalize_one(op, index, group_id, key))
    return out


def _normalize_one(op: Any, index: int, group_id: str | None, key: str | None) -> NormalizedOp:
    def fail(reason: str) -> UpdateOpError:
        return UpdateOpError(reason, group_id=group_id, key=key, index=index, op=op)

    if not isinstance(op, Mapping):
        raise fail(f"an op must be a dict with a 'type', got {describe(op)}")
    if "type" not in op:
        raise fail(f"the op has no 'type' (one of {', '.join(OP_TYPES)})")
    op_type = op["type"]
    if not isinstance(op_type, str) or op_type not in _FIELDS:
        hint = _suggest(op_type, OP_TYPES) if isinstance(op_type, str) else ""
        raise fail(f"unknown op type {op_type!r} (expected one of {', '.join(OP_TYPES)}){hint}")
    allowed = _FIELDS[op_type]
    for field in op:
        if field != "type" and field not in allowed:
            hint = _suggest(field, allowed) if isinstance(field, str) else ""
            raise fail(
                f"unknown field {field!r} for {_article(op_type)} {op_type!r} op "
                f"(allowed: type, {', '.join(sorted(allowed))}){hint}"
            )
    for field in _REQUIRED[op_type]:
        if field not in op or (field == "path" and op[field] is None):
            raise fail(f"{_article(op_type)} {op_type!r} op needs a {field!r} field")

    raw_path = op.get("path")
    path = [] if raw_path is None else _norm_path(raw_path, op_type, fail)
    if op_type == "remove" and not path:
        raise fail("cannot remove the root (an empty path); use delete() to remove the item")

    norm = NormalizedOp(type=op_type, path=path)
    if op_type in ("increment", "decrement"):
        by = op.get("by", 1)
        if isinstance(by, bool) or not isinstance(by, (int, float)):
            raise fail(f"'by' must be an int or float, got {describe(by)}")
        problem = find_json_problem(by)
        if problem is not None:
            raise fail(f"'by' {problem.partition(' ')[2]}")
        norm["by"] = int(by) if isinstance(by, int) else float(by)
    elif "value" in op:
        value = op["value"]
        if op_type == "merge" and not isinstance(value, Mapping):
            raise fail(f"a 'merge' value must be an object (dict), got {describe(value)}")
        try:
            text = encode_value(value, group_id=group_id, key=key)
        except ValueError as exc:  # InvalidInputError: re-word it for this op
            problem = find_json_problem(value) or str(exc)
            raise fail(f"'value' is not JSON: {problem}") from None
        copied = decode_value(text)
        extra = 1 if op_type == "append" else 0
        if len(path) + extra + json_depth(copied) > MAX_DEPTH:
            raise fail(
                f"path and value together nest deeper than {MAX_DEPTH} levels (the limit is MAX_DEPTH)"
            )
        norm["value"] = copied
    return norm


# --------------------------------------------------------------------- apply


class _Cow:
    """Copy-on-write bookkeeping for one :func:`apply_ops` call.

    Containers reached from ``current`` (or from op values) are shared and never
    mutated; before changing one, it is shallow-copied and the copy linked into its
    (already owned) parent. ``owned`` keeps the copies alive so ids stay unique.
    """

    __slots__ = ("root", "owned")

    def __init__(self, root: Any) -> None:
        self.root = root
        self.owned: dict[int, Any] = {}

    def own(self, obj: Any) -> Any:
        """Return an owned (mutable) version of ``obj`` (a dict or list)."""
        if id(obj) in self.owned:
            return obj
        copy = dict(obj) if isinstance(obj, dict) else list(obj)
        self.owned[id(copy)] = copy
        return copy

    def new(self, obj: Any) -> Any:
        self.owned[id(obj)] = obj
        return obj


def apply_ops(
    current: Any,
    ops: Any,
    *,
    group_id: str | None,
    key: str | None,
) -> Any:
    """Apply update ops to ``current`` and return the new value (all or nothing).

    ``current`` is the stored value, or :data:`MISSING` when the item does not
    exist (it then starts as ``{}``). ``ops`` may be raw (they are validated with
    :func:`normalize_ops`) or the output of :func:`normalize_ops` (trusted as is).
    ``current`` is never mutated: changed containers are copied along the touched
    paths only, so the result may share untouched sub-objects with ``current``
    (treat both as read-only, or copy).

    Semantics, op by op, in order:

    - every op except ``remove`` creates missing parent objects along its path;
      a path that goes *through* an existing non-object (``a.b`` where ``a`` is 5
      or a list), or a non-empty path into a non-object root, is an error;
    - ``set``: root path replaces the whole value, else sets the field;
    - ``merge``: deep-merges an object into the object at the path (created if
      missing); nested objects merge, arrays and scalars replace; merging into a
      non-object is an error;
    - ``increment``/``decrement``: a missing field counts as 0; an existing one must
      be an int or float (``bool`` is not a number); ``int ± int`` stays an int;
      a non-finite result is an error; on the root they apply to the root itself;
    - ``remove``: deletes the field; a missing field or a missing parent object
      changes nothing, but a path through an existing non-object is an error (as
      for every op); the root cannot be removed (use ``delete()``);
    - ``append``: appends to the array at the path, creating ``[]`` if missing;
      appending to a non-array is an error; on the root the root must be an array.

    Raises :class:`UpdateOpError` naming the group, key, op index and reason, e.g.
    ``cannot increment 'count': it is a str ('5'), not a number``.
    """
    if not (isinstance(ops, list) and all(type(op) is NormalizedOp for op in ops)):
        ops = normalize_ops(ops, group_id=group_id, key=key)
    cow = _Cow({} if current is MISSING else current)
    if current is MISSING:
        cow.new(cow.root)  # the fresh {} belongs to this call
    for index, op in enumerate(ops):
        try:
            _APPLY[op["type"]](cow, op)
        except _OpFailure as failure:
            raise UpdateOpError(
                failure.reason, group_id=group_id, key=key, index=index, op=op
            ) from None
    return cow.root


class _OpFailure(Exception):
    """Internal: an op cannot apply; carries the reason only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _through_error(path: list[str], depth: int, obj: Any) -> _OpFailure:
    if depth == 0:
        return _OpFailure(
            f"path {format_path(path)} goes into the root, which is {describe(obj)}, not an object"
        )
    return _OpFailure(
        f"path {format_path(path)} goes through "
        f"{format_path(path[:depth], as_list=any('.' in s for s in path))}, "
        f"which is {describe(obj)}, not an object"
    )


def _parent(cow: _Cow, path: list[str]) -> dict[str, Any]:
    """Return the owned object that holds ``path[-1]``, creating missing parents."""
    root = cow.root
    if not isinstance(root, dict):
        raise _through_error(path, 0, root)
    node = cow.root = cow.own(root)
    for depth, seg in enumerate(path[:-1], start=1):
        child = node.get(seg, MISSING)
        if child is MISSING:
            child = cow.new({})
        elif isinstance(child, dict):
            child = cow.own(child)
        else:
            raise _through_error(path, depth, child)
        node[seg] = child
        node = child
    return node


def _op_set(cow: _Cow, op: NormalizedOp) -> None:
    path = op["path"]
    if not path:
        cow.root = op["value"]
        return
    _parent(cow, path)[path[-1]] = op["value"]


def _op_merge(cow: _Cow, op: NormalizedOp) -> None:
    path = op["path"]
    if not path:
        target = cow.root
        if not isinstance(target, dict):
            raise _OpFailure(f"cannot merge into the root: it is {describe(target)}, not an object")
        target = cow.root = cow.own(target)
    else:
        parent = _parent(cow, path)
        target = parent.get(path[-1], MISSING)
        if target is MISSING:
            target = cow.new({})
        elif isinstance(target, dict):
            target = cow.own(target)
        else:
            raise _OpFailure(
                f"cannot merge into {format_path(path)}: it is {describe(target)}, not an object"
            )
        parent[path[-1]] = target
    # Iterative deep merge: (owned target, source object) pairs.
    stack: list[tuple[dict[str, Any], dict[str, Any]]] = [(target, op["value"])]
    while stack:
        dst, src = stack.pop()
        for k, v in src.items():
            if isinstance(v, dict):
                existing = dst.get(k)
                if isinstance(existing, dict):
                    merged = cow.own(existing)
                    dst[k] = merged
                    stack.append((merged, v))
                    continue
            dst[k] = v


def _add(old: Any, by: int | float, path: list[str], verb: str, sign: int) -> Any:
    if old is MISSING:
        old = 0
    elif isinstance(old, bool) or not isinstance(old, (int, float)):
        where = "the root" if not path else format_path(path)
        raise _OpFailure(f"cannot {verb} {where}: it is {describe(old)}, not a number")
    try:
        result = old + by if sign > 0 else old - by
    except OverflowError:
        result = math.inf
    if isinstance(result, float) and not math.isfinite(result):
        where = "the root" if not path else format_path(path)
        raise _OpFailure(
            f"{verb} of {where} ({_short_repr(old)} by {_short_repr(by)}) gives {result!r}, "
            "not a finite number"
        )
    return result


def _op_incdec(cow: _Cow, op: NormalizedOp, verb: str, sign: int) -> None:
    path = op["path"]
    if not path:
        cow.root = _add(cow.root, op["by"], path, verb, sign)
        return
    parent = _parent(cow, path)
    parent[path[-1]] = _add(parent.get(path[-1], MISSING), op["by"], path, verb, sign)


def _op_remove(cow: _Cow, op: NormalizedOp) -> None:
    path = op["path"]
    # Look first without copying: an absent field (or parent) changes nothing.
    node = cow.root
    for depth, seg in enumerate(path):
        if not isinstance(node, dict):
            raise _through_error(path, depth, node)
        if seg not in node:
            return
        node = node[seg]
    del _parent(cow, path)[path[-1]]


def _op_append(cow: _Cow, op: NormalizedOp) -> None:
    path = op["path"]
    if not path:
        root = cow.root
        if not isinstance(root, list):
            raise _OpFailure(f"cannot append to the root: it is {describe(root)}, not an array")
        root = cow.root = cow.own(root)
        root.append(op["value"])
        return
    parent = _parent(cow, path)
    target = parent.get(path[-1], MISSING)
    if target is MISSING:
        target = cow.new([])
    elif isinstance(target, list):
        target = cow.own(target)
    else:
        raise _OpFailure(
            f"cannot append to {format_path(path)}: it is {describe(target)}, not an array"
        )
    target.append(op["value"])
    parent[path[-1]] = target


_APPLY: Final = {
    "set": _op_set,
    "merge": _op_merge,
    "increment": lambda cow, op: _op_incdec(cow, op, "increment", 1),
    "decrement": lambda cow, op: _op_incdec(cow, op, "decrement", -1),
    "remove": _op_remove,
    "append": _op_append,
}
