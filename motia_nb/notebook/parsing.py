"""Reading what a user types after ``%state`` and ``%motia``: one tokenizer, one error, one JSON loader.

Every magic of motia_nb goes through this module, so the rules are the same everywhere:

* :func:`tokenize` splits a line into words. White space separates words; ``'...'``
  and ``"..."`` group them (inside double quotes ``\\"`` and ``\\\\`` are escapes;
  elsewhere a backslash is an ordinary character, so Windows paths need no
  doubling); a ``#`` that starts a word, outside quotes, starts a comment. JSON,
  Python expressions and step code are never re-quoted: a command takes them
  verbatim from the line (:meth:`Tokens.rest`) or from the cell body.
* :class:`MagicUsageError` is the one error for input the magic cannot read: a
  ``UsageError`` that IPython shows as one line and that still fails the cell.
* :func:`load_json` is the one strict JSON reader (no ``NaN``/``Infinity``); its
  error points at the column and hints at the usual slips (single quotes,
  ``True``/``None``, ``{var}`` or ``$var``). :func:`read_value` adds ``:name`` for
  a notebook variable and, where a command allows it, a Python expression; a whole value
  written as IPython's ``$var`` / ``{expr}`` (never expanded here) is refused in one line.

The router and the subcommand tables built on these are in :mod:`.commands`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from motia_nb.state.value_checks import MAX_DEPTH

__all__ = ["Token", "Tokens", "tokenize", "MagicUsageError", "JSONInputError", "load_json", "read_value",
           "without_comments", "as_written", "variable_expression"]


# ----------------------------------------------------------------------------- tokens
@dataclass(frozen=True)
class Token:
    """One word of a magic's line: its text (quotes removed) and where it sits in the line."""

    text: str
    start: int
    end: int
    #: the quote character left open when the word runs to the end of the line, else ""
    unclosed: str = ""


@dataclass(frozen=True)
class Tokens:
    """A line split into words; ``end`` is where the code ends (a trailing ``# comment`` starts)."""

    source: str
    words: tuple[Token, ...]
    end: int

    def rest(self, index: int) -> str:
        """The raw text from word ``index`` to the end of the code, verbatim (JSON, expressions)."""
        if index >= len(self.words):
            return ""
        return self.source[self.words[index].start : self.end].strip()

    def touches_end(self) -> bool:
        """True when the last word runs up to the end of the text (it is still being typed)."""
        return bool(self.words) and self.words[-1].end == len(self.source) and self.end == len(self.source)


def tokenize(text: str) -> Tokens:
    """Split ``text`` into words (see the module docstring for the quoting rules).

    Never raises: an unclosed quote makes a last word that runs to the end of the
    line with ``unclosed`` set; the caller decides whether that is an error (a
    name) or not (a word still being typed, or text inside a JSON value).
    """
    words: list[Token] = []
    i, size = 0, len(text)
    while True:
        while i < size and text[i].isspace():
            i += 1
        if i >= size or text[i] == "#":
            return Tokens(text, tuple(words), min(i, size))
        start, buf, unclosed = i, [], ""
        while i < size and not text[i].isspace():
            ch = text[i]
            if ch not in "'\"":
                buf.append(ch)
                i += 1
                continue
            j = i + 1
            while j < size and text[j] != ch:
                if ch == '"' and text[j] == "\\" and j + 1 < size and text[j + 1] in '"\\':
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= size:
                unclosed, i = ch, size
                break
            i = j + 1
        words.append(Token("".join(buf), start, i, unclosed))


