"""Motia's trigger helpers (``state``, ``queue``, ``http``, ``api``, ``cron``, ``stream``) and cron validation.

Each helper returns the trigger as a plain dict, with Motia's keyword
arguments; :func:`~motia_nb.steps.config.parse_config` turns them into typed
triggers.
"""

from __future__ import annotations

import json
import re

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from cronsim import CronSim, CronSimError

from .cronspec import CronSpecError, parse_engine_cron
from .errors import StateHelperError, StepConfigError

__all__ = ["state", "queue", "http", "api", "cron", "stream", "validate_cron"]


class _StateHelper:
    """A state trigger: ``{"type": "state", "condition": condition}``.

    The step runs for every committed change for which ``condition(event)`` (or
    ``condition(event, ctx)``) is truthy; with no condition, for every change.
    """

    __name__ = __qualname__ = "state"

    def __call__(self, condition: Callable[..., Any] | None = None, **extra: Any) -> dict[str, Any]:
        if extra:  # `state(cond, scope="orders")`: Motia's helper takes only condition; the dict holds the rest
            got = ", ".join(f"{k}={v!r}" for k, v in extra.items())
            fields = "".join(f", {json.dumps(k)}: {json.dumps(v) if isinstance(v, str) else repr(v)}" for k, v in extra.items())
            cond = ', "condition": ...' if condition is not None else ""
            raise StepConfigError(
                f"state() takes only condition (as Motia's state() helper), got {got}: a state trigger for one group "
                f'or key is the dict {{"type": "state"{fields}{cond}}}'
            )
        trig: dict[str, Any] = {"type": "state"}
        if condition is not None:
            trig["condition"] = condition
        return trig

    def __getattr__(self, name: str) -> Any:
        # `state.set(...)`: the trigger helper taken for the state API (a plain function said only
        # "'function' object has no attribute 'set'")
        if name.startswith("_"):
            raise AttributeError(name)
        raise StateHelperError(
            "'state' is the state trigger helper (state(condition=...) in a step's triggers), not the state API: "
            f"write await state_manager.{name}(...) (from motia_nb import state_manager), or stateManager.{name}(...) "
            "in a Motia step file (from motia import stateManager)"
        )

    def __repr__(self) -> str:
        return "<state trigger helper: state(condition=None)>"


state = _StateHelper()
state.__module__ = __name__


def queue(topic: str, *, input: Any = None, config: Any = None, condition: Callable[..., Any] | None = None) -> dict[str, Any]:
    """A queue trigger ``{"type": "queue", "topic": topic}`` (fed by ``enqueue``).

    As Motia's ``queue()``: ``input`` is a schema for the data (a pydantic model
    or a JSON Schema, checked before a Motia-style handler runs), ``config`` the
    queue settings (kept; motia_nb runs steps inline, without retries),
    ``condition(data, ctx)`` decides whether the step runs.
    """
    trig: dict[str, Any] = {"type": "queue", "topic": topic}
    for k, v in (("input", input), ("config", config), ("condition", condition)):
        if v is not None:
            trig[k] = v
    return trig


