"""Running a ``%%step`` cell: a Motia step file (``config`` + ``handler``) in its own module.

:func:`define_step_from_source` runs the cell's source in a fresh namespace,
validates its module-level ``config`` and ``handler`` and registers the step —
running the cell again replaces it. ``from motia import …`` works inside the cell:
when no real ``motia`` package exists, a small ``motia`` alias of motia_nb's
public names is installed, so a step moves between a Motia project and a notebook
by copy and paste. Nothing here needs IPython; the magic is in
:mod:`motia_nb.notebook.step_magics`.
"""

from __future__ import annotations

import importlib.util
import linecache
import sys
import types
import typing
from itertools import count
from typing import Any

from motia_nb.session import current_session, enqueue, logger, register, request, run_cron, step
from motia_nb.steps import StepConfigError, cron, http, queue, state
from motia_nb.steps.context import FlowContext, HttpRequest
from motia_nb.steps.registry import Step

__all__ = ["define_step_from_source", "public_names"]

_cells = count(1)


def public_names() -> dict[str, Any]:
    """The names a ``%%step`` cell sees without importing them (and ``motia``'s alias offers)."""
    return {
        "state_manager": current_session().manager,
        "step": step,
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


def _install_motia_alias() -> None:
    """Make ``from motia import state_manager, logger, …`` work when no real ``motia`` exists."""
    if "motia" in sys.modules or importlib.util.find_spec("motia") is not None:
        return
    mod = types.ModuleType("motia", "motia_nb's stand-in for Motia's Python SDK inside %%step cells")
    mod.__dict__.update(public_names())

    def __getattr__(name: str) -> Any:  # type-only names (Handlers, ApiResponse, …) are Any
        if name[:1].isupper():
            return typing.Any
        raise AttributeError(f"motia_nb's 'motia' alias has no {name!r} (available: {', '.join(public_names())})")

    mod.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules["motia"] = mod


def define_step_from_source(source: str, label: str | None = None, first_line: int = 1) -> tuple[Step, bool]:
    """Run a step file's source in its own namespace and register its ``config`` + ``handler``.

    Returns ``(step, replaced)``. The source's lines are numbered from
    ``first_line`` (2 for a ``%%step`` cell body, so tracebacks give the line
    numbers the user sees in the cell). A syntax error raises ``SyntaxError``
    (filename ``<%%step cell N>``, whose lines tracebacks can show); a missing
    ``config`` or ``handler``, or a config the registry refuses, raises
    ``StepConfigError``.
    """
    _install_motia_alias()
    n = next(_cells)
    filename = f"<%%step cell {n}>"
    numbered = "\n" * max(0, first_line - 1) + source
    linecache.cache[filename] = (len(numbered), None, numbered.splitlines(True), filename)
    ns: dict[str, Any] = {"__name__": f"motia_nb_step_{n}", "__file__": filename, **public_names()}
    code = compile(numbered, filename, "exec")
    exec(code, ns)  # noqa: S102 - running the user's own cell is the point
    config, handler = ns.get("config"), ns.get("handler")
    if config is None or handler is None:
        missing = [k for k, v in (("config", config), ("handler", handler)) if v is None]
        raise StepConfigError(
            f"%%step cell{' ' + label if label else ''} must define a module-level `config` dict and a `handler` "
            f"function, like a Motia step file; missing: {', '.join(missing)}"
        )
    return register(config, handler, source="%%step")
