"""Cascade bookkeeping (ContextVars), the handler's ``ctx`` and the http request object.

A *cascade* is everything one causing call (a write, ``enqueue``, ``request``,
``run_cron``) sets off, directly or through the steps it triggers in turn. Its
trace id and the causal chain of step names travel in a ContextVar, so they
follow the code through ``await``, through the sync API (which runs in a copy
of the caller's context) and into the threads that run plain ``def`` handlers.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .logs import StepLogger

__all__ = ["Frame", "current_frame", "FlowContext", "HttpRequest", "Headers"]


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


class FlowContext:
    """The ``ctx`` a handler may take as its second argument.

    ``trace_id`` (shared by every step of one cascade), ``trigger`` (a dict:
    ``type`` plus ``topic`` / ``method`` and ``path`` / ``expression`` /
    ``event_type`` …), ``step`` (the step's name), ``flows``, and for code written
    in Motia's older style ``state`` (the async state manager), ``enqueue`` /
    ``emit`` and ``logger``.
    """

    def __init__(
        self,
        *,
        trace_id: str,
        step: str,
        trigger: dict[str, Any],
        flows: list[str],
        logger: "StepLogger",
        state_manager: Any = None,
        enqueue: Any = None,
    ) -> None:
        self.trace_id = trace_id
        self.step = step
        self.trigger = trigger
        self.flows = list(flows)
        self.logger = logger
        self.state = state_manager
        self.state_manager = state_manager
        self.enqueue = enqueue
        self.emit = enqueue

    @property
    def step_name(self) -> str:
        return self.step

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def __repr__(self) -> str:
        return f"FlowContext(step={self.step!r}, trace_id={self.trace_id!r}, trigger={self.trigger!r})"


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


class HttpRequest(Mapping[str, Any]):
    """The input of an http step: attribute *and* item access.

    ``method``, ``path``, ``body``, ``path_params``, ``query_params`` (each value a
    str, or a list of str when repeated), ``headers`` (case-insensitive).
    ``request.request`` is the request itself, so Motia 1.x handlers written as
    ``input.request.body`` / ``input["request"]["body"]`` work unchanged.
    """

    _FIELDS = ("method", "path", "body", "path_params", "query_params", "headers")

    def __init__(
        self,
        method: str,
        path: str,
        body: Any,
        path_params: dict[str, str],
        query_params: dict[str, Any],
        headers: Headers,
    ) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.path_params = path_params
        self.query_params = query_params
        self.headers = headers

    @property
    def request(self) -> "HttpRequest":
        return self

    def __getitem__(self, name: str) -> Any:
        if name in self._FIELDS or name == "request":
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
