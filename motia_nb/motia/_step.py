"""Motia's step builders and trigger guards: ``step()``, ``multi_trigger_step()``, ``is_*_trigger``…"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..steps.config import as_mapping, parse_config

__all__ = [
    "StepDefinition", "StepBuilder", "step", "MultiTriggerStepBuilder", "multi_trigger_step",
    "is_api_trigger", "is_queue_trigger", "is_cron_trigger", "is_state_trigger", "is_stream_trigger",
    "is_api_step", "is_queue_step", "is_cron_step", "is_state_step", "is_stream_step",
    "get_api_triggers", "get_queue_triggers", "get_cron_triggers", "get_state_triggers", "get_stream_triggers",
]


@dataclass
class StepDefinition:
    """A config + handler pair; a ``%%step`` cell registers every one it defines."""

    config: Any
    handler: Callable[..., Any]


class StepBuilder:
    def __init__(self, config: Any) -> None:
        self.config = config

    def handle(self, handler: Callable[..., Any]) -> StepDefinition:
        return StepDefinition(self.config, handler)


def _check_config(config: Any) -> Any:
    parse_config(config)  # a bad config fails at the step() line, as Motia's model validation does
    return config


def step(config: Any, handler: Callable[..., Any] | None = None) -> StepDefinition | StepBuilder:
    """``step(config, handler)`` → a StepDefinition; ``step(config).handle(handler)`` likewise."""
    config = _check_config(config)
    return StepDefinition(config, handler) if handler is not None else StepBuilder(config)


class MultiTriggerStepBuilder:
    """``multi_trigger_step(config).on_queue(h).on_http(h2).handlers()`` (or ``.handlers({...})``)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self._handlers: dict[str, Callable[..., Any]] = {}

    def _on(self, kind: str, handler: Callable[..., Any]) -> "MultiTriggerStepBuilder":
        self._handlers[kind] = handler
        return self

    def on_queue(self, handler: Callable[..., Any]) -> "MultiTriggerStepBuilder":
        return self._on("queue", handler)

    def on_http(self, handler: Callable[..., Any]) -> "MultiTriggerStepBuilder":
        return self._on("http", handler)

    def on_cron(self, handler: Callable[..., Any]) -> "MultiTriggerStepBuilder":
        return self._on("cron", handler)

    def on_state(self, handler: Callable[..., Any]) -> "MultiTriggerStepBuilder":
        return self._on("state", handler)

    def on_stream(self, handler: Callable[..., Any]) -> "MultiTriggerStepBuilder":
        return self._on("stream", handler)

    def handlers(self, handlers: Mapping[str, Callable[..., Any]] | None = None) -> StepDefinition:
        table = {**self._handlers, **(handlers or {})}

        async def unified_handler(input_data: Any, ctx: Any) -> Any:
            kind = ctx.trigger.type
            fn = table.get(kind)
            if fn is None:
                raise RuntimeError(f"No handler defined for trigger type: {kind}. Available handlers: {', '.join(table)}")
            result = fn(ctx) if kind == "cron" else fn(input_data, ctx)
            if hasattr(result, "__await__"):
                result = await result
            return result

        return StepDefinition(self.config, unified_handler)


def multi_trigger_step(config: Any) -> MultiTriggerStepBuilder:
    return MultiTriggerStepBuilder(_check_config(config))


def _type(trigger: Any) -> Any:
    t = as_mapping(trigger)
    return t.get("type") if isinstance(t, Mapping) else None


def _triggers(step: Any) -> list[Any]:
    cfg = as_mapping(getattr(step, "config", step))
    return list(cfg.get("triggers") or []) if isinstance(cfg, Mapping) else []


def is_api_trigger(trigger: Any) -> bool:
    return _type(trigger) == "http"


def is_queue_trigger(trigger: Any) -> bool:
    return _type(trigger) == "queue"


def is_cron_trigger(trigger: Any) -> bool:
    return _type(trigger) == "cron"


def is_state_trigger(trigger: Any) -> bool:
    return _type(trigger) == "state"


def is_stream_trigger(trigger: Any) -> bool:
    return _type(trigger) == "stream"


def is_api_step(step: Any) -> bool:
    return any(map(is_api_trigger, _triggers(step)))


def is_queue_step(step: Any) -> bool:
    return any(map(is_queue_trigger, _triggers(step)))


def is_cron_step(step: Any) -> bool:
    return any(map(is_cron_trigger, _triggers(step)))


def is_state_step(step: Any) -> bool:
    return any(map(is_state_trigger, _triggers(step)))


def is_stream_step(step: Any) -> bool:
    return any(map(is_stream_trigger, _triggers(step)))


def get_api_triggers(step: Any) -> list[Any]:
    return [t for t in _triggers(step) if is_api_trigger(t)]


def get_queue_triggers(step: Any) -> list[Any]:
    return [t for t in _triggers(step) if is_queue_trigger(t)]


def get_cron_triggers(step: Any) -> list[Any]:
    return [t for t in _triggers(step) if is_cron_trigger(t)]


def get_state_triggers(step: Any) -> list[Any]:
    return [t for t in _triggers(step) if is_state_trigger(t)]


def get_stream_triggers(step: Any) -> list[Any]:
    return [t for t in _triggers(step) if is_stream_trigger(t)]
