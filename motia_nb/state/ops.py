"""Update ops (SPEC §3): validate op lists and apply them to a value (pure: no I/O).

The semantics are the iii engine's (``iii-hq/iii`` ``engine/src/update_ops.rs``),
so an op list gives the same data in a notebook as on Motia's engine. Where the
engine records an error for an op and goes on with the others (or silently skips
one), motia_nb refuses the **whole** list: :class:`~motia_nb.state.errors.UpdateOpError`
with the engine's ``code``, the op's 0-based ``op_index``, the group, the key and the
reason; the item is left exactly as it was.

:func:`normalize_ops` checks what does not depend on the stored value, before any
I/O (the op's shape, its path, ``by``, the value, the engine's path and merge-value
limits); :func:`apply_ops` applies a list to one item's current value and is the
only implementation of update semantics in motia_nb (every backend calls it).

Which error is reported when several ops are wrong is the engine's first: a request
it cannot read at all (an unknown ``type``, a missing ``path``, a ``by`` that is no
integer...) is refused whole, whatever op it is in; otherwise the first op, in
order, whose error the engine would record, be it a forbidden path (known before
I/O) or a type error met on the stored value (known only then).

========== ====================== ==========================================================
type       fields                 behaviour (the engine's)
========== ====================== ==========================================================
set        path, value (optional) set a top-level field; ``""`` replaces the whole value;
                                  a missing value stores null
merge      path (optional), value shallow merge of an object's keys into the object at path
           (an object)            (root when absent); along a path, missing or non-object
                                  members become ``{}``
increment  path, by (an integer)  add ``by``; a missing field becomes ``by``
decrement  path, by (an integer)  subtract ``by``; a missing field becomes ``-by``
remove     path                   remove a top-level field (a missing one is fine); ``""``
                                  sets the value to null
append     path (optional), value push onto an array, concatenate onto a string; a missing
                                  top-level field starts as ``[value]`` (or the string)
========== ====================== ==========================================================

A string ``path`` is ONE literal field: ``"shipping.city"`` is the field named
``shipping.city``. A list of strings nests (``["shipping", "city"]``); the engine
takes lists for ``merge`` and ``append``, motia_nb for every op. The engine's
limits hold: at most 32 segments, none empty or over 256 UTF-8 bytes, none of
``__proto__``, ``constructor``, ``prototype``; a merge value has at most 1,024
top-level keys (none of those three) and nests at most 16 levels.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Final

from motia_nb.state.errors import UpdateOpError
from motia_nb.state.op_counters import counted, plain_incdec
from motia_nb.state.op_semantics import (
    APPLY, FORBIDDEN_SEGMENTS, I64_MAX, I64_MIN, MAX_MERGE_DEPTH, MAX_MERGE_KEYS, MAX_PATH_SEGMENTS, MAX_SEGMENT_BYTES,
    MISSING, Cow, OpFailure, format_path,
)  # fmt: skip
from motia_nb.state.jsontext import decode_value
from motia_nb.state.value_checks import MAX_DEPTH, _article, describe, engine_int_problem, find_json_problem, json_depth
from motia_nb.state.values import encode_value

__all__ = [
    "MISSING",
    "OP_TYPES",
    "NormalizedOp",
    "normalize_ops",
    "apply_ops",
    "format_path",
    "MAX_PATH_SEGMENTS",
    "MAX_SEGMENT_BYTES",
    "MAX_MERGE_KEYS",
    "MAX_MERGE_DEPTH",
    "FORBIDDEN_SEGMENTS",
]

#: Path problems the engine records as the op's error (applying the other ops), as
#: opposed to a request it cannot read at all (a path that is not a str or list of str).
_RECORDED_PATH: Final = frozenset({"too_deep", "empty_segment", "segment_too_long", "proto_polluted"})

#: Allowed fields per op type (besides ``type``).
_FIELDS: Final[dict[str, frozenset[str]]] = {
    "set": frozenset({"path", "value"}),
    "merge": frozenset({"path", "value"}),
    "increment": frozenset({"path", "by"}),
    "decrement": frozenset({"path", "by"}),
    "remove": frozenset({"path"}),
    "append": frozenset({"path", "value"}),
}
#: Ops whose path the engine may omit (the root).
_OPTIONAL_PATH: Final = frozenset({"merge", "append"})
OP_TYPES: Final[tuple[str, ...]] = tuple(_FIELDS)


class NormalizedOp(dict):  # type: ignore[type-arg]
    """An op dict produced by :func:`normalize_ops`.

    ``type`` is one of :data:`OP_TYPES`; ``path`` is a list of str segments
    (``[]`` for the root; a string path is one segment); ``value`` (set, merge,
    append) is a private copy made of plain JSON types (``None`` for a set without
    one); ``by`` (increment, decrement) is an ``int`` in the engine's 64-bit range;
    ``failure`` (code, reason, the raw op), when present, is the error the engine
    would record for this op. :func:`apply_ops` trusts such ops and skips
    validating them again.
    """

    __slots__ = ()


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# -------------------------------------------------------------- normalisation


def _norm_path(raw: Any, op_type: str, fail: Any) -> list[str]:
    """An op's ``path`` as a list of segments (``[]`` = root), checked as the engine does."""
    if isinstance(raw, str):
        segs = [str.__str__(raw)] if raw else []
    elif isinstance(raw, (list, tuple)):
        segs = []
        for i, seg in enumerate(raw):
            if not isinstance(seg, str):
                raise fail(
                    f"{op_type}.path.invalid",
                    f"path segment {i} is {describe(seg)}; segments must be str "
                    "(paths go through objects only, not array indices)",
                )
            segs.append(str.__str__(seg))
    else:
        raise fail(
            f"{op_type}.path.invalid",
            f"path must be a str (one top-level field) or a list of str segments, got {describe(raw)}",
        )
    if len(segs) > MAX_PATH_SEGMENTS:
        raise fail(
            f"{op_type}.path.too_deep",
            f"path has {len(segs)} segments; the engine allows at most {MAX_PATH_SEGMENTS}",
        )
    for i, seg in enumerate(segs):
        if seg == "":
            raise fail(f"{op_type}.path.empty_segment", f"path segment {i} is an empty string")
        if not seg.isascii():
            problem = find_json_problem(seg)
            if problem is not None:
                raise fail(f"{op_type}.path.invalid", f"path segment {seg!r} {problem.partition(' ')[2]}")
        size = len(seg.encode("utf-8"))
        if size > MAX_SEGMENT_BYTES:
            raise fail(
                f"{op_type}.path.segment_too_long",
                f"path segment {i} is {size} bytes long; the engine allows at most {MAX_SEGMENT_BYTES}",
            )
        if seg in FORBIDDEN_SEGMENTS:
            raise fail(
                f"{op_type}.path.proto_polluted",
                f"path segment {seg!r} is not allowed (a prototype-pollution sink)",
            )
    return segs


