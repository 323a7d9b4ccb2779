"""The typed triggers :func:`~motia_nb.steps.config.parse_config` turns a config's trigger dicts into.

One frozen dataclass per trigger type (``state``, ``queue``, ``http``, ``cron``, ``stream``),
each with its ``condition`` and that condition's arity, ``describe()`` (one line, as
``%motia steps`` lists it) and what the runtime asks of it: a state or stream trigger
whether an event is in its scope, an http trigger whether a path matches its route.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["StateTrigger", "QueueTrigger", "HttpTrigger", "CronTrigger", "StreamTrigger", "Trigger"]


def _if(condition: Callable[..., Any] | None) -> str:
    if condition is None:
        return ""
    name = getattr(condition, "__name__", "")
    return f" if {name}" if name and name != "<lambda>" else " (condition)"


@dataclass(frozen=True)
class StateTrigger:
    """Runs the step for each state change whose ``condition`` is truthy; ``scope`` / ``key``,
    when given, restrict it to one group / key (the engine's state trigger config)."""

    condition: Callable[..., Any] | None = None
    arity: int = 1
    type: str = "state"
    scope: str | None = None
    key: str | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether a state change event is in this trigger's scope / key (no restriction: every one)."""
        return (self.scope is None or event["scope"] == self.scope) and (self.key is None or event["key"] == self.key)

    def describe(self) -> str:
        where = " ".join(f"{k}={v}" for k, v in (("scope", self.scope), ("key", self.key)) if v is not None)
        return "state" + (f" {where}" if where else "") + _if(self.condition)


@dataclass(frozen=True)
class QueueTrigger:
    """Runs the step for every ``enqueue({"topic": topic, ...})`` (when ``condition`` holds)."""

    topic: str
    condition: Callable[..., Any] | None = None
    arity: int = 1
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    type: str = "queue"

    def describe(self) -> str:
        return f"queue {self.topic}" + _if(self.condition)


@dataclass(frozen=True)
class HttpTrigger:
    """Answers ``request(method, path)``; ``segments`` holds literal segments and ``:param`` names."""

    method: str
    path: str
    segments: tuple[str, ...] = ()
    condition: Callable[..., Any] | None = None
    arity: int = 1
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    type: str = "http"

    def describe(self) -> str:
        return f"http {self.method} {self.path}" + _if(self.condition)

    @property
    def shape(self) -> tuple[str, tuple[str, ...]]:
        """Method and path with every param replaced by ``:`` (two routes clash when equal)."""
        return self.method, tuple(":" if s.startswith(":") else s for s in self.segments)

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        """The path params if ``segments`` (of a request path) match this route, else None."""
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pat, seg in zip(self.segments, segments):
            if pat.startswith(":"):
                if not seg:
                    return None
                params[pat[1:]] = seg
            elif pat != seg:
                return None
        return params

    @property
    def specificity(self) -> tuple[bool, ...]:
        """Sort key: literal segments win over params, left to right."""
        return tuple(not s.startswith(":") for s in self.segments)


@dataclass(frozen=True)
class CronTrigger:
    """Runs the step on its schedule (when the scheduler runs) or via ``run_cron``.

    5 fields: cronsim, local time; 6/7 fields: the engine's reading, UTC
    (``engine`` is True).
    """

    expression: str
    condition: Callable[..., Any] | None = None
    arity: int = 1
    type: str = "cron"

    @property
    def engine(self) -> bool:
        return len(self.expression.split(" ")) != 5

    def describe(self) -> str:
        return f"cron {self.expression}" + _if(self.condition)


@dataclass(frozen=True)
class StreamTrigger:
    """Runs the step for each change of stream ``stream_name`` (one group / item when given)."""

    stream_name: str
    group_id: str | None = None
    item_id: str | None = None
    condition: Callable[..., Any] | None = None
    arity: int = 1
    type: str = "stream"

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether a stream event (:class:`~motia_nb.steps.streams.StreamEvent`) is for this trigger."""
        return (
            event["streamName"] == self.stream_name
            and (not self.group_id or event["groupId"] == self.group_id)
            and (not self.item_id or event["id"] == self.item_id)
        )

    def describe(self) -> str:
        where = "/".join(x for x in (self.group_id, self.item_id) if x)
        return f"stream {self.stream_name}" + (f" {where}" if where else "") + _if(self.condition)


Trigger = Union[StateTrigger, QueueTrigger, HttpTrigger, CronTrigger, StreamTrigger]
