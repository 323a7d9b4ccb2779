"""Workers' triggers as steps in motia_nb's registry ("one world").

A worker's ``registertrigger`` of type ``state``, ``queue``, ``cron``, ``http``
or ``stream`` registers a step whose handler invokes the worker's function over
the WebSocket, so a cell's write, an ``enqueue`` or a ``request`` reaches
notebook steps and worker steps alike, inline (the causing cell waits for the
worker's answer, up to the endpoint's ``worker_timeout``). As the engine does:

- ``state``: the trigger's ``scope`` / ``key`` restrict the events (no call);
  its ``condition_function_id`` is invoked on the worker with the event, and the
  step runs unless the answer is ``false``; the step's input is the engine's
  event (``type``, ``event_type``, ``scope``, ``key``, ``old_value``, ``new_value``).
- ``queue``: the input is the enqueued ``data``; a condition is checked first.
- ``cron``: run by the scheduler or ``run_cron``; a condition is checked first.

Each run prints one line in the causing cell: step, worker, status, duration
(and the error). A failing worker step is recorded in the trace as ``error``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..steps.registry import CELL_SOURCES, StepRegistry
from ..steps.errors import StepConfigError, StepNotFoundError
from ..steps.routes import condition_not_met
from .workers import Worker, WorkerCallError

log = logging.getLogger("motia_nb.engine")

if TYPE_CHECKING:
    from .endpoint import Server

__all__ = ["register_trigger", "unregister_trigger", "unregister_all", "WorkerStepError", "SERVED_TRIGGER_TYPES"]

T = TypeVar("T")

SERVED_TRIGGER_TYPES = ("state", "queue", "cron", "http", "stream")
_MARK = "__motia_nb_worker_trigger__"


class WorkerStepError(RuntimeError):
    """A worker step failed, timed out or lost its worker (already shown in the cell as one line)."""

    reported = True  # the runtime records it in the trace without printing a traceback again

    def __init__(self, message: str, code: str, engine_error: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        #: the message the engine would put in an http 500's ``error``: the worker's own
        self.engine_error = engine_error


async def call_on_loop(server: "Server", coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the endpoint's loop, from any loop (a cell's, motia_nb's, a handler thread's)."""
    if asyncio.get_running_loop() is server.loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, server.loop))


async def call_worker(server: "Server", worker: Worker, function_id: str, data: Any) -> Any:
    """Invoke ``function_id`` on ``worker`` and await its answer (up to the endpoint's worker_timeout)."""
    origin = contextvars.copy_context()  # the cascade frame of this step and the cell's output routing
    return await call_on_loop(server, worker.call(function_id, data, server.worker_timeout, origin))


def _owner(server: Server, worker: Worker, function_id: str) -> Worker:
    """The live worker that registered ``function_id`` (the engine invokes a trigger's function by
    its id, wherever it lives: one worker owns an id), else the trigger's own worker."""
    return server._provider(function_id) or worker


def _engine_event(event: Any) -> dict[str, Any]:
    return {
        "type": "state",
        "event_type": event["event_type"],
        "scope": event["scope"],
        "key": event["key"],
        "old_value": event.get("old_value"),
        "new_value": event.get("new_value"),
    }


def _line(step: str, worker: Worker, status: str, ms: float, error: str | None = None) -> None:
    text = f"worker step {step!r} on {worker.name}: {status} ({ms:.0f} ms)"
    if error is None:
        print(f"↳ {text}", flush=True)
    else:
        try:
            sys.stdout.flush()
        except Exception:  # pragma: no cover
            pass
        print(f"✖ {text}: {error}", file=sys.stderr, flush=True)


def _condition_holds(answer: Any) -> bool:
    return answer is not False  # the engine skips the handler only on an explicit false


def _base_name(frame: dict[str, Any]) -> str:
    """The step's name as the worker gives it (its ``metadata.name``, else the function id)."""
    meta = (frame.get("config") or {}).get("metadata") if isinstance(frame.get("config"), dict) else None
    base = meta.get("name") if isinstance(meta, dict) and isinstance(meta.get("name"), str) else None
    return base or frame["function_id"]


def _say_if_shadowed(reg: StepRegistry, worker: Worker, base: str, name: str) -> None:
    """A worker step named as a notebook step (a project exported with ``%motia export``, then
    connected): both run; say so once in the serving cell, with how to keep one."""
    if name == base or base in worker.shadowed:
        return
    try:
        other = reg.get(base)
    except StepNotFoundError:
        return
    if other.source in CELL_SOURCES:
        worker.shadowed.add(base)
        log.warning(
            "motia_nb engine: %s: its step %r has the name of a notebook step, so both run (the worker's is %r); "
            "%%motia remove %s keeps only the worker's", worker.name, base, name, base,
        )


def _step_name(reg: StepRegistry, worker: Worker, frame: dict[str, Any]) -> str:
    base = _base_name(frame)
    fid = frame["function_id"]
    suffix = fid.split("::trigger::", 1)[1] if "::trigger::" in fid else frame["id"][:8]
    mine = set(worker.step_names.values())
    for candidate in (base, f"{base} [{suffix}]", f"{base} [{frame['id'][:8]}]"):
        if candidate in mine:
            continue
        try:
            reg.get(candidate)
        except StepNotFoundError:
            return candidate
    return f"{base} [{frame['id']}]"


def _config(name: str, trigger: dict[str, Any], meta: Any) -> dict[str, Any]:
    meta = meta if isinstance(meta, dict) else {}
    cfg: dict[str, Any] = {"name": name, "triggers": [trigger], "description": meta.get("description") or ""}
    for key in ("flows", "enqueues"):
        if isinstance(meta.get(key), list):
            cfg[key] = meta[key]
    return cfg


