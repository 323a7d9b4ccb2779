"""``%motia logs`` and ``%motia trace``: the log and the step runs from a cell.

Each shows its DataFrame and says on stderr why rows are missing: the oldest were
dropped (the store keeps the newest), a step has logged nothing yet, a name or trace id
matches nothing (naming the closest), or a trace id is a cell run's that triggered no step.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from datetime import datetime
from typing import Any

from motia_nb.session import all_steps, current_session, log_frame, trace_frame
from motia_nb.state.cause import cell_runs

from .commands import CommandTable, Written

__all__ = ["add_trace_commands", "no_such"]


def no_such(command: str, what: str, name: str, known: list[str]) -> None:
    """Tell on stderr that ``name`` matched nothing (a typo, most often), naming the closest of
    ``known``; the command still returns its empty frame, as ``%state list`` does for a group."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1)
    hint = f". Did you mean {close[0]!r}?" if close else ""
    print(f"%motia {command}: {what}{hint}", file=sys.stderr)


def _say_dropped(command: str, store: Any, many: str, one: str) -> None:
    """Say on stderr that the oldest rows of ``store`` were dropped (its first rows are not there: why)."""
    n = store.dropped
    if n:
        budget = getattr(store, "max_bytes", None)
        also = f" and {budget / 2**20:g} MB of their data" if budget else ""
        print(f"%motia {command}: the {'log' if command == 'logs' else 'trace'} keeps the newest "
              f"{store.max_records:,} {many}{also}; {n:,} older {one + ' was' if n == 1 else many + ' were'} dropped",
              file=sys.stderr)


def _logs(m: Any, a: argparse.Namespace) -> Any:
    df = log_frame(step=a.step)
    _say_dropped("logs", current_session().logs, "lines", "line")
    if a.step is not None and df.empty:
        if any(s.name == a.step for s in all_steps()):
            print(f"%motia logs: step {a.step!r} has logged nothing yet", file=sys.stderr)
        else:
            logged = log_frame()["step"].dropna().tolist()
            no_such("logs", f"no step named {a.step!r} has logged", a.step, [s.name for s in all_steps()] + logged)
    return df


def _trace_instead(expression: str) -> str:
    """What to write instead of ``%motia trace $tid`` (:class:`~.commands.Written`)."""
    call = f"trace_frame({expression})" if expression.isidentifier() else "trace_frame(...)"
    return f" (its first characters are enough), or call {call} (from motia_nb import trace_frame)"


def _trace(m: Any, a: argparse.Namespace) -> Any:
    df = trace_frame(a.trace)
    if a.trace is None:  # (a trace of its own is there whole, or was dropped whole: said below)
        _say_dropped("trace", current_session().traces, "step runs", "step run")
    if a.trace not in (None, "last") and df.empty:
        ids = trace_frame()["trace_id"].unique().tolist()
        begun = [t for t in ids if t.startswith(a.trace)]  # the first characters, copied as a git hash's
        if len(begun) == 1:
            return trace_frame(begun[0])
        if begun:
            print(f"%motia trace: {a.trace!r} begins {len(begun)} trace ids; write more of it", file=sys.stderr)
            return df
        cells = [(t, at) for t, at in cell_runs() if t.startswith(a.trace)]
        if len(cells) == 1:  # a cell run's id (its changes in history() carry it) that set off no step
            _say_cell_run(*cells[0])
            return df
        n = len(ids)
        print(f"%motia trace: no trace {a.trace!r} ({n} trace{'' if n == 1 else 's'} kept; %motia trace lists them)",
              file=sys.stderr)
    return df


def _say_cell_run(trace_id: str, began: datetime) -> None:
    """Say that ``trace_id`` is a cell run's with no step run kept (rather than "no trace")."""
    traces = current_session().traces
    cleared = traces.cleared_at
    if cleared is not None and began < cleared:
        print(f"%motia trace: trace {trace_id!r} is a cell run's from before the traces were cleared "
              f"(%motia reset or clear_traces() at {cleared:%H:%M:%S}): its step runs, if any, are forgotten",
              file=sys.stderr)
        return
    maybe = f", or its step runs were among the {traces.dropped:,} older ones dropped" if traces.dropped else ""
    logged = len(log_frame(trace_id=trace_id))
    logs = f"; its {logged} log line{'' if logged == 1 else 's'}: log_frame(trace_id={trace_id!r})" if logged else ""
    print(f"%motia trace: trace {trace_id!r} has no step runs: it is a cell run's, and that cell triggered no step"
          f"{maybe} (its changes carry it in history(){logs})", file=sys.stderr)


def add_trace_commands(t: CommandTable) -> None:
    """Add ``logs`` and ``trace`` to the ``%motia`` table."""
    t.add("logs", "the log as a DataFrame", "Everything logged (optionally by one step) as a DataFrame.", _logs,
          lambda p: p.add_argument("step", nargs="?", metavar="STEP", help="only this step's lines"), examples=("%motia logs", "%motia logs ProcessPayment"))
    t.add("trace", "step runs as a DataFrame",
          "Step runs as a DataFrame: every run, the last cascade (last) or one trace id (or its first characters).", _trace,
          lambda p: p.add_argument("trace", nargs="?", metavar="last|TRACE_ID", help="last, or a trace id"), examples=("%motia trace last",),
          written=Written("the trace id", "the id", _trace_instead))  # (a trace id is hex and dashes: never $tid)