# ----------------------------------------------------------------------------- errors and values
class MagicUsageError(UsageError):
    """Input a magic cannot read: shown as one line, and it fails the cell.

    IPython prints a plain ``UsageError`` without telling the front end that the
    cell failed, so Run All and nbval would go on. This subclass takes IPython's
    normal error path (an ``error`` message, the cell fails) but renders as one
    line instead of a traceback.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


#: a whole word written as IPython expands a notebook variable in other magics (``$tid``,
#: ``$o.id``, ``${tid}``, ``{tid}``, ``{last["trace_id"]}``); motia_nb's magics never expand one
_VARIABLE = re.compile(r"\$(?:\{\s*(?P<dollar_braced>[^{}]+?)\s*\}|(?P<dollar>[A-Za-z_][\w.]*))|\{\s*(?P<brace>.+?)\s*\}")


def variable_expression(word: str) -> str | None:
    """The notebook expression ``word`` names when it is written as IPython's ``$var`` / ``{expr}``
    expansion (``"tid"`` for ``$tid``), else None (``price$``, ``a{b}`` and ``$1`` are names)."""
    m = _VARIABLE.fullmatch(word)
    return None if m is None else (m["dollar_braced"] or m["dollar"] or m["brace"])


def unexpanded_value(text: str) -> str | None:
    """The notebook expression a VALUE / DATA that is not JSON names when it is written as
    IPython's ``$var`` / ``{expr}`` expansion, else None. ``{expr}`` counts only when ``expr`` is a
    Python expression using a name: ``{x: 1}`` (an object with an unquoted key), ``{"id": oid}``
    and ``{**d}`` (dicts) and ``{"a"}`` are no variable. As Python, ``{expr}`` is a set, which is
    never a JSON value, so nothing a DATA could mean is refused."""
    if "\n" in text or "\r" in text:  # (over lines: a cell's body, which IPython never expands)
        return None
    expression = variable_expression(text)
    if expression is None or text[0] == "$":
        return expression
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    return expression if any(isinstance(n, ast.Name) for n in ast.walk(tree)) else None


def _unexpanded_message(what: str, text: str, expression: str, python: bool) -> str:
    """One line for a VALUE / DATA written as a notebook variable: what to write instead."""
    if python:
        instead = f"write the expression itself, {expression}"
    elif expression.isidentifier():
        instead = f"write :{expression} for its value"
    else:
        instead = f"write :name for a variable's value, after name = {expression}"
    return (f"{what} {text} reads as a variable of the notebook, but {what.split()[0]} never expands {{var}} or $var: "
            f"{instead} (or {json.dumps(text, ensure_ascii=False)}, quoted, for the text itself)")


#: a URL, FILE or DIR written as a notebook variable: IPython's {var} (anywhere) or $var, or :name
_AS_VARIABLE = re.compile(r"\{\s*[A-Za-z_][\w.]*\s*\}|^\$[A-Za-z_]|^:[A-Za-z_]\w*$")


def as_written(where: str, what: str, text: str) -> str:
    """``text`` (a URL, FILE or DIR of ``where``, e.g. ``"%state use"``), refused when it reads as
    a notebook variable: the magics never expand one, so ``%state use {db}`` would open a new
    database in a file named ``{db}`` (``:memory:`` is a URL, not a variable)."""
    if text != ":memory:" and _AS_VARIABLE.search(text):
        raise MagicUsageError(
            f"{where}: {text!r} reads as a variable of the notebook, but {where.split()[0]} takes the {what} "
            "as written, never from a variable ({var}, $var, :name): write it out"
        )
    return text


class JSONInputError(ValueError):
    """Text that is not strict JSON; the message says where and, when it can, why."""


_VAR_REF = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def _refuse_constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not a JSON value (JSON numbers must be finite)")


def _json_error_message(what: str, text: str, err: json.JSONDecodeError) -> str:
    lines = text.splitlines() or [""]
    line = lines[min(err.lineno, len(lines)) - 1]
    col = err.colno - 1
    start = max(0, col - 60)
    caret = " " * (col - start) + "^"
    msg = (
        f"{what} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})\n"
        f"    {line[start : start + 100]}\n    {caret}"
    )
    hints = _quoting_hints(text.strip())
    if "'" in text and "double quotes" in err.msg and not hints:
        hints.append("JSON strings and keys use double quotes")
    if re.search(r"\b(True|False|None)\b", text):
        hints.append("JSON writes true, false and null")
    if "$" in text or re.search(r"(?<![\"\w]){\s*[A-Za-z_]\w*\s*}", text):
        hints.append("to use a Python variable write :name")
    if hints:
        msg += "\n  hint: " + "; ".join(hints)
    return msg


_WORD = re.compile(r"[A-Za-z_][\w-]*")


def _quoting_hints(text: str) -> list[str]:
    """What a newcomer meant by quotes a shell would take off (``'{"a": 1}'``, ``'paid'``) or by
    a bare word (``paid``): the magics take the text as typed, quotes and all."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        inner = text[1:-1]
        try:
            value = json.loads(inner, parse_constant=_refuse_constant)
        except (ValueError, JSONInputError, RecursionError):
            if text[0] == "'" and "\n" not in inner and '"' not in inner and inner[:1] not in ("{", "["):  # a text meant
                return [f'the magic is no shell: the quotes are part of the text; a JSON string has double quotes: "{inner}"']
            return []
        text_too = "" if isinstance(value, (dict, list, str)) else f' (or "{inner}" for a text)'
        return [f"the magic is no shell: the quotes around it are part of the text; write it without them: {inner}{text_too}"]
    if _WORD.fullmatch(text) and text not in ("True", "False", "None"):
        return [f'a JSON string has double quotes: "{text}"; a notebook variable is :{text}']
    return []


