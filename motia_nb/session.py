"""The Session: one state manager with its steps, runtime, scheduler, logs and traces.

A :class:`Session` owns everything a workflow needs in one process: the
:class:`~motia_nb.state.StateManager` its steps read and write, the step
registry, the inline runtime (which makes the manager's writes fire the
session's state steps), the cron scheduler, the log and the traces.
``Session(StateManager(path))`` fires its own steps; two sessions in one
process never see each other's steps.

The public names of ``motia_nb`` (``step``, ``enqueue``, ``logger``,
``request``, ``run_cron``, ``steps_frame`` …) act on :func:`current_session`:
the session whose cascade is running (so a handler's ``enqueue`` stays in its
session), otherwise :func:`default_session`, which wraps the process-wide
``motia_nb.state_manager``. User code written against those names does not
change.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .state import StateManager, state_manager
from .state.urls import safe_url
from .steps.context import current_frame
from .steps.flow import FlowDiagram
from .steps.flow import flow_diagram as _flow_diagram
from .steps.logs import LogStore, StepLogger
from .steps.registry import Step, StepRegistry
from .steps.entry import Entry
from .steps.runtime import Outcome, Runtime
from .steps.scheduling import CronScheduler
from .steps.trace import TraceStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Session",
    "default_session",
    "current_session",
    "step",
    "register",
    "remove_step",
    "get_step",
    "all_steps",
    "reset_steps",
    "steps_frame",
    "enqueue",
    "request",
    "run_cron",
    "run_step_now",
    "logger",
    "log_frame",
    "clear_logs",
    "trace_frame",
    "last_trace_id",
    "clear_traces",
    "flow_diagram",
    "start_scheduler",
    "stop_scheduler",
]

_owners: "weakref.WeakKeyDictionary[StateManager, Session]" = weakref.WeakKeyDictionary()
_owners_lock = threading.Lock()


class Session:
    """A state manager with its own steps, runtime, cron scheduler, logs and traces.

    ``manager`` may be a :class:`StateManager`, a database URL (a path,
    ``":memory:"``, ``redis://…``) or None for a new manager on the default
    database. A manager belongs to at most one session (its inline dispatcher
    is that session's runtime).
    """

    def __init__(self, manager: StateManager | str | None = None) -> None:
        if manager is None or isinstance(manager, str):
            manager = StateManager(manager)
        if not isinstance(manager, StateManager):
            raise TypeError(f"Session(manager): expected a StateManager, a database URL or None, got {manager!r}")
        with _owners_lock:
            if manager in _owners:
                raise ValueError(f"{manager!r} already belongs to a Session; give each session its own StateManager")
            _owners[manager] = self
        self.manager = manager
        self.registry = StepRegistry()
        self.logs = LogStore()
        self.traces = TraceStore()
        self.runtime = Runtime(manager, self.registry, self.logs, self.traces, owner=self)
        self.scheduler = CronScheduler(self.runtime)
        #: this session's logger (``logger.info(message, data)``)
        self.logger: StepLogger = self.runtime.logger
        self.enqueue: Entry[..., None] = self.runtime.enqueue_entry
        self.request: Entry[..., dict[str, Any]] = Entry(self.runtime.request)
        self.run_cron: Entry[..., None] = Entry(self.runtime.run_cron)

    @property
    def state_manager(self) -> StateManager:
        """The session's state manager (Motia's name for it)."""
        return self.manager

    def step(self, config: Any = None, /, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@session.step(config)`` registers the handler below it in this session."""
        return self.registry.step(config, **kwargs)

    def steps_frame(self, flow: str | None = None) -> "pd.DataFrame":
        return self.registry.frame(flow)

    def flow_diagram(self, flow: str | None = None) -> FlowDiagram:
        return _flow_diagram(self.registry.all(), flow)

    def close(self) -> None:
        """Stop the scheduler (cancelling a cron step it runs), forget the steps and close the manager
        (it reopens on next use)."""
        self.scheduler.stop(cancel_running=True)
        self.registry.reset()
        self.manager.close()

    def __repr__(self) -> str:
        return f"<motia_nb Session {safe_url(self.manager.url)!r}: {len(self.registry.all())} step(s)>"


_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The process-wide session around ``motia_nb.state_manager`` (created on first use)."""
    global _default
    s = _default
    if s is not None:
        return s
    with _default_lock:
        if _default is None:
            _default = Session(state_manager)
        return _default


def current_session() -> Session:
    """The session of the running cascade, or the default session outside any step."""
    frame = current_frame()
    if frame is not None:
        owner = getattr(frame.runtime, "owner", None)
        if isinstance(owner, Session):
            return owner
    return default_session()


# ---------------------------------------------------------------------------- public names
def step(config: Any = None, /, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@step(config)`` registers the handler below it (and returns it unchanged).

    The config is validated now: a bad one raises StepConfigError when the cell runs.
    Running the cell again replaces the step of the same name.
    """
    return current_session().registry.step(config, **kwargs)


def register(config: Any, handler: Callable[..., Any], source: str = "register") -> tuple[Step, bool]:
    """Validate and register a step; returns ``(step, replaced)``."""
    return current_session().registry.register(config, handler, source)


def remove_step(name: str) -> Step:
    """Unregister a step by name; returns it. StepNotFoundError if there is none."""
    return current_session().registry.remove(name)


def get_step(name: str) -> Step:
    """The step called ``name``; StepNotFoundError if there is none."""
    return current_session().registry.get(name)


def all_steps() -> list[Step]:
    """Registered steps in registration order."""
    return current_session().registry.all()


def reset_steps() -> None:
    """Unregister every step."""
    current_session().registry.reset()


def steps_frame(flow: str | None = None) -> "pd.DataFrame":
    """The registered steps as a DataFrame (name, triggers, enqueues, flows, handler, description)."""
    return current_session().registry.frame(flow)


async def _enqueue(message: Mapping[str, Any]) -> None:
    """``await enqueue({"topic": t, "data": d})``: run every queue step subscribed to ``t``, inline."""
    await current_session().runtime.enqueue(message)


async def _request(
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``await request("POST", "/orders", body={...})``: call the matching http step.

    Returns ``{"status", "body", "headers"}``: 404 when no route matches the path,
    405 when one matches with another method, 500 when the handler raises or
    answers with something malformed. As the engine (iii 0.9) answers: a path no
    route serves is a 404 with no body (the cell is told in one line which routes
    there are), another method a 405 with no body and an ``allow`` header (a HEAD on
    a GET route: 404, the text ``Not Found``); a missing ``status`` is 200, path
    params are the raw segments (percent-escapes kept), and a query key given
    several values is refused.
    """
    return await current_session().runtime.request(method, path, body, headers, query)


async def _run_cron(name: str) -> None:
    """``await run_cron("DailyReport")``: run a cron step now (input ``None``), inline."""
    await current_session().runtime.run_cron(name)


async def run_step_now(name: str, data: Any = None) -> Outcome:
    """Run any step by name with ``data`` as its input (a manual trigger), inline."""
    return await current_session().runtime.run_step_now(name, data)


_enqueue.__name__ = _enqueue.__qualname__ = "enqueue"
_request.__name__ = _request.__qualname__ = "request"
_run_cron.__name__ = _run_cron.__qualname__ = "run_cron"
enqueue: Entry[..., None] = Entry(_enqueue)
request: Entry[..., dict[str, Any]] = Entry(_request)
run_cron: Entry[..., None] = Entry(_run_cron)

#: Motia's ``logger``: ``logger.info("Order created", {"orderId": oid})``.
logger = StepLogger(lambda: current_session().logs)


def log_frame(
    step: str | None = None, level: str | None = None, trace_id: str | None = None, flatten: bool = False
) -> "pd.DataFrame":
    """The kept log lines as a DataFrame (columns time, level, step, trace_id, message, data)."""
    return current_session().logs.frame(step, level, trace_id, flatten)


def clear_logs() -> None:
    """Forget every kept log record."""
    current_session().logs.clear()


def trace_frame(trace_id: str | None = None, step: str | None = None) -> "pd.DataFrame":
    """Step runs as a DataFrame, ordered by start time (``trace_id="last"``: the latest cascade)."""
    return current_session().traces.frame(trace_id, step)


def last_trace_id() -> str | None:
    """The trace id of the most recently started cascade that ran a step."""
    return current_session().traces.last_trace_id()


def clear_traces() -> None:
    """Forget every kept trace row."""
    current_session().traces.clear()


def flow_diagram(flow: str | None = None) -> FlowDiagram:
    """The diagram of the steps whose ``flows`` include ``flow`` (every step when None)."""
    return current_session().flow_diagram(flow)


def start_scheduler(interval: float = 1.0) -> str:
    """Start the session's cron scheduler; returns a one-line status."""
    return current_session().scheduler.start(interval)


def stop_scheduler() -> str:
    """Stop the session's cron scheduler; returns a one-line status."""
    return current_session().scheduler.stop()
