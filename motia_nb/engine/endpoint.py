"""The kernel as a local iii engine: a WebSocket endpoint real Motia workers connect to.

``serve(port=0)`` starts it on motia_nb's own loop thread (never the kernel's),
so a cell that waits for a worker never blocks the endpoint that hears the
worker's answer. Workers' ``invokefunction`` calls are answered by the engine
function surface (``state::*``, ``stream::*``, ``enqueue``); their triggers
become steps in motia_nb's registry (:mod:`motia_nb.engine.remote`). A bad frame
gets an ``error`` frame back and the connection stays open; a worker that
disconnects loses its registrations and nothing else. Who owns a function id
(one live worker each; the engine's own cannot be replaced) is
:mod:`motia_nb.engine.ownership`'s.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from websockets.asyncio.server import Server as _WsServer
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as _ws_serve
from websockets.exceptions import ConnectionClosed

from .. import _threads
from .._frames import ShortTraceback
from .._threads import on_exit
from ..session import Session, default_session
from ..state.cause import outside_cells
from ..state.numbers import as_int, as_number
from ..steps.errors import StepConfigError
from . import protocol, remote, running
from .channels import Channels
from .functions import EngineFunctions
from .inputs import EngineFunctionError
from .listing import function_summaries, wire_trigger, wire_worker
from .ownership import FunctionOwnership
from .workers import Worker, WorkerCallError

__all__ = ["Server", "serve", "servers", "stop_all", "settings", "ServeError", "ServeListenError"]

log = logging.getLogger("motia_nb.engine")

class ServeError(ShortTraceback, ValueError):
    """A bad argument to ``serve()`` (port, host, frame limit) or ``worker_timeout``: nothing started or changed."""


class ServeListenError(ShortTraceback, OSError):
    """``serve()`` cannot listen there (a port in use, a host that does not resolve): nothing started."""


class _Settings:
    """Process-wide defaults (``MotiaNB.worker_timeout`` sets ``worker_timeout``)."""

    worker_timeout: float = 30.0
    max_frame_bytes: int = 64 * 1024 * 1024  # the SDKs' own limit for one JSON message


settings = _Settings()


class Server(FunctionOwnership):
    """A running endpoint: ``url``, ``port``, ``workers`` (connected now), ``close()``."""

    def __init__(
        self, host: str, worker_timeout: float | None, max_frame_bytes: int | None, functions: Any, session: Session | None = None
    ) -> None:
        self.session = session if session is not None else default_session()
        self.host = host
        self.port = 0
        self._timeout = worker_timeout
        self.max_frame_bytes = max_frame_bytes or settings.max_frame_bytes
        self.functions = functions if functions is not None else EngineFunctions(self.session)
        self._engine_names = set(self.functions.names())
        self._conns: dict[str, Worker] = {}
        self._ws: _WsServer | None = None
        self._lt = _threads.get_loop_thread()
        self.loop: asyncio.AbstractEventLoop = self._lt.loop  # type: ignore[assignment]
        self.channels = Channels(self)
        self.closed = False
        self.owns_scheduler = False  # serving starts the cron scheduler, as the engine runs cron triggers
        self.bad_frames = 0
        self.binary_frames = 0

    # ------------------------------------------------------------------ public
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def worker_timeout(self) -> float:
        return self._timeout if self._timeout is not None else settings.worker_timeout

    @worker_timeout.setter
    def worker_timeout(self, seconds: float | None) -> None:
        n = None if seconds is None else as_number(seconds)  # a numpy number too
        if seconds is not None and (n is None or not n > 0):
            raise ServeError(f"worker_timeout must be a positive number of seconds, got {seconds!r}")
        self._timeout = None if n is None else float(n)

    @property
    def workers(self) -> list[dict[str, Any]]:
        """The workers connected now, one entry each (telemetry-only connections are not workers)."""
        return [w.describe() for w in self._live()]

    def _live(self) -> list[Worker]:
        return [w for w in list(self._conns.values()) if w.is_worker and not w.closed]

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving: close every connection (their steps go) and the listening socket."""
        if self.closed:
            return
        self.closed = True
        others = running.remove(self)
        scheduler = self.session.scheduler
        if self.owns_scheduler and not others and scheduler.running:
            scheduler.stop()
        if not self._lt.thread.is_alive():
            return
        fut = self._lt.submit(self._stop())
        if threading.current_thread() is not self._lt.thread:
            try:
                fut.result(timeout)
            except Exception:  # noqa: BLE001 - closing must not raise at exit
                log.exception("motia_nb: closing the engine endpoint failed")

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._live())} workers"
        return f"<motia_nb engine {self.url}: {state}>"

    # ------------------------------------------------------------------ lifecycle
    async def _start(self, port: int) -> None:
        # the connections' contexts are copies of this one (the serving cell's output routing):
        # a worker's own calls are no cell run's, so not in the serving cell's trace
        outside_cells()
        self._ws = await _ws_serve(
            self._connection,
            self.host,
            port,
            max_size=self.max_frame_bytes * 2,  # beyond the soft limit: an error frame; beyond this: close 1009
            ping_interval=20,
            ping_timeout=60,
        )
        self.port = next(iter(self._ws.sockets)).getsockname()[1]

    async def _stop(self) -> None:
        if self._ws is not None:
            # 1012 (service restart), not close()'s default 1001 (going away): after a normal closure
            # iii-sdk's receive loop just ends, and `motia run` stays up, never to reconnect; after
            # any other it reconnects with backoff, as when a real engine restarts, so its steps come
            # back when the kernel serves again on that port
            try:
                self._ws.close(code=1012, reason="the notebook stopped serving")
            except TypeError:  # pragma: no cover - websockets before 14 closes with 1001
                self._ws.close()
            await self._ws.wait_closed()
        for w in list(self._conns.values()):
            self._drop(w)

    # ------------------------------------------------------------------ one connection
    async def _connection(self, conn: ServerConnection) -> None:
        path = conn.request.path if conn.request is not None else "/"
        if path.startswith("/ws/channels/"):
            await self.channels.serve(conn, path)
            return
        w = Worker(conn)
        self._conns[w.id] = w
        try:
            await w.send(protocol.worker_registered(w.id, w.token))
            async for raw in conn:
                if isinstance(raw, bytes):
                    self.binary_frames += 1  # telemetry (OTLP / LOGS / MTRC): accepted, ignored
                    continue
                w.is_worker = True
                try:
                    frame = protocol.parse_frame(raw, self.max_frame_bytes)
                except protocol.ProtocolError as e:
                    self.bad_frames += 1
                    log.warning("motia_nb engine: bad frame from %s: %s", w.name, e)
                    if e.code == "frame_too_large":
                        # a call too big to serve is answered as a call, at once: the SDKs ignore an
                        # `error` frame, so its caller would wait for its own timeout (30 s); the
                        # engine drops the whole connection (axum's 64 MiB message limit)
                        call = await asyncio.to_thread(protocol.invocation_of, raw)
                        if call is not None:
                            await w.send(protocol.error_result(call[0], call[1], e.code, e.message))
                            continue
                    await w.send(protocol.error_frame(e.code, e.message))
                    continue
                try:
                    await self._dispatch(w, frame)
                except ConnectionClosed:
                    raise
                except Exception as e:  # noqa: BLE001 - one bad frame never ends the connection
                    log.exception("motia_nb engine: handling %s from %s failed", frame.type, w.name)
                    await w.send(protocol.error_frame("internal_error", f"{frame.type}: {type(e).__name__}: {e}"))
        except ConnectionClosed:
            pass
        finally:
            self._drop(w)

    def _drop(self, w: Worker) -> None:
        """A connection ended: fail its pending calls, remove its steps and functions."""
        if self._conns.pop(w.id, None) is None:
            return
        w.fail_pending()
        try:
            remote.unregister_all(self.session.registry, w)
        except Exception:  # noqa: BLE001
            log.exception("motia_nb engine: removing the steps of %s failed", w.name)
        w.functions.clear()

    async def _dispatch(self, w: Worker, frame: protocol.Frame) -> None:
        t, b = frame.type, frame.body
        if t == "invokefunction":
            # a call made while handling one of ours belongs to that cascade; a worker's own call
            # runs in its connection's context, a copy of the serve() call's (the serving cell's:
            # what its steps print goes there; tests/test_engine_serving_output.py)
            origin = w.origin()
            ctx = origin.run(contextvars.copy_context) if origin is not None else None
            asyncio.get_running_loop().create_task(self._serve_invocation(w, b), context=ctx)
        elif t == "invocationresult":
            if not w.settle(frame):
                log.info("motia_nb engine: late or unknown invocationresult %s from %s", b["invocation_id"], w.name)
        elif t == "registerfunction":
            await self._register_function(w, b)
        elif t == "unregisterfunction":
            w.functions.pop(b["id"], None)
        elif t == "registertrigger":
            await self._register_trigger(w, b)
        elif t == "unregistertrigger":
            remote.unregister_trigger(self.session.registry, w, b["id"])
        elif t == "registertriggertype":
            w.trigger_types[b["id"]] = b
        elif t == "unregistertriggertype":
            w.trigger_types.pop(b["id"], None)
        elif t == "reattach":
            await self._reattach(w, b)
        elif t == "ping":
            await w.send({"type": "pong"})
        # registerservice, triggerregistrationresult, pong: nothing to do

    async def _register_trigger(self, w: Worker, b: dict[str, Any]) -> None:
        err: tuple[str, str] | None = None
        if b["id"] in w.step_names:  # the SDK replays registrations: replace, never duplicate
            remote.unregister_trigger(self.session.registry, w, b["id"])
        try:
            remote.register_trigger(self, w, b)
        except StepConfigError as e:
            err = ("trigger_registration_failed", str(e))
            log.warning("motia_nb engine: %s: %s", w.name, e)
        await w.send(protocol.trigger_registration_result(b["id"], b["trigger_type"], b["function_id"], err))

    async def _reattach(self, w: Worker, b: dict[str, Any]) -> None:
        old = self._conns.get(b["previous_worker_id"])
        if old is None or old is w:
            return
        if b.get("reattach_token") != old.token:
            await w.send(protocol.error_frame("reattach_refused", "the reattach token does not match that worker"))
            return
        self._drop(old)
        await old.conn.close()

    # ------------------------------------------------------------------ worker → engine calls
    async def _call(self, w: Worker, fid: str, data: Any) -> Any:
        if fid == "engine::workers::register":
            if isinstance(data, dict):
                w.meta = dict(data)
                remote.retag(self.session.registry, w)
            return None
        if fid == "engine::workers::list":
            return {"workers": [wire_worker(x) for x in self._live()]}
        if fid == "engine::functions::list":
            return {"functions": function_summaries(self._engine_names, self._live(), data)}
        if fid == "engine::triggers::list":
            return {"triggers": [wire_trigger(t) for x in self._live() for t in x.triggers.values()]}
        if fid not in self._engine_names:
            provider = self._provider(fid)
            if provider is not None:
                return await provider.call(fid, data, self.worker_timeout)
        return await self.functions.call(fid, data, caller=f"worker:{w.name}")

    async def _serve_invocation(self, w: Worker, b: dict[str, Any]) -> None:
        fid, data, iid = b["function_id"], b.get("data"), b.get("invocation_id")
        action = b.get("action") if isinstance(b.get("action"), dict) else None
        if action is not None and action.get("type") == "enqueue" and iid:
            # TriggerAction.Enqueue: acknowledged now with a receipt, run in the background
            await self._send_quietly(w, protocol.result(iid, fid, {"messageReceiptId": str(uuid.uuid4())}))
            iid = None
        try:
            value = await self._call(w, fid, data)
        except EngineFunctionError as e:
            reply = protocol.error_result(iid, fid, e.code, e.message) if iid else None
        except WorkerCallError as e:
            code, message = e.code, e.message
            if code == "worker_disconnected":  # the engine halts a call whose worker left: invocation_stopped
                code, message = "invocation_stopped", f"Invocation stopped ({message})"
            reply = protocol.error_result(iid, fid, code, message) if iid else None
        except Exception as e:  # noqa: BLE001 - answered, never raised into the loop
            log.exception("motia_nb engine: %s from %s failed", fid, w.name)
            reply = protocol.error_result(iid, fid, "invocation_failed", f"{type(e).__name__}: {e}") if iid else None
        else:
            reply = protocol.result(iid, fid, value) if iid else None
        if reply is not None:
            try:
                await w.send(reply)
            except ValueError as e:  # a result that is not JSON
                await self._send_quietly(w, protocol.error_result(iid, fid, "invocation_failed", f"result is not JSON: {e}"))
            except ConnectionClosed:
                pass

    async def _send_quietly(self, w: Worker, frame: dict[str, Any]) -> None:
        try:
            await w.send(frame)
        except ConnectionClosed:
            pass

    async def http_call(self, w: Worker, function_id: str, request: Any, step: str) -> dict[str, Any]:
        """An http step served by a worker: run it through the engine's response channel."""
        return await self.channels.http_call(w, function_id, request, step)


