"""The http side of the runtime, pure: query parsing, route choice and the response check.

No I/O and no cascade here: :class:`~motia_nb.steps.runtime.Runtime.request`
uses these to pick the step and validate what its handler answered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import parse_qs
from typing import Any

from ..state.value_checks import find_json_problem
from .config import HttpTrigger
from .context import HttpResponse
from .registry import Step

__all__ = ["parse_query", "response_check", "choose_route", "not_found"]


def parse_query(raw: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters of ``raw`` (each a str, or a list of str when repeated), plus ``extra``."""
    out: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in parse_qs(raw, keep_blank_values=True).items()}
    for k, v in (extra or {}).items():
        if not isinstance(k, str):
            raise ValueError(f"request: query keys must be str, got {k!r}")
        out[k] = [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v)
    return out


def response_check(st: Step, response: HttpResponse | None = None) -> Callable[[Any], dict[str, Any]]:
    """A check turning a handler's answer into ``{"status", "body", "headers"}`` (TypeError when malformed,
    or when the body is not JSON, text or bytes);
    a handler that returns nothing answers with what it wrote through ``response`` (a streamed body)."""

    def check(r: Any) -> dict[str, Any]:
        if r is None and response is not None:
            streamed = response.streamed()
            if streamed is not None:
                return streamed
        if hasattr(r, "model_dump") and not isinstance(r, Mapping):  # Motia's ApiResponse
            r = r.model_dump()
        if isinstance(r, Mapping) and "status" not in r and "status_code" in r:
            r = {**r, "status": r["status_code"]}
        if not isinstance(r, Mapping) or "status" not in r:
            raise TypeError(f"http step {st.name!r} must return {{'status': int, 'body': ...}}, got {r!r}")
        status = r["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise TypeError(f"http step {st.name!r} returned status {status!r}; expected an int from 100 to 599")
        headers = r.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise TypeError(f"http step {st.name!r} returned headers {headers!r}; expected a dict")
        body = r.get("body")
        if body is not None and not isinstance(body, (str, bytes, bytearray)):
            problem = find_json_problem(body)  # the engine sends the body as JSON: a set or a datetime fails there
            if problem is not None:
                raise TypeError(f"http step {st.name!r} returned a body that is not JSON: {problem}")
        return {"status": status, "body": body, "headers": dict(headers)}

    return check


def choose_route(
    steps: list[Step], method: str, segments: tuple[str, ...]
) -> tuple[tuple[Step, HttpTrigger, dict[str, str]] | None, set[str]]:
    """The most specific route for ``method`` + ``segments`` (first registered wins a tie), and the
    methods other routes matching the path allow (for a 405)."""
    found: list[tuple[tuple[bool, ...], Step, HttpTrigger, dict[str, str]]] = []
    allowed: set[str] = set()
    for st in steps:
        for trig in st.of_type(HttpTrigger):
            params = trig.match(segments)
            if params is None:
                continue
            if trig.method == method:
                found.append((trig.specificity, st, trig, params))
            else:
                allowed.add(trig.method)
    if not found:
        return None, allowed
    found.sort(key=lambda f: f[0], reverse=True)  # stable: first registered wins a tie
    _, st, trig, params = found[0]
    return (st, trig, params), allowed


def not_found(method: str, path: str, allowed: set[str]) -> dict[str, Any]:
    """The 405 (path served with other methods) or 404 answer."""
    if allowed:
        return {
            "status": 405,
            "body": {"error": f"method {method} not allowed for {path}", "allowed": sorted(allowed)},
            "headers": {"allow": ", ".join(sorted(allowed))},
        }
    return {"status": 404, "body": {"error": f"no http step matches {method} {path}"}, "headers": {}}
