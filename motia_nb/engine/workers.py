"""Connected workers: who they are, what they registered, the calls awaiting their answers.

A *connection* becomes a *worker* when it sends its first text frame: the SDKs
open a second WebSocket that only carries binary telemetry, and that one is
never listed. Everything here runs on the endpoint's loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import protocol

__all__ = ["Worker", "WorkerCallError", "WorkerTimeout", "WorkerGone"]


class WorkerCallError(Exception):
    """A worker answered an invocation with an error: ``code``, ``message`` (and ``stacktrace``)."""

    def __init__(self, code: str, message: str, stacktrace: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.stacktrace = stacktrace


class WorkerTimeout(WorkerCallError):
    """No ``invocationresult`` came back within the timeout."""


class WorkerGone(WorkerCallError):
    """The worker disconnected before it answered."""


@dataclass
class Worker:
    """One connected worker (one WebSocket connection that speaks the JSON protocol)."""

    conn: Any  # websockets ServerConnection
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    connected_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    is_worker: bool = False  # set at its first text frame (a telemetry-only connection never is)
    meta: dict[str, Any] = field(default_factory=dict)  # engine::workers::register data
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)  # trigger id -> registertrigger frame
    trigger_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    step_names: dict[str, str] = field(default_factory=dict)  # trigger id -> registry step name
    #: its step names taken by a notebook step, already said in the serving cell
    shadowed: set[str] = field(default_factory=set)
    pending: dict[str, "asyncio.Future[Any]"] = field(default_factory=dict)
    origins: dict[str, contextvars.Context] = field(default_factory=dict)  # invocation id -> causing context
    closed: bool = False

    @property
    def name(self) -> str:
        n = self.meta.get("name")
        return n if isinstance(n, str) and n else f"worker-{self.id[:8]}"

    @property
    def runtime(self) -> str | None:
        r = self.meta.get("runtime")
        return r if isinstance(r, str) else None

    @property
    def pid(self) -> int | None:
        p = self.meta.get("pid")
        return p if isinstance(p, int) else None

    def describe(self) -> dict[str, Any]:
        """A plain dict for ``.workers`` / ``%motia workers``."""
        return {
            "id": self.id,
            "name": self.name,
            "runtime": self.runtime,
            "version": self.meta.get("version"),
            "pid": self.pid,
            "connected_at": self.connected_at,
            "functions": sorted(self.functions),
            "steps": sorted(set(self.step_names.values())),
        }

    def __repr__(self) -> str:
        return f"<worker {self.name!r} ({self.runtime or '?'}): {len(self.functions)} functions, {len(self.step_names)} steps>"

    async def send(self, frame: dict[str, Any]) -> None:
        await self.conn.send(protocol.dumps(frame))

    def origin(self) -> contextvars.Context | None:
        """The context of the newest call this worker is handling (its calls to the engine belong to it).

        The engine's answer to "which cascade does this worker call belong to": the
        SDKs send a W3C ``traceparent`` only when OpenTelemetry is on, so motia_nb
        takes the newest invocation still waiting for this worker (a nested trigger
        is newer than the step that caused it). None when the worker calls on its own.
        """
        for iid in reversed(list(self.origins)):
            if iid in self.pending:
                return self.origins[iid]
        return None

    async def call(self, function_id: str, data: Any, timeout: float, origin: contextvars.Context | None = None) -> Any:
        """Invoke ``function_id`` on this worker and await its ``invocationresult``.

        ``origin`` is the causing cell's context (trace, causal chain, output routing):
        the worker's own calls while it handles this one run in a copy of it.
        Raises WorkerCallError (the worker's error), WorkerTimeout or WorkerGone.
        """
        if self.closed:
            raise WorkerGone("worker_disconnected", f"worker {self.name!r} is not connected")
        iid = str(uuid.uuid4())
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[iid] = fut
        if origin is not None:
            self.origins[iid] = origin
        t0 = time.monotonic()
        try:
            await self.send(protocol.invoke(iid, function_id, data))
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise WorkerTimeout(
                "timeout",
                f"worker {self.name!r} did not answer {function_id!r} within {timeout:g} s "
                f"(waited {time.monotonic() - t0:.1f} s; MotiaNB.worker_timeout sets the limit)",
            ) from None
        except WorkerCallError:
            raise
        except Exception as e:  # the connection broke while sending
            raise WorkerGone("worker_disconnected", f"worker {self.name!r}: {type(e).__name__}: {e}") from None
        finally:
            self.pending.pop(iid, None)
            self.origins.pop(iid, None)

    def settle(self, frame: protocol.Frame) -> bool:
        """Route an ``invocationresult`` to the call awaiting it; False when none is (late or unknown)."""
        fut = self.pending.get(frame.body["invocation_id"])
        if fut is None or fut.done():
            return False
        err = frame.get("error")
        if err:
            if isinstance(err, dict):
                fut.set_exception(
                    WorkerCallError(str(err.get("code", "error")), str(err.get("message", err)), err.get("stacktrace"))
                )
            else:
                fut.set_exception(WorkerCallError("error", str(err)))
        else:
            fut.set_result(frame.get("result"))
        return True

    def fail_pending(self) -> None:
        """The connection closed: every call still waiting fails with WorkerGone."""
        self.closed = True
        for fut in list(self.pending.values()):
            if not fut.done():
                fut.set_exception(WorkerGone("worker_disconnected", f"worker {self.name!r} disconnected before answering"))
        self.pending.clear()
        self.origins.clear()
