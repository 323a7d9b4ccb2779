"""What each update op does to a value: the iii engine's rules (SPEC §3), copy-on-write.

This module holds only the semantics of *validated* ops (see
:func:`motia_nb.state.ops.normalize_ops`): each ``_op_*`` function changes the
value held by a :class:`Cow` or raises :class:`OpFailure` with the engine's error
code. Where the engine records an error and goes on (or silently skips an op),
motia_nb's caller refuses the whole list, so a failure here never leaves a
half-applied value behind.

The rules, as read from ``iii-hq/iii`` ``engine/src/update_ops.rs``:

- a path is a list of literal segments (a string path is one segment; ``[]`` is
  the root);
- ``set``/``increment``/``decrement``/``remove``/``append`` with a non-empty path
  need an object root (``<op>.target_not_object``); ``merge`` with a path replaces
  a non-object root, and missing or non-object objects along the path, with ``{}``;
  nested ``append`` (and motia_nb's nested set/increment/decrement) walk parents
  the same way;
- the *missing default*: an item that does not exist starts as ``{}``, except that
  a first ``increment``/``decrement``/``append`` on the root treats it as absent
  (``by``, ``-by``, ``[value]`` or the string itself).
"""

from __future__ import annotations

import math
from typing import Any, Final

from motia_nb.state.value_checks import _short_repr, describe

__all__ = [
    "MISSING", "Cow", "OpFailure", "APPLY", "format_path", "I64_MIN", "I64_MAX", "U64_MAX", "MAX_PATH_SEGMENTS",
    "MAX_SEGMENT_BYTES", "MAX_MERGE_KEYS", "MAX_MERGE_DEPTH", "FORBIDDEN_SEGMENTS",
]  # fmt: skip

#: The engine stores integers as 64-bit values (``i64``, or ``u64`` above ``i64::MAX``).
I64_MIN: Final[int] = -(2**63)
I64_MAX: Final[int] = 2**63 - 1
U64_MAX: Final[int] = 2**64 - 1
#: The engine's limits (``update_ops.rs``).
MAX_PATH_SEGMENTS: Final[int] = 32
MAX_SEGMENT_BYTES: Final[int] = 256
MAX_MERGE_KEYS: Final[int] = 1024
MAX_MERGE_DEPTH: Final[int] = 16
#: Path segments (and merge-value top-level keys) the engine refuses: prototype-pollution sinks.
FORBIDDEN_SEGMENTS: Final[frozenset[str]] = frozenset({"__proto__", "constructor", "prototype"})


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


#: Passed to ``apply_ops`` as ``current`` when the item does not exist (it then
#: starts from the engine's missing default).
MISSING: Final = _Missing()


def format_path(segments: list[str] | tuple[str, ...]) -> str:
    """Quote a path for messages: ``'shipping.city'`` (one literal field),
    ``['shipping', 'city']`` (nested), or ``the root``."""
    if not segments:
        return "the root"
    if len(segments) == 1:
        return repr(segments[0])
    return repr(list(segments))