def _check_merge_value(value: Any, fail: Any) -> None:
    """The engine's checks on a merge value, in its order."""
    if not isinstance(value, dict):
        raise fail("merge.value.not_an_object", f"a 'merge' value must be an object (dict), got {describe(value)}")
    if len(value) > MAX_MERGE_KEYS:
        raise fail(
            "merge.value.too_many_keys",
            f"the merge value has {len(value)} top-level keys; the engine allows at most {MAX_MERGE_KEYS}",
        )
    for k in value:
        if k in FORBIDDEN_SEGMENTS:
            raise fail(
                "merge.value.proto_polluted",
                f"the merge value's top-level key {k!r} is not allowed (a prototype-pollution sink)",
            )
    depth = json_depth(value)
    if depth > MAX_MERGE_DEPTH:
        raise fail(
            "merge.value.too_deep",
            f"the merge value nests {depth} levels deep; the engine allows at most {MAX_MERGE_DEPTH}",
        )


def normalize_ops(ops: Any, *, group_id: str | None, key: str | None) -> list[NormalizedOp]:
    """Validate everything about an op list that does not depend on the stored value.

    Checks, before any I/O: ``ops`` is a list or tuple of dicts; each has a known
    ``type`` and only the fields that type has (a typo such as ``"valeu"`` is an
    error, with a suggestion); ``path`` is present where the engine needs it (all
    ops but ``merge``/``append``) and is a str or a list of str within the engine's
    limits; ``by`` is an int in the engine's 64-bit range; ``value`` is JSON and
    present for ``merge``/``append``; a merge value passes the engine's checks.

    Returns :class:`NormalizedOp` dicts with ``path`` as a list of segments and
    ``value`` copied. Raises :class:`UpdateOpError` with the engine's code and the
    op's index. A path or merge-value error the engine records for its op is raised
    here only when no earlier op can fail on the stored value; otherwise the op is
    returned marked (``failure``) and :func:`apply_ops` raises it when it reaches
    it, unless an earlier op fails first.
    """
    if type(ops) is list and len(ops) == 1:  # one plain increment or decrement (a counter): no checks to walk
        plain = plain_incdec(ops[0])
        if plain is not None:
            return [NormalizedOp(type=plain[0], path=[plain[1]], by=plain[2])]
    if isinstance(ops, Mapping):
        raise UpdateOpError(
            f"ops must be a list of op dicts, got a single {type(ops).__name__}; wrap it in a list: [op]",
            code="ops.not_a_list",
            group_id=group_id,
            key=key,
        )
    if not isinstance(ops, (list, tuple)):
        raise UpdateOpError(
            f"ops must be a list of op dicts, got {describe(ops)}",
            code="ops.not_a_list",
            group_id=group_id,
            key=key,
        )
    normalized = [_normalize_one(op, index, group_id, key) for index, op in enumerate(ops)]
    for index, op in enumerate(normalized):
        if "failure" in op:
            # The engine records this op's error and goes on. If no op before it can
            # fail on the stored value, it is the first error whatever that value is:
            # refuse now, before any I/O. Otherwise apply_ops decides, in op order.
            if not any(_may_fail(earlier) for earlier in normalized[:index]):
                raise _failure(op, index, group_id, key)
            break
    return normalized


