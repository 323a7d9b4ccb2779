"""``%state history`` and ``%state restore``: the state history (SPEC §9) from a cell.

``history`` shows the recorded changes of a group or an item as a DataFrame
(oldest first, each cell what ``history()`` gives: old and new values as the values
themselves, as ``%state list`` shows them); ``restore`` writes an item's value as
it was at a change back as a normal write: recorded (cause ``magic``), and it fires
the state triggers like any write.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from datetime import datetime
from typing import Any

import pandas as pd

from motia_nb.state.errors import StoredValueError
from motia_nb.state.history import CHANGE_KEYS, MAX_LIMIT, Point, Retention, point
from motia_nb.state.requests import item_names

from .commands import ArgParser, CommandTable
from .display import StateFrame, as_json_result
from .parsing import MagicUsageError

__all__ = ["add_history_commands", "history_frame", "read_point"]


def read_point(text: str | None, option: str, also: str = "") -> Any:
    """``--since`` / ``--to``: a change's seq (an int) or an ISO-8601 time (naive = local time);
    ``also``: the option's other form, as the refusal names it (``--to``'s ``-N``)."""
    if text is None:
        return None
    if text.isdecimal() and len(text) <= 4000:  # (not isdigit: "²" is a digit that int() cannot read; nor
        return int(text)  # can it read more than 4,300 digits: text that long is no seq, nor a time)
    try:
        if len(text) > 4000:
            raise ValueError(text)
        return datetime.fromisoformat(text)
    except ValueError:
        if (text.startswith("{") and text.endswith("}")) or text[:1] in "$:":  # IPython's {var} / $var, :name
            # (an unquoted {var} / $var is refused by the router; here: :name, or one quoted)
            takes = f"{option.rsplit(' ', 1)[-1]} SEQ|TIME" + ("|-N" if also else "")
            raise MagicUsageError(f"{option} {text} reads as a variable of the notebook, but %state takes {takes} as "
                                  "written, never from a variable ({var}, $var, :name): write the value itself") from None
        forms = f"a change's seq (e.g. 42), an ISO time (e.g. 2026-05-01T12:00) or {also}" if also else (
            "a change's seq (e.g. 42) or an ISO time (e.g. 2026-05-01T12:00)")
        shown = repr(text) if len(text) <= 100 else f"{text[:40]!r}... ({len(text):,} characters)"
        raise MagicUsageError(f"{option} takes {forms}, got {shown}") from None


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def history_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Changes as a DataFrame: SPEC §9's keys as columns, each cell what ``history()`` gives.

    Old and new values are the values themselves, as ``%state list`` holds them (a string
    shows as itself, an object can be indexed: ``df.new_value[0]["status"]``); ``None``
    where the value was absent (before a create, after a delete: ``event_type`` says which).
    Their columns are ``object``: pandas would otherwise turn ``[None, 1]`` into
    ``[NaN, 1.0]`` and ``1`` into ``1.0`` next to a float; so is ``trace_id``'s (a cell's
    change has none: ``None``, where pandas would make a column of texts and ``NaN``)."""
    df = pd.DataFrame.from_records(rows, columns=list(CHANGE_KEYS))
    for col in ("old_value", "new_value", "trace_id"):
        df[col] = pd.Series([r[col] for r in rows], index=df.index, dtype=object)
    return df


