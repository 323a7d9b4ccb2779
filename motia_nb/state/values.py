"""Group/key name checks and JSON value validation and encoding (pure: no I/O).

Every ``set`` goes through :func:`encode_value`, so the common case (a small dict
of scalars) takes a fast path: the C JSON encoder does the work and a tight loop
checks what it cannot (non-string keys, which it silently coerces, and types that
merely *subclass* the JSON ones, such as ``numpy.float64``). Only when that fails
does a slower walk run to find *where* the value stops being JSON, so the error
can say ``$.items[2].price is NaN`` (that walk, the depth limit and how objects are
described in errors live in :mod:`.value_checks`).

Values may nest at most :data:`MAX_DEPTH` containers deep. The limit exists
because the rest of Python (``repr``, ``==``, ``copy.deepcopy``, pandas) recurses
on nested values and would raise ``RecursionError`` much beyond it; inside the
limit, encoding and decoding never raise ``RecursionError`` even when called from a
deep stack (they fall back to iterative code).
"""

from __future__ import annotations

from typing import Any, Final

from motia_nb.state.errors import InvalidInputError
from motia_nb.state.jsontext import c_chunks as _listencode
from motia_nb.state.jsontext import c_encode as _c_encode
from motia_nb.state.jsontext import c_reset as _c_reset
from motia_nb.state.jsontext import encode_trusted
from motia_nb.state.value_checks import (
    _SCALARS,
    MAX_DEPTH,
    _locate,
    _plain,
    _scalars_fit,
    _short_repr,
    _type_name,
    _utf8_ok,
    describe,
    engine_int_problem,
    find_json_problem,
    format_location,
    json_depth,
)

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


def encode_value(value: Any, *, group_id: Any, key: Any) -> str:
    """Validate ``value`` as JSON and return its compact text (``ensure_ascii=False``).

    Accepts None, bool, int (from -2**63 to 2**64-1, the integers Motia's engine holds: one
    past them is refused, naming it, as the engine would silently store a float), finite float, str,
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
                tv = type(v)
                if type(k) is not str or tv not in scalars:
                    break
                if tv is int and not -0x8000000000000000 <= v <= 0xFFFFFFFFFFFFFFFF:  # the engine's ints
                    return _encode_slow(value, group_id, key), NOT_COPIED
            else:
                return text, value.copy()
        elif t in scalars:
            if t is not int or -0x8000000000000000 <= value <= 0xFFFFFFFFFFFFFFFF:
                return text, value
            return _encode_slow(value, group_id, key), NOT_COPIED
        elif t is list or t is tuple:
            if len(value) > 8:  # a long array of scalars: checked at C speed
                fits = _scalars_fit(value)
                if fits:
                    return text, list(value)
                if fits is False:
                    return _encode_slow(value, group_id, key), NOT_COPIED
            else:
                for v in value:
                    tv = type(v)
                    if tv not in scalars:
                        break
                    if tv is int and not -0x8000000000000000 <= v <= 0xFFFFFFFFFFFFFFFF:
                        return _encode_slow(value, group_id, key), NOT_COPIED
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
    problem = engine_int_problem(value)
    if problem is not None:
        raise InvalidInputError(f"value for {group_id!r}/{key!r}: {problem}", group_id=group_id, key=key)
    return encode_trusted(value)


