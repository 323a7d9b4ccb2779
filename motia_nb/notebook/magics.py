"""The ``%state`` line magic and ``%%state`` cell magic.

Every subcommand maps onto the synchronous state facade (``state_manager.sync``),
which is safe while ipykernel's event loop is running. Values and update ops are
JSON, written verbatim after the names; the magic is registered with
``no_var_expand`` so IPython never touches ``{...}`` or ``$``. A Python value comes
in with ``:name`` (a variable of the notebook's namespace) wherever JSON is
expected.

The subcommands live in :data:`SUBCOMMANDS`, a :class:`~.commands.CommandTable`:
one entry per subcommand with its parser, summary and examples, and the function
that runs it. Input the magic cannot read (unknown subcommand, missing argument,
bad JSON, a bad op, a name the store rejects) raises
:class:`~.parsing.MagicUsageError`: one line, and the cell fails (Run All stops;
nbval and nbclient see an error). Any other error is shown as one line plus the
user's own frames (:mod:`.tracebacks`).
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from typing import Any

import pandas as pd
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from motia_nb.state import (
    InvalidInputError,
    StateClosedError,
    StateError,
    UpdateOpError,
    state_manager,
)
from motia_nb.state.cause import acting_as, current_cause
from motia_nb.state.transfer import export_jsonl, import_jsonl

from .commands import ArgParser, CommandTable, Tail
from .config import MotiaNB, warn_unlocated
from .display import StateFrame, as_json_result
from .history_commands import add_history_commands
from .parsing import MagicUsageError, as_written, read_value, tokenize
from .tracebacks import one_line_errors
from .viewer import viewer
from .viewer.text import display_url

__all__ = ["StateMagics", "StateMagicError", "SUBCOMMANDS", "overview"]

#: the one usage-error class, under the name ``%state`` errors had before
StateMagicError = MagicUsageError


# ----------------------------------------------------------------------------- subcommands
def _json(m: StateMagics, value: Any) -> Any:
    if value is None:
        print("null")
        return None
    return as_json_result(value, m.settings.json_indent)


def _no_such_group(m: StateMagics, command: str, group: str) -> None:
    """Tell on stderr that ``group`` holds no item (a typo, most often), naming the closest
    group or the groups there are. The command still returns its empty result (an empty
    frame, ``null``), so a script reading an empty group goes on as before."""
    known = list(m.manager.sync.group_counts())
    if group in known:
        return
    close = difflib.get_close_matches(group, known, n=1)
    if close:
        hint = f" Did you mean {close[0]!r}?"
    elif known:
        shown = ", ".join(known[:10]) + (f", ... ({len(known)} groups)" if len(known) > 10 else "")
        hint = f" Groups: {shown}."
    else:
        hint = " The database holds no groups yet."
    print(f"%state {command}: there is no group {group!r} (no item is stored in it).{hint}", file=sys.stderr)


def _set(m: StateMagics, a: argparse.Namespace) -> Any:
    return _json(m, m.manager.sync.set(a.group, a.key, a.value))


def _get(m: StateMagics, a: argparse.Namespace) -> Any:
    sync = m.manager.sync
    value = sync.get(a.group, a.key)
    if value is None and sync.count(a.group) == 0:
        _no_such_group(m, "get", a.group)
    return _json(m, value)


def _list(m: StateMagics, a: argparse.Namespace) -> Any:
    sync = m.manager.sync
    if sync.count(a.group) == 0:
        _no_such_group(m, "list", a.group)
    if a.values:
        return as_json_result(sync.list(a.group), 2, cut=True, max_rows=m.settings.display_max_rows)
    if a.dict:
        return as_json_result(dict(sync.items(a.group)), m.settings.json_indent, cut=True, max_rows=m.settings.display_max_rows)
    flatten = m.settings.flatten and not a.no_flatten
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        df = sync.frame(a.group, flatten=flatten)
    for note in notes:  # located in no file: this line of motia_nb means nothing to the user
        warn_unlocated(note.message, note.category)
    return StateFrame.wrap(df, m.settings.display_max_rows, m.settings.display_max_columns)


def _delete(m: StateMagics, a: argparse.Namespace) -> Any:
    return _json(m, m.manager.sync.delete(a.group, a.key))


def _clear(m: StateMagics, a: argparse.Namespace) -> int:
    return int(m.manager.sync.clear(a.group))


def _update(m: StateMagics, a: argparse.Namespace) -> Any:
    ops = a.ops
    if isinstance(ops, dict):  # one op given on its own
        ops = [ops]
    return _json(m, m.manager.sync.update(a.group, a.key, ops))


def _groups(m: StateMagics, a: argparse.Namespace) -> Any:
    sync = m.manager.sync
    if a.counts:
        counts = sync.group_counts()
        return pd.DataFrame({"group": list(counts), "items": list(counts.values())})
    return as_json_result(sync.list_groups(), 2, cut=True, max_rows=m.settings.display_max_rows)


def _use(m: StateMagics, a: argparse.Namespace) -> None:
    if a.url is None:  # a file under the working directory by its relative path (.motia/state.db)
        print(f"motia_nb state database: {display_url(m.manager.url)}")
        return None
    as_written("%state use", "URL", a.url.strip())
    if a.url.strip() in (":memory:", "sqlite:///:memory:") and m.manager.is_open and m.manager.url == ":memory:":
        # running the cell again must not trade the in-memory store for an empty one
        # (a file is simply opened again; %config MotiaNB.database keeps it too)
        print("motia_nb state database: :memory: (already in use: its items stay)")
        return None
    try:
        url = m.manager.use(a.url)
    except StateError:
        raise  # already names the URL and the reason; shown as one line
    except Exception as err:  # sqlite3/OS errors opening the new store
        raise MagicUsageError(f"%state use: cannot open {display_url(a.url)!r}: {type(err).__name__}: {err}") from None
    print(f"motia_nb state database: {display_url(url)}")
    return None


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _export(m: StateMagics, a: argparse.Namespace) -> None:
    if a.all == (a.group is not None):
        raise MagicUsageError("%state export: give one GROUP or --all, and the FILE\n  usage: " + SUBCOMMANDS["export"].usage())
    n = export_jsonl(m.manager, as_written("%state export", "FILE", a.file), None if a.all else [a.group])
    what = "every group" if a.all else repr(a.group)
    print(f"exported {_plural(n, 'item')} ({what}) to {a.file}")


def _import(m: StateMagics, a: argparse.Namespace) -> None:
    report = import_jsonl(m.manager, as_written("%state import", "FILE", a.file), triggers=a.triggers)
    groups = ", ".join(report.groups[:5]) + (", ..." if len(report.groups) > 5 else "")
    how = "state triggers ran" if a.triggers else "no triggers fired (--triggers runs them)"
    print(f"imported {_plural(report.items, 'item')} into {_plural(len(report.groups), 'group')} ({groups}) from {a.file}; {how}")


def _viewer(m: StateMagics, a: argparse.Namespace) -> Any:
    return viewer(a.group) if a.group else viewer()


def _help(m: StateMagics, a: argparse.Namespace) -> None:
    print(SUBCOMMANDS.help([a.subcommand] if a.subcommand else []))


# ----------------------------------------------------------------------------- the table
def _group_key(p: ArgParser) -> None:
    p.add_argument("group", metavar="GROUP", help="the group (a folder of items, e.g. orders)")
    p.add_argument("key", metavar="KEY", help="the item's key inside the group")


def _group(p: ArgParser) -> None:
    p.add_argument("group", metavar="GROUP", help="the group")


def _list_args(p: ArgParser) -> None:
    _group(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--values", action="store_true", help="return the list of values (Motia's list) instead")
    g.add_argument("--dict", action="store_true", help="return {key: value} instead")
    g.add_argument("--no-flatten", action="store_true", help="keep nested objects in one column")


def _export_args(p: ArgParser) -> None:
    p.add_argument("--all", action="store_true", help="every group instead of one")
    p.add_argument("group", nargs="?", metavar="GROUP", help="the group to write")
    p.add_argument("file", metavar="FILE", help="the .jsonl file to write (its folder must exist)")


def _import_args(p: ArgParser) -> None:
    p.add_argument("file", metavar="FILE", help="the .jsonl file to read")
    p.add_argument("--triggers", action="store_true", help="run the state triggers of the imported items")


def _build() -> CommandTable:
    t = CommandTable(
        "%state",
        "Motia State Management from a notebook: groups of keys holding JSON values.",
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
        Settings: %config MotiaNB   (database, display_max_rows, ...)""",
    )
    t.add("set", "store a JSON value under a key",
          "Store VALUE (JSON) under GROUP/KEY, replacing any previous value. Shows {new_value, old_value}.",
          _set, _group_key, Tail("VALUE", cell=True), (
              '%state set orders order-1 {"status": "pending", "total": 99.99}',
              "%state set orders order-2 :order      # the Python variable `order`",
              "%%state set orders order-3            # the value in the cell body",
          ))
    t.add("get", "show one item's value",
          "Show the value stored under GROUP/KEY as JSON (null when there is none; when GROUP holds no "
          "item at all, a note on stderr says so and names the closest group).",
          _get, _group_key, examples=("%state get orders order-1", "order = %state get orders order-1     # a dict"))
    t.add("list", "a group as a DataFrame (key column first)",
          "The items of GROUP as a pandas DataFrame: a key column, then the values' fields, nested objects "
          "flattened to dotted columns (shipping.city). An empty GROUP gives an empty frame and a note on "
          "stderr naming the closest group.",
          _list, _list_args, examples=(
              "%state list orders", "orders = %state list orders           # a DataFrame", "%state list orders --values",
          ))
    t.add("delete", "remove one item", "Remove GROUP/KEY; shows the deleted value (null when there was none).",
          _delete, _group_key, examples=("%state delete orders order-1",))
    t.add("clear", "remove every item of a group", "Remove every item of GROUP; returns how many were removed.",
          _clear, _group, examples=("%state clear orders",))
    t.add("update", "atomic update ops on one item",
          "Apply OPS atomically to GROUP/KEY (all or nothing). OPS is a JSON list of ops "
          "({\"type\": set|merge|increment|decrement|remove|append, \"path\": ..., ...}) or a single op. "
          "A missing item starts as {}. Shows {new_value, old_value}.",
          _update, _group_key, Tail("OPS", cell=True), (
              '%state update orders order-1 [{"type": "set", "path": "status", "value": "paid"}]',
              '%state update orders order-1 {"type": "increment", "path": "retries", "by": 1}',
              "%%state update orders order-1         # the op list in the cell body",
          ))
    t.add("groups", "the non-empty groups", "The names of the groups that hold at least one item.", _groups,
          lambda p: p.add_argument("--counts", action="store_true", help="a DataFrame of groups and their item counts"),
          examples=("%state groups", "%state groups --counts"))
    t.add("use", "switch (or show) the database",
          "Switch the state database (a file path, :memory: or redis://host:port/db); without URL, show the "
          "database in use. A file's folder must exist (only the default .motia/ folder is created).",
          _use, lambda p: p.add_argument("url", nargs="?", metavar="URL", help="the database to use"),
          examples=("%state use :memory:", "%state use .motia/state.db", "%state use"))
    t.add("export", "write groups to a JSON Lines file",
          "Write GROUP (or every group, with --all) to FILE, one JSON object per line: "
          '{"group": ..., "key": ..., "value": ...}, in insertion order. The file is replaced whole at the '
          "end; a progress bar shows past 10,000 items.",
          _export, _export_args, examples=("%state export orders orders.jsonl", "%state export --all backup.jsonl"))
    t.add("import", "read items from a JSON Lines file",
          "Store every item of FILE (one {\"group\", \"key\", \"value\"} object per line, as export writes). "
          "All or nothing: every line is checked first, and any bad line (reported with its number) means "
          "nothing is imported; on SQLite the items are written in one transaction. State triggers do not "
          "fire unless --triggers. A progress bar shows past 10,000 items.",
          _import, _import_args, examples=("%state import backup.jsonl", "%state import orders.jsonl --triggers"))
    add_history_commands(t)
    t.add("viewer", "the live state viewer widget", "Open the live state viewer widget (optionally on one group).",
          _viewer, lambda p: p.add_argument("group", nargs="?", metavar="GROUP", help="the group to show first"),
          examples=("%state viewer orders",))
    t.add("help", "this help (or: help SUBCOMMAND)", "Show help on %state or on one subcommand.", _help,
          lambda p: p.add_argument("subcommand", nargs="?", metavar="SUBCOMMAND", help="a subcommand"),
          examples=("%state help update",))
    return t


