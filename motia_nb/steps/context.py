"""Cascade bookkeeping (ContextVars), the handler's ``ctx`` and the http request object.

A *cascade* is everything one causing call (a write, ``enqueue``, ``request``,
``run_cron``) sets off, directly or through the steps it triggers in turn. Its
trace id and the causal chain of step names travel in a ContextVar, so they
follow the code through ``await``, through the sync API (which runs in a copy
of the caller's context) and into the threads that run plain ``def`` handlers.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http_body import RequestBody, ResponseBody, decode_body

if TYPE_CHECKING:
    from .logs import StepLogger

__all__ = ["Frame", "current_frame", "FlowContext", "TriggerInfo", "HttpRequest", "HttpResponse", "Headers"]


@dataclass(frozen=True)
class Frame:
    """Where we are in a cascade: its trace id and the chain of steps that led here."""

    trace_id: str
    chain: tuple[str, ...] = ()
    trigger: str = ""
    #: the :class:`~motia_nb.steps.runtime.Runtime` running the cascade
    runtime: Any = field(default=None, compare=False, repr=False)
    #: names of the cascade's step runs cancelled by an interrupt (shared by its frames)
    cancelled: list[str] = field(default_factory=list, compare=False, repr=False)
    #: the SIGINTs counted when the cascade began (``sigints_seen()``; shared by its frames): a
    #: cancel with more since is an interrupt, even one that arrived while an earlier step ran
    sigints: int | None = field(default=None, compare=False, repr=False)

    @property
    def step(self) -> str | None:
        """The step now running (None at the cascade's root, i.e. in the causing cell)."""
        return self.chain[-1] if self.chain else None

    @property
    def depth(self) -> int:
        return len(self.chain)


_frame: contextvars.ContextVar[Frame | None] = contextvars.ContextVar("motia_nb_step_frame", default=None)


def current_frame() -> Frame | None:
    """The cascade frame of the running code, or None outside any cascade."""
    return _frame.get()


class TriggerInfo(dict):
    """``ctx.trigger``: the trigger that fired, a dict that also reads as Motia's ``TriggerInfo``.

    ``ctx.trigger["type"]`` and ``ctx.trigger.type`` both work; Motia's fields
    (``type``, ``index``, ``path``, ``method``, ``topic``, ``expression``) read
    as None when they do not apply.
    """

    _FIELDS = ("type", "index", "path", "method", "topic", "expression", "event_type", "group_id", "item_id",
               "stream_name")

    def __getattr__(self, name: str) -> Any:
        if name in self._FIELDS:
            return self.get(name)
        raise AttributeError(f"TriggerInfo has no {name!r} (keys: {', '.join(self)})")


class FlowContext:
    """The ``ctx`` a handler may take as its second argument — Motia's ``FlowContext`` and more.

    As Motia: ``trace_id`` (shared by every step of one cascade), ``trigger``
    (:class:`TriggerInfo`: ``ctx.trigger.type`` / ``ctx.trigger["type"]``, plus
    ``topic`` / ``method`` and ``path`` / ``expression`` …), ``input_value``,
    ``is_queue()`` / ``is_api()`` / ``is_cron()`` / ``is_state()`` / ``is_stream()``,
    ``get_data()`` and ``await ctx.match({...})``. motia_nb adds ``step`` (the
    step's name), ``flows``, and for code written in Motia's older style
    ``state`` (the async state manager), ``enqueue`` / ``emit`` and ``logger``.
    """

    def __init__(
        self,
        *,
        trace_id: str,
        trigger: Mapping[str, Any],
        step: str = "",
        flows: Iterable[str] = (),
        logger: "StepLogger | None" = None,
        input_value: Any = None,
        state_manager: Any = None,
        enqueue: Any = None,
    ) -> None:
        self.trace_id = trace_id
        self.step = step
        self.trigger = trigger if isinstance(trigger, TriggerInfo) else TriggerInfo(trigger)
        self.input_value = input_value
        self.flows = list(flows)
        self.logger = logger
        self.state = state_manager
        self.state_manager = state_manager
        self.enqueue = enqueue
        self.emit = enqueue

    def __class_getitem__(cls, item: Any) -> type:  # FlowContext[Any] in annotations
        return cls

    @property
    def step_name(self) -> str:
        return self.step

    def is_queue(self) -> bool:
        return self.trigger.get("type") == "queue"

    def is_api(self) -> bool:
        return self.trigger.get("type") == "http"

    def is_cron(self) -> bool:
        return self.trigger.get("type") == "cron"

    def is_state(self) -> bool:
        return self.trigger.get("type") == "state"

    def is_stream(self) -> bool:
        return self.trigger.get("type") == "stream"

    def get_data(self) -> Any:
        """The payload whatever the trigger: an http request's body, the queue data, the event; None for cron."""
        if self.is_cron():
            return None
        if isinstance(self.input_value, HttpRequest):
            return self.input_value.body
        return self.input_value

    async def match(self, handlers: Mapping[str, Callable[..., Any]]) -> Any:
        """Call the handler for this trigger type (``queue``, ``http``/``api``, ``cron``, ``state``, ``stream``,
        else ``default``) with the input (cron handlers take none), as Motia's ``ctx.match``."""
        kind = self.trigger.get("type")
        keys = {"http": ("http", "api")}.get(kind, (kind,))
        fn = next((handlers[k] for k in keys if k in handlers), None)
        args: tuple[Any, ...] = () if kind == "cron" else (self.input_value,)
        if fn is None:
            fn = handlers.get("default")
            args = (self.input_value,)
        if fn is None:
            raise RuntimeError(
                f"No handler matched for trigger type: {kind}. Available handlers: "
                + ", ".join(k for k in handlers if k != "default")
            )
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def __repr__(self) -> str:
        return f"FlowContext(step={self.step!r}, trace_id={self.trace_id!r}, trigger={dict(self.trigger)!r})"


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers (keys are stored lower-case)."""

    def __init__(self, raw: Mapping[str, Any] | None = None) -> None:
        self._d: dict[str, str] = {}
        for k, v in (raw or {}).items():
            if not isinstance(k, str):
                raise TypeError(f"header names must be str, got {k!r}")
            self._d[k.lower()] = v if isinstance(v, str) else str(v)

    def __getitem__(self, name: str) -> str:
        return self._d[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._d

    def __repr__(self) -> str:
        return f"Headers({self._d!r})"


class HttpResponse:
    """``args.response`` of an http handler (Motia's ``MotiaHttpResponse``): ``await status(code)``,
    ``await headers({...})`` and the bytes written to ``writer`` (a :class:`ResponseBody`) make
    the answer of a handler that streams it (and returns nothing), e.g. server-sent events."""

    def __init__(self, writer: Any = None) -> None:
        self._writer = writer if writer is not None else ResponseBody()
        self.status_code: int | None = None
        self.header_values: dict[str, str] = {}

    def streamed(self) -> dict[str, Any] | None:
        """The answer written through this response (``None`` when the handler used none of it)."""
        w = self._writer if isinstance(self._writer, ResponseBody) else ResponseBody()
        status = self.status_code if self.status_code is not None else w.status
        headers = {**w.headers, **self.header_values}
        if status is None and not headers and not w.chunks:
            return None
        return {"status": status or 200, "body": decode_body(w.raw), "headers": headers}

    async def status(self, status_code: int) -> None:
        self.status_code = status_code

    async def headers(self, headers: Mapping[str, str]) -> None:
        self.header_values.update(headers)

    @property
    def writer(self) -> Any:
        return self._writer

    def close(self) -> None:
        pass


class HttpRequest(Mapping[str, Any]):
    """The input of an http step: attribute *and* item access.

    ``method``, ``path``, ``body``, ``path_params``, ``query_params`` (each value a
    str: one per key, as the engine gives them), ``headers`` (case-insensitive).
    ``request.request`` is the request itself and ``request.response`` an
    :class:`HttpResponse`, so Motia handlers written for ``ApiRequest``
    (``input.body``) or ``MotiaHttpArgs`` (``args.request.body``) work unchanged;
    in motia_nb's ``motia`` stand-in, ``ApiRequest``, ``MotiaHttpRequest`` and
    ``MotiaHttpArgs`` are this class (constructible with Motia's keyword arguments).
    """

    _FIELDS = ("method", "path", "body", "path_params", "query_params", "headers")

    def __init__(
        self,
        method: str = "",
        path: str = "",
        body: Any = None,
        path_params: Mapping[str, str] | None = None,
        query_params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        *,
        request: "HttpRequest | None" = None,
        response: HttpResponse | None = None,
        request_body: Any = None,
    ) -> None:
        if request is not None:  # MotiaHttpArgs(request=..., response=...)
            method, path, body = request.method, request.path, request.body
            request_body = request_body if request_body is not None else request.request_body
            path_params, query_params, headers = request.path_params, request.query_params, request.headers
        self.method = method
        self.path = path
        self.body = body
        self.path_params = dict(path_params or {})
        self.query_params = dict(query_params or {})
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.response = response if response is not None else HttpResponse()
        self.request_body = request_body if request_body is not None else RequestBody(body)

    def __class_getitem__(cls, item: Any) -> type:  # ApiRequest[Any] in annotations
        return cls

    @property
    def request(self) -> "HttpRequest":
        return self

    def __getitem__(self, name: str) -> Any:
        if name in self._FIELDS or name in ("request", "response", "request_body"):
            return getattr(self, name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._FIELDS)

    def __len__(self) -> int:
        return len(self._FIELDS)

    def __repr__(self) -> str:
        return (
            f"HttpRequest({self.method} {self.path}, body={self.body!r}, path_params={self.path_params!r}, "
            f"query_params={self.query_params!r})"
        )
