"""Where a value stops being JSON, and how to say so (pure: no I/O).

The slow half of :mod:`.values`: when the C encoder or the fast type check refuses a
value, :func:`find_json_problem` walks it to name the place (``$.items[2].price is
NaN``), and :func:`json_depth` measures nesting against :data:`MAX_DEPTH`.
:func:`describe` names a Python object for error messages.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any, Final

from motia_nb.state.jsontext import c_encode as _c_encode

__all__ = ["MAX_DEPTH", "describe", "engine_int_problem", "find_json_problem", "format_location", "json_depth"]

#: Maximum nesting of objects/arrays inside one value (a scalar has depth 0,
#: ``[1]`` depth 1). SPEC asks for at least 500.
MAX_DEPTH: Final[int] = 512

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_CONTAINERS: Final = frozenset({dict, list, tuple})
#: the integers Motia's engine holds exactly: serde_json (without ``arbitrary_precision``) reads an
#: integer as an i64 or a u64; any other it reads as an f64, so 2**64 + 1 comes back as 2**64 and a
#: float (engine/Cargo.toml: ``serde_json = "1"``, no features)
ENGINE_INT_MIN: Final[int] = -(2**63)
ENGINE_INT_MAX: Final[int] = 2**64 - 1


# --------------------------------------------------------------------------- names


def _short_repr(obj: Any, limit: int = 60) -> str:
    """``repr(obj)`` on one line, cut to ``limit`` characters (never raises)."""
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(obj).__name__} object>"
    if "\n" in text:  # a table's repr (a DataFrame's): its words on one line, as an error line is
        text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _type_name(obj: Any) -> str:
    """The name of ``obj``'s type: ``set``, ``datetime.datetime``, ``numpy.float64``."""
    cls = type(obj)
    module = getattr(cls, "__module__", None) or ""
    qual = getattr(cls, "__qualname__", cls.__name__)
    if module == "builtins":
        return qual
    if module.startswith("numpy"):
        module = "numpy"
    return f"{module}.{qual}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeio" else "a"  # "a uuid.UUID", "an int"


def describe(obj: Any) -> str:
    """Describe a value for an error message: ``a str ('5')``, ``an int (5)``, ``None``."""
    if obj is None:
        return "None (null)"
    name = _type_name(obj)
    return f"{_article(name)} {name} ({_short_repr(obj)})"


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# A location is a linked list of (parent, segment) tuples; None is the root "$".
_Loc = tuple | None


def format_location(segments: list[str | int] | tuple[str | int, ...]) -> str:
    """Format a path inside a value: ``$``, ``$.items[2].price``, ``$["a.b"]``.

    Object keys that are identifiers use ``.key``; other keys are written as JSON
    strings in brackets; ints are array indices. Very long paths are shortened.
    """
    parts: list[str] = []
    for seg in segments:
        if isinstance(seg, int):
            parts.append(f"[{seg}]")
        elif _IDENT.match(seg):
            parts.append(f".{seg}")
        else:
            parts.append(f"[{json.dumps(seg, ensure_ascii=False)}]")
    if len(parts) > 16:
        hidden = len(parts) - 12
        parts = parts[:6] + [f"…({hidden} more)…"] + parts[-6:]
    return "$" + "".join(parts)


def _loc_segments(loc: _Loc) -> list[str | int]:
    segs: list[str | int] = []
    while loc is not None:
        loc, seg = loc
        segs.append(seg)
    segs.reverse()
    return segs


def _fmt_loc(loc: _Loc) -> str:
    return format_location(_loc_segments(loc))


# ------------------------------------------------------------------ validation


#: pandas objects a notebook stores by mistake, and what to store instead (by type name, in any
#: ``pandas…`` module: NA's and NaT's types moved between pandas versions)
_PANDAS: Final = {
    "DataFrame": "is a pandas.DataFrame; store df.to_dict('records') (a list of rows) or df.to_dict() instead",
    "Series": "is a pandas.Series; store s.tolist() or s.to_dict() instead",
    "NaTType": "is pandas.NaT (a missing time); store None instead",
    "NAType": "is pandas.NA (a missing value); store None instead",
}


