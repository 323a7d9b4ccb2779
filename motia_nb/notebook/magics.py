"""The ``%state`` line magic and ``%%state`` cell magic.

Every subcommand maps onto the synchronous state facade (``state_manager.sync``),
which is safe while ipykernel's event loop is running. Values and update ops are
JSON, written verbatim after the names; the magic is registered with
``no_var_expand`` so IPython never touches ``{...}`` or ``$``. A Python value comes
in with ``:name`` (a variable of the notebook's namespace) wherever JSON is
expected.

Errors in the user's input (unknown subcommand, missing argument, bad JSON, a bad
op, a name the store rejects) raise :class:`StateMagicError`: a ``UsageError``
shown as one line, without a traceback, that still fails the cell (Run All stops;
nbval and nbclient see an error).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shlex
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from motia_nb._magic_text import strip_comment

from .config import MotiaNB
from .display import JSONList, StateFrame, as_json_result

__all__ = ["StateMagics", "StateMagicError", "SUBCOMMANDS", "parse_json_arg", "split_names", "strip_comment"]


class StateMagicError(UsageError):
    """A ``%state`` usage error: shown as one line, and it fails the cell.

    IPython prints a plain ``UsageError`` to stderr without telling the front end
    that the cell failed as an exception, so nbval would not notice it. This
    subclass goes through IPython's normal error path (an ``error`` message, the
    cell fails) but renders as a single line instead of a traceback.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mStateMagicError\x1b[0m: {self}"]


# ----------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Subcommand:
    """One ``%state`` subcommand: its argparse parser, help text and examples."""

    name: str
    summary: str
    parser: argparse.ArgumentParser
    #: name of the trailing JSON argument (``value``/``ops``) taken raw, or ``None``
    json_tail: str | None = None
    #: how many names (group, key) precede the JSON tail
    n_names: int = 0
    examples: tuple[str, ...] = field(default=())

    def usage(self) -> str:
        """One usage line, e.g. ``%state set GROUP KEY VALUE``."""
        u = self.parser.format_usage().strip()
        u = u.removeprefix("usage: ")
        if self.json_tail:
            u += f" {self.json_tail.upper()}"
        return u

    def help(self) -> str:
        """Full help of this subcommand: usage, description, arguments, examples."""
        text = self.parser.format_help().strip()
        if self.json_tail:
            first, _, rest = text.partition("\n")
            text = f"{first} {self.json_tail.upper()}\n{rest}".rstrip()
            text += (
                f"\n\n{self.json_tail.upper()} is JSON, written after the names (the rest of the line), "
                f"or the cell body of %%state {self.name} ..., or :name for a Python variable."
            )
        if self.examples:
            text += "\n\nexamples:\n" + "\n".join(f"  {e}" for e in self.examples)
        return text


class _Parser(argparse.ArgumentParser):
    """An argparse parser that raises ``UsageError`` instead of exiting the kernel."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        raise UsageError(message or f"{self.prog} exited with status {status}")


def _parser(name: str, description: str) -> _Parser:
    return _Parser(prog=f"%state {name}", description=description, add_help=False)


def _build_subcommands() -> dict[str, Subcommand]:
    subs: list[Subcommand] = []

    p = _parser("set", "Store VALUE (JSON) under GROUP/KEY, replacing any previous value. "
                       "Shows {new_value, old_value}.")
    p.add_argument("group", metavar="GROUP", help="the group (a folder of items, e.g. orders)")
    p.add_argument("key", metavar="KEY", help="the item's key inside the group")
    subs.append(Subcommand("set", "store a JSON value under a key", p, "value", 2, (
        '%state set orders order-1 {"status": "pending", "total": 99.99}',
        "%state set orders order-2 :order      # the Python variable `order`",
        "%%state set orders order-3            # the value in the cell body",
    )))

    p = _parser("get", "Show the value stored under GROUP/KEY as JSON (null when there is none).")
    p.add_argument("group", metavar="GROUP", help="the group")
    p.add_argument("key", metavar="KEY", help="the item's key")
    subs.append(Subcommand("get", "show one item's value", p, examples=(
        "%state get orders order-1",
        "order = %state get orders order-1     # a dict",
    )))

    p = _parser("list", "The items of GROUP as a pandas DataFrame: a key column, then the values' "
                        "fields, nested objects flattened to dotted columns (shipping.city).")
    p.add_argument("group", metavar="GROUP", help="the group")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--values", action="store_true", help="return the list of values (Motia's list) instead")
    g.add_argument("--dict", action="store_true", help="return {key: value} instead")
    g.add_argument("--no-flatten", action="store_true", help="keep nested objects in one column")
    subs.append(Subcommand("list", "a group as a DataFrame (key column first)", p, examples=(
        "%state list orders",
        "orders = %state list orders           # a DataFrame",
        "%state list orders --values",
    )))

    p = _parser("delete", "Remove GROUP/KEY; shows the deleted value (null when there was none).")
    p.add_argument("group", metavar="GROUP", help="the group")
    p.add_argument("key", metavar="KEY", help="the item's key")
    subs.append(Subcommand("delete", "remove one item", p, examples=("%state delete orders order-1",)))

    p = _parser("clear", "Remove every item of GROUP; returns how many were removed.")
    p.add_argument("group", metavar="GROUP", help="the group")
    subs.append(Subcommand("clear", "remove every item of a group", p, examples=("%state clear orders",)))

    p = _parser("update", "Apply OPS atomically to GROUP/KEY (all or nothing). OPS is a JSON list of ops "
                          "({\"type\": set|merge|increment|decrement|remove|append, \"path\": ..., ...}) "
                          "or a single op. A missing item starts as {}. Shows {new_value, old_value}.")
    p.add_argument("group", metavar="GROUP", help="the group")
    p.add_argument("key", metavar="KEY", help="the item's key")
    subs.append(Subcommand("update", "atomic update ops on one item", p, "ops", 2, (
        '%state update orders order-1 [{"type": "set", "path": "status", "value": "paid"}]',
        '%state update orders order-1 {"type": "increment", "path": "retries", "by": 1}',
        "%%state update orders order-1         # the op list in the cell body",
    )))

    p = _parser("groups", "The names of the groups that hold at least one item.")
    p.add_argument("--counts", action="store_true", help="a DataFrame of groups and their item counts")
    subs.append(Subcommand("groups", "the non-empty groups", p, examples=("%state groups", "%state groups --counts")))

    p = _parser("use", "Switch the state database (a file path, :memory: or redis://host:port/db); "
                       "without URL, show the database in use.")
    p.add_argument("url", nargs="?", metavar="URL", help="the database to use")
    subs.append(Subcommand("use", "switch (or show) the database", p, examples=(
        "%state use :memory:", "%state use .motia/state.db", "%state use",
    )))

    p = _parser("viewer", "Open the live state viewer widget (optionally on one group).")
    p.add_argument("group", nargs="?", metavar="GROUP", help="the group to show first")
    subs.append(Subcommand("viewer", "the live state viewer widget", p, examples=("%state viewer orders",)))

    p = _parser("help", "Show help on %state or on one subcommand.")
    p.add_argument("subcommand", nargs="?", metavar="SUBCOMMAND", help="a subcommand")
    subs.append(Subcommand("help", "this help (or: help SUBCOMMAND)", p, examples=("%state help update",)))
    return {s.name: s for s in subs}


SUBCOMMANDS: dict[str, Subcommand] = _build_subcommands()

_VAR_REF = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def overview() -> str:
    """The help text of ``%state`` (also its docstring, shown by ``%state?``)."""
    width = max(len(s.usage()) for s in SUBCOMMANDS.values())
    lines = [f"  {s.usage():<{width}}  {s.summary}" for s in SUBCOMMANDS.values()]
    return (
        "Motia State Management from a notebook: groups of keys holding JSON values.\n\n"
        "usage:\n" + "\n".join(lines) + "\n\n"
        + textwrap.dedent(
            """\
            VALUE and OPS are JSON written after the names, verbatim: {braces} and $ are
            never expanded. For long values use the cell form:

                %%state set orders order-1
                {"status": "pending", "total": 99.99, "shipping": {"city": "Lisbon"}}

            Python values: write :name (a variable of the notebook) where JSON is expected,
            e.g.  %state set orders order-2 :order   or   %state update orders order-2 :ops

            Results are plain values you can assign:  orders = %state list orders
            Names with spaces are quoted:  %state get "my group" "key 1"
            Errors (unknown subcommand, bad JSON, a bad op, a missing argument) fail the cell.
            Settings: %config MotiaNB   (database, display_max_rows, ...)
            More:     %state help SUBCOMMAND"""
        )
    )


def _fail(msg: str) -> StateMagicError:
    return StateMagicError(msg)


def split_names(text: str, n: int) -> tuple[list[str], str]:
    """Take up to ``n`` names off the front of ``text``; return ``(names, raw rest)``.

    Names are separated by whitespace and may be quoted ('...' or "..." with
    backslash escapes). Taking stops early at a ``{`` or ``[``: JSON never is a name,
    so a forgotten key is reported as missing rather than swallowing the JSON.
    """
    names: list[str] = []
    i, size = 0, len(text)
    while len(names) < n:
        while i < size and text[i].isspace():
            i += 1
        if i >= size or text[i] in "{[":
            break
        if text[i] in "'\"":
            quote, j, buf = text[i], i + 1, []
            while j < size and text[j] != quote:
                if text[j] == "\\" and quote == '"' and j + 1 < size:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= size:
                raise _fail(f"unclosed {quote} quote in: {text[i:]}")
            names.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < size and not text[j].isspace():
                j += 1
            names.append(text[i:j])
            i = j
    return names, text[i:]


def _json_error_message(what: str, text: str, err: json.JSONDecodeError) -> str:
    lines = text.splitlines() or [""]
    line = lines[min(err.lineno, len(lines)) - 1]
    col = err.colno - 1
    start = max(0, col - 60)
    snippet = line[start : start + 100]
    caret = " " * (col - start) + "^"
    msg = f"{what} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})\n    {snippet}\n    {caret}"
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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JSON numbers must be finite)")


def parse_json_arg(text: str, what: str, user_ns: dict[str, Any]) -> Any:
    """Parse a VALUE/OPS argument: JSON text, or ``:name`` for a notebook variable."""
    s = text.strip()
    if not s:
        raise _fail(f"missing {what}")
    m = _VAR_REF.fullmatch(s)
    if m:
        name = m.group(1)
        if name not in user_ns:
            raise _fail(f"{what}: there is no variable {name!r} in the notebook (:{name} refers to one)")
        return user_ns[name]
    try:
        return json.loads(s, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise _fail(_json_error_message(what, s, err)) from None
    except ValueError as err:
        raise _fail(f"{what} is not valid JSON: {err}") from None


# ----------------------------------------------------------------------------- magics
@magics_class
class StateMagics(Magics):
    """``%state`` / ``%%state``: Motia's state API from a notebook cell."""

    def __init__(self, shell: Any, settings: MotiaNB | None = None) -> None:
        super().__init__(shell=shell)
        self.settings = settings if settings is not None else MotiaNB.for_shell(shell)

    @property
    def manager(self) -> Any:
        """The process-wide ``state_manager``."""
        from motia_nb import state_manager

        return state_manager

    @no_var_expand
    @line_cell_magic
    def state(self, line: str, cell: str | None = None) -> Any:
        # The docstring is generated from the subcommand table below (see overview()).
        line = strip_comment(line).strip()
        if not line or line in ("-h", "--help"):
            return self._help(None)
        head = re.match(r"(\S+)\s*(.*)", line, re.S)
        assert head is not None  # line is non-empty and stripped
        cmd_text, rest = head.group(1), head.group(2)
        sub = SUBCOMMANDS.get(cmd_text)
        if sub is None:
            close = difflib.get_close_matches(cmd_text, SUBCOMMANDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _fail(
                f"%state: unknown subcommand {cmd_text!r}.{hint} "
                f"Subcommands: {', '.join(SUBCOMMANDS)} (see %state help)"
            )
        ns = self._parse(sub, rest, cell)
        handler: Callable[[argparse.Namespace], Any] = getattr(self, f"_do_{sub.name}")
        from motia_nb.state import InvalidInputError, StateClosedError, UpdateOpError

        try:
            return handler(ns)
        except (InvalidInputError, UpdateOpError, StateClosedError) as err:
            raise _fail(f"%state {sub.name}: {err}") from None

    def _parse(self, sub: Subcommand, rest: str, cell: str | None) -> argparse.Namespace:
        has_body = cell is not None and cell.strip() != ""
        try:
            if sub.json_tail:
                names, tail = split_names(rest, sub.n_names)
                ns = sub.parser.parse_args(names)
                if has_body:
                    if tail.strip():
                        raise _fail(
                            f"%%state {sub.name}: give the {sub.json_tail.upper()} either on the line "
                            "or in the cell body, not both"
                        )
                    tail = cell  # type: ignore[assignment]
                what = f"%state {sub.name} {ns.group} {ns.key}: the {sub.json_tail.upper()}"
                setattr(ns, sub.json_tail, parse_json_arg(tail, what, self.shell.user_ns))
                return ns
            if has_body:
                raise _fail(f"%%state {sub.name} takes no cell body (only set and update do)")
            try:
                argv = shlex.split(rest)
            except ValueError as err:
                raise _fail(f"%state {sub.name}: {err} in: {rest}") from None
            return sub.parser.parse_args(argv)
        except StateMagicError:
            raise
        except UsageError as err:  # argparse errors from MagicArgumentParser
            msg = str(err).removeprefix("argument ")
            raise _fail(f"%state {sub.name}: {msg}\n  usage: {sub.usage()}") from None

    # -- results -----------------------------------------------------------------
    def _json(self, value: Any) -> Any:
        if value is None:
            print("null")
            return None
        return as_json_result(value, self.settings.json_indent)

    # -- subcommands -------------------------------------------------------------
    def _do_set(self, ns: argparse.Namespace) -> Any:
        return self._json(self.manager.sync.set(ns.group, ns.key, ns.value))

    def _do_get(self, ns: argparse.Namespace) -> Any:
        return self._json(self.manager.sync.get(ns.group, ns.key))

    def _do_list(self, ns: argparse.Namespace) -> Any:
        sync = self.manager.sync
        if ns.values:
            return JSONList(sync.list(ns.group))
        if ns.dict:
            return as_json_result(dict(sync.items(ns.group)), self.settings.json_indent)
        flatten = self.settings.flatten and not ns.no_flatten
        df = sync.frame(ns.group, flatten=flatten)
        return StateFrame.wrap(df, self.settings.display_max_rows, self.settings.display_max_columns)

    def _do_delete(self, ns: argparse.Namespace) -> Any:
        return self._json(self.manager.sync.delete(ns.group, ns.key))

    def _do_clear(self, ns: argparse.Namespace) -> int:
        return int(self.manager.sync.clear(ns.group))

    def _do_update(self, ns: argparse.Namespace) -> Any:
        ops = ns.ops
        if isinstance(ops, dict):  # one op given on its own
            ops = [ops]
        return self._json(self.manager.sync.update(ns.group, ns.key, ops))

    def _do_groups(self, ns: argparse.Namespace) -> Any:
        sync = self.manager.sync
        if ns.counts:
            counts = sync.group_counts()
            return pd.DataFrame({"group": list(counts), "items": list(counts.values())})
        return JSONList(sync.list_groups())

    def _do_use(self, ns: argparse.Namespace) -> None:
        if ns.url is None:
            print(f"motia_nb state database: {self.manager.url}")
            return None
        from motia_nb.state import StateError

        try:
            url = self.manager.use(ns.url)
        except StateError:
            raise
        except Exception as err:  # sqlite3/OS/redis errors opening the new store
            raise _fail(f"%state use: cannot open {ns.url!r}: {type(err).__name__}: {err}") from None
        self.settings.record_database(ns.url)
        print(f"motia_nb state database: {url}")
        return None

    def _do_viewer(self, ns: argparse.Namespace) -> Any:
        try:
            from motia_nb.notebook.viewer import viewer
        except ImportError as err:
            raise _fail(f"%state viewer: the state viewer is not available ({err})") from None
        return viewer(ns.group) if ns.group else viewer()

    def _do_help(self, ns: argparse.Namespace) -> None:
        return self._help(ns.subcommand)

    def _help(self, name: str | None) -> None:
        if name is None:
            print(overview())
            return None
        sub = SUBCOMMANDS.get(name)
        if sub is None:
            raise _fail(f"%state help: unknown subcommand {name!r}; subcommands: {', '.join(SUBCOMMANDS)}")
        print(sub.help())
        return None


StateMagics.state.__doc__ = overview()
