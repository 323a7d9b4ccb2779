"""motia_nb: Motia's workflow State Management, steps and triggers, inside Jupyter.

``%load_ext motia_nb`` registers the ``%state`` / ``%%state`` / ``%%step`` / ``%motia``
magics; ``from motia_nb import state_manager`` gives the async state API.
"""

from __future__ import annotations

from typing import Any

from .state import (
    InvalidInputError,
    StateError,
    StateEvent,
    StateManager,
    UpdateOpError,
    state_manager,
)
from .session import (
    Session,
    all_steps,
    clear_logs,
    clear_traces,
    get_step,
    last_trace_id,
    register,
    reset_steps,
    run_step_now,
    current_session,
    default_session,
    enqueue,
    flow_diagram,
    log_frame,
    logger,
    remove_step,
    request,
    run_cron,
    start_scheduler,
    step,
    steps_frame,
    stop_scheduler,
    trace_frame,
)
from .steps import StepConfigError, StepLoopError, cron, http, queue, state

__version__ = "0.1.0"

__all__ = [
    # SPEC §5
    "state_manager",
    "step",
    "enqueue",
    "logger",
    "cron",
    "state",
    "queue",
    "http",
    "request",
    "run_cron",
    # seeing and managing steps
    "steps_frame",
    "all_steps",
    "get_step",
    "register",
    "reset_steps",
    "run_step_now",
    "log_frame",
    "clear_logs",
    "clear_traces",
    "last_trace_id",
    "trace_frame",
    "flow_diagram",
    "remove_step",
    "start_scheduler",
    "stop_scheduler",
    "StepConfigError",
    "StepLoopError",
    "Session",
    "default_session",
    "current_session",
    "StateManager",
    "StateEvent",
    "StateError",
    "InvalidInputError",
    "UpdateOpError",
    "viewer",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> Any:
    # ``viewer`` imports ipywidgets: load it only when asked for.
    if name == "viewer":
        from .notebook.viewer import viewer

        return viewer
    raise AttributeError(f"module 'motia_nb' has no attribute {name!r}")


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext motia_nb``: register magics, completion and configuration."""
    from .notebook.extension import load

    load(ip)


def unload_ipython_extension(ip: Any) -> None:
    """``%unload_ext motia_nb``: remove everything ``load`` added and release resources."""
    from .notebook.extension import unload

    unload(ip)
