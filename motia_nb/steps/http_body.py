"""An http step's streamed bodies in-process: Motia's ``ChannelReader`` / ``ChannelWriter``.

On Motia's engine an http handler may read the raw request body from
``request.request_body`` (``async for chunk in request_body.stream``,
``await request_body.read_all()``) and answer through ``response``: ``await
response.status(code)``, ``await response.headers({...})``, bytes written with
``response.writer.stream.write(...)`` (or ``await response.writer.write(...)``),
then ``response.close()`` — server-sent events work that way. In a notebook
there is no socket: :class:`RequestBody` holds the request's body as bytes (a
text body as it is, any other as its JSON text; the engine endpoint sends a worker
the same) and :class:`ResponseBody`
collects what the handler writes, which :meth:`~motia_nb.steps.context.HttpResponse.streamed`
turns into the answer ``{"status", "headers", "body"}`` (the body read back as
JSON when it is JSON, else as text).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..state.value_checks import MAX_DEPTH, json_depth

__all__ = ["RequestBody", "ResponseBody", "body_bytes", "decode_body", "TOO_DEEP", "nests_too_deep"]

#: what is said of data nesting past :data:`~motia_nb.state.value_checks.MAX_DEPTH` (as the state side says it)
TOO_DEEP = f"nests deeper than {MAX_DEPTH} levels (the limit is MAX_DEPTH)"


def nests_too_deep(text: str | bytes, value: Any) -> bool:
    """True when ``value`` (read from or written as the JSON ``text``) nests deeper than
    :data:`MAX_DEPTH`; its brackets are counted first (at C speed), so a flat value costs no walk."""
    opening = (text.count(b"[") + text.count(b"{")) if isinstance(text, bytes) else (text.count("[") + text.count("{"))
    return opening > MAX_DEPTH and json_depth(value) > MAX_DEPTH


def body_bytes(body: Any) -> bytes:
    """A request body as the bytes an HTTP client sends: text as it is, other JSON as its text."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"a response body chunk must be bytes (or str), got {type(data).__name__}")


def decode_body(raw: bytes) -> Any:
    """What a written body reads as: JSON when it is JSON, else text (``None`` when empty);
    :class:`ValueError` (one line) when that JSON nests deeper than :data:`MAX_DEPTH`."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except RecursionError:  # (thousands of nested brackets: Python's reader gives up before any check)
        raise ValueError(f"the response body written {TOO_DEEP}") from None
    except ValueError:
        return raw.decode("utf-8", "replace")
    if nests_too_deep(raw, value):
        raise ValueError(f"the response body written {TOO_DEEP}")
    return value


class _Readable:
    """``request_body.stream``: the body's bytes, in one chunk (``async for``, or ``for`` as newer
    SDKs' step files read it)."""

    def __init__(self, owner: RequestBody) -> None:
        self._owner = owner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        data = self._owner.data
        return iter([data] if data else [])


class RequestBody:
    """``request.request_body`` (Motia's ``ChannelReader``) over the request's body."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._data: bytes | None = None
        self.stream = _Readable(self)

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = body_bytes(self._body)
        return self._data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.stream.__aiter__()

    async def read_all(self) -> bytes:
        return self.data

    def on_message(self, callback: Callable[[str], Any]) -> None:
        """Text messages on the channel: an in-process request sends none."""


class _Writable:
    """``response.writer.stream``: ``write(bytes)`` and ``end([bytes])``."""

    def __init__(self, owner: ResponseBody) -> None:
        self._owner = owner

    def write(self, data: Any) -> None:
        self._owner.chunks.append(_as_bytes(data))

    def end(self, data: Any = None) -> None:
        if data is not None:
            self.write(data)
        self._owner.closed = True


class ResponseBody:
    """``response.writer`` (Motia's ``ChannelWriter``): collects the bytes a handler writes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.stream = _Writable(self)

    async def write(self, data: Any) -> None:
        self.stream.write(data)

    def send_message(self, msg: str) -> None:
        """A text message: the SDK's ``set_status`` / ``set_headers`` (as the engine reads them)."""
        try:
            m = json.loads(msg)
        except ValueError:
            return
        if not isinstance(m, dict):
            return
        if m.get("type") == "set_status" and isinstance(m.get("status_code"), int):
            self.status = m["status_code"]
        elif m.get("type") == "set_headers" and isinstance(m.get("headers"), dict):
            self.headers.update(m["headers"])

    async def send_message_async(self, msg: str) -> None:
        self.send_message(msg)

    def close(self) -> None:
        self.closed = True

    async def close_async(self) -> None:
        self.close()

    @property
    def raw(self) -> bytes:
        return b"".join(self.chunks)