def register_trigger(server: "Server", worker: Worker, frame: dict[str, Any]) -> str:
    """Register the step for one ``registertrigger`` frame; returns its name.

    Raises StepConfigError (nothing registered) for a trigger type or config
    motia_nb does not serve.
    """
    ttype, fid, tid = frame["trigger_type"], frame["function_id"], frame["id"]
    if ttype not in SERVED_TRIGGER_TYPES:
        raise StepConfigError(
            f"trigger type {ttype!r} is not served by motia_nb's engine (served: {', '.join(SERVED_TRIGGER_TYPES)})"
        )
    config = frame.get("config") or {}
    if not isinstance(config, dict):
        raise StepConfigError(f"{ttype} trigger for {fid!r}: config must be an object, got {config!r}")
    cond_id = config.get("condition_function_id")
    cond_id = cond_id if isinstance(cond_id, str) and cond_id else None
    name = _step_name(server.session.registry, worker, frame)
    _say_if_shadowed(server.session.registry, worker, _base_name(frame), name)
    state_filter = (config.get("scope"), config.get("key"))

    async def condition(event: Any) -> bool:
        scope, key = state_filter
        if (scope is not None and event["scope"] != scope) or (key is not None and event["key"] != key):
            return False
        if cond_id is None:
            return True
        try:
            return _condition_holds(await call_worker(server, _owner(server, worker, cond_id), cond_id, _engine_event(event)))
        except WorkerCallError as e:
            raise WorkerStepError(f"condition {cond_id!r} on {worker.name}: {e}", e.code) from None

    scope_text = " ".join(f"{k}={v}" for k, v in zip(("scope", "key"), state_filter) if v is not None)
    condition.__name__ = " and ".join(x for x in (scope_text, "worker condition" if cond_id else "") if x) or "any change"
    if ttype == "state":
        trigger: dict[str, Any] = {"type": "state", "condition": condition}
    elif ttype == "queue":
        trigger = {"type": "queue", "topic": config.get("topic")}
    elif ttype == "cron":
        trigger = {"type": "cron", "expression": config.get("expression")}
    elif ttype == "http":
        path = config.get("api_path")
        trigger = {
            "type": "http",
            "method": config.get("http_method"),
            "path": "/" + path.lstrip("/") if isinstance(path, str) else path,
        }
    else:
        trigger = {k: v for k, v in config.items() if k not in ("metadata", "condition_function_id")}
        trigger["type"] = "stream"

    async def handler(input: Any, ctx: Any) -> Any:
        t0 = time.perf_counter()
        try:
            if ttype == "state":
                payload = _engine_event(input)
            elif ttype == "http":
                payload = {
                    "path_params": dict(input.path_params),
                    "query_params": dict(input.query_params),
                    "body": input.body,
                    "headers": dict(input.headers),
                    "method": input.method,
                }
            elif ttype == "cron":
                payload = {"type": "cron", "expression": config.get("expression")}
            else:
                payload = input
            if cond_id is not None and ttype != "state":
                if not _condition_holds(await call_worker(server, _owner(server, worker, cond_id), cond_id, payload)):
                    _line(name, worker, "skipped, condition false", (time.perf_counter() - t0) * 1000)
                    if ttype == "http":  # as the engine: a false http condition answers 422
                        return condition_not_met()
                    return None
            if ttype == "http":
                out = await server.http_call(_owner(server, worker, fid), fid, input, name)
            else:
                out = await call_worker(server, _owner(server, worker, fid), fid, payload)
        except WorkerCallError as e:
            status = {"timeout": "timed out", "worker_disconnected": "worker gone"}.get(e.code, "error")
            _line(name, worker, status, (time.perf_counter() - t0) * 1000, e.message)
            # the engine halts a call whose worker left: invocation_stopped, "Invocation stopped"
            engine_error = "Invocation stopped" if e.code == "worker_disconnected" else e.message
            raise WorkerStepError(f"worker step {name!r} on {worker.name}: {status}: {e.message}", e.code, engine_error) from None
        _line(name, worker, "ok", (time.perf_counter() - t0) * 1000)
        return out

    setattr(handler, _MARK, (worker.id, tid))
    server.session.registry.register(_config(name, trigger, config.get("metadata")), handler, source=f"worker:{worker.name}")
    worker.step_names[tid] = name
    worker.triggers[tid] = frame
    return name


def _owned(reg: StepRegistry, name: str, worker: Worker, tid: str) -> bool:
    try:
        st = reg.get(name)
    except StepNotFoundError:
        return False
    return getattr(st.handler, _MARK, None) == (worker.id, tid)


def retag(reg: StepRegistry, worker: Worker) -> None:
    """The worker told its name (``engine::workers::register``): show it on its steps."""
    for tid, name in worker.step_names.items():
        if _owned(reg, name, worker, tid):
            reg.get(name).source = f"worker:{worker.name}"


def unregister_trigger(reg: StepRegistry, worker: Worker, tid: str) -> str | None:
    """Remove the step of trigger ``tid`` (unless a cell has since replaced it); its name or None."""
    worker.triggers.pop(tid, None)
    name = worker.step_names.pop(tid, None)
    if name is not None and _owned(reg, name, worker, tid):
        reg.remove(name)
        return name
    return None


def unregister_all(reg: StepRegistry, worker: Worker) -> list[str]:
    """A worker left: remove its steps and nothing else."""
    return [n for tid in list(worker.step_names) if (n := unregister_trigger(reg, worker, tid)) is not None]


def worker_of(step_handler: Callable[..., Any]) -> tuple[str, str] | None:
    """``(worker id, trigger id)`` when ``step_handler`` is a worker step's, else None."""
    return getattr(step_handler, _MARK, None)
