"""State and stream triggers: which steps a committed write runs, decided on the caller's side.

The manager hands every committed batch of events to :meth:`StateTriggers.dispatch_events`.
Before anything is scheduled, the conditions are checked *where the write was made*
(:meth:`StateTriggers.first_to_run`), in exactly the order the cascade would check
them, until one step will run: a trigger without condition, a condition that holds,
or one that answers an awaitable (an ``async`` condition). Only then is a coroutine
returned, which resumes at that point, so each condition is still called exactly
once, in the same order, and no step runs before the conditions that precede it.
A write whose conditions all fail therefore costs no coroutine and, for the
synchronous API, no hop to motia_nb's loop thread.

The cascade itself (:meth:`StateTriggers.state_cascade`) runs the steps one after the
other, depth first; a stream's group fires stream triggers, not state ones.
"""

from __future__ import annotations

import contextvars
import inspect
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..state.cause import cause_now
from .config import StateTrigger, StreamTrigger
from .context import Frame, current_frame
from .registry import Step
from .reporting import error_text, report
from .streams import StreamEvent, stream_event
from .trace import TraceRecord

__all__ = ["StateTriggers", "Start", "Candidates", "seq", "condition_error"]

#: the last error a condition raised in this context (``request`` answers 500 for it, not 422)
condition_error: contextvars.ContextVar[BaseException | None] = contextvars.ContextVar("motia_nb_condition_error", default=None)

#: Sequence numbers of trace records (shared by every runtime of the process).
seq = itertools.count(1)

#: A condition's answer not computed yet (the cascade calls it).
_UNASKED: Any = object()


def _state_trigger(event: Any) -> dict[str, Any]:
    return {"type": "state", "event_type": event.event_type, "group_id": event.group_id, "item_id": event.item_id}


