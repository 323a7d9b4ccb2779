"""The step registry, keyed by step name: running a cell again replaces its step.

A replaced step keeps its place in the registration order (the order in which
steps that share a trigger run).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import CronTrigger, HttpTrigger, ParsedConfig, QueueTrigger, StateTrigger, Trigger, call_arity, parse_config
from .errors import StepConfigError, StepNotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Step", "register", "step", "remove_step", "get_step", "all_steps", "reset_steps", "steps_frame"]


@dataclass
class Step:
    """A registered step: its validated config and its handler."""

    name: str
    config: ParsedConfig
    handler: Callable[..., Any]
    arity: int
    is_async: bool
    source: str = "decorator"
    triggers: list[Trigger] = field(default_factory=list)

    @property
    def flows(self) -> list[str]:
        return self.config.flows

    @property
    def enqueues(self) -> list[str]:
        return self.config.enqueues

    @property
    def description(self) -> str:
        return self.config.description

    def of_type(self, cls: type) -> list[Any]:
        return [t for t in self.triggers if isinstance(t, cls)]

    def __repr__(self) -> str:
        trig = ", ".join(t.describe() for t in self.triggers) or "no triggers"
        return f"<step {self.name!r}: {trig}>"


_steps: dict[str, Step] = {}
_lock = threading.RLock()
_listeners: list[Callable[[], None]] = []


def on_change(fn: Callable[[], None]) -> None:
    """Call ``fn()`` whenever a step is registered, replaced or removed."""
    _listeners.append(fn)


def _changed() -> None:
    from .runtime import ensure_dispatcher

    ensure_dispatcher()
    for fn in list(_listeners):
        fn()


def register(config: Any, handler: Callable[..., Any], source: str = "register") -> tuple[Step, bool]:
    """Validate and register a step; returns ``(step, replaced)``.

    Raises StepConfigError (nothing registered) for a bad config, a handler that
    cannot take ``(input)`` or ``(input, ctx)``, or an http route that another
    step already serves.
    """
    parsed = parse_config(config)
    arity = call_arity(handler, f"step {parsed.name!r}: handler")
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None))
    new = Step(parsed.name, parsed, handler, arity, is_async, source, list(parsed.triggers))
    with _lock:
        for trig in new.of_type(HttpTrigger):
            for other in _steps.values():
                if other.name == new.name:
                    continue
                for ot in other.of_type(HttpTrigger):
                    if ot.shape == trig.shape:
                        raise StepConfigError(
                            f"step {new.name!r}: http route {trig.method} {trig.path} is already served by step "
                            f"{other.name!r} ({ot.method} {ot.path}); remove that step or change the path"
                        )
        replaced = new.name in _steps
        _steps[new.name] = new  # a dict keeps the old position on replacement
    _changed()
    return new, replaced


def step(config: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@step(config)`` registers the handler below it (and returns it unchanged).

    The config is validated now: a bad one raises StepConfigError when the cell runs.
    """
    parse_config(config)  # fail at the decorator line already

    def deco(handler: Callable[..., Any]) -> Callable[..., Any]:
        register(config, handler, source="decorator")
        return handler

    return deco


def remove_step(name: str) -> Step:
    """Unregister a step by name; returns it. StepNotFoundError if there is none."""
    with _lock:
        try:
            st = _steps.pop(name)
        except KeyError:
            raise StepNotFoundError(f"no step named {name!r} (registered: {', '.join(_steps) or 'none'})") from None
    _changed()
    return st


def get_step(name: str) -> Step:
    """The step called ``name``; StepNotFoundError if there is none."""
    with _lock:
        try:
            return _steps[name]
        except KeyError:
            raise StepNotFoundError(f"no step named {name!r} (registered: {', '.join(_steps) or 'none'})") from None


def all_steps() -> list[Step]:
    """Registered steps in registration order."""
    with _lock:
        return list(_steps.values())


def reset_steps() -> None:
    """Unregister every step."""
    with _lock:
        _steps.clear()
    _changed()


def steps_frame(flow: str | None = None) -> "pd.DataFrame":
    """The registered steps as a DataFrame (name, triggers, enqueues, flows, handler, description)."""
    import pandas as pd

    rows = [s for s in all_steps() if flow is None or flow in s.flows]
    # worker steps (registered by motia_nb.engine) carry source "worker:<name>"
    workers = {"worker": [s.source[7:] if s.source.startswith("worker:") else "" for s in rows]}
    return pd.DataFrame(
        {
            "name": [s.name for s in rows],
            "triggers": [", ".join(t.describe() for t in s.triggers) for s in rows],
            "enqueues": [", ".join(s.enqueues) for s in rows],
            "flows": [", ".join(s.flows) for s in rows],
            "handler": [("async " if s.is_async else "def ") + ("(input, ctx)" if s.arity == 2 else "(input)" if s.arity == 1 else "()") for s in rows],
            "description": [s.description for s in rows],
            **(workers if any(workers["worker"]) else {}),
        }
    )


# re-exported for type checks elsewhere
TRIGGER_CLASSES = (StateTrigger, QueueTrigger, HttpTrigger, CronTrigger)
