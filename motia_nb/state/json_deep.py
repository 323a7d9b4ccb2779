"""JSON too deep for recursion, both ways (pure): :mod:`.jsontext`'s fallbacks.

``json``'s C encoder and scanner recurse; a value nested deeper than the interpreter's
recursion limit (the engine stores what it is sent, however deep) raises ``RecursionError``
there. :func:`_encode_iterative` writes the same compact text as the C encoder
(``ensure_ascii=False``) with an explicit stack, :func:`_decode_iterative` reads any JSON
text with one, raising ``json.JSONDecodeError`` as ``json.loads`` does.
"""

from __future__ import annotations

import json
import math
import re
from json.decoder import scanstring as _scanstring
from json.encoder import encode_basestring as _encode_str
from typing import Any

__all__: list[str] = []  # private to jsontext (and its tests)


def _finite_float(s: str) -> float:
    f = float(s)
    if math.isinf(f):
        raise ValueError(f"the number {s[:40]}{'…' if len(s) > 40 else ''} is too large for a float (it would read as inf)")
    return f


def _encode_iterative(value: Any) -> str:
    """Same output as the C encoder, without recursion (for deep values / deep stacks)."""
    out: list[str] = []
    # Stack items are either a value to write or a literal string (pushed as a 1-tuple).
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Lit:
            out.append(item.text)
            continue
        if isinstance(item, str):
            out.append(_encode_str(item))
        elif item is None:
            out.append("null")
        elif item is True:
            out.append("true")
        elif item is False:
            out.append("false")
        elif isinstance(item, int):
            out.append(int.__repr__(item))
        elif isinstance(item, float):
            out.append(float.__repr__(item))
        elif isinstance(item, dict):
            pieces: list[Any] = [_Lit("{")]
            for i, (k, v) in enumerate(item.items()):
                pieces.append(_Lit(("," if i else "") + _encode_str(k) + ":"))
                pieces.append(v)
            pieces.append(_Lit("}"))
            pieces.reverse()
            stack.extend(pieces)
        else:  # list / tuple
            pieces = [_Lit("[")]
            for i, v in enumerate(item):
                if i:
                    pieces.append(_Lit(","))
                pieces.append(v)
            pieces.append(_Lit("]"))
            pieces.reverse()
            stack.extend(pieces)
    return "".join(out)


class _Lit:
    """A literal piece of output text on the iterative encoder's stack."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}


def _decode_iterative(text: str) -> Any:
    """A small non-recursive JSON parser (only used when ``json.loads`` would recurse too deep)."""

    def fail(msg: str, pos: int) -> json.JSONDecodeError:
        return json.JSONDecodeError(msg, text, pos)

    ws = _WS.match
    pos = ws(text, 0).end()
    # Each frame: [container, pending_key]; pending_key is used for dicts.
    stack: list[list[Any]] = []
    result: Any = None
    done = False
    while not done:
        # ---- parse one value starting at pos
        ch = text[pos : pos + 1]
        value: Any
        opened = False
        if ch == "{":
            pos = ws(text, pos + 1).end()
            if text[pos : pos + 1] == "}":
                value = {}
                pos += 1
            else:
                if text[pos : pos + 1] != '"':
                    raise fail("Expecting property name enclosed in double quotes", pos)
                k, pos = _scanstring(text, pos + 1)
                pos = ws(text, pos).end()
                if text[pos : pos + 1] != ":":
                    raise fail("Expecting ':' delimiter", pos)
                pos = ws(text, pos + 1).end()
                stack.append([{}, k])
                opened = True
        elif ch == "[":
            pos = ws(text, pos + 1).end()
            if text[pos : pos + 1] == "]":
                value = []
                pos += 1
            else:
                stack.append([[], None])
                opened = True
        elif ch == '"':
            value, pos = _scanstring(text, pos + 1)
        else:
            for lit, lit_value in _LITERALS.items():
                if text.startswith(lit, pos):
                    value = lit_value
                    pos += len(lit)
                    break
            else:
                m = _NUMBER.match(text, pos)
                if m is None:
                    raise fail("Expecting value", pos)
                integer, frac, exp = m.groups()
                value = _finite_float(integer + (frac or "") + (exp or "")) if frac or exp else int(integer)
                pos = m.end()
        if opened:
            continue
        # ---- attach the value to its parent, closing finished containers
        while True:
            if not stack:
                result = value
                done = True
                break
            frame = stack[-1]
            container = frame[0]
            if type(container) is dict:
                container[frame[1]] = value
            else:
                container.append(value)
            pos = ws(text, pos).end()
            ch = text[pos : pos + 1]
            if ch == ",":
                pos = ws(text, pos + 1).end()
                if type(container) is dict:
                    if text[pos : pos + 1] != '"':
                        raise fail("Expecting property name enclosed in double quotes", pos)
                    frame[1], pos = _scanstring(text, pos + 1)
                    pos = ws(text, pos).end()
                    if text[pos : pos + 1] != ":":
                        raise fail("Expecting ':' delimiter", pos)
                    pos = ws(text, pos + 1).end()
                break  # parse the next element
            closer = "}" if type(container) is dict else "]"
            if ch != closer:
                raise fail(f"Expecting ',' or {closer!r}", pos)
            pos += 1
            stack.pop()
            value = container
    pos = ws(text, pos).end()
    if pos != len(text):
        raise fail("Extra data", pos)
    return result