class Candidates:
    """What one event may run: its input and ``(step, triggers)`` in order; its label and
    trigger dict are built on first use (an idle step's false condition needs neither)."""

    __slots__ = ("data", "steps", "_label", "_trigger")

    def __init__(self, data: Any, steps: list[tuple[Step, list[Any]]], label: str | None = None,
                 trigger: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.data = data
        self.steps = steps
        self._label = label
        self._trigger = trigger

    @property
    def label(self) -> str:
        if self._label is None:
            ev = self.data
            self._label = f"{ev.event_type} {ev.group_id}/{ev.item_id}"
        return self._label

    @property
    def trigger(self) -> dict[str, Any]:
        if self._trigger is None:
            self._trigger = _state_trigger(self.data)
        return self._trigger


@dataclass(slots=True)
class Start:
    """Where the cascade resumes: event ``event``, step ``step``, trigger ``trig`` of it,
    whose condition answered ``answer`` (True, an awaitable, or not asked yet)."""

    event: int
    cands: Candidates
    step: int
    trig: int
    answer: Any
    frame: Frame | None


class _Where:
    """A label and trigger dict already at hand (queue, http and cron conditions)."""

    __slots__ = ("label", "trigger")

    def __init__(self, label: str, trigger: dict[str, Any]) -> None:
        self.label = label
        self.trigger = trigger


class StateTriggers:
    """The state / stream part of :class:`~motia_nb.steps.runtime.Runtime` (a mixin).

    Uses the runtime's ``registry``, ``traces``, ``root``, ``context`` and ``run``.
    """

    registry: Any
    traces: Any
    _state_steps: list[tuple[Step, list[Any]]] = []
    _stream_steps: list[tuple[Step, list[Any]]] = []
    _state_filtered = False

    def refresh_state_steps(self) -> None:
        """Re-read which steps have state / stream triggers (call on every registry change)."""
        self._state_steps = [(st, st.of_type(StateTrigger)) for st in self.registry.with_trigger(StateTrigger)]
        # a trigger restricted to a scope / key: each event's candidates are filtered (else all of them)
        self._state_filtered = any(t.scope is not None or t.key is not None for _, ts in self._state_steps for t in ts)
        self._stream_steps = [(st, st.of_type(StreamTrigger)) for st in self.registry.with_trigger(StreamTrigger)]

    # ------------------------------------------------------------------ conditions
    def ask_condition(self, st: Step, trig: Any, value: Any, c: Any, enter: Callable[[], Any] | None = None) -> Any:
        """Call ``trig.condition``: True / False, or an awaitable to await (an async condition).

        No condition: True. A condition that raises is reported and recorded; it answers False.
        ``c`` gives the label and trigger dict (:class:`Candidates`, or anything with
        ``label`` / ``trigger``). Runs inside a cascade frame (its trace id goes to ``ctx``
        and to the report), which ``enter()``, if given, opens on first need.
        """
        cond = trig.condition
        if cond is None:
            return True
        try:
            if trig.arity == 2:
                frame = current_frame() if enter is None else enter()
                r = cond(value, self.context(frame.trace_id, st, c.trigger, value, trig))  # type: ignore[attr-defined]
            else:
                r = cond(value)
            return r if inspect.isawaitable(r) else bool(r)
        except Exception as e:  # noqa: BLE001 - reported, the step is skipped
            if enter is not None:
                enter()
            self._condition_failed(st, c.label, e)
            return False

    async def settle_condition(self, st: Step, label: str, answer: Any) -> bool:
        """Await an async condition's answer (a raising one is reported: False)."""
        if not inspect.isawaitable(answer):
            return bool(answer)
        try:
            return bool(await answer)
        except Exception as e:  # noqa: BLE001 - reported, the step is skipped
            self._condition_failed(st, label, e)
            return False

    async def _condition_holds(self, st: Step, trig: Any, value: Any, label: str, trigger: dict[str, Any]) -> bool:
        """Whether ``trig.condition`` holds for ``value`` (no condition: True); a raising condition is reported, False."""
        return await self.settle_condition(st, label, self.ask_condition(st, trig, value, _Where(label, trigger)))

    def _condition_failed(self, st: Step, label: str, e: BaseException) -> None:
        condition_error.set(e)
        frame = current_frame()
        assert frame is not None
        self.traces.record(
            TraceRecord(frame.trace_id, st.name, label, datetime.now(), 0.0, "condition-error",
                        error_text(e), frame.depth + 1, frame.step, next(seq))
        )  # fmt: skip
        report(f"✖ condition of step {st.name!r} raised ({label}; trace {frame.trace_id}); the step was skipped:", e)

    # ------------------------------------------------------------------ dispatch
    def has_state_steps(self) -> bool:
        """Whether a step listens to state writes (state or stream triggers: streams live in the state core)."""
        return bool(self._state_steps or self._stream_steps)

    def dispatch_events(self, events: Sequence[Any]) -> Awaitable[None] | None:
        """The manager's dispatcher: a coroutine running the triggered steps, or None when
        no step will run (every condition was checked here, on the caller's side, and failed)."""
        if not self.has_state_steps():
            return None
        events = list(events)
        start = self.first_to_run(events)
        if start is None:
            return None
        return self.state_cascade(events, start)

    def candidates(self, ev: Any) -> Candidates:
        """The steps (and their triggers) that event ``ev`` may run, in registration order."""
        sev = ev if isinstance(ev, StreamEvent) else stream_event(ev)  # a StreamEvent: no write made it (stream::send)
        if sev is not None:  # a stream's group: stream triggers, not state ones (two stores in the engine)
            label = f"stream {sev['streamName']} {sev['event']['type']} {sev['groupId']}/{sev['id']}"
            trigger = {"type": "stream", "stream_name": sev["streamName"], "group_id": sev["groupId"], "item_id": sev["id"]}
            steps = [(st, [t for t in trigs if t.matches(sev)]) for st, trigs in self._stream_steps]
            return Candidates(sev, [(st, ts) for st, ts in steps if ts], label, trigger)
        if self._state_filtered:
            steps = [(st, [t for t in trigs if t.matches(ev)]) for st, trigs in self._state_steps]
            return Candidates(ev, [(st, ts) for st, ts in steps if ts])
        return Candidates(ev, self._state_steps)

    def first_to_run(self, events: list[Any]) -> Start | None:
        """Check conditions in cascade order until a step will run; None when none will.

        A condition is asked here at most once; its answer travels in the :class:`Start`.
        The cascade's frame is opened only when a condition needs it: a ``(input, ctx)``
        condition, or one that raises. Its trace is the running cascade's when the write
        was made inside one, else the write's own (a cell run's, a ``%state`` magic's, a
        viewer action's: :mod:`motia_nb.state.cause`), else a new one.
        """
        opened: list[Any] = []  # [root, its frame] once opened

        def enter() -> Frame:
            if not opened:
                root = self.root("state", None, cause_now()[1])  # type: ignore[attr-defined]
                opened[:] = [root, root.__enter__()]
            return opened[1]

        try:
            for i, ev in enumerate(events):
                c = self.candidates(ev)
                for j, (st, trigs) in enumerate(c.steps):
                    for k, trig in enumerate(trigs):
                        answer = self.ask_condition(st, trig, c.data, c, enter)
                        if answer is not False:
                            return Start(i, c, j, k, answer, opened[1] if opened else None)
            return None
        finally:
            if opened:
                opened[0].__exit__(None, None, None)

    async def state_cascade(self, events: list[Any], start: Start) -> None:
        """Run the triggered steps from ``start`` on, event by event, depth first."""
        with self.root("state", start.frame, cause_now()[1]):  # type: ignore[attr-defined]
            await self._event_cascade(start.cands, start.step, start.trig, start.answer)
            for ev in events[start.event + 1 :]:
                await self._event_cascade(self.candidates(ev), 0, 0, _UNASKED)

    async def _event_cascade(self, c: Candidates, j0: int, k0: int, answer: Any) -> None:
        for j in range(j0, len(c.steps)):
            st, trigs = c.steps[j]
            for k in range(k0 if j == j0 else 0, len(trigs)):
                if j == j0 and k == k0 and answer is not _UNASKED:
                    holds = await self.settle_condition(st, c.label, answer)
                else:
                    holds = await self._condition_holds(st, trigs[k], c.data, c.label, c.trigger)
                if holds:
                    await self.run(st, c.data, c.trigger, c.label, trig=trigs[k])  # type: ignore[attr-defined]
