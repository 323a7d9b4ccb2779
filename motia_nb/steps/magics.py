"""``%%step`` and ``%motia``: define steps from cells and drive the workflow sandbox.

``%%step`` runs a Motia-style step file (module-level ``config`` dict and
``handler``) in a fresh module namespace, validates it and registers it —
running the cell again replaces the step. ``from motia import …`` works inside
the cell (a small alias of ``motia_nb`` is installed when no real ``motia``
package exists), so a step moves between a Motia project and a notebook by
copy and paste.

``%motia`` subcommands (errors raise, so the cell fails visibly)::

    %motia steps [FLOW]                 registered steps as a table
    %motia remove NAME [NAME ...]       unregister steps
    %motia reset                        unregister every step, forget logs and traces
    %motia enqueue TOPIC [DATA]         enqueue (DATA: JSON or a Python expression)
    %motia request METHOD PATH [BODY]   call an http step; shows the response
    %motia cron run NAME                run a cron step now
    %motia cron start [SECONDS]         start the opt-in scheduler (default every 1 s)
    %motia cron list | cron stop
    %motia logs [STEP]                  the log as a DataFrame
    %motia trace [last|TRACE_ID]        step runs as a DataFrame
    %motia flow [FLOW]                  the flow diagram (Mermaid + text)
"""

from __future__ import annotations

import json
import linecache
import sys
import types
from itertools import count
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand

from .._magic_text import strip_comment
from ..motia._world import ensure_motia, register_namespace
from . import registry
from .config import cron, http, queue, state
from .context import FlowContext, HttpRequest
from .scheduling import scheduler
from .errors import StepConfigError, StepError
from .flow import flow_diagram
from .logs import clear_logs, log_frame, logger
from .registry import remove_step, reset_steps, steps_frame
from .runtime import enqueue, request, run_cron
from .trace import clear_traces, trace_frame

__all__ = ["StepMagics", "MotiaUsageError", "load_ipython_extension"]

_cells = count(1)


class MotiaUsageError(StepError, ValueError):
    """A ``%motia`` line that does not parse.

    Raised as a normal exception so the cell fails (a bare IPython ``UsageError``
    would not fail it for nbval), but rendered as one line, without a traceback.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mMotiaUsageError\x1b[0m: {self}"]


def _public_names() -> dict[str, Any]:
    from ..state import state_manager
    from . import registry as reg

    return {
        "state_manager": state_manager,
        "step": reg.step,
        "enqueue": enqueue,
        "logger": logger,
        "cron": cron,
        "state": state,
        "queue": queue,
        "http": http,
        "request": request,
        "run_cron": run_cron,
        "FlowContext": FlowContext,
        "ApiRequest": HttpRequest,
    }


def define_steps_from_source(source: str, label: str | None = None) -> list[tuple[registry.Step, bool]]:
    """Run a step file's source as its own module and register its ``config`` + ``handler`` (and ``step()`` definitions)."""
    ensure_motia()  # `from motia import …`: the real package (bound in-process) or motia_nb's stand-in
    n = next(_cells)
    filename = f"<%%step cell {n}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    mod = types.ModuleType(f"motia_nb_step_{n}")
    mod.__dict__.update({"__file__": filename, **_public_names()})
    sys.modules[mod.__name__] = mod  # pydantic generics at module level need their module registered
    code = compile(source, filename, "exec")
    exec(code, mod.__dict__)  # noqa: S102 - running the user's own cell is the point
    done = register_namespace(mod.__dict__, source="%%step")
    if not done:
        ns = mod.__dict__
        missing = [k for k in ("config", "handler") if ns.get(k) is None]
        raise StepConfigError(
            f"%%step cell{' ' + label if label else ''} must define a module-level `config` dict and a `handler` "
            f"function, like a Motia step file (or a motia.step(config, handler) definition); missing: {', '.join(missing)}"
        )
    return done


def define_step_from_source(source: str, label: str | None = None) -> tuple[registry.Step, bool]:
    """The first step a ``%%step`` source defines (see :func:`define_steps_from_source`)."""
    return define_steps_from_source(source, label)[0]