def http(
    method: str,
    path: str,
    *,
    body_schema: Any = None,
    response_schema: Any = None,
    query_params: Any = None,
    middleware: Any = None,
    condition: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """An http trigger ``{"type": "http", "method": method, "path": path}``; ``:id`` segments are params.

    As in Motia, ``"orders"`` and ``"/orders"`` are the same route, ``/orders``.

    The keyword arguments are Motia's: schemas and query params are kept as
    metadata, ``middleware`` runs around a Motia-style handler, and a request
    for which ``condition(request, ctx)`` is false is answered 422 (as the engine).
    """
    trig: dict[str, Any] = {"type": "http", "method": method, "path": path}
    for k, v in (("body_schema", body_schema), ("response_schema", response_schema), ("query_params", query_params),
                 ("middleware", middleware), ("condition", condition)):
        if v is not None:
            trig[k] = v
    return trig


def api(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """Motia's deprecated name for :func:`http`."""
    return http(method, path, **kwargs)


def cron(expression: str, *, condition: Callable[..., Any] | None = None) -> dict[str, Any]:
    """A cron trigger ``{"type": "cron", "expression": expression}``, validated now.

    5 fields (minute first, local time), or 6/7 fields with seconds first and an
    optional year as the engine reads them (UTC). ``condition(input, ctx)`` is
    checked before each run.
    """
    validate_cron(expression)
    trig: dict[str, Any] = {"type": "cron", "expression": expression}
    if condition is not None:
        trig["condition"] = condition
    return trig


def stream(
    stream_name: str,
    *,
    group_id: str | None = None,
    item_id: str | None = None,
    condition: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """A stream trigger: runs for each change of stream ``stream_name`` (optionally one group / item)."""
    trig: dict[str, Any] = {"type": "stream", "stream_name": stream_name}
    for k, v in (("group_id", group_id), ("item_id", item_id), ("condition", condition)):
        if v is not None:
            trig[k] = v
    return trig


def validate_cron(expression: Any, where: str = "cron") -> str:
    """Check a cron expression; return it with single spaces, or raise StepConfigError.

    5 fields are read by cronsim (minute hour day-of-month month day-of-week);
    6 or 7 fields (and ``@daily``…) as the engine's cron crate reads them.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise StepConfigError(f"{where}: the cron expression must be a non-empty str, got {expression!r}")
    expr = " ".join(expression.split())
    first, last = expr.split(" ")[0], expr.split(" ")[-1]
    zone = (f"a time zone prefix ({first.split('=')[0]}=)" if first.upper().startswith(("CRON_TZ=", "TZ="))
            else f"a time zone ({last})" if re.fullmatch(r"[A-Za-z]+/[A-Za-z_/+-]+|UTC|GMT", last) else None)
    if zone:  # cron(8)'s CRON_TZ=, or a zone written after the fields: neither reader takes one
        raise StepConfigError(
            f"{where}: bad cron expression {expression!r}: {zone} is not read: "
            "a 5-field expression runs in the kernel's local time, 6/7 fields (seconds first) in UTC, as the engine"
        )
    n = len(expr.split(" "))
    if n in (6, 7) or expr.startswith("@"):
        try:
            spec = parse_engine_cron(expr)
        except (CronSpecError, ValueError) as e:  # ValueError: a number of more than 4,300 digits (int() refuses it)
            hint = ""
            if n == 6 and isinstance(e, CronSpecError):  # written minute first, plus a year or a trailing field?
                hint = (" (6 fields are read seconds first, as the engine does: second minute hour day-of-month month"
                        " day-of-week; minute first is 5 fields)")
            raise StepConfigError(f"{where}: bad cron expression {expression!r}: {e}{hint}") from None
        if spec.next_after(datetime.now(timezone.utc)) is None:  # its years are all past
            raise StepConfigError(
                f"{where}: bad cron expression {expression!r}: the expression never fires again "
                f"(its last year, {max(spec.years)}, has passed)"
            )
        return expr
    if n != 5:
        raise StepConfigError(
            f"{where}: bad cron expression {expression!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week) or 6/7 fields (second first, optional year), got {n}"
        )
    try:
        CronSim(expr, datetime(2000, 1, 1))
    except CronSimError as e:
        raise StepConfigError(f"{where}: bad cron expression {expression!r}: {_five_field_error(expr, str(e))}") from None
    except ValueError as e:  # a number of more than 4,300 digits: int() refuses it before cronsim can
        raise StepConfigError(f"{where}: bad cron expression {expression!r}: {e}") from None
    return expr


#: what cronsim's "Bad <field>" means, said after it
_FIELD_RANGES = {
    "minute": "a minute is 0-59", "hour": "an hour is 0-23", "day-of-month": "a day-of-month is 1-31",
    "month": "a month is 1-12 or JAN-DEC", "day-of-week": "a day-of-week is 0-7 or SUN-SAT, 0 and 7 are Sunday",
}


def _five_field_error(expr: str, message: str) -> str:
    """cronsim's message for a 5-field ``expr``, saying the fields' ranges, or that a date that
    exists in no month it names (``31 4``, ``30 2``) never fires (cronsim says "Bad day-of-month")."""
    field = message.removeprefix("Bad ")
    if field == "day-of-month":
        _, _, dom, month, _ = expr.split(" ")
        try:  # each field is fine alone: only the pair never happens
            CronSim(f"0 0 {dom} * *", datetime(2000, 1, 1))
            CronSim(f"0 0 1 {month} *", datetime(2000, 1, 1))
        except CronSimError:
            pass
        else:
            return "the expression never fires (no month it names has that day)"
    return f"{message} ({_FIELD_RANGES[field]})" if field in _FIELD_RANGES else message