def _may_fail(op: NormalizedOp) -> bool:
    """Whether a valid op can fail on some stored value (else it always applies)."""
    op_type, path = op["type"], op["path"]
    if op_type == "merge":
        return not path  # a root merge needs an object; along a path anything becomes {}
    if op_type in ("set", "remove"):
        return bool(path)  # "" replaces the whole value / sets it to null
    return True  # increment, decrement, append: the target's type matters


def _failure(op: NormalizedOp, index: int, group_id: str | None, key: str | None) -> UpdateOpError:
    code, reason, raw = op["failure"]
    return UpdateOpError(reason, code=code, group_id=group_id, key=key, index=index, op=raw)


def _normalize_one(op: Any, index: int, group_id: str | None, key: str | None) -> NormalizedOp:
    def fail(code: str, reason: str) -> UpdateOpError:
        return UpdateOpError(reason, code=code, group_id=group_id, key=key, index=index, op=op)

    if not isinstance(op, Mapping):
        raise fail("op.not_an_object", f"an op must be a dict with a 'type', got {describe(op)}")
    if "type" not in op:
        raise fail("op.unknown_type", f"the op has no 'type' (one of {', '.join(OP_TYPES)})")
    op_type = op["type"]
    if not isinstance(op_type, str) or op_type not in _FIELDS:
        hint = _suggest(op_type, OP_TYPES) if isinstance(op_type, str) else ""
        raise fail("op.unknown_type", f"unknown op type {op_type!r} (expected one of {', '.join(OP_TYPES)}){hint}")
    op_type = str.__str__(op_type)
    allowed = _FIELDS[op_type]
    for field in op:
        if field != "type" and field not in allowed:
            hint = _suggest(field, allowed) if isinstance(field, str) else ""
            raise fail(
                "op.unknown_field",
                f"unknown field {field!r} for {_article(op_type)} {op_type!r} op "
                f"(allowed: type, {', '.join(sorted(allowed))}){hint}",
            )

    raw_path = op.get("path")
    if raw_path is None and op_type not in _OPTIONAL_PATH:
        raise fail(
            f"{op_type}.path.missing",
            f"{_article(op_type)} {op_type!r} op needs a 'path' (a field name, or \"\" for the whole value)",
        )
    recorded: UpdateOpError | None = None  # the engine records it and goes on (see _RECORDED)
    try:
        path = [] if raw_path is None else _norm_path(raw_path, op_type, fail)
    except UpdateOpError as err:
        if err.code.rpartition(".")[2] not in _RECORDED_PATH:
            raise
        recorded, path = err, []
    norm = NormalizedOp(type=op_type, path=path)

    if op_type in ("increment", "decrement"):
        if "by" not in op:
            raise fail(f"{op_type}.by.missing", f"{_article(op_type)} {op_type!r} op needs a 'by' (an integer)")
        by = op["by"]
        if isinstance(by, bool) or not isinstance(by, int):
            raise fail(f"{op_type}.by.not_integer", f"'by' must be an integer, got {describe(by)}")
        if not I64_MIN <= by <= I64_MAX:
            raise fail(
                f"{op_type}.by.out_of_range",
                f"'by' is {by}, outside the engine's 64-bit integer range (-2**63 to 2**63-1)",
            )
        norm["by"] = int(by)
        return _recorded(norm, recorded, op)
    if op_type == "remove":
        return _recorded(norm, recorded, op)

    if "value" not in op:
        if op_type == "set":
            norm["value"] = None  # the engine stores null
            return _recorded(norm, recorded, op)
        raise fail(f"{op_type}.value.missing", f"{_article(op_type)} {op_type!r} op needs a 'value'")
    value = op["value"]
    try:
        text = encode_value(value, group_id=group_id, key=key)
    except ValueError as exc:  # InvalidInputError: re-word it for this op
        problem = find_json_problem(value)
        if problem is None and (big := engine_int_problem(value)) is not None:
            raise fail(f"{op_type}.value.out_of_range", f"'value': {big}") from None
        raise fail(f"{op_type}.value.not_json", f"'value' is not JSON: {problem or exc}") from None
    copied = decode_value(text)
    if op_type == "merge" and recorded is None:
        try:
            _check_merge_value(copied, fail)  # the engine checks the path first, then the value
        except UpdateOpError as err:
            recorded = err
    extra = 1 if op_type == "append" else 0
    if len(path) + extra + json_depth(copied) > MAX_DEPTH:
        raise fail(
            f"{op_type}.value.too_deep",
            f"path and value together nest deeper than {MAX_DEPTH} levels (motia_nb's MAX_DEPTH)",
        )
    norm["value"] = copied
    return _recorded(norm, recorded, op)