def without_comments(text: str) -> str:
    """``text`` with each ``# comment`` outside a JSON string cut off its line.

    JSON has no ``#`` outside strings, so a valid document is never changed; lines
    and the columns before a comment stay where they were (errors point right).
    """
    if "#" not in text:
        return text
    out: list[str] = []
    in_string = escaped = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"' or c == "\n":
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        out.append(c)
        i += 1
    return "".join(out)


def load_json(text: str, what: str = "the value") -> Any:
    """Parse strict JSON; raise :class:`JSONInputError` naming ``what``, the line and the column.

    A ``# comment`` may end any line. ``NaN``, ``Infinity`` and empty text are
    refused (they cannot be stored as JSON).
    """
    if not isinstance(text, str):
        raise JSONInputError(f"{what}: expected JSON text, got {type(text).__name__}")
    typed, text = text, without_comments(text)
    if not text.strip():
        raise JSONInputError(f"{what} is empty; write a JSON value such as {{}}, [], \"text\", 1 or null")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise JSONInputError(_json_error_message(what, typed, err)) from None
    except JSONInputError as err:
        raise JSONInputError(f"{what} is not valid JSON: {err}") from None
    except RecursionError:  # (thousands of nested brackets: Python's reader gives up before any check)
        raise JSONInputError(f"{what} nests deeper than {MAX_DEPTH} levels (the limit is MAX_DEPTH)") from None
    except ValueError as err:  # a number of more digits than Python converts (sys.get_int_max_str_digits)
        raise JSONInputError(f"{what} is not valid JSON: {err}") from None


def read_value(
    text: str,
    what: str,
    user_ns: dict[str, Any],
    evaluate: Callable[[str], Any] | None = None,
) -> Any:
    """A value typed in a magic: ``:name`` (a notebook variable), strict JSON, or —
    when ``evaluate`` is given — a Python expression. Raises :class:`MagicUsageError`: one line
    for what is none of these and reads as IPython's ``$var`` / ``{expr}`` (:func:`unexpanded_value`)."""
    s = text.strip()
    if not s:
        raise MagicUsageError(f"{what} is missing")
    m = _VAR_REF.fullmatch(without_comments(s).strip())
    if m:
        name = m.group(1)
        if name not in user_ns:
            raise MagicUsageError(f"{what}: there is no variable {name!r} in the notebook (:{name} refers to one)")
        return user_ns[name]
    try:
        return load_json(s, what)
    except JSONInputError as err:
        code = without_comments(s).strip()
        expression = unexpanded_value(code)
        if expression is not None:  # `$x`, `{x}`: IPython's expansion, which the magics never do
            raise MagicUsageError(_unexpanded_message(what, code, expression, evaluate is not None)) from None
        if evaluate is None:
            raise MagicUsageError(str(err)) from None
    try:
        return evaluate(s)
    except Exception as err:
        shown = repr(s) if len(s) <= 200 else f"{s[:100]!r}...({len(s):,} characters)"
        reason = " ".join(str(err).split())  # one line, whatever the expression raised
        reason = reason if len(reason) <= 300 else reason[:300] + "..."
        raise MagicUsageError(
            f"{what}: cannot read {shown} as JSON or as a Python expression: {type(err).__name__}: {reason}"
        ) from None
