"""The inline runtime: state triggers, ``enqueue``, ``request`` and ``run_cron``.

**Inline (SPEC §5).** The call that causes something — a state write, an
``enqueue``, a ``request``, a ``run_cron`` — returns only after every step it
triggered, directly or in turn, has finished. The runtime hooks into the state
core with ``state_manager.set_dispatcher``: after each committed write the
facade hands the events to :func:`_dispatch_events`, which returns a coroutine
the write awaits (on the caller's loop for the async API, on motia_nb's loop
thread in a copy of the caller's context for the sync API). Steps therefore run
one after the other, depth first, in causal order, and their output goes to the
cell that caused them.

**Handlers.** ``async def`` handlers are awaited on the loop that runs the
cascade. Plain ``def`` handlers run on a fresh worker thread (inside a copy of
the cascade's context, so their output and trace id follow) while the cascade
awaits them: they never block a loop, they keep causal order, and they may use
the synchronous API (``state_manager.sync.set``, ``enqueue.sync``). A handler
takes ``(input)`` or ``(input, ctx)``.

**Errors.** A handler that raises is reported in the cell (stderr: step name,
trigger, trace id, traceback) and recorded in the trace; the causing call does
*not* raise and the write that triggered it stands. A state condition that
raises is reported the same way and its step is skipped. ``request`` answers
500 (body ``{"error", "step"}``) when the handler raises or returns something
that is not ``{"status", "body"[, "headers"]}``, 404 when no route matches the
path and 405 when the path matches with another method.

**Loop guard.** A cascade may nest at most :data:`MAX_DEPTH` step runs (the
chain from the causing call to the running step). The step that would go
deeper is refused with :class:`StepLoopError`, which names the steps involved
and propagates up the chain to the causing call (the cell fails cleanly; every
write made so far stands).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, ParamSpec, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from .._loop import run_sync
from .config import HTTP_METHODS, CronTrigger, HttpTrigger, QueueTrigger, StateTrigger, split_path
from .context import FlowContext, Frame, Headers, HttpRequest, _frame, current_frame
from .errors import EnqueueError, StepLoopError, StepNotFoundError
from .logs import logger
from .registry import Step, all_steps, get_step
from .trace import TraceRecord, record

__all__ = ["MAX_DEPTH", "enqueue", "request", "run_cron", "ensure_dispatcher", "run_step_now"]

#: Deepest causal chain of step runs a cascade may build (loop guard). 24 is far
#: beyond any real workflow (the seed's order flow is 3 deep) and far below
#: Python's recursion limit even when every level is an awaited async handler.
MAX_DEPTH = 24

_seq = itertools.count(1)
_THIS_FILE = __file__

P = ParamSpec("P")
R = TypeVar("R")


# ---------------------------------------------------------------------------- plumbing
def ensure_dispatcher() -> None:
    """Install the runtime as the state manager's inline dispatcher while a state step exists.

    With no state-triggered step the dispatcher is removed again, so plain writes
    keep the state core's fast path (no per-write coroutine). Called whenever the
    registry changes.
    """
    from ..state import state_manager

    current = getattr(state_manager, "_dispatcher", None)
    wanted = any(s.of_type(StateTrigger) for s in all_steps())
    if wanted and current is not _dispatch_events:
        state_manager.set_dispatcher(_dispatch_events)
    elif not wanted and current is _dispatch_events:
        state_manager.set_dispatcher(None)


class _Root:
    """Enter a cascade: reuse the running one, or open a new trace at the causing call."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.token: contextvars.Token[Frame | None] | None = None

    def __enter__(self) -> Frame:
        cur = current_frame()
        if cur is not None:
            return cur
        frame = Frame(str(uuid.uuid4()), (), self.label)
        self.token = _frame.set(frame)
        return frame

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _frame.reset(self.token)


def _trimmed_tb(exc: BaseException) -> list[str]:
    """The exception formatted without the runtime's own leading frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _THIS_FILE:
        tb = tb.tb_next
    return traceback.format_exception(type(exc), exc, tb)


def _report(headline: str, exc: BaseException) -> None:
    """Print a failure to the causing cell's stderr, after any pending stdout (causal order)."""
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover - a closed stream must not hide the report
        pass
    sys.stderr.write(headline + "\n" + "".join(_trimmed_tb(exc)))
    sys.stderr.flush()