SUBCOMMANDS: CommandTable = _build()


def overview() -> str:
    """The help text of ``%state`` (also its docstring, shown by ``%state?``)."""
    return SUBCOMMANDS.overview()


# ----------------------------------------------------------------------------- the magic
@magics_class
class StateMagics(Magics):
    """``%state`` / ``%%state``: Motia's state API from a notebook cell."""

    def __init__(self, shell: Any, settings: MotiaNB | None = None) -> None:
        super().__init__(shell=shell)
        self.settings = settings if settings is not None else MotiaNB.for_shell(shell)

    @property
    def manager(self) -> Any:
        """The process-wide ``state_manager``."""
        return state_manager

    def _read(self, raw: str, what: str, tail: Tail) -> Any:
        evaluate = self.shell.ev if tail.python else None
        return read_value(raw, what, self.shell.user_ns, evaluate)

    @no_var_expand
    @line_cell_magic
    @one_line_errors
    def state(self, line: str, cell: str | None = None) -> Any:
        # The docstring is generated from the subcommand table (see overview()).
        words = [w.text for w in tokenize(line).words]
        if words in ([], ["-h"], ["--help"]) and not (cell or "").strip():
            print(overview())
            return None
        command, args = SUBCOMMANDS.route(line, cell, self._read)
        try:
            # the history records %state writes as the magic's, in the running cell's trace (if any)
            with acting_as("magic", current_cause()[1]):
                return command.run(self, args)
        except (InvalidInputError, UpdateOpError, StateClosedError) as err:
            raise MagicUsageError(f"%state {command.name}: {err}") from None


StateMagics.state.__doc__ = overview()
