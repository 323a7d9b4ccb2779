"""``motia.tracing`` for the stand-in: Motia's tracing helpers as real ``motia`` has them without
OpenTelemetry (its documented fallback: every function a no-op). A notebook has no trace
exporter; a step file that opens a span (``with tracing.operation_span("charge") as span:``)
runs, its span is None, and ``ctx.trace_id`` still names the trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "HAS_OTEL", "get_tracer", "extract_parent_context", "inject_context", "get_trace_id_from_span", "step_span",
    "operation_span", "record_exception", "set_span_ok", "instrument_bridge",
]  # fmt: skip

HAS_OTEL = False


def get_tracer() -> Any:
    """The tracer: None (no OpenTelemetry)."""
    return None


def extract_parent_context(traceparent: str | None, baggage: str | None = None) -> Any:
    return None


def inject_context() -> dict[str, str]:
    return {}


def get_trace_id_from_span() -> str | None:
    return None


@contextmanager
def step_span(step_name: str, trigger_type: str, **attributes: Any) -> Iterator[Any]:
    yield None


@contextmanager
def operation_span(operation: str, **attributes: Any) -> Iterator[Any]:
    yield None


def record_exception(span: Any, exc: Exception) -> None:
    return None


def set_span_ok(span: Any) -> None:
    return None


def instrument_bridge(bridge_instance: Any) -> None:
    return None
