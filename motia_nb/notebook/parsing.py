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
  a notebook variable and, where a command allows it, a Python expression.
* :class:`CommandTable` is the router, in the manner of jupysql's ``%sqlcmd``: one
  :class:`Command` per subcommand (a word or two, like ``cron start``), each with
  its own argparse parser, summary and examples. The table parses a line, builds
  the help (``%state help``) and the magic's docstring (``%state?``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError

__all__ = [
    "Token", "Tokens", "tokenize", "MagicUsageError", "JSONInputError", "load_json", "read_value",
    "Tail", "Command", "CommandTable", "ArgParser",
]


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
    hints = []
    if "'" in text and "double quotes" in err.msg:
        hints.append("JSON strings and keys use double quotes")
    if re.search(r"\b(True|False|None)\b", text):
        hints.append("JSON writes true, false and null")
    if "$" in text or re.search(r"(?<![\"\w]){\s*[A-Za-z_]\w*\s*}", text):
        hints.append("to use a Python variable write :name")
    if hints:
        msg += "\n  hint: " + "; ".join(hints)
    return msg


def load_json(text: str, what: str = "the value") -> Any:
    """Parse strict JSON; raise :class:`JSONInputError` naming ``what``, the line and the column.

    ``NaN``, ``Infinity`` and empty text are refused (they cannot be stored as JSON).
    """
    if not isinstance(text, str):
        raise JSONInputError(f"{what}: expected JSON text, got {type(text).__name__}")
    if not text.strip():
        raise JSONInputError(f"{what} is empty; write a JSON value such as {{}}, [], \"text\", 1 or null")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise JSONInputError(_json_error_message(what, text, err)) from None
    except JSONInputError as err:
        raise JSONInputError(f"{what} is not valid JSON: {err}") from None


def read_value(
    text: str,
    what: str,
    user_ns: dict[str, Any],
    evaluate: Callable[[str], Any] | None = None,
) -> Any:
    """A value typed in a magic: ``:name`` (a notebook variable), strict JSON, or —
    when ``evaluate`` is given — a Python expression. Raises :class:`MagicUsageError`."""
    s = text.strip()
    if not s:
        raise MagicUsageError(f"missing {what}")
    m = _VAR_REF.fullmatch(s)
    if m:
        name = m.group(1)
        if name not in user_ns:
            raise MagicUsageError(f"{what}: there is no variable {name!r} in the notebook (:{name} refers to one)")
        return user_ns[name]
    try:
        return load_json(s, what)
    except JSONInputError as err:
        if evaluate is None:
            raise MagicUsageError(str(err)) from None
    try:
        return evaluate(s)
    except Exception as err:
        raise MagicUsageError(
            f"{what}: cannot read {s!r} as JSON or as a Python expression: {type(err).__name__}: {err}"
        ) from None


