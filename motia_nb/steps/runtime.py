"""The inline runtime of one session: state triggers, ``enqueue``, ``request`` and ``run_cron``.

**Inline (SPEC §5).** The call that causes something — a state write, an
``enqueue``, a ``request``, a ``run_cron`` — returns only after every step it
triggered, directly or in turn, has finished. The runtime hooks into the state
core with its manager's ``set_dispatcher``: after each committed write the
facade hands the events to :meth:`Runtime.dispatch_events`, which checks the
conditions right there, on the writer's side, and returns None when no step will
run (no coroutine, no thread hop), else a coroutine the write awaits (on the
caller's loop for the async API, on motia_nb's loop thread in a copy of the
caller's context for the sync API; see :mod:`.state_cascade`). Steps therefore run
one after the other, depth first, in causal order, and their output goes to the
cell that caused them.

**Handlers.** ``async def`` handlers are awaited on the loop that runs the
cascade. Plain ``def`` handlers run on motia_nb's bounded handler pool (inside a
copy of the cascade's context, so their output and trace id follow) while the cascade
awaits them: they never block a loop, they keep causal order, and they may use
the synchronous API (``state_manager.sync.set``, ``enqueue.sync``). A handler
takes ``(input)`` or ``(input, ctx)``.

**Errors.** A handler that raises is reported in the cell (stderr: step name,
trigger, trace id, traceback) and recorded in the trace; the causing call does
*not* raise and the write that triggered it stands. A state condition that
raises is reported the same way and its step is skipped. ``request`` answers
500 (the engine's body ``{"error": str(e), "error_id"}``) when the handler or its
condition raises or returns something that is not a ``{"status", "body", "headers"}`` dict
as Motia's runtime reads one (a missing ``status`` is 200), 404 when no route matches the
path and 405 when the path matches with another method (with no body, as the engine's router).

**Loop guard.** A cascade may nest at most :data:`MAX_DEPTH` step runs (the
chain from the causing call to the running step). The step that would go
deeper is refused with :class:`StepLoopError`, which names the steps involved
and propagates up the chain to the causing call (the cell fails cleanly; every
write made so far stands).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._interrupts import CancelledByInterrupt, sigints_seen
from .._threads import run_in_handler_pool
from ..state.cause import new_trace_id, pop_cause, push_cause
from .config import CronTrigger, QueueTrigger
from .context import FlowContext, Frame, HttpRequest, TriggerInfo, _frame, current_frame
from .entry import Entry
from .errors import EnqueueError, StepLoopError, StepNotFoundError
from .json_data import json_copy
from .logs import LogStore, StepLogger
from .registry import Step, StepRegistry
from .reporting import error_text, report, say
from .http_body import RequestBody
from .routes import (choose_route, condition_not_met, invocation_error, json_client, no_route_line, not_found,
                     request_args, response_check)
from .state_cascade import StateTriggers, condition_error
from .state_cascade import seq as trace_seq
from .trace import TraceRecord, TraceStore

__all__ = ["MAX_DEPTH", "Runtime", "Outcome", "Entry"]

#: Deepest causal chain of step runs a cascade may build (loop guard). 24 is far
#: beyond any real workflow (the seed's order flow is 3 deep) and far below
#: Python's recursion limit even when every level is an awaited async handler.
MAX_DEPTH = 24

@dataclass
class Outcome:
    """How a step run ended: ``status`` ok / error, the handler's result or the exception."""

    status: str
    result: Any = None
    error: BaseException | None = None


class _Root:
    """Enter a cascade: reuse the running one of this runtime, or open a trace at the causing call
    (``trace_id``, e.g. the causing cell run's, else a new one)."""

    def __init__(self, runtime: "Runtime", label: str, frame: Frame | None = None, trace_id: str | None = None) -> None:
        self.runtime = runtime
        self.label = label
        self.frame = frame  # the trace to open (conditions already checked in it), else a new one
        self.trace_id = trace_id
        self.token: contextvars.Token[Frame | None] | None = None

    def __enter__(self) -> Frame:
        cur = current_frame()
        if cur is not None and cur.runtime is self.runtime:
            return cur
        frame = self.frame or Frame(self.trace_id or new_trace_id(), (), self.label, self.runtime, sigints=sigints_seen())
        self.token = _frame.set(frame)
        return frame

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _frame.reset(self.token)


