"""``%%step`` and ``%motia``: define steps from cells and drive the workflow sandbox.

``%%step`` runs a Motia-style step file (module-level ``config`` dict and
``handler``) in a fresh module namespace, validates it and registers it —
running the cell again replaces the step (:mod:`.step_cells`).

``%motia`` routes on :data:`MOTIA_COMMANDS`, a :class:`~.commands.CommandTable` like
``%state``'s: ``%motia help`` lists every subcommand, ``%motia help SUBCOMMAND``
explains one, and ``%motia?`` shows the same overview. A line the table cannot
read raises :class:`~.parsing.MagicUsageError` (one line; the cell fails); every
other error shows as one line plus the user's own frames (:mod:`.tracebacks`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from typing import Any

from IPython.core.magic import (
    Magics,
    cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)

from motia_nb.session import (
    all_steps,
    clear_logs,
    clear_traces,
    current_session,
    enqueue,
    flow_diagram,
    get_step,
    remove_step,
    request,
    reset_steps,
    run_cron,
    steps_frame,
)
from motia_nb.steps import StepConfigError

from .commands import ArgParser, CommandTable, Tail
from .engine_magics import EngineUsageError, serve_cmd, stop_cmd, workers_cmd
from .parsing import MagicUsageError, as_written, read_value, tokenize
from .step_cells import define_steps_from_source, notebook_names_used
from .step_export import ExportError, other_step_files, plan_export, write_export
from .trace_commands import add_trace_commands, no_such
from .._frames import location
from .tracebacks import error_line, one_line_errors, user_frames

__all__ = ["StepMagics", "MotiaUsageError", "StepSyntaxError", "MOTIA_COMMANDS", "load_ipython_extension"]

#: the one usage-error class, under the name ``%motia`` errors had before
MotiaUsageError = MagicUsageError


class StepSyntaxError(StepConfigError):
    """A ``%%step`` cell that is not valid Python; nothing was registered.

    Not a ``SyntaxError`` subclass on purpose: IPython prints every ``SyntaxError``
    with the whole stack that compiled it. This one shows the user's line, the
    caret and the message, as Python does for a script. The original error is
    ``syntax_error``.
    """

    def __init__(self, err: SyntaxError) -> None:
        where = location(err.filename or "")  # Cell In[7], as IPython names the running cell
        place = where.removeprefix("File ").strip('"')  # Cell In[7], or the module's name
        super().__init__(f"{err.msg} ({place}, line {err.lineno})")
        self.syntax_error = err
        *lines, last = traceback.format_exception_only(type(err), err)
        if lines and err.filename and lines[0].lstrip().startswith(f'File "{err.filename}"'):
            lines[0] = lines[0].replace(f'File "{err.filename}"', where, 1)
        name, _, message = last.rstrip("\n").partition(": ")
        self._lines = [*user_frames(err.__traceback__), "".join(lines).rstrip("\n"), error_line(message, name)]

    def _render_traceback_(self) -> list[str]:
        return [line for line in self._lines if line]


# ----------------------------------------------------------------------------- subcommands
def _steps(m: StepMagics, a: argparse.Namespace) -> Any:
    df = steps_frame(a.flow)
    if a.flow is not None and df.empty:
        no_such("steps", f"no step belongs to flow {a.flow!r}", a.flow, [f for s in all_steps() for f in s.flows])
    return df


def _remove(m: StepMagics, a: argparse.Namespace) -> None:
    for name in a.names:  # every name first: a typo in one removes none
        get_step(name)
    for name in dict.fromkeys(a.names):
        remove_step(name)
        print(f"✓ step {name!r} removed")


def _reset(m: StepMagics, a: argparse.Namespace) -> None:
    stopped = current_session().scheduler.stop()
    reset_steps()
    clear_logs()
    clear_traces()
    print("✓ every step removed; logs and traces cleared")
    if "finishes first" in stopped:  # a cron step the scheduler runs is not cut half-way
        print(stopped)


def _enqueue(m: StepMagics, a: argparse.Namespace) -> None:
    enqueue.sync({"topic": a.topic, "data": a.data})


def _request(m: StepMagics, a: argparse.Namespace) -> dict[str, Any]:
    # (never expanded: GET /orders/{oid} would ask for the order "{oid}")
    return request.sync(a.method, as_written("%motia request", "PATH", a.path), body=a.body)


def _cron_run(m: StepMagics, a: argparse.Namespace) -> None:
    run_cron.sync(a.name)


def _cron_start(m: StepMagics, a: argparse.Namespace) -> None:
    print(current_session().scheduler.start(a.seconds))


def _cron_stop(m: StepMagics, a: argparse.Namespace) -> None:
    print(current_session().scheduler.stop())


def _cron_list(m: StepMagics, a: argparse.Namespace) -> Any:
    df = current_session().scheduler.frame()
    if df.empty:  # an empty frame alone does not say why
        print('%motia cron list: no cron step is registered (a step with "triggers": [cron("0 9 * * *")] is one)',
              file=sys.stderr)
    return df


def _flow(m: StepMagics, a: argparse.Namespace) -> Any:
    return flow_diagram(a.flow)


def _serve(m: StepMagics, a: argparse.Namespace) -> Any:
    try:
        return serve_cmd(["--port", str(a.port), "--host", a.host])
    except EngineUsageError as e:
        raise MagicUsageError(str(e)) from None


def _serve_stop(m: StepMagics, a: argparse.Namespace) -> None:
    print(stop_cmd())


def _workers(m: StepMagics, a: argparse.Namespace) -> Any:
    return workers_cmd()


def _export(m: StepMagics, a: argparse.Namespace) -> None:
    try:
        plan = plan_export(current_session().registry.all())
        written = write_export(plan, as_written("%motia export", "DIR", a.dir), force=a.force)
    except ExportError as e:
        raise MagicUsageError(f"%motia export: {e}") from None
    folder = a.dir.rstrip("/\\") or a.dir
    for f in plan.files:
        print(f"✓ {folder}/{f.name}  ({', '.join(f.steps)})")
        for note in f.notes:
            print(f"    note: {note}")
    if plan.skipped:
        print(f"not exported (defined with @step in a plain cell, not a %%step cell): {', '.join(plan.skipped)}")
    others = other_step_files(written[0].parent, written)
    if others:  # a step renamed since an earlier export left its old file: motia run loads both
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        print(f"⚠ {folder} also holds {shown}, not written by this export: motia run --dir "
              f"{shlex.quote(folder)} loads {'it' if len(others) == 1 else 'them'} too", file=sys.stderr)
    print(f"run them with: motia run --dir {shlex.quote(folder)}")  # (as a shell reads it: 'my steps')


def _help(m: StepMagics, a: argparse.Namespace) -> None:
    print(MOTIA_COMMANDS.help(a.subcommand))


# ----------------------------------------------------------------------------- the table
def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _optional(name: str, metavar: str, help: str) -> Any:
    return lambda p: p.add_argument(name, nargs="?", metavar=metavar, help=help)


def _build() -> CommandTable:
    t = CommandTable(
        "%motia",
        "Drive the steps defined in this notebook (%%step cells and @step functions).",
        """\
        Define a step with a %%step cell holding a Motia step file (module-level config and
        handler); running the cell again replaces the step. %%step --quiet registers silently.

        DATA and BODY are written after the names, verbatim: JSON, :name for a notebook
        variable, or a Python expression, e.g.  %motia enqueue order.created {"orderId": oid}
        Errors fail the cell with one line (then the usage, where it helps).""",
        defaults={"cron": "cron list"},
    )
    t.add("steps", "registered steps as a table", "The registered steps (optionally of one flow) as a DataFrame.",
          _steps, _optional("flow", "FLOW", "only the steps of this flow"), examples=("%motia steps", "%motia steps order-processing"))
    t.add("remove", "unregister steps", "Unregister the named steps.", _remove,
          lambda p: p.add_argument("names", nargs="+", metavar="NAME", help="a step name"),
          examples=("%motia remove ProcessPayment",))
    t.add("reset", "unregister every step; forget logs and traces",
          "Unregister every step, stop the cron scheduler, clear the log and the traces.", _reset, examples=("%motia reset",))
    t.add("enqueue", "enqueue a message on a topic",
          "Enqueue DATA on TOPIC; the queue steps it triggers run before the cell ends.", _enqueue,
          lambda p: p.add_argument("topic", metavar="TOPIC", help="the topic"), Tail("DATA", required=False, python=True),
          examples=('%motia enqueue order.created {"orderId": "o-1"}', "%motia enqueue order.created :message"))
    t.add("request", "call an http step; shows the response",
          "Call the http step serving METHOD PATH with BODY; returns {status, body, headers} (404 when none).",
          _request, lambda p: (p.add_argument("method", metavar="METHOD", help="GET, POST, ..."),
                               p.add_argument("path", metavar="PATH", help="the path, e.g. /orders")),
          Tail("BODY", required=False, python=True),
          examples=('%motia request POST /orders {"total": 10}', "%motia request GET /orders/o-1"))
    t.add("cron run", "run a cron step now", "Run the cron step NAME now (its triggers and cascade run inline).",
          _cron_run, lambda p: p.add_argument("name", metavar="NAME", help="a cron step"),
          examples=("%motia cron run DailyReport",))
    t.add("cron start", "start the cron scheduler",
          "Start the opt-in scheduler: cron steps run on their schedule, checked every SECONDS (default 1).",
          _cron_start, lambda p: p.add_argument("seconds", nargs="?", type=_seconds, default=1.0, metavar="SECONDS",
                                                help="how often to check the schedules"),
          examples=("%motia cron start", "%motia cron start 0.5"))
    t.add("cron stop", "stop the cron scheduler", "Stop the cron scheduler; a cron step it is running finishes first.",
          _cron_stop, examples=("%motia cron stop",))
    t.add("cron list", "cron steps and their next run (also: %motia cron)",
          "The cron steps, their expressions and next runs, as a DataFrame.", _cron_list,
          examples=("%motia cron list", "%motia cron"))
    add_trace_commands(t)
    t.add("flow", "the flow diagram (Mermaid + text)", "The diagram of the steps (optionally of one flow).", _flow,
          _optional("flow", "FLOW", "a flow name"), examples=("%motia flow order-processing",))
    t.add("serve", "serve the iii engine protocol: real Motia workers connect to this kernel",
          "Start the local engine endpoint on 127.0.0.1 (a free port unless --port): connect a Motia project with "
          "III_URL=<url> motia run --dir steps. Serving starts the cron scheduler.", _serve,
          lambda p: (p.add_argument("--port", type=int, default=0, metavar="N", help="the port (0: a free one)"),
                     p.add_argument("--host", default="127.0.0.1", metavar="HOST", help="the address to listen on")),
          examples=("%motia serve", "%motia serve --port 49134"))
    t.add("serve stop", "stop serving (connected workers lose their steps)", "Close the engine endpoint.", _serve_stop,
          examples=("%motia serve stop",))
    t.add("workers", "the connected workers and their steps", "The workers connected to the engine endpoint, as a DataFrame.",
          _workers, examples=("%motia workers",))
    t.add("export", "write the %%step cells out as a Motia steps/ folder",
          "Write every %%step cell that defined a registered step to DIR as a Motia step file, named as Motia's "
          "CLI finds them (CreateOrder -> create_order_step.py), for `motia run --dir DIR`. A step file already "
          "there refuses the export (nothing is written) unless --force. Steps defined with @step in plain cells are listed, not exported.", _export,
          lambda p: (p.add_argument("dir", metavar="DIR", help="the folder (created if missing)"),
                     p.add_argument("--force", action="store_true", help="overwrite existing step files")),
          examples=("%motia export steps", "%motia export steps --force"))
    t.add("help", "this help (or: help SUBCOMMAND)", "Show help on %motia or on one subcommand.", _help,
          lambda p: p.add_argument("subcommand", nargs="*", metavar="SUBCOMMAND", help="a subcommand"),
          examples=("%motia help enqueue", "%motia help cron"))
    return t


MOTIA_COMMANDS: CommandTable = _build()

_STEP_OPTIONS = ArgParser(prog="%%step", description="Define (or replace) a step from a Motia step file.", add_help=False)
_STEP_OPTIONS.add_argument("-q", "--quiet", action="store_true", help="register without printing the confirmation line")
_STEP_OPTIONS.usage_line = "%%step [--quiet]"

STEP_HELP = """\
Define (or replace) a step: the cell holds a Motia step file.