async def _call_in_thread(fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> Any:
    """Run a plain-def handler on its own thread (in a copy of this context) and await it."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()
    ctx = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(value)

    def target() -> None:
        try:
            r = ctx.run(fn, *args)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting cascade
            loop.call_soon_threadsafe(settle, False, e)
        else:
            loop.call_soon_threadsafe(settle, True, r)

    threading.Thread(target=target, name=f"motia-step-{name}", daemon=True).start()
    return await fut


@dataclass
class Outcome:
    """How a step run ended: ``status`` ok / error, the handler's result or the exception."""

    status: str
    result: Any = None
    error: BaseException | None = None


async def _run(
    st: Step,
    data: Any,
    trigger: dict[str, Any],
    label: str,
    check: Callable[[Any], Any] | None = None,
) -> Outcome:
    """Run one step inside the current cascade; report and record, never raise (but the loop guard)."""
    parent = current_frame()
    assert parent is not None, "a step must run inside a cascade root"
    chain = parent.chain + (st.name,)
    seq, start, t0 = next(_seq), datetime.now(), time.perf_counter()

    def done(status: str, err: BaseException | None) -> None:
        record(
            TraceRecord(
                parent.trace_id, st.name, label, start, (time.perf_counter() - t0) * 1000.0, status,
                None if err is None else f"{type(err).__name__}: {err}", len(chain), parent.step, seq,
            )
        )

    if len(chain) > MAX_DEPTH:
        err = StepLoopError(chain, MAX_DEPTH)
        done("loop-stopped", err)
        raise err
    token = _frame.set(Frame(parent.trace_id, chain, label))
    try:
        args: tuple[Any, ...] = (data,)
        if st.arity == 2:
            ctx = FlowContext(trace_id=parent.trace_id, step=st.name, trigger=trigger, flows=st.flows, logger=logger.bound(st.name))
            args = (data, ctx)
        args = args[: st.arity]
        if st.is_async:
            result = await st.handler(*args)
        else:
            result = await _call_in_thread(st.handler, args, st.name)
            if inspect.isawaitable(result):
                result = await result
        if check is not None:
            result = check(result)
    except StepLoopError as e:
        done("loop-stopped", e)
        raise
    except Exception as e:  # noqa: BLE001 - a handler error is reported, never raised
        done("error", e)
        if not getattr(e, "reported", False):  # a worker step already showed its one line
            _report(f"✖ step {st.name!r} failed ({label}; trace {parent.trace_id}):", e)
        return Outcome("error", None, e)
    finally:
        _frame.reset(token)
    done("ok", None)
    return Outcome("ok", result)


# ---------------------------------------------------------------------------- state
async def _condition_holds(st: Step, trig: StateTrigger, event: Any, label: str) -> bool:
    if trig.condition is None:
        return True
    frame = current_frame()
    assert frame is not None
    try:
        if trig.arity == 2:
            ctx = FlowContext(trace_id=frame.trace_id, step=st.name, trigger=_state_trigger(event), flows=st.flows, logger=logger.bound(st.name))
            r = trig.condition(event, ctx)
        else:
            r = trig.condition(event)
        if inspect.isawaitable(r):
            r = await r
        return bool(r)
    except Exception as e:  # noqa: BLE001 - reported, the step is skipped
        record(
            TraceRecord(frame.trace_id, st.name, label, datetime.now(), 0.0, "condition-error",
                        f"{type(e).__name__}: {e}", frame.depth + 1, frame.step, next(_seq))
        )
        _report(f"✖ condition of step {st.name!r} raised ({label}; trace {frame.trace_id}); the step was skipped:", e)
        return False


def _state_trigger(event: Any) -> dict[str, Any]:
    return {"type": "state", "event_type": event.event_type, "group_id": event.group_id, "item_id": event.item_id}


def _dispatch_events(events: Sequence[Any]) -> Awaitable[None] | None:
    """The state manager's dispatcher: a coroutine running the triggered steps, or None."""
    if not any(s.of_type(StateTrigger) for s in all_steps()):
        return None
    return _state_cascade(list(events))


async def _state_cascade(events: list[Any]) -> None:
    with _Root("state"):
        for ev in events:
            label = f"{ev.event_type} {ev.group_id}/{ev.item_id}"
            for st in [s for s in all_steps() if s.of_type(StateTrigger)]:
                for trig in st.of_type(StateTrigger):
                    if await _condition_holds(st, trig, ev, label):
                        await _run(st, ev, _state_trigger(ev), label)
                        break


# ---------------------------------------------------------------------------- sync twins
class _Entry(Generic[P, R]):
    """An async entry point that also has a blocking ``.sync(...)`` form."""

    def __init__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        return self._fn(*args, **kwargs)

    def sync(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run to completion from code that cannot ``await`` (magics, plain-def handlers, scripts)."""
        return run_sync(self._fn(*args, **kwargs))

    def __repr__(self) -> str:
        return f"<motia_nb {self._fn.__name__}: await it, or call .sync(...)>"


def _json_copy(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise EnqueueError(f"{what} is not JSON ({e}); send dicts, lists, str, numbers, bools or None") from None


# ---------------------------------------------------------------------------- queue
async def _enqueue(message: Mapping[str, Any]) -> None:
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
        raise EnqueueError(f"enqueue to {topic!r}: unknown fields {sorted(unknown)} (expected 'topic' and 'data')")
    data = message.get("data")
    _json_copy(data, f"enqueue to {topic!r}: data")
    targets = [s for s in all_steps() if any(t.topic == topic for t in s.of_type(QueueTrigger))]
    if not targets:
        return
    with _Root(f"enqueue {topic}"):
        for st in targets:
            await _run(st, _json_copy(data, "data"), {"type": "queue", "topic": topic}, f"queue {topic}")


enqueue = _Entry(_enqueue)


# ---------------------------------------------------------------------------- http
def _query(raw: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in parse_qs(raw, keep_blank_values=True).items()}
    for k, v in (extra or {}).items():
        if not isinstance(k, str):
            raise ValueError(f"request: query keys must be str, got {k!r}")
        out[k] = [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v)
    return out


def _response(st: Step) -> Callable[[Any], dict[str, Any]]:
    def check(r: Any) -> dict[str, Any]:
        if not isinstance(r, Mapping) or "status" not in r:
            raise TypeError(f"http step {st.name!r} must return {{'status': int, 'body': ...}}, got {r!r}")
        status = r["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise TypeError(f"http step {st.name!r} returned status {status!r}; expected an int from 100 to 599")
        headers = r.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise TypeError(f"http step {st.name!r} returned headers {headers!r}; expected a dict")
        return {"status": status, "body": r.get("body"), "headers": dict(headers)}

    return check


async def _request(
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``await request("POST", "/orders", body={...})``: call the matching http step.

    Returns ``{"status", "body", "headers"}``: the handler's answer; 404 when no
    route matches the path, 405 when one matches with another method, 500 when
    the handler raises or answers with something malformed (the error is also
    reported in the cell). ``path`` may carry a query string; ``query`` adds to it.
    """
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise ValueError(f"request: method must be one of {', '.join(HTTP_METHODS)}, got {method!r}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"request: path must be a str starting with '/', got {path!r}")
    method = method.upper()
    parts = urlsplit(path)
    segs = tuple(unquote(s) for s in split_path(parts.path))
    qp = _query(parts.query, query)
    hdrs = Headers(headers)
    body = _json_copy(body, f"request {method} {parts.path}: body")
    found: list[tuple[tuple[bool, ...], Step, HttpTrigger, dict[str, str]]] = []
    allowed: set[str] = set()
    for st in all_steps():
        for trig in st.of_type(HttpTrigger):
            params = trig.match(segs)
            if params is None:
                continue
            if trig.method == method:
                found.append((trig.specificity, st, trig, params))
            else:
                allowed.add(trig.method)
    if not found:
        if allowed:
            return {
                "status": 405,
                "body": {"error": f"method {method} not allowed for {parts.path}", "allowed": sorted(allowed)},
                "headers": {"allow": ", ".join(sorted(allowed))},
            }
        return {"status": 404, "body": {"error": f"no http step matches {method} {parts.path}"}, "headers": {}}
    found.sort(key=lambda f: f[0], reverse=True)  # stable: first registered wins a tie
    _, st, trig, params = found[0]
    req = HttpRequest(method, "/" + "/".join(segs), body, params, qp, hdrs)
    with _Root(f"http {method} {trig.path}"):
        out = await _run(st, req, {"type": "http", "method": method, "path": trig.path}, f"http {method} {trig.path}", _response(st))
    if out.status == "ok":
        return out.result
    e = out.error
    return {"status": 500, "body": {"error": f"{type(e).__name__}: {e}", "step": st.name}, "headers": {}}


request = _Entry(_request)


# ---------------------------------------------------------------------------- cron
async def _run_cron(name: str) -> None:
    """``await run_cron("DailyReport")``: run a cron step now (input ``None``), inline."""
    st = get_step(name)
    trigs = st.of_type(CronTrigger)
    if not trigs:
        raise StepNotFoundError(
            f"step {name!r} has no cron trigger (its triggers: {', '.join(t.describe() for t in st.triggers) or 'none'})"
        )
    with _Root(f"cron {name}"):
        await _run(st, None, {"type": "cron", "expression": trigs[0].expression}, f"cron {trigs[0].expression}")


run_cron = _Entry(_run_cron)


async def run_step_now(name: str, data: Any = None) -> Outcome:
    """Run any step by name with ``data`` as its input (a manual trigger), inline."""
    st = get_step(name)
    with _Root(f"manual {name}"):
        return await _run(st, data, {"type": "manual"}, "manual")

