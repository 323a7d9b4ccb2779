"""The iii engine's wire protocol: JSON text frames tagged by ``type``.

Parsing never raises anything but :class:`ProtocolError` (a frame that is not
JSON, not an object, has no known ``type`` or misses a required field), so the
endpoint can answer a bad frame with an error frame and keep the connection.
Binary frames (the SDKs' OpenTelemetry spans, logs and metrics, prefixed
``OTLP`` / ``LOGS`` / ``MTRC``) are not parsed at all: the endpoint accepts and
ignores them.

Frames a worker sends (worker → engine): ``registerfunction``,
``unregisterfunction``, ``registertrigger``, ``unregistertrigger``,
``registertriggertype``, ``unregistertriggertype``, ``registerservice``,
``invokefunction`` (a call of an engine or another worker's function),
``invocationresult`` (the answer to an engine → worker ``invokefunction``),
``triggerregistrationresult``, ``reattach``, ``ping``, ``pong``.
Frames the engine sends: ``workerregistered``, ``invokefunction``,
``invocationresult``, ``triggerregistrationresult``, ``registrationrejected`` (a
function id another live worker owns, or one the engine serves itself), ``pong``, and ``error``
(motia_nb's reply to a frame it cannot read; the SDKs ignore unknown types).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ProtocolError",
    "Frame",
    "parse_frame",
    "invocation_of",
    "dumps",
    "worker_registered",
    "invoke",
    "result",
    "error_result",
    "trigger_registration_result",
    "registration_rejected",
    "error_frame",
    "KNOWN_TYPES",
]

#: Required fields (and their JSON types) of each frame type a worker may send.
_REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "registerfunction": {"id": str},
    "unregisterfunction": {"id": str},
    "registertrigger": {"id": str, "trigger_type": str, "function_id": str},
    "unregistertrigger": {"id": str},
    "registertriggertype": {"id": str},
    "unregistertriggertype": {"id": str},
    "registerservice": {"id": str},
    "invokefunction": {"function_id": str},
    "invocationresult": {"invocation_id": str},
    "triggerregistrationresult": {"id": str},
    "reattach": {"previous_worker_id": str},
    "ping": {},
    "pong": {},
}
KNOWN_TYPES = frozenset(_REQUIRED)


class ProtocolError(Exception):
    """A frame motia_nb cannot read: ``code`` (``malformed_frame``, ``frame_too_large``,
    ``unknown_type``, ``invalid_frame``) and a one-line ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Frame:
    """A parsed text frame: its ``type`` and the whole JSON object."""

    type: str
    body: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default)


def _preview(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "…"


def parse_frame(raw: str, max_bytes: int) -> Frame:
    """Parse one text frame; raise ProtocolError naming what is wrong."""
    size = len(raw.encode("utf-8", "surrogatepass")) if len(raw) * 4 > max_bytes else len(raw)
    if size > max_bytes:
        raise ProtocolError("frame_too_large", f"a frame of {size} bytes exceeds the limit of {max_bytes} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ProtocolError("malformed_frame", f"not JSON ({e}): {_preview(raw)!r}") from None
    if not isinstance(body, dict):
        raise ProtocolError("malformed_frame", f"a frame must be a JSON object, got {type(body).__name__}")
    ftype = body.get("type")
    if not isinstance(ftype, str):
        raise ProtocolError("malformed_frame", f"the frame has no 'type' string: {_preview(raw)!r}")
    required = _REQUIRED.get(ftype)
    if required is None:
        raise ProtocolError("unknown_type", f"unknown frame type {ftype!r}")
    for name, kind in required.items():
        value = body.get(name)
        if not isinstance(value, kind) or (kind is str and not value):
            raise ProtocolError("invalid_frame", f"{ftype}: field {name!r} must be a non-empty string, got {value!r}")
    return Frame(ftype, body)


def invocation_of(raw: str) -> tuple[str, str] | None:
    """``(invocation_id, function_id)`` when ``raw`` (a frame refused unread) is an ``invokefunction``
    awaiting an answer, else None: such a call gets its answer instead of an ``error`` frame."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("type") != "invokefunction":
        return None
    iid, fid = body.get("invocation_id"), body.get("function_id")
    action = body.get("action")
    if isinstance(action, dict) and action.get("type") == "void":
        return None
    return (iid, fid if isinstance(fid, str) else "") if isinstance(iid, str) and iid else None


def dumps(frame: dict[str, Any]) -> str:
    """A frame as JSON text (values that are not JSON become an error, never a crash)."""
    return json.dumps(frame, allow_nan=False, separators=(",", ":"))


def worker_registered(worker_id: str, reattach_token: str) -> dict[str, Any]:
    return {"type": "workerregistered", "worker_id": worker_id, "reattach_token": reattach_token}


def invoke(invocation_id: str | None, function_id: str, data: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "invokefunction", "function_id": function_id, "data": data}
    if invocation_id is not None:
        frame["invocation_id"] = invocation_id
    return frame


def result(invocation_id: str, function_id: str, value: Any) -> dict[str, Any]:
    return {"type": "invocationresult", "invocation_id": invocation_id, "function_id": function_id, "result": value}


def error_result(invocation_id: str, function_id: str, code: str, message: str) -> dict[str, Any]:
    return {
        "type": "invocationresult",
        "invocation_id": invocation_id,
        "function_id": function_id,
        "error": {"code": code, "message": message},
    }


def trigger_registration_result(
    trigger_id: str, trigger_type: str, function_id: str, error: tuple[str, str] | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "triggerregistrationresult",
        "id": trigger_id,
        "trigger_type": trigger_type,
        "function_id": function_id,
    }
    if error is not None:
        frame["error"] = {"code": error[0], "message": error[1]}
    return frame


def registration_rejected(function_id: str, owner_worker_id: str) -> dict[str, Any]:
    """The engine's ``RegistrationRejected`` for one function (``FUNCTION_NAMESPACE_CONFLICT``: only
    that registration is refused, the connection stays); ``owner_worker_id`` is empty for an id the
    engine reserves (its own functions), as the engine sends for a reserved ``engine::*`` id."""
    return {
        "type": "registrationrejected",
        "code": "FUNCTION_NAMESPACE_CONFLICT",
        "namespace": "default",
        "function_id": function_id,
        "owner_worker_id": owner_worker_id,
    }


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}