usage: %%step [--quiet]

The cell runs as its own module. It defines a module-level config dict (name,
triggers, and optionally flows, enqueues, description) and a handler (async def
or def, taking (input) or (input, ctx)); `from motia import ...` works in it.
Running the cell again replaces the step of the same name. Drive the steps with
%motia (see %motia help).

options:
  -q, --quiet   register without printing the confirmation line

example:
  %%step
  from motia import queue, logger
  config = {"name": "ProcessPayment", "triggers": [queue("order.created")]}
  async def handler(input):
      logger.info("paid", input)"""


# ----------------------------------------------------------------------------- the magics
@magics_class
class StepMagics(Magics):
    """``%%step`` (define a step from a Motia-style step file) and ``%motia`` (drive the sandbox)."""

    @cell_magic
    @one_line_errors
    def step(self, line: str, cell: str) -> None:
        # The docstring is STEP_HELP (plain text, shown by %%step?).
        opts = _STEP_OPTIONS.parse_args([w.text for w in tokenize(line).words])
        try:
            defined = define_steps_from_source(cell, first_line=2)  # line 1 is %%step
        except SyntaxError as err:
            raise StepSyntaxError(err) from None
        for st, replaced in [] if opts.quiet else defined:
            trig = ", ".join(t.describe() for t in st.triggers) or "no triggers"
            print(f"✓ step {st.name!r} {'replaced' if replaced else 'registered'} ({trig})")
        cell_module = sys.modules.get(f"motia_nb_step_{defined[0][0].cell.number}")  # the cell's own module
        names = notebook_names_used(cell, vars(cell_module), self.shell.user_ns) if cell_module and self.shell else []
        if names:
            print(f"⚠ step {defined[0][0].name!r}: {', '.join(names)} {'are names' if len(names) > 1 else 'is a name'} of "
                  "the notebook, not of this cell: a %%step cell runs as its own module, like a Motia step file, so "
                  f"{'they are' if len(names) > 1 else 'it is'} not defined there; define or import "
                  f"{'them' if len(names) > 1 else 'it'} in the cell", file=sys.stderr)

    def _read(self, raw: str, what: str, tail: Tail) -> Any:
        evaluate = self.shell.ev if (tail.python and self.shell is not None) else None
        return read_value(raw, what, self.shell.user_ns if self.shell is not None else {}, evaluate)

    @no_var_expand
    @line_magic
    @one_line_errors
    def motia(self, line: str) -> Any:
        # The docstring is generated from the subcommand table (see MOTIA_COMMANDS.overview()).
        command, args = MOTIA_COMMANDS.route(line, None, self._read)
        return command.run(self, args)


StepMagics.motia.__doc__ = MOTIA_COMMANDS.overview()
StepMagics.step.__doc__ = STEP_HELP


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext motia_nb.notebook.step_magics``: register only the step magics."""
    ip.register_magics(StepMagics)