def _value(text: str, shell: Any) -> Any:
    """JSON first, then a Python expression in the user's namespace."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return shell.ev(text) if shell is not None else eval(text, {})  # noqa: S307 - the user's own input
    except Exception as e:
        raise MotiaUsageError(f"cannot read {text!r} as JSON or as a Python expression: {type(e).__name__}: {e}") from None


@magics_class
class StepMagics(Magics):
    """``%%step`` (define a step from a Motia-style step file) and ``%motia`` (drive the sandbox)."""

    @cell_magic
    def step(self, line: str, cell: str) -> None:
        """Define (or replace) a step: the cell holds module-level ``config`` and ``handler``.

        ``%%step --quiet`` registers without printing the confirmation line.
        """
        opts = line.split()
        bad = [o for o in opts if o not in ("--quiet", "-q")]
        if bad:
            raise MotiaUsageError(f"%%step takes no arguments except --quiet, got {' '.join(bad)!r}")
        for st, replaced in define_steps_from_source(cell):
            if not opts:
                trig = ", ".join(t.describe() for t in st.triggers) or "no triggers"
                print(f"✓ step {st.name!r} {'replaced' if replaced else 'registered'} ({trig})")

    @no_var_expand
    @line_magic
    def motia(self, line: str) -> Any:
        """Drive steps: ``steps``, ``remove``, ``reset``, ``enqueue``, ``request``, ``cron``, ``logs``, ``trace``, ``flow``."""
        parts = strip_comment(line).strip().split(None, 1)
        if not parts:
            raise MotiaUsageError("%motia needs a subcommand: " + _SUBCOMMANDS)
        sub, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        handler = getattr(self, "_cmd_" + sub.replace("-", "_"), None)
        if handler is None:
            raise MotiaUsageError(f"unknown %motia subcommand {sub!r}; expected one of: {_SUBCOMMANDS}")
        return handler(rest.strip())

    # ---------------------------------------------------------------- subcommands
    def _cmd_steps(self, rest: str) -> Any:
        return steps_frame(rest or None)

    def _cmd_remove(self, rest: str) -> None:
        names = rest.split()
        if not names:
            raise MotiaUsageError("%motia remove NAME [NAME ...]: give the step name(s) to remove")
        for name in names:
            remove_step(name)
            print(f"✓ step {name!r} removed")

    def _cmd_reset(self, rest: str) -> None:
        if rest:
            raise MotiaUsageError(f"%motia reset takes no arguments, got {rest!r}")
        scheduler.stop()
        reset_steps()
        clear_logs()
        clear_traces()
        print("✓ every step removed; logs and traces cleared")

    def _cmd_enqueue(self, rest: str) -> None:
        parts = rest.split(None, 1)
        if not parts:
            raise MotiaUsageError("%motia enqueue TOPIC [DATA]: give a topic (and optionally JSON data)")
        data = _value(parts[1], self.shell) if len(parts) > 1 else None
        enqueue.sync({"topic": parts[0], "data": data})

    def _cmd_request(self, rest: str) -> dict[str, Any]:
        parts = rest.split(None, 2)
        if len(parts) < 2:
            raise MotiaUsageError("%motia request METHOD PATH [BODY]: e.g. %motia request POST /orders {\"total\": 10}")
        body = _value(parts[2], self.shell) if len(parts) > 2 else None
        return request.sync(parts[0], parts[1], body=body)

    def _cmd_cron(self, rest: str) -> Any:
        parts = rest.split()
        action = parts[0] if parts else "list"
        if action == "run":
            if len(parts) != 2:
                raise MotiaUsageError("%motia cron run NAME: give one cron step name")
            run_cron.sync(parts[1])
            return None
        if action == "start":
            interval = 1.0
            if len(parts) > 2:
                raise MotiaUsageError("%motia cron start [SECONDS]")
            if len(parts) == 2:
                try:
                    interval = float(parts[1])
                except ValueError:
                    raise MotiaUsageError(f"%motia cron start SECONDS: {parts[1]!r} is not a number") from None
            print(scheduler.start(interval))
            return None
        if action == "stop":
            print(scheduler.stop())
            return None
        if action == "list":
            return scheduler.frame()
        raise MotiaUsageError(f"%motia cron {action!r}: expected run NAME, start [SECONDS], stop or list")

    def _cmd_logs(self, rest: str) -> Any:
        return log_frame(step=rest or None)

    def _cmd_trace(self, rest: str) -> Any:
        return trace_frame(rest or None)

    def _cmd_flow(self, rest: str) -> Any:
        return flow_diagram(rest or None)


_SUBCOMMANDS = ", ".join(
    name[len("_cmd_") :] for name in vars(StepMagics) if name.startswith("_cmd_")
)


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext motia_nb.steps.magics``: register only the step magics."""
    ip.register_magics(StepMagics)