# ----------------------------------------------------------------------------- commands
class ArgParser(argparse.ArgumentParser):
    """argparse for one subcommand: errors are one-line :class:`MagicUsageError` with the usage."""

    usage_line = ""

    def error(self, message: str) -> Any:  # type: ignore[override]
        msg = message.removeprefix("argument ")
        raise MagicUsageError(f"{self.prog}: {msg}\n  usage: {self.usage_line or self.prog}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        raise MagicUsageError(message or f"{self.prog} exited with status {status}")


@dataclass(frozen=True)
class Tail:
    """A value a command takes verbatim after its names (``VALUE``, ``OPS``, ``DATA``...)."""

    name: str
    required: bool = True
    #: also accept a Python expression of the notebook (else JSON or :name only)
    python: bool = False
    #: the cell body may hold it instead (``%%state set GROUP KEY``)
    cell: bool = False


@dataclass(frozen=True)
class Command:
    """One subcommand: its parser, what it does, and the function that runs it.

    ``run(magics, args)`` gets the Magics object and the parsed ``argparse.Namespace``
    (with the tail, if any, under ``tail.name.lower()``).
    """

    magic: str
    name: str
    summary: str
    parser: ArgParser
    run: Callable[[Any, argparse.Namespace], Any]
    tail: Tail | None = None
    examples: tuple[str, ...] = field(default=())

    def usage(self) -> str:
        """One usage line, e.g. ``%state set GROUP KEY VALUE``."""
        u = self.parser.format_usage().strip().removeprefix("usage: ")
        if self.tail:
            u += f" {self.tail.name}" if self.tail.required else f" [{self.tail.name}]"
        return u

    def options(self) -> list[str]:
        """The ``--long`` options of this command (for completion)."""
        return [o for a in self.parser._actions for o in a.option_strings if o.startswith("--")]

    def n_names(self) -> int:
        """How many positional words precede the tail."""
        return sum(1 for a in self.parser._actions if not a.option_strings)

    def help(self) -> str:
        """Usage, description, arguments and examples of this command."""
        text = self.parser.format_help().strip()
        _, _, rest = text.partition("\n")
        text = f"usage: {self.usage()}\n{rest}".rstrip()
        if self.tail:
            kinds = "JSON, :name for a Python variable" + (", or a Python expression" if self.tail.python else "")
            where = f", or the cell body of %%{self.magic[1:]} {self.name} ..." if self.tail.cell else ""
            text += f"\n\n{self.tail.name} is written after the names, verbatim ({kinds}){where}."
        if self.examples:
            text += "\n\nexamples:\n" + "\n".join(f"  {e}" for e in self.examples)
        return text

    def parse(self, tokens: Tokens, first: int, cell: str | None, read: Callable[[str, str, Tail], Any]) -> argparse.Namespace:
        """Parse words ``first...`` of ``tokens`` (and the cell body) into this command's arguments."""
        has_body = cell is not None and cell.strip() != ""
        words = tokens.words[first:]
        if self.tail is None:
            if has_body:
                raise MagicUsageError(f"%{self.magic} {self.name} takes no cell body")
            return self.parser.parse_args([self._name(tokens, w) for w in words])
        names: list[str] = []
        for w in words:
            if len(names) == self.n_names() or tokens.source[w.start] in "{[":
                break  # JSON is never a name: a forgotten name is reported as missing
            names.append(self._name(tokens, w))
        args = self.parser.parse_args(names)
        raw = tokens.rest(first + len(names))
        if has_body:
            if raw:
                raise MagicUsageError(
                    f"%{self.magic} {self.name}: give the {self.tail.name} either on the line or in the cell body, not both"
                )
            raw = cell  # type: ignore[assignment]
        value = None
        if raw.strip() or self.tail.required:
            what = " ".join([self.magic, self.name, *names]) + f": the {self.tail.name}"
            value = read(raw, what, self.tail)
        setattr(args, self.tail.name.lower(), value)
        return args

    def _name(self, tokens: Tokens, w: Token) -> str:
        if w.unclosed:
            raise MagicUsageError(f"{self.magic} {self.name}: unclosed {w.unclosed} quote in: {tokens.source[w.start:]}")
        return w.text


class CommandTable:
    """The subcommands of one magic, and its router: line → (command, arguments)."""

    def __init__(self, magic: str, intro: str, notes: str = "", defaults: dict[str, str] | None = None) -> None:
        self.magic = magic  # "%state"
        self.intro = intro
        self.notes = notes
        #: a bare group word and the command it means (``cron`` → ``cron list``)
        self.defaults = dict(defaults or {})
        self._commands: dict[str, Command] = {}

    def add(
        self,
        name: str,
        summary: str,
        description: str,
        run: Callable[[Any, argparse.Namespace], Any],
        arguments: Callable[[ArgParser], None] | None = None,
        tail: Tail | None = None,
        examples: tuple[str, ...] = (),
    ) -> Command:
        """Add the subcommand ``name``; ``arguments(parser)`` declares its names and options."""
        parser = ArgParser(prog=f"{self.magic} {name}", description=description, add_help=False)
        if arguments is not None:
            arguments(parser)
        cmd = Command(self.magic, name, summary, parser, run, tail, tuple(examples))
        parser.usage_line = cmd.usage()
        self._commands[name] = cmd
        return cmd

    # -- the table ------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)

    def __contains__(self, name: object) -> bool:
        return name in self._commands

    def __getitem__(self, name: str) -> Command:
        return self._commands[name]

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def values(self) -> list[Command]:
        return list(self._commands.values())

    def first_words(self) -> list[str]:
        """The words a line can start with (``cron`` once for every ``cron ...``)."""
        return list(dict.fromkeys(n.split()[0] for n in self._commands))

    # -- routing --------------------------------------------------------------------
    def find(self, words: list[str]) -> tuple[Command, int]:
        """The command named by the first one or two ``words``, and how many words named it."""
        if not words:
            raise MagicUsageError(f"{self.magic} needs a subcommand: {', '.join(self)} (see {self.magic} help)")
        if len(words) > 1 and f"{words[0]} {words[1]}" in self._commands:
            return self._commands[f"{words[0]} {words[1]}"], 2
        if words[0] in self._commands:
            return self._commands[words[0]], 1
        group = [n for n in self._commands if n.startswith(words[0] + " ")]
        if group and (len(words) == 1) and words[0] in self.defaults:
            return self._commands[self.defaults[words[0]]], 1
        wanted = " ".join(words[:2]) if group else words[0]
        names = group or list(self._commands)
        close = difflib.get_close_matches(wanted, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise MagicUsageError(
            f"{self.magic}: unknown subcommand {wanted!r}.{hint} Subcommands: {', '.join(names)} (see {self.magic} help)"
        )

    def route(self, line: str, cell: str | None, read: Callable[[str, str, Tail], Any]) -> tuple[Command, argparse.Namespace]:
        """Parse one magic line (and cell body): which command, with which arguments."""
        tokens = tokenize(line)
        head = [w.text for w in tokens.words[:2]]
        cmd, used = self.find(head)
        return cmd, cmd.parse(tokens, used, cell, read)

    # -- help -----------------------------------------------------------------------
    def overview(self) -> str:
        """Every subcommand with its usage and one-line summary (also the magic's docstring)."""
        width = max(len(c.usage()) for c in self._commands.values())
        lines = [f"  {c.usage():<{width}}  {c.summary}" for c in self._commands.values()]
        text = f"{self.intro}\n\nusage:\n" + "\n".join(lines)
        if self.notes:
            text += "\n\n" + textwrap.dedent(self.notes).strip()
        return text + f"\n\nMore: {self.magic} help SUBCOMMAND"

    def help(self, words: list[str]) -> str:
        """``help`` with no words: the overview; with a subcommand (or a group such as ``cron``): its help."""
        if not words:
            return self.overview()
        name = " ".join(words)
        if name in self._commands:
            return self._commands[name].help()
        group = [c for n, c in self._commands.items() if n.startswith(name + " ")]
        if group:
            return "\n\n".join(c.help() for c in group)
        raise MagicUsageError(f"{self.magic} help: unknown subcommand {name!r}; subcommands: {', '.join(self)}")
