"""The step registry, keyed by step name: running a cell again replaces its step.

A replaced step keeps its place in the registration order (the order in which
steps that share a trigger run).
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import CronTrigger, HttpTrigger, ParsedConfig, QueueTrigger, StateTrigger, Trigger, call_arity, parse_config
from .errors import StepConfigError, StepNotFoundError
from .reporting import say

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Step", "StepRegistry", "CELL_SOURCES"]

#: how steps defined in a notebook cell are registered (a worker's are ``worker:<name>``)
CELL_SOURCES = frozenset({"decorator", "%%step", "register"})


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
    #: the %%step cell that defined it (a ``notebook.step_cells.StepCell``), if any: what ``%motia export`` writes
    cell: Any = field(default=None, repr=False, compare=False)

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


def check_step_call(config: Any, kwargs: dict[str, Any]) -> None:
    """``@step`` written bare (the handler taken for the config) or with keyword arguments: say how
    to write it (``StepConfigError``)."""
    if kwargs:
        name = kwargs.get("name")
        shown = json.dumps(name) if isinstance(name, str) else "..."
        raise StepConfigError(
            f'step() takes the config as one dict, not keyword arguments: write @step({{"name": {shown}, "triggers": [...]}})'
        )
    if inspect.isfunction(config) or inspect.ismethod(config):
        raise StepConfigError(
            f'@step needs the step\'s config: write @step({{"name": ..., "triggers": [...]}}) above def {config.__name__}(...)'
        )


class StepRegistry:
    """A session's steps, keyed by name, in registration order (thread-safe).

    Listeners added with :meth:`on_change` run after every registration,
    replacement or removal (the runtime uses it to install or remove its state
    dispatcher).
    """

    def __init__(self) -> None:
        self._steps: dict[str, Step] = {}
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        #: the names the notebook cell running now has defined (None outside a cell run)
        self._this_run: set[str] | None = None
        #: the steps the running cell's previous run defined (its own, to be replaced)
        self._run_owned: dict[str, Step] = {}
        self._run_taken: set[str] = set()

    def begin_cell_run(self, owned: Mapping[str, Step] | None = None) -> None:
        """A notebook cell starts running: a step name it defines twice is refused until :meth:`end_cell_run`.

        ``owned``: the steps the cell's previous run defined; a step this run defines on one of
        their http routes takes the route over (the cell was edited: ``"A"`` renamed ``"B"``)."""
        self._this_run = set()
        self._run_owned = dict(owned or {})
        self._run_taken: set[str] = set()

    def end_cell_run(self) -> set[str]:
        """The cell run ended; returns the names of its previous run's steps whose routes it took over."""
        self._this_run = None
        self._run_owned = {}
        taken, self._run_taken = getattr(self, "_run_taken", set()), set()
        return taken

    def on_change(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` whenever a step is registered, replaced or removed."""
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    def register(self, config: Any, handler: Callable[..., Any], source: str = "register") -> tuple[Step, bool]:
        """Validate and register a step; returns ``(step, replaced)``.

        Raises StepConfigError (nothing registered) for a bad config, a handler that
        cannot take ``(input)`` or ``(input, ctx)``, or an http route that another
        step already serves.
        """
        parsed = parse_config(config)
        arity = call_arity(handler, f"step {parsed.name!r}: handler")
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None))
        new = Step(parsed.name, parsed, handler, arity, is_async, source, list(parsed.triggers))
        with self._lock:
            this_run = self._this_run if source in CELL_SOURCES else None
            if this_run is not None and new.name in this_run:
                # a step's name is its identity (Motia names its functions steps::<name>::...): a copied
                # step whose name was not changed would silently replace the first
                raise StepConfigError(
                    f"step {new.name!r} is defined twice in this cell; give each step its own name "
                    "(the first definition stands)"
                )
            taken_over: list[str] = []  # the running cell's own steps of its previous run, on the new one's routes
            for trig in new.of_type(HttpTrigger):
                for other in self._steps.values():
                    if other.name == new.name or other.name in taken_over:
                        continue
                    for ot in other.of_type(HttpTrigger):
                        if ot.shape != trig.shape:
                            continue
                        if this_run is not None and other.name not in this_run and self._run_owned.get(other.name) is other:
                            taken_over.append(other.name)  # this cell defined it, and now defines the route anew
                            break
                        raise StepConfigError(
                            f"step {new.name!r}: http route {trig.method} {trig.path} is already served by step "
                            f"{other.name!r} ({ot.method} {ot.path}); remove that step or change the path"
                        )
            for name in taken_over:
                del self._steps[name]
                self._run_taken.add(name)
            old = self._steps.get(new.name)
            replaced = old is not None
            self._steps[new.name] = new  # a dict keeps the old position on replacement
            if this_run is not None:
                this_run.add(new.name)
        if source in CELL_SOURCES:
            for line in parsed.unread:
                say(f"⚠ {line}")
        if old is not None and old.source.startswith("worker:") and source in CELL_SOURCES:
            say(f"⚠ step {new.name!r} was worker {old.source.removeprefix('worker:')}'s: the notebook's takes its place "
                "(the worker's runs no more while the notebook defines it)")
        self._changed()
        return new, replaced

    def step(self, config: Any = None, /, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@step(config)`` registers the handler below it (and returns it unchanged).

        The config is validated now: a bad one raises StepConfigError when the cell runs.
        """
        check_step_call(config, kwargs)
        parse_config(config)  # fail at the decorator line already

        def deco(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.register(config, handler, source="decorator")
            return handler

        return deco

    def _missing(self, name: str) -> StepNotFoundError:
        return StepNotFoundError(f"no step named {name!r} (registered: {', '.join(self._steps) or 'none'})")

    def remove(self, name: str) -> Step:
        """Unregister a step by name; returns it. StepNotFoundError if there is none."""
        with self._lock:
            try:
                st = self._steps.pop(name)
            except (KeyError, TypeError):  # TypeError: an unhashable name (a list) names no step either
                raise self._missing(name) from None
        self._changed()
        return st

    def get(self, name: str) -> Step:
        """The step called ``name``; StepNotFoundError if there is none."""
        with self._lock:
            try:
                return self._steps[name]
            except (KeyError, TypeError):  # TypeError: an unhashable name (a list) names no step either
                raise self._missing(name) from None

    def all(self) -> list[Step]:
        """Registered steps in registration order."""
        with self._lock:
            return list(self._steps.values())

    def with_trigger(self, cls: type) -> list[Step]:
        """Registered steps that have a trigger of type ``cls``, in registration order."""
        return [s for s in self.all() if s.of_type(cls)]

    def reset(self) -> None:
        """Unregister every step."""
        with self._lock:
            self._steps.clear()
        self._changed()

    def frame(self, flow: str | None = None) -> "pd.DataFrame":
        """The registered steps as a DataFrame (name, triggers, enqueues, flows, handler, description)."""
        import pandas as pd

        rows = [s for s in self.all() if flow is None or flow in s.flows]
        # worker steps (registered by motia_nb.engine) carry source "worker:<name>"
        workers = {"worker": [s.source[7:] if s.source.startswith("worker:") else "" for s in rows]}
        return pd.DataFrame(
            {
                "name": [s.name for s in rows],
                "triggers": [", ".join(t.describe() for t in s.triggers) for s in rows],
                "enqueues": [", ".join(s.enqueues) for s in rows],
                "flows": [", ".join(s.flows) for s in rows],
                "handler": [_handler_shape(s) for s in rows],
                "description": [s.description for s in rows],
                **(workers if any(workers["worker"]) else {}),
            }
        )


def _handler_shape(s: Step) -> str:
    return ("async " if s.is_async else "def ") + ("(input, ctx)" if s.arity == 2 else "(input)" if s.arity == 1 else "()")


# re-exported for type checks elsewhere
TRIGGER_CLASSES = (StateTrigger, QueueTrigger, HttpTrigger, CronTrigger)
