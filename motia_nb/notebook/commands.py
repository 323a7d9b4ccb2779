"""The router of motia_nb's magics: a table of subcommands, each with its own parser.

In the manner of jupysql's ``%sqlcmd`` (a router plus a parser per subcommand),
a :class:`CommandTable` holds one :class:`Command` per subcommand of a magic — a
word or two, like ``set`` or ``cron start`` — with its argparse parser, a one-line
summary, a description, examples, and the function that runs it. The table turns
a line into ``(command, arguments)`` (:meth:`CommandTable.route`), and writes the
help: ``%state help`` (every subcommand with its usage and summary),
``%state help SUBCOMMAND``, and the magic's docstring shown by ``%state?``.

Words come from :func:`.parsing.tokenize`; a value after the names (a
:class:`Tail`: ``VALUE``, ``OPS``, ``DATA``...) is taken verbatim and read by the
magic (:func:`.parsing.read_value`); every error is a :class:`.parsing.MagicUsageError`.
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

from .arg_parser import ArgParser
from .parsing import MagicUsageError, Token, Tokens, tokenize, variable_expression

__all__ = ["ArgParser", "Tail", "Written", "Command", "CommandTable", "variable_expression"]

#: IPython's ``{var}`` expansion, which motia_nb's magics do not do (``no_var_expand``)
_VAR_BRACES = re.compile(r"\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}")
#: the arguments :func:`.parsing.as_written` checks where they are used, in its own words (it also
#: refuses ``:name``): not names
_CHECKED_AS_WRITTEN = frozenset({"URL", "FILE", "DIR", "PATH"})


def _cut(text: str, limit: int = 120) -> str:
    """``text`` as an error line echoes what was typed: whole up to ``limit`` characters, else its
    start and how long it was (a pasted 100,000-character word is no clearer in full)."""
    return text if len(text) <= limit else f"{text[: limit - 40]}... ({len(text):,} characters)"


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
class Written:
    """What a command says when its name argument is written as a notebook variable (``$tid``),
    when a name (quoted, to mean it literally) is not what it takes: ``%motia trace`` takes
    ``the trace id``, and ``instead(expression)`` says what to write instead."""

    what: str
    itself: str
    instead: Callable[[str], str] = lambda expression: ""


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
    #: its words for a name argument written as a notebook variable (None: a name, quoted to mean it literally)
    written: Written | None = None

    def usage(self) -> str:
        """One usage line, e.g. ``%state set GROUP KEY VALUE``."""
        u = self.parser.format_usage().strip().removeprefix("usage: ")
        if self.tail:
            u += f" {self.tail.name}" if self.tail.required else f" [{self.tail.name}]"
        return u

    def options(self) -> list[str]:
        """The ``--long`` options of this command (for completion)."""
        return [o for a in self.parser._actions for o in a.option_strings if o.startswith("--")]

    def value_options(self) -> frozenset[str]:
        """The options that take a value (``--since SEQ``), whose next word is not a name."""
        return frozenset(o for a in self.parser._actions if a.option_strings and a.nargs != 0 for o in a.option_strings)

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
            self._no_variable_options(tokens, words)
            try:
                args = self._parse_names(tokens, [self._name(tokens, w) for w in words])
            except MagicUsageError as err:  # `%motia cron start $n`: refused by the value's type
                self._no_variable_typed(tokens, words, str(err))
                raise
            self._no_variable_names(tokens, words, args)
            return args
        names: list[str] = []
        used = 0  # words read as names (and a `--` before them)
        for w in words:
            if len(names) == self.n_names() or tokens.source[w.start] in "{[":
                break  # JSON is never a name: a forgotten name is reported as missing
            used += 1
            if not names and tokens.source[w.start : w.end] == "--":
                continue  # `%state set -- -g k 1`: the usual end-of-options mark, accepted
            names.append(self._name(tokens, w))
        # A command with a tail takes no options: every name is a name, even "-k" or "-1".
        try:
            args = self._parse_names(tokens, ["--", *names])
        except MagicUsageError as err:
            word = tokens.source[words[used].start : words[used].end] if used < len(words) else ""
            if "required" in str(err) and _VAR_BRACES.fullmatch(word):
                # `%state set {grp} k 1`: a name written as IPython's {var} was read as the VALUE
                raise MagicUsageError(
                    f"{err}\n  hint: {word} was read as the {self.tail.name} (JSON starts with {{), so the names "
                    f"before it are missing; %{self.magic[1:]} takes names as written, never from a variable "
                    f'({{var}}, $var): write the name itself (quoted, "{word}", to mean it literally)'
                ) from None
            if "required" in str(err) and word[:1] in "{[":
                raise MagicUsageError(f"{err}{self._names_after(tokens.rest(first + used), names)}") from None
            raise
        self._no_variable_names(tokens, words[:used], args)
        raw = tokens.rest(first + used)
        if has_body:
            if raw:
                raise MagicUsageError(
                    f"%{self.magic} {self.name}: give the {self.tail.name} either on the line or in the cell body, not both"
                )
            raw = cell  # type: ignore[assignment]
        value = None
        if raw.strip() or self.tail.required:
            what = " ".join([self.magic, self.name, *names]) + f": the {self.tail.name}"
            try:
                value = read(raw, what, self.tail)
            except MagicUsageError as err:  # `%state update orders --help`: the option read as a name
                if raw.strip() or not {"-h", "--help"} & set(names):
                    raise
                raise MagicUsageError(f"{err}\n  hint: for help on this command write {self.magic} help {self.name}") from None
        setattr(args, self.tail.name.lower(), value)
        return args

    def _no_variable_names(self, tokens: Tokens, words: list[Token], args: argparse.Namespace) -> None:
        """Refuse a name argument written, unquoted, as IPython's ``$var`` or ``{expr}``: never expanded
        here (the magics are ``no_var_expand``), it would name nothing (``%state clear {grp}`` clearing
        0 items, ``%motia logs $s`` "no step named '$s'"); quoted, it is the name as written. Every
        positional argument of every subcommand is checked here, but a URL, FILE, DIR or PATH
        (:func:`.parsing.as_written`, where it is used)."""
        unquoted = {w.text for w in words if tokens.source[w.start] not in "\"'"}
        if not unquoted:
            return
        for action in self.parser._actions:
            if action.option_strings or action.metavar in _CHECKED_AS_WRITTEN:
                continue
            given = getattr(args, action.dest, None)
            for word in given if isinstance(given, list) else [given]:
                if isinstance(word, str) and word in unquoted and (expression := variable_expression(word)):
                    raise MagicUsageError(self._variable_message(word, expression))

    def _no_variable_options(self, tokens: Tokens, words: list[Token]) -> None:
        """Refuse an option's value written, unquoted, as IPython's ``$var`` or ``{expr}``
        (``--since $seq``, ``--port=$n``): never expanded here, it is no seq, time or port."""
        takes = {o: a for a in self.parser._actions if a.option_strings and a.nargs != 0 for o in a.option_strings}
        for i, w in enumerate(words):
            if tokens.source[w.start] in "\"'":
                continue
            if w.text == "--":
                return
            option, eq, value = w.text.partition("=")
            if not eq:
                nxt = words[i + 1] if i + 1 < len(words) else None
                value = "" if nxt is None or tokens.source[nxt.start] in "\"'" else nxt.text
            action = takes.get(option)
            if action is not None and variable_expression(value):
                raise MagicUsageError(self._value_message(f"{option} {value}", f"{option} {action.metavar or action.dest.upper()}"))

    def _no_variable_typed(self, tokens: Tokens, words: list[Token], refusal: str) -> None:
        """Refuse a typed value (``%motia cron start $n``: SECONDS) argparse refused, when it was
        written, unquoted, as IPython's ``$var`` or ``{expr}``."""
        for action in self.parser._actions:
            if action.option_strings or action.type is None or f"{action.metavar}: " not in refusal:
                continue
            for w in words:
                if tokens.source[w.start] not in "\"'" and repr(w.text) in refusal and variable_expression(w.text):
                    raise MagicUsageError(self._value_message(w.text, str(action.metavar)))

    def _value_message(self, said: str, takes: str) -> str:
        """The one line for an option's value or a typed value written as a notebook variable."""
        return (f"{self.magic} {self.name}: {said} reads as a variable of the notebook, but {self.magic} takes {takes} "
                "as written, never from a variable ({var}, $var): write the value itself")

    def _variable_message(self, word: str, expression: str) -> str:
        """The one line for a name written as the notebook variable ``expression`` (``word``)."""
        said = f"{self.magic} {self.name}: {word} reads as a variable of the notebook, but"
        if self.written is None:
            return (f"{said} {self.magic} takes names as written, never from a variable ({{var}}, $var): write the name "
                    f'itself (quoted, "{word}", to mean it literally)')
        w = self.written
        return (f"{said} {self.magic} {self.name} takes {w.what} as written, never from a variable ({{var}}, $var): "
                f"write {w.itself} itself{w.instead(expression)}")

    def _names_after(self, raw: str, names: list[str]) -> str:
        """The hint for names written after the tail's JSON (``%state set orders {"a": 1} o1``), or ""."""
        try:
            _, end = json.JSONDecoder().raw_decode(raw)
        except (ValueError, RecursionError):  # (nested thousands deep: not read, so no hint)
            return ""
        after = [w.text for w in tokenize(raw[end:]).words]
        if not after or self.tail is None:
            return ""
        one = len(after) == 1
        fixed = " ".join([f"%{self.magic[1:]}", self.name, *names, *after, raw[:end]])
        return (
            f"\n  hint: the names come before the {self.tail.name}: {raw[:end]} was read as the {self.tail.name}, so "
            f"{' '.join(after)} after it {'was' if one else 'were'} not read as {'a name' if one else 'names'}; write: {fixed}"
        )

    def _parse_names(self, tokens: Tokens, words: list[str]) -> argparse.Namespace:
        try:
            args = self.parser.parse_args(words)
        except MagicUsageError as err:
            comment = tokens.source[tokens.end :]
            if comment and "required" in str(err):  # `%state get g #1`: the rest was a comment
                word = comment.split()[0]
                raise MagicUsageError(
                    f"{err}\n  hint: '#' starts a comment; quote a name that starts with it: \"{word}\""
                ) from None
            raise
        for action in self.parser._actions:  # `%motia request POST -- {...}`: argparse drops a later `--`, leaving []
            if not action.option_strings and action.nargs in (None, "?") and isinstance(getattr(args, action.dest, None), list):
                raise MagicUsageError(
                    f"{self.magic} {self.name}: {action.metavar} is missing: '--' ends the options, it is no name"
                    f"\n  usage: {self.usage()}"
                )
        return args

    def _name(self, tokens: Tokens, w: Token) -> str:
        if w.unclosed:
            raise MagicUsageError(f"{self.magic} {self.name}: unclosed {w.unclosed} quote in: {_cut(tokens.source[w.start:])}")
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
        written: Written | None = None,
    ) -> Command:
        """Add the subcommand ``name``; ``arguments(parser)`` declares its names and options."""
        parser = ArgParser(prog=f"{self.magic} {name}", description=description, add_help=False)
        if arguments is not None:
            arguments(parser)
        cmd = Command(self.magic, name, summary, parser, run, tail, tuple(examples), written)
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
            f"{self.magic}: unknown subcommand {_cut(repr(wanted))}.{hint} Subcommands: {', '.join(names)} (see {self.magic} help)"
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
        text += "\n\n" + (textwrap.dedent(self.notes).strip() + "\n" if self.notes else "")
        return text + f"More:     {self.magic} help SUBCOMMAND"

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
        raise MagicUsageError(f"{self.magic} help: unknown subcommand {_cut(repr(name))}; subcommands: {', '.join(self)}")
