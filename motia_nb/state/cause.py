"""Who is writing: the cause recorded with each change in the state history (SPEC §9).

A ContextVar holds ``(cause, trace_id)``. It is read when a write is submitted
(:mod:`motia_nb.state.requests`) and travels on ``Write.cause`` / ``Write.trace_id``
into the changelog. Because it is a ContextVar it follows the code through
``await``, ``run_sync``, the handler pool and private loops (each copies the
caller's context).

Causes: a step's name (set by the steps runtime while its handler runs, with the
cascade's trace id), ``cell`` (the default), ``magic`` (``%state``), ``viewer``
(an edit in the viewer) and ``worker:<name>`` (a connected worker's engine call).

**A trace per cell run.** In IPython, :func:`begin_cell_run` (the extension's
``pre_run_cell``) makes ``("cell", <a new trace id>)`` current for the cell's code and
:func:`end_cell_run` (``post_run_cell``) puts back what was current before. The cell's
writes (and its ``%state`` magics', cause ``magic``) carry that id, and a state cascade
they start adopts it as its trace id (:mod:`motia_nb.steps.state_cascade`), so
``history()``'s row for the cell's change and the trace / logs of the steps it triggered
share one id. Tasks the cell starts copy its context when they are created, so they keep
its id after it ends; nothing later takes it (the kernel's context is reset after the
cell). A thread started with ``threading.Thread`` starts from an empty context (Python's
rule): its writes are ``cell`` with no trace, even when a step handler started it
(``threading.Thread(target=contextvars.copy_context().run, args=(fn, ...))`` keeps the
starter's). Machinery a cell starts that outlives it on motia_nb's behalf (the engine
endpoint, remote triggers and subscribers) starts from :func:`outside_cells`, so what it sets
off is never the starting cell's (a remote trigger runs under the trace its change was written
with, :mod:`motia_nb.state.remote`, else in one of its own). Without IPython
(a script) there is no cell run: ``("cell", None)`` as before. A trace id is only an
id: a cell that triggers no step adds no row to ``%motia trace`` (which tells such an id, one of
:func:`cell_runs`, from one never given).
"""

from __future__ import annotations

import contextvars
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

__all__ = [
    "DEFAULT_CAUSE", "current_cause", "cause_now", "acting_as", "push_cause", "pop_cause",
    "new_trace_id", "begin_cell_run", "end_cell_run", "outside_cells", "cell_runs",
]

#: The cause of a write made by plain code in a cell (or a script).
DEFAULT_CAUSE = "cell"

_cause: contextvars.ContextVar[tuple[str, str | None]] = contextvars.ContextVar(
    "motia_nb_write_cause", default=(DEFAULT_CAUSE, None)
)


#: :func:`current_cause` without the Python call (the submission path of every write)
cause_now = _cause.get


def current_cause() -> tuple[str, str | None]:
    """``(cause, trace_id)`` of a write submitted now."""
    return _cause.get()


def push_cause(cause: str, trace_id: str | None = None) -> "contextvars.Token[tuple[str, str | None]]":
    """Make ``cause`` (and ``trace_id``) current; undo with :func:`pop_cause`."""
    if not isinstance(cause, str) or not cause:
        raise ValueError(f"a write's cause must be a non-empty str, got {cause!r}")
    return _cause.set((cause, trace_id))


def pop_cause(token: "contextvars.Token[tuple[str, str | None]]") -> None:
    _cause.reset(token)


@contextmanager
def acting_as(cause: str, trace_id: str | None = None) -> Iterator[None]:
    """Writes submitted inside the block are recorded with ``cause`` and ``trace_id``."""
    token = push_cause(cause, trace_id)
    try:
        yield
    finally:
        _cause.reset(token)


def new_trace_id() -> str:
    """A new trace id (a UUID4 string, as the engine's)."""
    return str(uuid.uuid4())


#: how many of the latest cell runs' trace ids :func:`cell_runs` keeps (under 200 bytes each)
CELL_RUNS_KEPT = 10_000
_cell_runs: "deque[tuple[str, datetime]]" = deque(maxlen=CELL_RUNS_KEPT)


def begin_cell_run() -> "contextvars.Token[tuple[str, str | None]]":
    """A cell starts running: its writes are ``cell`` with a new trace id (undo with :func:`end_cell_run`)."""
    trace_id = new_trace_id()
    _cell_runs.append((trace_id, datetime.now()))
    return _cause.set((DEFAULT_CAUSE, trace_id))


def cell_runs() -> list[tuple[str, datetime]]:
    """The trace ids of this process's latest :data:`CELL_RUNS_KEPT` cell runs and when each began,
    oldest first (so ``%motia trace`` can tell a cell's id that set off no step from an id it never
    gave)."""
    return list(_cell_runs)


def end_cell_run(token: "contextvars.Token[tuple[str, str | None]] | None") -> None:
    """The cell ended: what was current before :func:`begin_cell_run` is current again.

    Where the token cannot be used (the cell ended in another context than it began, or
    ``token`` is None), no cell's trace id stays current: ``("cell", None)``."""
    if token is not None:
        try:
            _cause.reset(token)
            return
        except (ValueError, RuntimeError):  # another context, or already used
            pass
    _cause.set((DEFAULT_CAUSE, None))


#: the causes whose trace id is a cell run's (:func:`outside_cells` forgets it)
_CELL_CAUSES = frozenset({DEFAULT_CAUSE, "magic"})


def outside_cells() -> None:
    """In the current context, forget a cell run's trace id (the cause stays ``cell`` / ``magic``):
    for long-lived work a cell starts on motia_nb's behalf, whose later writes and cascades are
    no cell run's. A step's cause and trace (a step that started it) are kept."""
    cause, trace_id = _cause.get()
    if trace_id is not None and cause in _CELL_CAUSES:
        _cause.set((cause, None))
