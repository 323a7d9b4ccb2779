"""JSON text in and out, fast and deep-safe (pure: no I/O, no validation).

:func:`encode_trusted` writes a value already known to be JSON with the C encoder
(compact, ``ensure_ascii=False``), falling back to an iterative writer (:mod:`.json_deep`) with the
same output when the value or the stack is too deep for recursion;
:func:`decode_value` reads stored text with ``json.loads`` and the same kind of
fallback; :func:`decode_all` a page of stored texts, each text by the C scanner on its own
(never joined: foreign texts could pair up), naming the item whose text is not JSON
(another tool wrote it). Validation (what may be stored) is
:mod:`motia_nb.state.values`.

A *stored* text is read strictly (:func:`decode_strict`, the backends' reads): ``NaN``,
``Infinity`` and a number too large for a float (``1e400``: ``json.loads`` reads it as
``inf``) are not JSON, as for Redis (:mod:`.backends.redis.codec`). The old value of a write
that committed is read leniently (:func:`decode_lenient`, :func:`decode_lenient_many`): a
text that is not JSON comes back as that text, as Redis hands it back.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder as _c_make_encoder
from json.encoder import encode_basestring as _c_encode_str
from typing import Any, Final

from .errors import StoredValueError
from .json_deep import _decode_iterative, _encode_iterative, _finite_float
from .stored_text import lenient_text, not_text_reason

__all__ = [
    "encode_trusted", "decode_value", "decode_stored", "decode_all", "decode_one", "not_json", "c_encode", "c_chunks",
    "c_reset", "decode_strict", "decode_lenient", "decode_lenient_many", "decode_written_many", "is_strict_json",
    "decode_checked",
]  # fmt: skip


def _reject_default(obj: Any) -> Any:
    raise TypeError("not JSON")


# One shared encoder: building a JSONEncoder per call costs more than encoding a
# small dict. ``check_circular`` makes the C encoder raise on cycles instead of
# overflowing the stack.
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    check_circular=True,
    separators=(",", ":"),
    default=_reject_default,
)
_markers: dict[int, Any] = {}  # the C encoder's cycle check (emptied again by every encode that ends)
_listencode = (
    None if _c_make_encoder is None
    else _c_make_encoder(_markers, _reject_default, _c_encode_str, None, ":", ",", False, False, False)
)  # fmt: skip


def c_encode(value: Any) -> str:
    """``_ENCODER.encode(value)``, the same text, without the encoder's Python wrapper (which makes a
    new C encoder per call: three times the cost of a small object). One C encoder serves every call:
    the GIL is held throughout an encode of plain JSON types, and an encode that fails leaves
    its cycle marks behind, so they are cleared (the caller then takes its slow path)."""
    if _listencode is None:  # no C accelerator: the wrapper
        return _ENCODER.encode(value)
    try:
        return "".join(_listencode(value, 0))
    except BaseException:
        _markers.clear()
        raise


_c_encode = c_encode
#: for a caller inlining :func:`c_encode` on its hot path: ``"".join(c_chunks(value, 0))`` (None
#: without the C accelerator), and ``c_reset()`` to call when that raised
c_chunks = _listencode
c_reset = _markers.clear


def encode_trusted(value: Any) -> str:
    """Encode a value already known to be valid JSON (no checks beyond the encoder's)."""
    try:
        return _c_encode(value)
    except RecursionError:
        return _encode_iterative(value)


# -------------------------------------------------------------------- decoding


def decode_value(text: str | bytes) -> Any:
    """Decode stored JSON text (``json.loads``; iterative fallback for deep values)."""
    try:
        return json.loads(text)
    except RecursionError:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")
        return _decode_iterative(text)


#: the C scanner behind json.loads, without its wrapper
_scan = json.JSONDecoder().scan_once


def decode_stored(text: str) -> Any:
    """:func:`decode_value` for the hot paths: the C scanner straight away for the compact
    text motia_nb writes (no surrounding whitespace), :func:`decode_value` for anything else."""
    try:
        obj, end = _scan(text, 0)
        if end == len(text):
            return obj
    except (StopIteration, RecursionError):
        pass
    return decode_value(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
#: ``json.loads`` that refuses ``NaN``, ``Infinity`` and numbers too large for a float
strict_loads = _STRICT.decode
_strict_scan = _STRICT.scan_once


def decode_strict(text: str) -> Any:
    """A stored text as a value, strictly (Redis reads the same: :mod:`.backends.redis.codec`):
    a ``ValueError`` (``JSONDecodeError``, ``NaN is not JSON``, a number too large for a float,
    the int digit limit) for a text that is not one JSON value; deep values are decoded too."""
    try:
        obj, end = _strict_scan(text, 0)
        if end == len(text):
            return obj
    except StopIteration:
        pass
    except RecursionError:
        return _decode_iterative(text)
    try:
        return strict_loads(text)  # surrounding whitespace, or the error's message
    except RecursionError:
        return _decode_iterative(text)


def is_strict_json(text: str) -> bool:
    """Whether ``text`` is one JSON value :func:`decode_strict` reads (a value that is not text,
    :class:`NotText` included: no)."""
    if type(text) is not str:
        return False
    try:
        decode_strict(text)
    except ValueError:
        return False
    return True


def decode_lenient(text: str) -> Any:
    """The old value of a committed write (a set, delete or clear over it): its value, or the
    text itself when it is not JSON (another tool's), as Redis hands it back. A value that is
    not text (SQLite: a BLOB, text that is not UTF-8, a number) is first read as Redis reads
    its bytes: UTF-8, an invalid sequence as U+FFFD (:func:`lenient_text`)."""
    if type(text) is not str:
        text = lenient_text(text)
    try:
        return decode_strict(text)
    except ValueError:
        return text


def _each(texts: "list[Any]", scan: Any, otherwise: Any) -> list[Any]:
    """Each text by the C scanner ``scan`` on its own, proved to end at its own end (None: None);
    any other text (not one JSON value, NaN, 1e400, too deep, not a str) as ``otherwise(text,
    index)`` gives it. One loop for the three readers below: never a parse of texts joined
    (:func:`decode_all` says why)."""
    out: list[Any] = []
    append = out.append
    for t in texts:
        if t is None:
            append(None)
            continue
        try:
            obj, end = scan(t, 0)
            if end == len(t):
                append(obj)
                continue
        except (StopIteration, ValueError, RecursionError, TypeError):
            pass
        append(otherwise(t, len(out)))
    return out


def _lenient(text: Any, _i: int) -> Any:
    return decode_lenient(text)


def decode_lenient_many(texts: list[str | None]) -> list[Any]:
    """:func:`decode_lenient` of each text (None: None), each on its own: a text that is not one
    JSON value can never pair with a neighbour (as one parse of them joined would let it)."""
    return _each(texts, _strict_scan, _lenient)


def decode_written_many(texts: list[str | None]) -> list[Any]:
    """Texts motia_nb wrote (the new values a changelog records: only motia_nb writes them), each
    by the C scanner on its own (None: None; never joined, as :func:`decode_all` explains);
    a text that is not one JSON value after all: :func:`decode_lenient`."""
    return _each(texts, _scan, _lenient)


def not_json(text: str, group_id: str, key: str | None, exc: BaseException, when: str | None = None) -> StoredValueError:
    """The error for a stored text that is not JSON (another tool wrote the file), naming the item
    (``key`` None: a whole-group read that does not read keys; ``items()`` names it) and, for a
    past value the history recorded, ``when`` (``before change 42``)."""
    why = f"it is not JSON ({exc.msg} at character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else str(exc)
    if type(text) is not str:
        text = lenient_text(text)
    preview = text[:60] + ("…" if len(text) > 60 else "")
    where = f"the value of {group_id!r}/{key!r}" if key is not None else f"a value of group {group_id!r}"
    if when is not None:  # a past value: the item as it is now is not the problem
        where += f" {when}"
    hint = "; items() names its key" if key is None else "" if when is not None else ". Overwrite it with set() or delete it"
    return StoredValueError(
        f"{where} cannot be read: {why}; it starts {preview!r} (written by another tool?){hint}",
        group_id=group_id, key=key,
    )  # fmt: skip


def decode_one(text: str, group_id: str, key: str | None, when: str | None = None) -> Any:
    """A stored text decoded strictly (:func:`decode_strict`), or :func:`not_json`'s error; a
    value that is not text (:func:`not_text_reason`) is that error too."""
    if type(text) is not str:
        raise not_json(text, group_id, key, ValueError(not_text_reason(text)), when) from None
    try:
        return decode_strict(text)
    except ValueError as exc:  # JSONDecodeError, NaN, inf, the int digit limit
        raise not_json(text, group_id, key, exc, when) from None


def decode_all(texts: list[str], group_id: str, keys: list[str] | None = None) -> list[Any]:
    """Stored texts decoded strictly, each text on its own by the C scanner (no join, no
    wrapper per text); a text that is not one JSON value (another tool's) is named
    (:func:`not_json`).

    Not one parse of the texts joined (``[`` + ``,``.join(texts) + ``]``) with a count check:
    texts that are not JSON can balance each other there and keep the count while values move
    to the wrong keys (``1,2`` + ``[3`` + ``4]`` reads as ``1``, ``2``, ``[3,4]``). Scanning each
    text from its start and asking that the value end at its end is that same parse, text by
    text, with every value proved to be its own text's. Measured on 100,000 small objects it
    costs ~1.5× the one parse (a call per text; equal object keys are no longer one shared
    string); keeping the one parse and checking it with the scanner at each text's offset cost
    more (both parses), and no cheaper check of the one parse is sound: with a count check,
    strings ending at a joint or brackets opened across joints let texts trade values.
    """
    return _each(texts, _strict_scan, lambda t, i: decode_one(t, group_id, None if keys is None else keys[i]))



def decode_checked(
    texts: list[str], group_id: str, keys: list[str] | None = None, *, all_valid: bool, joined: str | None = None
) -> list[Any]:
    """:func:`decode_all` of texts a store judged one by one in C: ``all_valid`` when SQLite's
    ``json_valid`` said 1 for every text of the page (the SQLite reads ask it beside each value).
    Then ONE parse of the texts joined (``[`` + ``,``.join(texts) + ``]``) by the strict decoder
    (its hooks refuse NaN, Infinity, 1e400 and over-long ints there too); otherwise, or when that
    parse fails (a hook, too deep, a text that is not a str), :func:`decode_all`, which names the
    item. ``joined``: that joined text, made already (to_frame searches it). The result is
    :func:`decode_all`'s, always:

    - ``json_valid(X)`` (SQLite 3.40.1; whichever SQLite Python links is held to a table of edge
      cases in ``tests/test_sqlite_onepass.py``) is 1 only for X that is one RFC 8259 value with
      optional JSON whitespace around it, judged up to X's first NUL: no NaN/Infinity, comments,
      trailing commas, ``01``/``-``/``+1``/``.5``/``1.``, single quotes, raw control characters or
      newlines in strings, unterminated strings, JSON5. It says 1 for valid JSON Python reads
      otherwise: ``1e400`` and 5,000-digit ints (the hooks refuse them in the one parse too: it
      falls back and names the item), nesting deeper than Python recurses (RecursionError: falls
      back, and the text-by-text decode reads it iteratively); lone surrogate escapes read the
      same both ways.
    - Texts each one value ``ws v ws`` joined as ``[t1,…,tn]`` are the array production, and
      JSON's grammar is LL(1): a value's extent is fixed by its own characters (a string ends at
      its first unescaped quote, a container at its matching bracket, a number or literal at the
      first character that cannot continue it, here whitespace, ``,`` or ``]``), so the array's
      i-th element is exactly text i, scanned by the same C scanner with the same hooks as
      :func:`decode_strict` (which also strips surrounding whitespace): equal values, in order.
    - A text with a NUL was judged only up to it, but NUL is allowed nowhere in JSON (not
      whitespace, not a token's character, refused raw in a string by ``strict``): the one parse
      fails on it. A value that is not a str (a BLOB, an SQL number, text that is not UTF-8,
      which ``json_valid`` may call valid) fails the join. The count and end are checked anyway.
    """
    if all_valid and texts:
        try:
            if joined is None:
                joined = "[" + ",".join(texts) + "]"
            values, end = _strict_scan(joined, 0)
            if end == len(joined) and len(values) == len(texts):
                return values
        except (StopIteration, ValueError, RecursionError, TypeError):
            pass
    return decode_all(texts, group_id, keys)