def _did_you_mean(sync: Any, group: str, key: str | None, keep: str = "all") -> str:
    """``. Did you mean 'orders'?`` (or ``'orders'/'order-1'``) for a GROUP (KEY) with no change at
    all, a typo most often (as ``%state list`` says of a group), or "": the closest stored group,
    else the closest key of the group's newest changes and of its keys with the same first letter.
    Never the name asked: a GROUP (KEY) that is stored but has no change kept (``keep``, the
    ``history_keep``, pushed them out; a Redis history stream deleted by hand) says so instead."""
    groups = sync.group_counts()
    if group in groups if key is None else sync.exists(group, key):
        pushed = f"pushed out by history_keep = {keep!r}, " if Retention.parse(keep).prunes else ""
        return (f"; it is stored, but no change of it is kept ({pushed}written while the history was off, "
                "or its history removed)")
    if key is None or not sync.history(group, limit=1):
        close = difflib.get_close_matches(group, [g for g in groups if g != group], n=1)
        if close:
            return f". Did you mean {close[0]!r}?" if key is None else f". Did you mean {close[0]!r}/{key!r}?"
        if key is None or group not in groups:
            return ""
    keys = {c["key"] for c in sync.history(group, limit=100)} | set(sync.keys_with_prefix(group, key[:1], 500))
    close = difflib.get_close_matches(key, sorted(keys - {key}), n=1)
    return f". Did you mean {group!r}/{close[0]!r}?" if close else ""


def _history(m: Any, a: argparse.Namespace) -> Any:
    since = read_point(a.since, "%state history: --since")
    # one more than shown: are changes left out? (a report of "every change since" must not stop
    # at the 100th silently); a bad --limit goes to history() as written, to be refused there
    ask = a.limit + 1 if 0 < a.limit < MAX_LIMIT else a.limit
    rows = m.manager.sync.history(a.group, a.key, since=since, limit=ask)
    more = len(rows) > a.limit
    if more:  # oldest first: the newest N without --since, the first N after it with it
        rows = rows[-a.limit:] if since is None else rows[: a.limit]
    off = m.manager.history_keep == "off"
    if not rows:
        what = repr(a.group) if a.key is None else f"{a.group!r}/{a.key!r}"
        why = " (the state history is off: MotiaNB.history_keep = 'off' records nothing)" if off else ""
        hint = _did_you_mean(m.manager.sync, a.group, a.key, m.manager.history_keep) if a.since is None else ""
        print(f"%state history: no recorded change of {what}{why}{hint}", file=sys.stderr)
    elif off:
        print("%state history: the state history is off in this kernel (MotiaNB.history_keep = 'off'): "
              "its changes since are not recorded; these were recorded before, or by another process",
              file=sys.stderr)  # fmt: skip
    cut = getattr(m.manager.backend, "history_cut_since", None)
    cut = cut(a.group, point(since, "--since")) if cut is not None and since is not None else 0
    if cut:  # "every change since Monday" must not start on Wednesday without a word
        print(f"%state history: changes before seq {cut:,} are no longer kept (MotiaNB.history_keep = "
              f"{m.manager.history_keep!r}): some after --since {a.since} may be among them", file=sys.stderr)
    if more:
        what = repr(a.group) if a.key is None else f"{a.group!r}/{a.key!r}"
        n = f"{a.limit:,} change{'' if a.limit == 1 else 's'}"
        if since is None:
            note = f"the newest {n} of {what}; older ones are kept: --limit N shows more"
        else:
            note = (f"the first {n} of {what} since {a.since}; more follow: --since {rows[-1]['seq']} "
                    "shows the next ones, --limit N more at once")
        print(f"%state history: {note}", file=sys.stderr)
    return StateFrame.wrap(history_frame(rows), m.settings.display_max_rows, m.settings.display_max_columns)


def _restore_point(m: Any, g: str, k: str, to: str) -> Point:
    """``--to``: a seq, an ISO time, or ``-N``: before the item's last N changes (``-1`` undoes the last)."""
    if to.startswith("-") and to[1:].isdecimal() and len(to) <= 4000 and int(to[1:]) > 0:
        n = int(to[1:])
        rows = m.manager.sync.history(g, k, limit=n)
        if len(rows) < n:
            hint = _did_you_mean(m.manager.sync, g, k, m.manager.history_keep) if not rows else ""  # a typo, most often
            raise MagicUsageError(f"%state restore: {g}/{k} has {len(rows)} recorded change(s), fewer than {n}{hint}")
        return Point(seq=rows[0]["seq"] - 1)
    return point(read_point(to, "%state restore: --to", "-N (before the item's last N changes, e.g. -1)"), "--to")


