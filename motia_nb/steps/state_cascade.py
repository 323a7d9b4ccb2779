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

import inspect
import itertools
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .config import StateTrigger, StreamTrigger
from .context import Frame, current_frame
from .registry import Step
from .reporting import report
from .streams import stream_event
from .trace import TraceRecord

__all__ = ["StateTriggers", "Start", "Candidates", "seq"]

#: Sequence numbers of trace records (shared by every runtime of the process).
seq = itertools.count(1)

#: A condition's answer not computed yet (the cascade calls it).
_UNASKED: Any = object()


def _state_trigger(event: Any) -> dict[str, Any]:
    return {"type": "state", "event_type": event.event_type, "group_id": event.group_id, "item_id": event.item_id}


@dataclass(slots=True)
class Candidates:
    """What one event may run: its input, label, trigger dict and ``(step, triggers)`` in order."""

    data: Any
    label: str
    trigger: dict[str, Any]
    steps: list[tuple[Step, list[Any]]]


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


class StateTriggers:
    """The state / stream part of :class:`~motia_nb.steps.runtime.Runtime` (a mixin).

    Uses the runtime's ``registry``, ``traces``, ``root``, ``context`` and ``run``.
    """

    registry: Any
    traces: Any

    # ------------------------------------------------------------------ conditions
    def ask_condition(self, st: Step, trig: Any, value: Any, label: str, trigger: dict[str, Any]) -> Any:
        """Call ``trig.condition``: True / False, or an awaitable to await (an async condition).

        No condition: True. A condition that raises is reported and recorded; it answers False.
        Runs inside a cascade frame (its trace id goes to ``ctx`` and to the report).
        """
        cond = trig.condition
        if cond is None:
            return True
        try:
            if trig.arity == 2:
                frame = current_frame()
                assert frame is not None
                r = cond(value, self.context(frame.trace_id, st, trigger, value))  # type: ignore[attr-defined]
            else:
                r = cond(value)
            return r if inspect.isawaitable(r) else bool(r)
        except Exception as e:  # noqa: BLE001 - reported, the step is skipped
            self._condition_failed(st, label, e)
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
        return await self.settle_condition(st, label, self.ask_condition(st, trig, value, label, trigger))

    def _condition_failed(self, st: Step, label: str, e: BaseException) -> None:
        frame = current_frame()
        assert frame is not None
        self.traces.record(
            TraceRecord(frame.trace_id, st.name, label, datetime.now(), 0.0, "condition-error",
                        f"{type(e).__name__}: {e}", frame.depth + 1, frame.step, next(seq))
        )  # fmt: skip
        report(f"✖ condition of step {st.name!r} raised ({label}; trace {frame.trace_id}); the step was skipped:", e)

    # ------------------------------------------------------------------ dispatch
    def has_state_steps(self) -> bool:
        """Whether a step listens to state writes (state or stream triggers: streams live in the state core)."""
        return bool(self.registry.with_trigger(StateTrigger) or self.registry.with_trigger(StreamTrigger))

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
        sev = stream_event(ev)
        if sev is not None:  # a stream's group: stream triggers, not state ones (two stores in the engine)
            label = f"stream {sev['streamName']} {sev['event']['type']} {sev['groupId']}/{sev['id']}"
            trigger = {"type": "stream", "stream_name": sev["streamName"], "group_id": sev["groupId"], "item_id": sev["id"]}
            steps = [(st, [t for t in st.of_type(StreamTrigger) if t.matches(sev)])
                     for st in self.registry.with_trigger(StreamTrigger)]  # fmt: skip
            return Candidates(sev, label, trigger, [(st, ts) for st, ts in steps if ts])
        label = f"{ev.event_type} {ev.group_id}/{ev.item_id}"
        steps = [(st, st.of_type(StateTrigger)) for st in self.registry.with_trigger(StateTrigger)]
        return Candidates(ev, label, _state_trigger(ev), steps)

    def first_to_run(self, events: list[Any]) -> Start | None:
        """Check conditions in cascade order until a step will run; None when none will.

        A condition is asked here at most once; its answer travels in the :class:`Start`.
        """
        with self.root("state") as frame:  # type: ignore[attr-defined]
            for i, ev in enumerate(events):
                c = self.candidates(ev)
                for j, (st, trigs) in enumerate(c.steps):
                    for k, trig in enumerate(trigs):
                        answer = self.ask_condition(st, trig, c.data, c.label, c.trigger)
                        if answer is not False:
                            return Start(i, c, j, k, answer, frame)
        return None

    async def state_cascade(self, events: list[Any], start: Start) -> None:
        """Run the triggered steps from ``start`` on, event by event, depth first."""
        with self.root("state", start.frame):  # type: ignore[attr-defined]
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
                    await self.run(st, c.data, c.trigger, c.label)  # type: ignore[attr-defined]
                    break