def serve(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    worker_timeout: float | None = None,
    max_frame_bytes: int | None = None,
    functions: Any = None,
    session: Session | None = None,
) -> Server:
    """Start answering the iii engine protocol on ``ws://host:port`` (0: a free port).

    Returns the running :class:`Server`. Workers connect with
    ``III_URL=<server.url> motia run --dir steps`` or any iii-sdk client.
    """
    n = as_int(port)  # a numpy integer too
    if n is None or not 0 <= n <= 65535:
        raise ServeError(f"serve: port must be an int from 0 to 65535, got {port!r}")
    port = n
    size = None if max_frame_bytes is None else as_int(max_frame_bytes)
    if max_frame_bytes is not None and (size is None or size < 1):
        raise ServeError(f"serve: max_frame_bytes must be None or an int >= 1, got {max_frame_bytes!r}")
    max_frame_bytes = size
    if not isinstance(host, str) or not host:
        raise ServeError(f"serve: host must be a non-empty str, got {host!r}")
    server = Server(host, None, max_frame_bytes, functions, session)
    server.worker_timeout = worker_timeout
    if _threads.in_loop_thread():
        raise RuntimeError("serve() cannot be called from motia_nb's loop thread (call it from a cell or a script)")
    try:
        server._lt.submit(server._start(port)).result(15)
    except OSError as e:
        raise ServeListenError(f"serve: cannot listen on {host}:{port}: {e.strerror or e}") from None
    running.add(server)
    if not server.session.scheduler.running:
        server.session.scheduler.start()
        server.owns_scheduler = True
    return server


servers = running.servers  # the endpoints running now, oldest first


def stop_all(servers_: Iterable[Server] | None = None) -> None:
    """Close every running endpoint (``%unload_ext``, interpreter exit)."""
    for s in list(servers_ if servers_ is not None else servers()):
        s.close()


on_exit(stop_all)