class Runtime(StateTriggers):
    """Runs one session's steps inline: state triggers, ``enqueue``, ``request``, ``run_cron``.

    ``manager`` is the session's state manager (the runtime installs itself as
    its dispatcher while a state-triggered step exists); ``registry``, ``logs``
    and ``traces`` are the session's. ``owner`` is the object handlers reach as
    "their session" (see :func:`motia_nb.session.current_session`).
    """

    def __init__(self, manager: Any, registry: StepRegistry, logs: LogStore, traces: TraceStore, owner: Any = None) -> None:
        self.manager = manager
        self.registry = registry
        self.logs = logs
        self.traces = traces
        self.owner = owner
        self.logger = StepLogger(lambda: logs)
        self.enqueue_entry = Entry(self.enqueue)
        self.refresh_state_steps()
        registry.on_change(self.sync_dispatcher)

    # ------------------------------------------------------------------ plumbing
    def sync_dispatcher(self) -> None:
        """Be the manager's inline dispatcher exactly while a state-triggered step exists.

        With no state step the dispatcher is removed, so plain writes keep the
        state core's fast path (no per-write coroutine). Called on every registry change.
        """
        self.refresh_state_steps()
        wanted = self.has_state_steps()
        current = self.manager.dispatcher
        if wanted and current != self.dispatch_events:
            self.manager.set_dispatcher(self.dispatch_events)
        elif not wanted and current == self.dispatch_events:
            self.manager.set_dispatcher(None)

    def root(self, label: str, frame: Frame | None = None, trace_id: str | None = None) -> _Root:
        """Enter the running cascade, or open ``frame`` / a trace with ``trace_id`` / a new trace."""
        return _Root(self, label, frame, trace_id)

    def context(self, trace_id: str, st: Step, trigger: dict[str, Any], input_value: Any = None,
                trig: Any = None) -> FlowContext:
        """The ``ctx`` a handler or condition of ``st`` receives; ``trig``, the trigger of ``st`` that
        fired, gives ``ctx.trigger.index`` its place in the config's ``triggers`` (as Motia's runtime)."""
        info = TriggerInfo(trigger)
        info.index = next((i for i, t in enumerate(st.triggers) if t is trig), None)
        return FlowContext(
            trace_id=trace_id, step=st.name, trigger=info, flows=st.flows, logger=self.logger.bound(st.name, trace_id),
            input_value=input_value, state_manager=self.manager, enqueue=self.enqueue_entry,
        )

    async def run(
        self, st: Step, data: Any, trigger: dict[str, Any], label: str, check: Callable[[Any], Any] | None = None,
        trig: Any = None,
    ) -> Outcome:
        """Run one step inside the current cascade (``trig``: its trigger that fired); report and record,
        never raise (but the loop guard)."""
        parent = current_frame()
        assert parent is not None, "a step must run inside a cascade root"
        chain = parent.chain + (st.name,)
        seq, start, t0 = next(trace_seq), datetime.now(), time.perf_counter()

        worker = st.source[7:] if st.source.startswith("worker:") else None
        # an interrupt since the cascade began, or a caller's cancel (None: cannot tell); counted from
        # the cascade's start, not this run's: a SIGINT while an earlier step computed (no await) is
        # counted before its cancel can land, in this run
        interrupts = parent.sigints if parent.sigints is not None else sigints_seen()

        def done(status: str, err: BaseException | None) -> None:
            self.traces.record(
                TraceRecord(
                    parent.trace_id, st.name, label, start, (time.perf_counter() - t0) * 1000.0, status,
                    None if err is None else error_text(err), len(chain), parent.step, seq, worker,
                )
            )

        if len(chain) > MAX_DEPTH:
            err = StepLoopError(chain, MAX_DEPTH)
            done("loop-stopped", err)
            raise err
        token = _frame.set(Frame(parent.trace_id, chain, label, self, parent.cancelled, interrupts))
        cause = push_cause(st.name, parent.trace_id)  # the history records this step as the writer
        try:
            args: tuple[Any, ...] = (data,)
            if st.arity == 2:
                args = (data, self.context(parent.trace_id, st, trigger, data, trig))
            args = args[: st.arity]
            if st.is_async:
                result = await st.handler(*args)
            else:
                result = await run_in_handler_pool(st.handler, *args)
                if inspect.isawaitable(result):
                    result = await result
            if check is not None:
                result = check(result)
        except StepLoopError as e:
            done("loop-stopped", e)
            raise
        except asyncio.CancelledError:
            done("cancelled", None)
            if interrupts is not None and sigints_seen() == interrupts:
                # no Kernel › Interrupt: the awaiting code cancelled the call (asyncio.wait_for's or
                # asyncio.timeout's time ran out, task.cancel()): asyncio's own cancel goes on up,
                # so the caller gets its TimeoutError / CancelledError
                say(f"✖ step {st.name!r} cancelled: the call waiting for it was cancelled ({label}; trace {parent.trace_id})")
                raise
            # the causing cell was interrupted
            say(f"✖ step {st.name!r} cancelled: interrupted ({label}; trace {parent.trace_id})")
            parent.cancelled.append(st.name)
            if parent.chain:
                raise
            # the cascade's outermost run: the cell gets one line naming what was cancelled
            raise CancelledByInterrupt(list(dict.fromkeys(reversed(parent.cancelled)))) from None
        except Exception as e:  # noqa: BLE001 - a handler error is reported, never raised
            done("error", e)
            self.logger.keep_failure(st.name, parent.trace_id, e)  # %motia logs STEP ends with why
            if not getattr(e, "reported", False):  # a worker step already showed its one line
                report(f"✖ step {st.name!r} failed ({label}; trace {parent.trace_id}):", e)
            return Outcome("error", None, e)
        finally:
            pop_cause(cause)
            _frame.reset(token)
        done("ok", None)
        return Outcome("ok", result)

    # ------------------------------------------------------------------ queue
    async def enqueue(self, message: Mapping[str, Any]) -> None:
        """``await enqueue({"topic": t, "data": d})``: run every queue step subscribed to ``t``.

        Returns after the subscribers (and whatever they trigger in turn) have run.
        Each subscriber gets its own copy of ``data``, which must be JSON.
        """
        if not isinstance(message, Mapping):
            raise EnqueueError(f'enqueue takes a dict {{"topic": ..., "data": ...}}, got {type(message).__name__} {message!r}')
        topic = message.get("topic")
        if not isinstance(topic, str) or not topic.strip():
            raise EnqueueError(f"enqueue: 'topic' must be a non-empty str, got {topic!r} in {dict(message)!r}")
        unknown = set(message) - {"topic", "data", "messageGroupId", "message_group_id"}
        if unknown:
            raise EnqueueError(f"enqueue to {topic!r}: unknown fields {sorted(unknown, key=repr)} (expected 'topic' and 'data')")
        data = message.get("data")
        json_copy(data, f"enqueue to {topic!r}: data")
        targets = [s for s in self.registry.all() if any(t.topic == topic for t in s.of_type(QueueTrigger))]
        if not targets:  # not an error (a subscriber may come later), but a typo should not pass silently
            if self._declared_by_caller(topic):
                return
            topics = sorted({t.topic for s in self.registry.all() for t in s.of_type(QueueTrigger)})
            say(f"⚠ enqueue: no step subscribes to topic {topic!r}, so nothing ran (topics with steps: {', '.join(topics) or 'none'})")
            return
        trigger = {"type": "queue", "topic": topic}
        with self.root(f"enqueue {topic}"):
            for st in targets:
                # each of its triggers on the topic is a subscription of its own, as in the engine (the SDK
                # registers a function per trigger): each whose condition holds runs the step
                for trig in [t for t in st.of_type(QueueTrigger) if t.topic == topic]:
                    if await self._condition_holds(st, trig, json_copy(data, "data"), f"queue {topic}", trigger):
                        await self.run(st, json_copy(data, "data"), trigger, f"queue {topic}", trig=trig)

    def _declared_by_caller(self, topic: str) -> bool:
        """True when the running step lists ``topic`` in its config's ``enqueues`` (an intended emit)."""
        frame = current_frame()
        if frame is None or frame.step is None:
            return False
        try:
            return topic in self.registry.get(frame.step).enqueues
        except StepNotFoundError:
            return False

    # ------------------------------------------------------------------ http
    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``await request("POST", "/orders", body={...})``: call the matching http step.

        Returns ``{"status", "body", "headers"}``: the handler's answer; 404 when no
        route matches the path (no body, as the engine's router answers; the cell is told
        why), 405 when one matches with another method (no body, an ``allow`` header), 500 when
        the handler raises or answers with something malformed (the error is also
        reported in the cell). ``path`` may carry a query string; ``query`` adds to it
        (one value per key, as the engine reads a query).
        A ``body`` is sent as JSON (``content-type: application/json`` unless ``headers`` gives
        one); under another content-type the step's ``body`` is None and the bytes are in
        ``request_body``, as under the engine.
        """
        method, parts, segs, qp, hdrs = request_args(method, path, headers, query)
        body = json_copy(body, f"request {method} {parts.path}: body")
        route, allowed = choose_route(self.registry.all(), method, segs)
        if route is None:
            if not allowed:  # the engine's answer has no body: the cell is told why
                say(no_route_line(self.registry.all(), method, parts.path))
            return not_found(method, parts.path, allowed)
        st, trig, params = route
        hdrs, step_body, note = json_client(method, parts.path, hdrs, body)  # the body the engine hands the step
        if note is not None:
            say(note)
        req = HttpRequest(method, "/" + "/".join(segs), step_body, params, qp, hdrs, request_body=RequestBody(body))
        label = f"http {method} {trig.path}"
        trigger = {"type": "http", "method": method, "path": trig.path}
        with self.root(label):
            token = condition_error.set(None)
            try:
                holds = await self._condition_holds(st, trig, req, label, trigger)
                raised = condition_error.get()
            finally:
                condition_error.reset(token)
            if raised is not None:  # as the engine, for a condition function that fails: 500
                return invocation_error(raised)
            if not holds:  # as the engine: 422
                return condition_not_met()
            out = await self.run(st, req, trigger, label, response_check(st, req.response), trig)
        if out.status == "ok":
            return out.result
        assert out.error is not None
        return invocation_error(out.error)

    # ------------------------------------------------------------------ cron and manual runs
    async def run_cron(self, name: str, scheduled: bool = False, due: list[Any] | None = None) -> None:
        """``await run_cron("DailyReport")``: run a cron step now (input ``None``), inline.

        A step whose condition is false now does not run, as on its schedule; asked for by name
        (not ``scheduled``), a line on stderr says so rather than nothing at all. ``due``: the
        scheduler's cron triggers of the step that are due (each its own run, with its own
        condition and ``ctx.trigger.index``, as the engine fires each); by name, its first."""
        st = self.registry.get(name)
        trigs = st.of_type(CronTrigger)
        if not trigs:
            raise StepNotFoundError(
                f"step {name!r} has no cron trigger (its triggers: {', '.join(t.describe() for t in st.triggers) or 'none'})"
            )
        for trig in trigs[:1] if due is None else [t for t in trigs if any(t is d for d in due)]:
            await self._run_cron_trigger(st, trig, scheduled)

    async def _run_cron_trigger(self, st: Step, trig: CronTrigger, scheduled: bool) -> None:
        name = st.name
        trigger = {"type": "cron", "expression": trig.expression}
        label = f"cron {trig.expression}"
        trigs = [trig]
        with self.root(f"cron {name}"):
            event = {"trigger": "cron", "job_id": name, "scheduled_time": datetime.now().astimezone().isoformat()}
            token = condition_error.set(None)
            try:
                holds = await self._condition_holds(st, trigs[0], event, label, trigger)
                raised = condition_error.get()
            finally:
                condition_error.reset(token)
            if holds:
                await self.run(st, None, trigger, label, trig=trigs[0])
            elif not scheduled and raised is None:  # (a condition that raised was reported already)
                cond = getattr(trigs[0].condition, "__name__", "")
                said = f"its condition {cond}" if cond and cond != "<lambda>" else "its condition"
                say(f"⚠ cron step {name!r} did not run: {said} is false now (its trigger's condition, as on its schedule)")

    async def run_step_now(self, name: str, data: Any = None) -> Outcome:
        """Run any step by name with ``data`` as its input (a manual trigger), inline."""
        st = self.registry.get(name)
        with self.root(f"manual {name}"):
            return await self.run(st, data, {"type": "manual"}, "manual")