def _recorded(norm: NormalizedOp, recorded: UpdateOpError | None, raw: Any) -> NormalizedOp:
    """``norm``, marked with the error the engine would record for it (if any)."""
    if recorded is not None:
        norm["failure"] = (recorded.code, recorded.reason, raw)
    return norm


# --------------------------------------------------------------------- apply


def apply_ops(current: Any, ops: Any, *, group_id: str | None, key: str | None) -> Any:
    """Apply update ops to ``current`` and return the new value (all or nothing).

    ``current`` is the stored value, or :data:`MISSING` when the item does not
    exist (it then starts from the engine's missing default: ``{}``, except that a
    first root ``increment``/``decrement``/``append`` starts from nothing). ``ops``
    may be raw (validated with :func:`normalize_ops`) or its output (trusted as is).
    ``current`` is never mutated: changed containers are copied along the touched
    paths only, so the result may share untouched sub-objects with ``current``
    (treat both as read-only, or copy).

    Raises :class:`UpdateOpError` with the engine's code, the op's index and the
    reason, e.g. ``increment.not_number``: ``cannot increment 'count': it is a str
    ('5'), not a number``.
    """
    if not (isinstance(ops, list) and all(type(op) is NormalizedOp for op in ops)):
        ops = normalize_ops(ops, group_id=group_id, key=key)
    elif len(ops) == 1 and type(current) is dict:  # one counter op on a top-level field: its value at once
        new = counted(current, ops[0])
        if new is not None:
            return new
    missing = current is MISSING
    cow = Cow({} if missing else current, missing=missing)
    for index, op in enumerate(ops):
        if "failure" in op:
            raise _failure(op, index, group_id, key)
        try:
            APPLY[op["type"]](cow, op)
        except OpFailure as failure:
            raise UpdateOpError(
                failure.reason, code=failure.code, group_id=group_id, key=key, index=index, op=op
            ) from None
        cow.missing = False
    return cow.root

