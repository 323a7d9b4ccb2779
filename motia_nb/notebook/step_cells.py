"""Running a ``%%step`` cell: a Motia step file (``config`` + ``handler``) in its own module.

:func:`define_steps_from_source` runs the cell's source as a module, validates
its module-level ``config`` and ``handler`` (and any ``motia.step()`` definitions)
and registers the steps — running the cell again replaces them. ``from motia
import …`` works inside the cell: the real ``motia`` package bound in-process, or
motia_nb's stand-in (:mod:`motia_nb.motia`), so a step moves between a Motia
project and a notebook by copy and paste. Nothing here needs IPython; the magic
is in :mod:`motia_nb.notebook.step_magics`.
"""

from __future__ import annotations

import builtins
import dis
import linecache
import sys
import types
from dataclasses import dataclass
from itertools import count
from typing import Any

from motia_nb.session import current_session, enqueue, logger, request, run_cron, step
from motia_nb.steps import StepConfigError, cron, http, queue, state
from motia_nb.steps.context import FlowContext, HttpRequest
from motia_nb.motia import ensure_motia
from motia_nb.motia._world import register_namespace
from motia_nb.steps.registry import Step

__all__ = ["StepCell", "define_steps_from_source", "define_step_from_source", "public_names", "notebook_names_used"]

_cells = count(1)


@dataclass(frozen=True)
class StepCell:
    """The ``%%step`` cell a step came from: kept on the step (``Step.cell``) for ``%motia export``.

    Running the cell again registers new steps carrying the new source; removing a
    step forgets it with the step.
    """

    #: which run of a ``%%step`` cell (its ``<%%step cell N>`` number)
    number: int
    #: the cell's source, as typed (without the ``%%step`` line)
    source: str
    #: every step the cell defined, in order
    names: tuple[str, ...]
    #: the step of the module-level ``config`` + ``handler`` (what ``motia run`` loads from a file), if any
    module_step: str | None


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


def _name_as_the_running_cell(filename: str) -> None:
    """Let tracebacks call ``filename`` what IPython calls the running cell (``Cell In[7]``).

    The ``N`` of ``<%%step cell N>`` counts ``%%step`` runs: no number the notebook shows.
    IPython's compiler names a cell's frames by the execution count it maps the cell's
    file name to; a ``%%step`` cell's module is mapped to the number of the cell whose
    code is running this magic (the nearest caller frame that is a cell's).
    """
    get_ipython = getattr(builtins, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if not isinstance(names, dict):
        return
    frame = sys._getframe(1)
    while frame is not None:
        number = names.get(frame.f_code.co_filename)
        if isinstance(number, int):
            names[filename] = number
            return
        frame = frame.f_back


def define_steps_from_source(source: str, label: str | None = None, first_line: int = 1) -> list[tuple[Step, bool]]:
    """Run a step file's source as its own module and register its steps; returns ``[(step, replaced)]``.

    The module's ``config`` + ``handler`` make one step, and every ``motia.step(config,
    handler)`` definition in it another. The module is registered in ``sys.modules``
    (pydantic generic models at module level need it). Its lines are numbered from
    ``first_line`` (2 for a ``%%step`` cell body, so tracebacks give the line numbers
    the user sees in the cell). A syntax error raises ``SyntaxError`` (filename
    ``<%%step cell N>``, whose lines tracebacks can show); a cell that defines no
    step, or a config the registry refuses, raises ``StepConfigError``.
    """
    ensure_motia()  # `from motia import …`: the real package (bound in-process) or motia_nb's stand-in
    n = next(_cells)
    filename = f"<%%step cell {n}>"
    numbered = "\n" * max(0, first_line - 1) + source
    linecache.cache[filename] = (len(numbered), None, numbered.splitlines(True), filename)
    _name_as_the_running_cell(filename)
    mod = types.ModuleType(f"motia_nb_step_{n}")
    mod.__dict__.update({"__file__": filename, **public_names()})
    code = compile(numbered, filename, "exec")
    sys.modules[mod.__name__] = mod
    try:
        exec(code, mod.__dict__)  # noqa: S102 - running the user's own cell is the point
        done = register_namespace(mod.__dict__, source="%%step")
    except BaseException:
        sys.modules.pop(mod.__name__, None)
        raise
    if not done:
        sys.modules.pop(mod.__name__, None)
        ns = mod.__dict__
        missing = [k for k in ("config", "handler") if ns.get(k) is None]
        raise StepConfigError(
            f"%%step cell{' ' + label if label else ''} must define a module-level `config` dict and a `handler` "
            f"function, like a Motia step file (or a motia.step(config, handler) definition); missing: {', '.join(missing)}"
        )
    ns = mod.__dict__
    has_module_step = ns.get("config") is not None and callable(ns.get("handler"))
    cell = StepCell(n, source, tuple(st.name for st, _ in done), done[0][0].name if has_module_step else None)
    for st, _ in done:
        st.cell = cell
    return done


def define_step_from_source(source: str, label: str | None = None, first_line: int = 1) -> tuple[Step, bool]:
    """The first step a step file's source defines (see :func:`define_steps_from_source`)."""
    return define_steps_from_source(source, label, first_line)[0]


def notebook_names_used(source: str, module: dict[str, Any], notebook: dict[str, Any]) -> list[str]:
    """The names the functions of a step file's ``source`` (handlers, conditions, helpers,
    comprehensions) read as globals that its ``module`` does not define but the ``notebook``
    does: a helper from an earlier cell, which the step, a module of its own, never sees (a
    ``NameError`` when it fires). In order of first use."""
    try:
        code = compile(source, "<%%step names>", "exec")
    except SyntaxError:
        return []
    found: dict[str, None] = {}
    todo = [c for c in code.co_consts if isinstance(c, types.CodeType)]  # module level ran already
    while todo:
        c = todo.pop(0)
        for ins in dis.get_instructions(c):
            name = ins.argval
            if ins.opname == "LOAD_GLOBAL" and name not in module and not hasattr(builtins, name) and name in notebook:
                found.setdefault(name)
        todo[:0] = [k for k in c.co_consts if isinstance(k, types.CodeType)]
    return list(found)
