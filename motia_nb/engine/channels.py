"""The engine's channels, as far as http steps served by workers need them.

An http trigger's function gets the request with two channel refs: ``response``
(the worker writes: ``set_status`` / ``set_headers`` text messages, then the
body as binary frames, then closes) and ``request_body`` (the worker may read
the raw body). The SDK opens each as a WebSocket to
``/ws/channels/<id>?key=<access key>&dir=<read|write>`` on the engine. This
module hands out those refs, serves the two sockets, and turns what the worker
wrote into motia_nb's ``{"status", "body", "headers"}``. Worker-created channels
(``engine::channels::create``) are not served.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed

from ..state.value_checks import MAX_DEPTH, json_depth
from ..steps.http_body import TOO_DEEP, RequestBody, body_bytes, decode_body
from ..steps.routes import engine_status, header_values_check
from .remote import call_on_loop
from .workers import WorkerCallError, WorkerTimeout

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from .endpoint import Server
    from .workers import Worker

__all__ = ["Channels"]


@dataclass
class _Channel:
    key: str
    direction: str  # as the worker sees it: "write" (response) or "read" (request body)
    payload: bytes = b""  # what a reader gets
    status: int | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    opened: bool = False
    done: "asyncio.Event" = field(default_factory=asyncio.Event)

    def ref(self, cid: str) -> dict[str, str]:
        return {"channel_id": cid, "access_key": self.key, "direction": self.direction}


class Channels:
    def __init__(self, server: "Server") -> None:
        self._server = server
        self._open: dict[str, _Channel] = {}

    def _new(self, direction: str, payload: bytes = b"") -> tuple[str, _Channel]:
        cid = str(uuid.uuid4())
        ch = _Channel(secrets.token_urlsafe(16), direction, payload)
        self._open[cid] = ch
        return cid, ch

    async def serve(self, conn: "ServerConnection", path: str) -> None:
        parts = urlsplit(path)
        cid = parts.path.rsplit("/", 1)[-1]
        key = (parse_qs(parts.query).get("key") or [""])[0]
        ch = self._open.get(cid)
        if ch is None or not secrets.compare_digest(key, ch.key):
            await conn.close(4004, "unknown channel or wrong key")
            return
        ch.opened = True
        try:
            if ch.direction == "read":
                if ch.payload:
                    await conn.send(ch.payload)
                await conn.close()
                return
            async for msg in conn:
                if isinstance(msg, bytes):
                    ch.chunks.append(msg)
                    continue
                try:
                    m = json.loads(msg)
                except ValueError:
                    continue
                if isinstance(m, dict) and m.get("type") == "set_status" and "status_code" in m:
                    ch.status = m["status_code"]  # checked in http_call, as the engine reads it
                elif isinstance(m, dict) and m.get("type") == "set_headers" and isinstance(m.get("headers"), dict):
                    ch.headers.update(m["headers"])
        except ConnectionClosed:
            pass
        finally:
            ch.done.set()

    async def _respond(
        self, worker: "Worker", function_id: str, data: dict[str, Any], origin: contextvars.Context, raw: bytes
    ) -> tuple[Any, _Channel]:
        rid, resp = self._new("write")
        qid, _ = self._new("read", raw)
        data = {**data, "response": resp.ref(rid), "request_body": self._open[qid].ref(qid)}
        try:
            result = await worker.call(function_id, data, self._server.worker_timeout, origin)
            if resp.opened:
                try:
                    await asyncio.wait_for(resp.done.wait(), self._server.worker_timeout)
                except asyncio.TimeoutError:
                    raise WorkerTimeout(
                        "timeout", f"worker {worker.name!r} did not close the response of {function_id!r} in time"
                    ) from None
            return result, resp
        finally:
            self._open.pop(rid, None)
            self._open.pop(qid, None)

    async def http_call(self, worker: "Worker", function_id: str, request: Any, step: str) -> dict[str, Any]:
        data = {
            "path_params": dict(request.path_params),
            "query_params": dict(request.query_params),
            "body": request.body,
            "headers": dict(request.headers),
            "method": request.method,
        }
        origin = contextvars.copy_context()
        # the request's bytes (its body is None under a content-type that is not JSON: they are here)
        sent = request.request_body
        raw = sent.data if isinstance(sent, RequestBody) else body_bytes(request.body)
        result, resp = await call_on_loop(self._server, self._respond(worker, function_id, data, origin, raw))
        if not resp.opened and not isinstance(result, dict):
            # Motia's runtime writes no response for a handler that returns None (or a non-dict):
            # the engine then waits for the response channel that never closes
            raise WorkerCallError(
                "no_response",
                f"http step {step!r} returned {result!r} and wrote no response; return {{'status': ..., 'body': ...}}"
                " (the engine would wait for an answer that never comes)",
            )
        if resp.status is not None and not engine_status(resp.status):
            raise WorkerCallError(
                "bad_response",
                f"http step {step!r} sent status {resp.status!r}; expected an int from 100 to 599"
                " (the engine ignores any other and answers 200)",
            )
        try:
            header_values_check(f"http step {step!r}", resp.headers)
        except TypeError as e:
            raise WorkerCallError("bad_response", str(e)) from None
        if resp.status is None and isinstance(result, dict):  # answered by return value only
            # the engine's HttpResponse::from_function_return: `status_code` as an unsigned
            # integer (anything else, or a `status` key, silently answers 200: refused here),
            # `body` (a missing one is {})
            status = result.get("status_code", 200)
            if "status_code" not in result and "status" in result:
                raise WorkerCallError(
                    "bad_response",
                    f"http step {step!r} returned status {result['status']!r} under 'status'; the engine reads"
                    " 'status_code' from a returned answer (it would answer 200): return 'status_code'",
                )
            if not engine_status(status):
                raise WorkerCallError(
                    "bad_response",
                    f"http step {step!r} returned status_code {status!r}; expected an int from 100 to 599"
                    " (the engine answers 200 for any other)",
                )
            headers = result.get("headers") or {}
            if not isinstance(headers, dict):
                raise WorkerCallError("bad_response", f"http step {step!r} returned headers {headers!r}; expected a dict")
            try:
                header_values_check(f"http step {step!r}", headers)
            except TypeError as e:
                raise WorkerCallError("bad_response", str(e)) from None
            body = result.get("body", {})
            if json_depth(body) > MAX_DEPTH:  # as a notebook step's returned body (and the state's values)
                raise WorkerCallError("bad_response", f"http step {step!r}: the body returned {TOO_DEEP}")
            return {"status": status, "body": body, "headers": dict(headers)}
        raw = b"".join(resp.chunks)
        try:  # as a notebook step's streamed body: JSON, else text; past MAX_DEPTH levels refused
            body = decode_body(raw)
        except ValueError as e:
            raise WorkerCallError("bad_response", f"http step {step!r}: {e}") from None
        return {"status": resp.status or 200, "body": body, "headers": {str(k): v for k, v in resp.headers.items()}}
