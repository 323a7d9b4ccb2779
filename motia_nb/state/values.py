"""Group/key name checks and JSON value validation and encoding (pure: no I/O).

Every ``set`` goes through :func:`encode_value`, so the common case (a small dict
of scalars) takes a fast path: the C JSON encoder does the work and a tight loop
checks what it cannot (non-string keys, which it silently coerces, and types that
merely *subclass* the JSON ones, such as ``numpy.float64``). Only when that fails
does a slower walk run to find *where* the value stops being JSON, so the error
can say ``$.items[2].price is NaN``.

Values may nest at most :data:`MAX_DEPTH` containers deep. The limit exists
because the rest of Python (``repr``, ``==``, ``copy.deepcopy``, pandas) recurses
on nested values and would raise ``RecursionError`` much beyond it; inside the
limit, encoding and decoding never raise ``RecursionError`` even when called from a
deep stack (they fall back to iterative code).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from motia_nb.state.errors import InvalidInputError
from motia_nb.state.jsontext import c_chunks as _listencode
from motia_nb.state.jsontext import c_encode as _c_encode
from motia_nb.state.jsontext import c_reset as _c_reset
from motia_nb.state.jsontext import encode_trusted

__all__ = [
    "MAX_DEPTH",
    "check_name",
    "encode_value",
    "encode_copy",
    "NOT_COPIED",
    "find_json_problem",
    "json_depth",
    "format_location",
    "describe",
]

#: Maximum nesting of objects/arrays inside one value (a scalar has depth 0,
#: ``[1]`` depth 1). SPEC asks for at least 500.
MAX_DEPTH: Final[int] = 512

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_CONTAINERS: Final = frozenset({dict, list, tuple})


# --------------------------------------------------------------------------- names


def _short_repr(obj: Any, limit: int = 60) -> str:
    """``repr(obj)`` cut to ``limit`` characters (never raises)."""
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(obj).__name__} object>"
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


def check_name(name: Any, what: str, *, group_id: Any = None) -> str:
    """Return ``name`` as a plain ``str`` if it is a valid group or key name.

    A name is any non-empty ``str`` (any Unicode: quotes, SQL, emoji, dots,
    slashes — names are data, never code); a ``str`` subclass is returned as a
    plain ``str``. ``what`` names the argument in the message (``"group_id"``,
    ``"key"``); ``group_id`` adds the group to a key's message. Raises
    :class:`InvalidInputError` otherwise, e.g.
    ``group_id must be a non-empty str, got int 5`` or ``key (in group 'orders')
    must be a non-empty str, got an empty string``. Text with a lone surrogate
    (``"\\ud800"``) is refused too: it is not valid Unicode and cannot be stored;
    so is a name holding the NUL character (``"\\x00"``), which SQLite's JSON
    functions would cut short, sending a write to another item.
    """
    if type(name) is str and name and name.isascii() and "\x00" not in name:
        return name  # the common case, checked first
    is_group = group_id is None
    where = "" if is_group else f" (in group {group_id!r})"
    if not isinstance(name, str) or not name:
        if isinstance(name, str):
            got = "an empty string"
        elif name is None:
            got = "None"
        else:
            got = f"{_type_name(name)} {_short_repr(name)}"
        raise InvalidInputError(
            f"{what}{where} must be a non-empty str, got {got}",
            group_id=group_id,
            key=None if is_group else name,
        )
    if type(name) is not str:
        name = str.__str__(name)
    if "\x00" in name:
        raise InvalidInputError(
            f"{what}{where} {_short_repr(name)} contains the NUL character '\\x00' at index "
            f"{name.index(chr(0))}: names cannot hold it (SQLite's JSON functions cut text there)",
            group_id=group_id,
            key=None if is_group else name,
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what}{where} {_short_repr(name)} contains a lone surrogate "
            f"{name[exc.start]!r} at index {exc.start}: not valid Unicode text, it cannot be stored",
            group_id=group_id,
            key=None if is_group else name,
        ) from None
    return name


# ------------------------------------------------------------------ locations


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
    if module == "datetime":
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
    """Fast check that an already-encodable, acyclic value uses exact JSON types only.

    ``False`` means "take the slow path" (a non-str key, a subclass such as
    ``numpy.float64``, or too deep), not necessarily "invalid".
    """
    t = type(value)
    if t in _SCALARS:
        return True
    if t not in _CONTAINERS:
        return False
    scalars = _SCALARS
    if t is dict:  # the common value: a flat object, checked without the stack
        for k, v in value.items():
            if type(k) is not str or type(v) not in scalars:
                break
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
                    continue
                if tv is dict or tv is list or tv is tuple:
                    push((v, depth + 1))
                else:
                    return False
        else:
            for v in c:
                tv = type(v)
                if tv in scalars:
                    continue
                if tv is dict or tv is list or tv is tuple:
                    push((v, depth + 1))
                else:
                    return False
    return True


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


def encode_value(value: Any, *, group_id: Any, key: Any) -> str:
    """Validate ``value`` as JSON and return its compact text (``ensure_ascii=False``).

    Accepts None, bool, int (any size Python can write), finite float, str,
    list/tuple (a tuple is stored as an array) and dict with str keys, nested up
    to :data:`MAX_DEPTH`. Anything else raises :class:`InvalidInputError` that
    names the group, the key and the place inside the value, e.g.
    ``value for 'orders'/'o1' is not JSON: $.items[2].price is NaN``.
    """
    try:
        text = _c_encode(value)
    except (ValueError, TypeError, RecursionError):
        return _encode_slow(value, group_id, key)
    if _plain(value) and (text.isascii() or _utf8_ok(text)):
        return text
    return _encode_slow(value, group_id, key)


#: :func:`encode_copy`'s answer when the value is read back from its text instead
NOT_COPIED: Final = type("NotCopied", (), {"__repr__": lambda self: "NOT_COPIED", "__slots__": ()})()


def encode_copy(value: Any, *, group_id: Any, key: Any) -> tuple[str, Any]:
    """:func:`encode_value`'s text (same checks, one pass), and the value a ``set`` answers as its
    ``new_value`` without decoding that text: ``value`` itself when it is a scalar, a shallow copy
    of a flat dict or list (a tuple: a list) of scalars, else :data:`NOT_COPIED`. The copy is taken
    now (later changes to ``value`` do not reach it) and equals ``json.loads(text)`` type for
    type: exact JSON types only, str keys, numbers read back as written."""
    if _listencode is None:  # no C accelerator
        try:
            text = _c_encode(value)
        except (ValueError, TypeError, RecursionError):
            return _encode_slow(value, group_id, key), NOT_COPIED
    else:  # jsontext.c_encode inlined (once per write of a gather)
        try:
            text = "".join(_listencode(value, 0))
        except BaseException as exc:
            _c_reset()
            if not isinstance(exc, (ValueError, TypeError, RecursionError)):
                raise
            return _encode_slow(value, group_id, key), NOT_COPIED
    if text.isascii() or _utf8_ok(text):
        t, scalars = type(value), _SCALARS
        if t is dict:
            for k, v in value.items():
                if type(k) is not str or type(v) not in scalars:
                    break
            else:
                return text, value.copy()
        elif t in scalars:
            return text, value
        elif t is list or t is tuple:
            for v in value:
                if type(v) not in scalars:
                    break
            else:
                return text, list(value)
        if _plain(value):
            return text, NOT_COPIED
    return _encode_slow(value, group_id, key), NOT_COPIED


def _encode_slow(value: Any, group_id: Any, key: Any) -> str:
    problem = _locate(value)
    if problem is not None:
        raise InvalidInputError(
            f"value for {group_id!r}/{key!r} is not JSON: {problem}", group_id=group_id, key=key
        )
    return encode_trusted(value)


