"""Who is writing: the cause recorded with each change in the state history (SPEC §9).

A ContextVar holds ``(cause, trace_id)``. It is read when a write is submitted
(:mod:`motia_nb.state.requests`) and travels on ``Write.cause`` / ``Write.trace_id``
into the changelog. Because it is a ContextVar it follows the code through
``await``, ``run_sync``, the handler pool and private loops (each copies the
caller's context).

Causes: a step's name (set by the steps runtime while its handler runs, with the
cascade's trace id), ``cell`` (the default), ``magic`` (``%state``), ``viewer``
(an edit in the viewer) and ``worker:<name>`` (a connected worker's engine call).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DEFAULT_CAUSE", "current_cause", "cause_now", "acting_as", "push_cause", "pop_cause"]

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
