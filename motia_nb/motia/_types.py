"""Motia's public types, without pydantic: responses, configs, trigger inputs and type names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, Literal, TypeVar

from ..steps.context import FlowContext, HttpRequest, HttpResponse, TriggerInfo
from ..steps.streams import StreamEvent

__all__ = [
    "ApiResponse", "ApiRequest", "MotiaHttpArgs", "MotiaHttpRequest", "MotiaHttpResponse", "FlowContext",
    "TriggerInfo", "StepConfig", "Enqueue", "QueryParam", "StateTriggerInput", "StreamTriggerInput", "StreamEvent",
    "QueueTrigger", "ApiTrigger", "CronTrigger", "StateTrigger", "StreamTrigger", "TriggerConfig", "TriggerCondition",
    "TriggerInput", "ApiRouteMethod", "Enqueuer", "ApiMiddleware", "StreamSubscription", "StreamAuthInput",
    "StreamAuthResult",
]

T = TypeVar("T")

ApiRequest = HttpRequest
MotiaHttpRequest = HttpRequest
MotiaHttpArgs = HttpRequest
MotiaHttpResponse = HttpResponse
ApiRouteMethod = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
TriggerInput = Any
TriggerCondition = Callable[[Any, FlowContext], "bool | Awaitable[bool]"]
Enqueuer = Callable[[Any], Awaitable[None]]
ApiMiddleware = Callable[..., Awaitable[Any]]
# the engine's trigger inputs arrive as dicts that also read as attributes
StateTriggerInput = dict
StreamTriggerInput = StreamEvent


class _Model:
    """A small keyword-constructed record with ``model_dump`` (what Motia's pydantic models offer)."""

    _fields: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}

    def __init__(self, **kw: Any) -> None:
        unknown = set(kw) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(unknown)} (fields: {', '.join(self._fields)})")
        for name in self._fields:
            if name in kw:
                value = kw[name]
            elif name in self._defaults:
                value = self._defaults[name]() if callable(self._defaults[name]) else self._defaults[name]
            else:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
            setattr(self, name, value)

    model_fields: dict[str, None] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.model_fields = dict.fromkeys(cls._fields)

    def __class_getitem__(cls, item: Any) -> type:
        return cls

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.model_dump() == self.model_dump()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._fields)})"


class ApiResponse(_Model, Generic[T]):
    """``ApiResponse(status=200, body=..., headers={...})``: an http handler's answer."""

    _fields = ("status", "body", "headers")
    _defaults = {"body": None, "headers": dict}


class Enqueue(_Model):
    _fields = ("topic", "label", "conditional")
    _defaults = {"label": None, "conditional": False}


class Step(_Model):
    """A step in a flow: its file and its config (Motia's ``Step``; the guards take one)."""

    _fields = ("file_path", "config")


class QueryParam(_Model):
    _fields = ("name", "description")


class StepConfig(_Model):
    """A step's config as a record (a plain dict works everywhere too)."""

    _fields = ("name", "triggers", "enqueues", "virtual_enqueues", "virtual_subscribes", "description", "flows",
               "include_files")
    _defaults = {"enqueues": list, "virtual_enqueues": None, "virtual_subscribes": None, "description": None,
                 "flows": None, "include_files": None}

    @classmethod
    def model_validate(cls, value: Any) -> "StepConfig":
        return value if isinstance(value, cls) else cls(**dict(value))


class StreamSubscription(_Model):
    _fields = ("group_id", "id")
    _defaults = {"id": None}


class StreamAuthInput(_Model):
    _fields = ("headers", "path", "query_params", "addr")


class StreamAuthResult(_Model):
    _fields = ("authorized", "context")
    _defaults = {"context": None}


class _TriggerModel(dict):  # type: ignore[type-arg]
    """A trigger config built as the SDK's pydantic model is (``QueueTrigger(topic="orders")``): the
    dict ``queue()``, ``http()``, … return, its ``type`` set, its required fields checked."""

    _type = ""
    _required: tuple[str, ...] = ()

    def __init__(self, **kw: Any) -> None:
        for name in self._required:
            if name not in kw:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
        super().__init__({"type": self._type, **{k: v for k, v in kw.items() if v is not None}})

    def __class_getitem__(cls, item: Any) -> type:
        return cls


class QueueTrigger(_TriggerModel):
    _type, _required = "queue", ("topic",)


class ApiTrigger(_TriggerModel):
    _type, _required = "http", ("path", "method")


class CronTrigger(_TriggerModel):
    _type, _required = "cron", ("expression",)


class StateTrigger(_TriggerModel):
    _type = "state"


class StreamTrigger(_TriggerModel):
    _type, _required = "stream", ("stream_name",)


# a union in the SDK: here the name is for annotations
TriggerConfig = dict