def _scalar_problem(v: Any) -> str | None:
    """Why the non-container ``v`` is not JSON (``"is NaN"``), or ``None`` if it is fine."""
    cls = type(v)
    if v is None or cls is bool:
        return None
    module = getattr(cls, "__module__", "") or ""
    if module.startswith("numpy"):
        if cls.__name__ == "ndarray":
            return "is a numpy.ndarray (not JSON; convert it with .tolist())"
        return (
            f"is a numpy.{cls.__name__} ({_short_repr(v)}), a numpy scalar, not JSON; "
            "convert it with .item()"
        )
    if isinstance(v, str):
        if not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as exc:
                return (
                    f"contains a lone surrogate {v[exc.start]!r} at index {exc.start} "
                    "(not valid Unicode text)"
                )
        return None
    if isinstance(v, int):  # bool handled above; IntEnum and friends are ints
        if v.bit_length() > 14_000:
            try:
                int.__repr__(v)
            except ValueError:
                return (
                    "is an int with more digits than Python converts to text "
                    "(see sys.set_int_max_str_digits)"
                )
        return None
    if isinstance(v, float):
        if math.isfinite(v):
            return None
        if v != v:
            return "is NaN"
        return f"is {'Infinity' if v > 0 else '-Infinity'}"
    name = _type_name(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return f"is a {name} object ({_short_repr(v)}); decode it to str (or base64) first"
    if isinstance(v, (set, frozenset)):
        return f"is {_article(name)} {name}; use a list"
    if module.split(".")[0] == "pandas" and cls.__name__ in _PANDAS:
        return _PANDAS[cls.__name__]
    if module == "datetime" or isinstance(v, (_dt.date, _dt.time)):  # pandas.Timestamp is a datetime
        return f"is {_article(name)} {name}; store v.isoformat() instead"
    if module == "decimal":
        return f"is {_article(name)} {name}; convert it with str() or float()"
    if isinstance(v, complex):
        return f"is a complex number ({_short_repr(v)})"
    return f"is {_article(name)} {name} instance ({_short_repr(v)}), not a JSON type"


def _locate(value: Any) -> str | None:
    """Walk ``value`` (iteratively) and describe the first thing that is not JSON.

    Returns ``None`` when the value is valid JSON within :data:`MAX_DEPTH`.
    Handles cycles (reported, not looped on) and any nesting depth.
    """
    exit_marker = object()
    ancestors: dict[int, _Loc] = {}
    # Stack entries: (obj, loc, depth) or (exit_marker, id, None).
    stack: list[tuple[Any, Any, Any]] = [(value, None, 0)]
    while stack:
        obj, loc, depth = stack.pop()
        if obj is exit_marker:
            del ancestors[loc]
            continue
        is_dict = isinstance(obj, dict)
        if not is_dict and not isinstance(obj, (list, tuple)):
            problem = _scalar_problem(obj)
            if problem is not None:
                return f"{_fmt_loc(loc)} {problem}"
            continue
        oid = id(obj)
        if oid in ancestors:
            return (
                f"{_fmt_loc(loc)} refers back to {_fmt_loc(ancestors[oid])} "
                "(a circular reference)"
            )
        if depth >= MAX_DEPTH:
            return f"{_fmt_loc(loc)} nests deeper than {MAX_DEPTH} levels (the limit is MAX_DEPTH)"
        ancestors[oid] = loc
        stack.append((exit_marker, oid, None))
        children: list[tuple[Any, Any, Any]] = []
        if is_dict:
            for k, v in obj.items():
                if not isinstance(k, str):
                    return (
                        f"{_fmt_loc(loc)} has a non-string key {_short_repr(k)} ({_type_name(k)}); "
                        "JSON object keys must be str"
                    )
                if not k.isascii():
                    problem = _scalar_problem(k)
                    if problem is not None:
                        return f"a key of {_fmt_loc(loc)} {problem}"
                children.append((v, (loc, k), depth + 1))
        else:
            for i, v in enumerate(obj):
                children.append((v, (loc, i), depth + 1))
        children.reverse()
        stack.extend(children)
    return None


def _plain(value: Any) -> bool:
    """Fast check that an already-encodable, acyclic value uses exact JSON types only, and
    integers the engine holds (:data:`ENGINE_INT_MIN` to :data:`ENGINE_INT_MAX`).

    ``False`` means "take the slow path" (a non-str key, a subclass such as
    ``numpy.float64``, an integer past 64 bits, or too deep), not necessarily "invalid".
    """
    t = type(value)
    if t in _SCALARS:
        return t is not int or -0x8000000000000000 <= value <= 0xFFFFFFFFFFFFFFFF
    if t not in _CONTAINERS:
        return False
    scalars = _SCALARS
    if t is dict:  # the common value: a flat object, checked without the stack
        for k, v in value.items():
            tv = type(v)
            if type(k) is not str or tv not in scalars:
                break
            if tv is int and not -0x8000000000000000 <= v <= 0xFFFFFFFFFFFFFFFF:  # ENGINE_INT_MIN/MAX
                return False
        else:
            return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        c, depth = pop()
        if depth > MAX_DEPTH:
            return False
        if type(c) is dict:
            for k, v in c.items():
                if type(k) is not str:
                    return False
                tv = type(v)
                if tv in scalars:
                    if tv is int and not -0x8000000000000000 <= v <= 0xFFFFFFFFFFFFFFFF:
                        return False
                    continue
                if tv is dict or tv is list or tv is tuple:
                    push((v, depth + 1))
                else:
                    return False
        else:
            if len(c) > 8:  # a long array: its scalars checked at C speed when it holds nothing else
                fits = _scalars_fit(c)
                if fits is not None:
                    if not fits:
                        return False
                    continue
            for v in c:
                tv = type(v)
                if tv in scalars:
                    if tv is int and not -0x8000000000000000 <= v <= 0xFFFFFFFFFFFFFFFF:
                        return False
                    continue
                if tv is dict or tv is list or tv is tuple:
                    push((v, depth + 1))
                else:
                    return False
    return True


_NUMBERS: Final = frozenset({int, float, bool})


def _scalars_fit(seq: Any) -> bool | None:
    """For an array of exact JSON scalars only: whether its ints are the engine's (True / False);
    None when it holds anything else (a container, a subclass). Its loops run in C (``map``,
    ``min``, ``max``): a long array of numbers costs about what the type check alone did."""
    types = set(map(type, seq))
    if not types <= _SCALARS:
        return None
    if int not in types:
        return True
    if types <= _NUMBERS:  # numbers compare with each other: the extremes say it
        return -0x8000000000000000 <= min(seq) and max(seq) <= 0xFFFFFFFFFFFFFFFF
    for v in seq:
        if type(v) is int and not -0x8000000000000000 <= v <= 0xFFFFFFFFFFFFFFFF:
            return False
    return True


def engine_int_problem(value: Any) -> str | None:
    """Where ``value`` (valid JSON) holds an integer Motia's engine cannot hold exactly (outside
    ``ENGINE_INT_MIN..ENGINE_INT_MAX``), said in one line, or ``None``. Walks iteratively; an int
    subclass (``IntEnum``) counts as its int, a bool never."""
    stack: list[tuple[Any, _Loc]] = [(value, None)]
    while stack:
        obj, loc = stack.pop()
        if isinstance(obj, dict):
            stack.extend((v, (loc, k)) for k, v in reversed(list(obj.items())))
        elif isinstance(obj, (list, tuple)):
            stack.extend((v, (loc, i)) for i, v in reversed(list(enumerate(obj))))
        elif isinstance(obj, int) and not isinstance(obj, bool) and not ENGINE_INT_MIN <= obj <= ENGINE_INT_MAX:
            try:
                as_float = f"the float {float(obj)!r}"
            except OverflowError:
                as_float = "a float, which it cannot (too large), so it refuses the write"
            return (
                f"{_fmt_loc(loc)} is {_short_repr(int(obj), 40)}, an integer outside the engine's 64-bit range "
                f"(-2**63 to 2**64-1): Motia's engine would store it as {as_float}, not this number "
                "(store it as a str, or as a float, to say which)"
            )
    return None


def find_json_problem(value: Any) -> str | None:
    """Return why ``value`` is not storable JSON (``"$.when is a datetime.datetime"``) or ``None``."""
    try:
        text = _c_encode(value)
    except (ValueError, TypeError, RecursionError):
        return _locate(value)
    if not _plain(value) or (not text.isascii() and not _utf8_ok(text)):
        return _locate(value)
    return None


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value (``0`` for a scalar, ``1`` for ``[1]``), iteratively."""
    best = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, dict):
            depth += 1
            stack.extend((v, depth) for v in obj.values())
        elif isinstance(obj, (list, tuple)):
            depth += 1
            stack.extend((v, depth) for v in obj)
        else:
            continue
        if depth > best:
            best = depth
    return best


# -------------------------------------------------------------------- encoding