def _when(to: str) -> str:
    if to.startswith("-"):
        n = int(to[1:])
        return "before its last change" if n == 1 else f"before its last {n} changes"
    return f"at change {to}" if to.isdecimal() else f"at {to}"


def _same(a: Any, b: Any) -> bool:
    """The same JSON value, as stored (``1`` and ``1.0``, ``true`` and ``1`` differ)."""
    return _json_text(a) == _json_text(b)


def _restore(m: Any, a: argparse.Namespace) -> Any:
    g, k = item_names(a.group, a.key)
    sync = m.manager.sync
    if m.manager.history_keep == "off":
        raise MagicUsageError("%state restore: the state history is off (MotiaNB.history_keep = 'off')")
    try:
        existed, value = m.manager.backend.state_at(g, k, _restore_point(m, g, k, a.to))
    except StoredValueError as err:  # a value another tool wrote: never written back as a JSON string
        raise MagicUsageError(f"%state restore: {err}; nothing was written") from None
    # Compared with the item as it is now, not with its last recorded change: a write made
    # while history was off (here or in another process) is in the item, not in the changelog.
    if existed and sync.exists(g, k) and _same(sync.get(g, k), value):
        detail = ""
        if a.to.isdecimal():
            last = sync.history(g, k, limit=1)
            detail = f" (its last change is {last[0]['seq']})" if last else " (no change of it is recorded)"
        print(f"{g}/{k} is already as it was {_when(a.to)}{detail}: nothing written")
        return None
    if not existed:
        if sync.exists(g, k):
            sync.delete(g, k)
            print(f"{g}/{k} did not exist {_when(a.to)}: deleted it")
        else:
            print(f"{g}/{k} did not exist {_when(a.to)}, nor does it now: nothing written")
        return None
    result = sync.set(g, k, value)
    print(f"restored {g}/{k} to its value {_when(a.to)}")
    return as_json_result(result, m.settings.json_indent)


def _history_args(p: ArgParser) -> None:
    p.add_argument("group", metavar="GROUP", help="the group")
    p.add_argument("key", nargs="?", metavar="KEY", help="one item of the group (default: every item)")
    p.add_argument("--since", metavar="SEQ|TIME", help="changes after this seq, or at or after this ISO time (without an offset: local time)")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="at most N changes (default 100)")


def _restore_args(p: ArgParser) -> None:
    p.add_argument("group", metavar="GROUP", help="the group")
    p.add_argument("key", metavar="KEY", help="the item's key")
    p.add_argument("--to", required=True, metavar="SEQ|TIME|-N",
                   help="the change (its seq), an ISO time (without an offset: local time), or -N: before the item's last N changes (-1 = undo)")  # fmt: skip


def add_history_commands(t: CommandTable) -> None:
    """Add ``history`` and ``restore`` to the ``%state`` table."""
    t.add("history", "who changed what, and when (a DataFrame)",
          "The recorded changes of GROUP (or of GROUP/KEY), oldest first: seq, at (UTC), event_type, "
          "group_id, key, old_value, new_value (the values themselves, None where absent), trace_id, "
          "cause (the step's name, cell, magic, viewer or worker:<name>) and pid. Without --since, the newest N; "
          "with it, the first N after it. How much is kept: %config MotiaNB.history_keep.",
          _history, _history_args, examples=(
              "%state history orders order-1", "%state history orders --limit 20", "%state history orders --since 42",
          ))  # fmt: skip
    t.add("restore", "write an item's old value back",
          "Write the value GROUP/KEY had at change SEQ (at an ISO time, or before its last N changes with -N) "
          "back as a normal write: recorded in the history (cause magic) and firing state triggers; an item "
          "that did not exist then is deleted; an item that already holds that value is left as it is.",
          _restore, _restore_args, examples=(
              "%state restore orders order-1 --to 42", "%state restore orders order-1 --to -1     # undo the last change",
          ))  # fmt: skip
