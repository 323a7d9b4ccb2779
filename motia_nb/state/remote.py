"""Other processes' changes for one :class:`~motia_nb.state.manager.StateManager`.

A manager hears what other processes commit only while somebody wants it: a
``subscribe(fn, remote=True)`` subscriber, or ``run_remote_triggers(True)``.
:class:`RemoteChanges` is that part of the manager: the remote subscribers, the
remote-triggers switch, the one remote listener it registers on the backend
exactly while wanted (on SQLite that starts the backend's follower thread; see
``backends/sqlite/follower.py``), and the hand-over of remote batches to the
manager's dispatcher on motia_nb's loop thread, one batch after the other.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any

from .._threads import get_loop_thread
from .backends.base import Backend
from .cause import cause_now, outside_cells, push_cause
from .errors import InvalidInputError, RemoteUnsupportedError
from .events import StateEvent
from .lifetime import WeakCall
from .urls import safe_url

__all__ = ["RemoteChanges", "InOrigin", "origin_context", "fan_out", "Dispatcher", "check_subscriber", "remote_refusal"]

log = logging.getLogger("motia_nb")

Dispatcher = Callable[[list[StateEvent]], "Awaitable[Any] | None"]


def remote_refusal(backend: Backend) -> RemoteUnsupportedError:
    """Why ``backend`` cannot hand this process other processes' changes, in one line."""
    if backend.private:
        why = "no other process can write an in-memory store: use a file or Redis"
    else:
        why = "use Redis, or SQLite with history on"
    return RemoteUnsupportedError(
        f"{safe_url(backend.url)}: this backend does not publish changes between processes ({why})"
    )


def check_subscriber(fn: Any) -> None:
    """Refuse, in one line, a subscriber :func:`fan_out` could never call with the event: not
    callable (``subscribe(on_change())`` passes None), ``async def`` (never awaited), or one that
    cannot take one positional argument. Callables without a signature (builtins) are taken."""
    if not callable(fn):
        got = "None" if fn is None else f"{type(fn).__name__} {fn!r:.60}"
        raise InvalidInputError(f"subscribe: fn must be a function taking the event, got {got}")
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None)):
        raise InvalidInputError(
            "subscribe: fn is an async def: subscribers run on a backend thread and cannot be awaited; "
            "use a plain def, or a state step (@step with a state trigger) for async work"
        )
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(None)
    except TypeError:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise InvalidInputError(f"subscribe: fn must take one argument (the event): {name}{sig} does not") from None


def fan_out(subscribers: list[Callable[[StateEvent], None]], events: Sequence[StateEvent]) -> None:
    """Give every event to every subscriber; a failing subscriber is logged, never raised."""
    for fn in list(subscribers):
        for ev in events:
            try:
                fn(ev)
            except Exception:
                log.exception("state subscriber %r failed", fn)


def origin_context() -> contextvars.Context:
    """A copy of the current context for work run later for another process's changes: the
    subscribing cell's output routing, but not its trace id (what runs then is not that cell run's)."""
    context = contextvars.copy_context()
    context.run(outside_cells)
    return context


class InOrigin:
    """A remote subscriber (``subscribe(fn, remote=True)``) that runs in a copy of the context
    it subscribed in: in a kernel that context routes output to the subscribing cell, so what
    ``fn`` prints lands there (as remote triggers' output lands in the cell that turned them on),
    not in whichever cell happens to run when another process's change arrives."""

    __slots__ = ("fn", "context")

    def __init__(self, fn: Callable[[StateEvent], None]) -> None:
        self.fn = fn
        self.context = origin_context()

    def __call__(self, event: StateEvent) -> None:
        self.context.copy().run(self.fn, event)  # a copy: one Context cannot be entered twice at once

    def __repr__(self) -> str:
        return repr(self.fn)


class RemoteChanges:
    """Remote subscribers and remote triggers of one manager.

    ``dispatcher()`` returns the manager's current dispatcher (or None). The manager
    calls :meth:`follow` and :meth:`detach` under its own lock.
    """

    def __init__(self, dispatcher: Callable[[], Dispatcher | None]) -> None:
        self.subscribers: list[Callable[[StateEvent], None]] = []
        self.triggers = False
        self._dispatcher = dispatcher
        self._listening_on: Backend | None = None
        # held weakly by the backend: a dropped manager (and this) can be collected (lifetime.py)
        self._listener = WeakCall(self.on_events)
        self._tail: Future[Any] | None = None  # the last remote trigger batch scheduled
        # the context of the call that turned remote triggers on: in a kernel it holds that cell's
        # output routing, so what the triggered steps print lands in that cell, not in whichever
        # cell happens to run when another process's change arrives
        self.origin: contextvars.Context | None = None

    @property
    def wanted(self) -> bool:
        """Whether anybody wants other processes' changes."""
        return bool(self.subscribers) or self.triggers

    def follow(self, backend: Backend | None) -> None:
        """Listen on ``backend`` if wanted, else not at all."""
        if not self.wanted or backend is None:
            self.detach()
        elif self._listening_on is not backend:
            self.detach()
            backend.add_remote_listener(self._listener)
            self._listening_on = backend

    def detach(self) -> None:
        backend, self._listening_on = self._listening_on, None
        if backend is not None:
            backend.remove_remote_listener(self._listener)

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's backend and loop are gone; touch neither."""
        self._listening_on = None
        self._tail = None
        self.origin = None

    def on_events(self, events: Sequence[StateEvent]) -> None:
        """The backend's remote listener (a backend thread): subscribers, then triggers."""
        fan_out(self.subscribers, events)
        if self.triggers and self._dispatcher() is not None:
            self._schedule(list(events), getattr(events, "trace_id", None))

    def _schedule(self, events: list[StateEvent], trace_id: str | None = None) -> None:
        """Run the dispatcher for other processes' changes on motia_nb's loop thread,
        one batch after the other in commit order (handlers may read and write state,
        synchronously too); an awaitable result is awaited, errors are logged.

        ``trace_id``: the trace the writer recorded the changes with (the backend hands them
        over as :class:`~.events.WriteEvents`, one trace at a time). The triggers run under it,
        as a local write's run under its writer's: it is made the current cause's trace id, which
        the cascade's root adopts (:mod:`motia_nb.steps.state_cascade`), in this batch's own
        copy of the origin context (the subscribing cell's output routing, never its trace).
        None (another tool's write, an old row): a trace of their own, as before."""
        before = self._tail

        async def run() -> None:
            if before is not None and not before.done():
                try:
                    await asyncio.wrap_future(before)
                except BaseException:
                    pass
            d = self._dispatcher()
            if d is None:
                return
            if trace_id is not None:  # (this task's context only: a copy per batch)
                push_cause(cause_now()[0], trace_id)
            try:
                r = d(events)
                if inspect.isawaitable(r):
                    await r
            except Exception:
                log.exception("running state triggers for a change made in another process failed")

        origin = self.origin
        context = origin.run(contextvars.copy_context) if origin is not None else None
        self._tail = get_loop_thread().submit(run(), context=context)