class OpFailure(Exception):
    """An op cannot apply: the engine's error ``code`` and a plain-words ``reason``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Cow:
    """Copy-on-write bookkeeping for one ``apply_ops`` call.

    Containers reached from the current value (or from op values) are shared and
    never mutated; before changing one, it is shallow-copied and the copy linked
    into its (already owned) parent. ``owned`` keeps the copies alive so ids stay
    unique. ``missing`` is true while the item is still the engine's missing
    default (it did not exist and no op has applied yet).
    """

    __slots__ = ("root", "owned", "missing")

    def __init__(self, root: Any, *, missing: bool) -> None:
        self.root = root
        self.owned: dict[int, Any] = {}
        self.missing = missing
        if missing:
            self.new(root)

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


# ------------------------------------------------------------------ walking


def _object_root(cow: Cow, op_type: str, path: list[str]) -> dict[str, Any]:
    """The owned root object; a non-object root is ``<op>.target_not_object``."""
    root = cow.root
    if not isinstance(root, dict):
        raise OpFailure(
            f"{op_type}.target_not_object",
            f"cannot {op_type} at {format_path(path)}: the value is {describe(root)}, not an object",
        )
    node = cow.root = cow.own(root)
    return node


def _walk_create(cow: Cow, node: dict[str, Any], segments: list[str]) -> dict[str, Any]:
    """Walk ``segments`` down from the owned object ``node``; missing or non-object
    members become ``{}`` on the way (the engine's ``walk_or_create``)."""
    for seg in segments:
        child = node.get(seg)
        child = cow.own(child) if isinstance(child, dict) else cow.new({})
        node[seg] = child
        node = child
    return node


# ------------------------------------------------------------------- the ops


def _op_set(cow: Cow, op: dict[str, Any]) -> None:
    path = op["path"]
    if not path:
        cow.root = op["value"]
        return
    parent = _walk_create(cow, _object_root(cow, "set", path), path[:-1])
    parent[path[-1]] = op["value"]


def _op_merge(cow: Cow, op: dict[str, Any]) -> None:
    path = op["path"]
    if not path:
        if not isinstance(cow.root, dict):
            # The engine skips this op silently (a warning in its log): refuse instead.
            raise OpFailure(
                "merge.target_not_object",
                f"cannot merge into the root: the value is {describe(cow.root)}, not an object "
                "(the engine would silently skip this op)",
            )
        target = cow.root = cow.own(cow.root)
    else:
        root = cow.root
        root = cow.own(root) if isinstance(root, dict) else cow.new({})
        cow.root = root
        target = _walk_create(cow, root, path)
    target.update(op["value"])  # shallow: top-level keys of the value replace the target's


def _int_in_range(n: int) -> bool:
    return I64_MIN <= n <= U64_MAX


def _add(old: Any, op: dict[str, Any], path: list[str]) -> Any:
    """``old`` plus or minus ``by`` as the engine computes it, or ``<op>.not_number``."""
    op_type, by = op["type"], op["by"]
    sign = 1 if op_type == "increment" else -1
    where = format_path(path)
    if isinstance(old, float):
        result = old + float(by) if sign > 0 else old - float(by)
        if not math.isfinite(result):
            raise OpFailure(
                f"{op_type}.not_number",
                f"{op_type} of {where} ({_short_repr(old)} by {by}) gives {result!r}, not a finite number",
            )
        return result
    if isinstance(old, int) and not isinstance(old, bool):
        if not _int_in_range(old):
            raise OpFailure(
                f"{op_type}.not_number",
                f"cannot {op_type} {where}: {_short_repr(old)} is outside the engine's 64-bit "
                "integer range (-2**63 to 2**64-1)",
            )
        result = old + sign * by
        if not _int_in_range(result):
            raise OpFailure(
                f"{op_type}.not_number",
                f"{op_type} of {where} ({old} by {by}) gives {result}, outside the engine's 64-bit "
                "integer range (-2**63 to 2**64-1)",
            )
        return result
    raise OpFailure(f"{op_type}.not_number", f"cannot {op_type} {where}: it is {describe(old)}, not a number")


def _op_incdec(cow: Cow, op: dict[str, Any]) -> None:
    path = op["path"]
    if not path:
        # The missing default has no number at its root: the first op starts it.
        cow.root = op["by"] * (1 if op["type"] == "increment" else -1) if cow.missing else _add(cow.root, op, path)
        return
    parent = _walk_create(cow, _object_root(cow, op["type"], path), path[:-1])
    leaf = path[-1]
    if leaf in parent:
        parent[leaf] = _add(parent[leaf], op, path)
    else:
        parent[leaf] = op["by"] if op["type"] == "increment" else -op["by"]


def _op_remove(cow: Cow, op: dict[str, Any]) -> None:
    path = op["path"]
    if not path:
        cow.root = None  # the engine: an empty path sets the value to null
        return
    node = cow.root
    if not isinstance(node, dict):
        raise OpFailure(
            "remove.target_not_object",
            f"cannot remove {format_path(path)}: the value is {describe(node)}, not an object",
        )
    # Look first without copying: a missing field (or parent) changes nothing.
    for seg in path[:-1]:
        node = node.get(seg)
        if not isinstance(node, dict):
            return
    if path[-1] not in node:
        return
    parent = _walk_create(cow, _object_root(cow, "remove", path), path[:-1])
    del parent[path[-1]]


def _initial_append(value: Any) -> Any:
    """What a missing (or null) append target starts as: the string itself, else ``[value]``."""
    return value if isinstance(value, str) else [value]


def _appended(cow: Cow, target: Any, value: Any, path: list[str]) -> Any:
    """``target`` with ``value`` appended: pushed onto an array, concatenated onto a string."""
    if isinstance(target, list):
        target = cow.own(target)
        target.append(value)
        return target
    if isinstance(target, str):
        if isinstance(value, str):
            return target + value
        raise OpFailure(
            "append.type_mismatch",
            f"cannot append {describe(value)} to {format_path(path)}: it is a string, so only a "
            "string can be appended (concatenated)",
        )
    if target is None:
        return _initial_append(value)
    raise OpFailure(
        "append.type_mismatch",
        f"cannot append to {format_path(path)}: it is {describe(target)}, not an array, string or null",
    )


def _op_append(cow: Cow, op: dict[str, Any]) -> None:
    path, value = op["path"], op["value"]
    if not path:
        cow.root = _appended(cow, None if cow.missing else cow.root, value, path)
        return
    parent = _walk_create(cow, _object_root(cow, "append", path), path[:-1])
    leaf = path[-1]
    if leaf in parent:
        parent[leaf] = _appended(cow, parent[leaf], value, path)
    elif len(path) == 1:
        parent[leaf] = _initial_append(value)
    else:
        parent[leaf] = [value]  # a missing nested leaf is always an array


APPLY: Final = {
    "set": _op_set,
    "merge": _op_merge,
    "increment": _op_incdec,
    "decrement": _op_incdec,
    "remove": _op_remove,
    "append": _op_append,
}
