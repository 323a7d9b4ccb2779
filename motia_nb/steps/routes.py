"""The http side of the runtime, pure: query parsing, route choice and the response check.

No I/O and no cascade here: :class:`~motia_nb.steps.runtime.Runtime.request`
uses these to pick the step and validate what its handler answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from urllib.parse import SplitResult, parse_qsl, urlsplit
from typing import Any

from ..state.value_checks import find_json_problem
from .config import HTTP_METHODS, HttpTrigger, split_path
from .context import Headers, HttpResponse
from .errors import StepCallError
from .registry import Step

__all__ = ["json_client", "invocation_error", "parse_query", "request_args", "response_check", "http_status", "engine_status", "header_values_check", "choose_route", "not_found", "no_route_line"]


def parse_query(raw: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters of ``raw`` (each a str), plus ``extra``.

    The engine reads a query into a map of one str per key (``Query<HashMap<String, String>>``
    in ``rest_api/views.rs``): a repeated key keeps only its last value, without a word. A key
    given several values (repeated in ``raw``, or a list in ``extra``) is refused instead."""
    out: dict[str, Any] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        if k in out:
            values = [x for key, x in parse_qsl(raw, keep_blank_values=True) if key == k]
            raise ValueError(
                f"request: query {k!r} is given {len(values)} values in the path ({', '.join(map(repr, values))});"
                f" the engine keeps only the last ({values[-1]!r}): send one value per key (or join them, e.g."
                f" {','.join(values)!r})"
            )
        out[k] = v
    for k, v in (extra or {}).items():
        if not isinstance(k, str):
            raise ValueError(f"request: query keys must be str, got {k!r}")
        if isinstance(v, (list, tuple)):
            raise ValueError(
                f"request: query {k!r} is a {type(v).__name__} ({v!r}); the engine gives a step one str per query key"
                " (a repeated key keeps only its last value): send one value (or join them with ',')"
            )
        if k in out:  # sent as ?k=..&k=..: a repeated key too
            raise ValueError(
                f"request: query {k!r} is given in the path ({out[k]!r}) and in query= ({v!r}); the engine keeps only"
                " the last: give it once"
            )
        out[k] = str(v) if v is not None else v
    return out


def response_check(st: Step, response: HttpResponse | None = None) -> Callable[[Any], dict[str, Any]]:
    """A check turning a handler's answer into ``{"status", "body", "headers"}`` (TypeError when malformed,
    or when the body is not JSON, text or bytes);
    a handler that returns nothing answers with what it wrote through ``response`` (a streamed body)."""

    def check(r: Any) -> dict[str, Any]:
        if r is None and response is not None:
            streamed = response.streamed()
            if streamed is not None:  # what set_status / set_headers sent, read as the engine reads them
                code = streamed["status"]
                if not engine_status(code):
                    raise TypeError(
                        f"http step {st.name!r} sent status {code!r} through response.status(); expected an int"
                        " from 100 to 599 (the engine ignores any other and answers 200)"
                    )
                header_values_check(f"http step {st.name!r}", streamed["headers"])
                return streamed
        if hasattr(r, "model_dump") and not isinstance(r, Mapping):  # Motia's ApiResponse
            r = r.model_dump()
        if isinstance(r, Mapping) and "status_code" in r:  # Motia's runtime reads status_code first
            r = {**r, "status": r["status_code"]}
        if not isinstance(r, Mapping):
            # Motia's runtime answers only a dict; for anything else it writes no response and
            # the engine's request waits for one that never comes: refused here instead
            raise TypeError(f"http step {st.name!r} must return {{'status': int, 'body': ...}}, got {r!r}")
        status = http_status(st.name, r.get("status", 200))  # Motia's runtime: a missing status is 200
        headers = r.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise TypeError(f"http step {st.name!r} returned headers {headers!r}; expected a dict")
        header_values_check(f"http step {st.name!r}", headers)
        body = r.get("body")
        if body is not None and not isinstance(body, (str, bytes, bytearray)):
            problem = find_json_problem(body)  # the engine sends the body as JSON: a set or a datetime fails there
            if problem is not None:
                raise TypeError(f"http step {st.name!r} returned a body that is not JSON: {problem}")
        return {"status": status, "body": body, "headers": dict(headers)}

    return check


def engine_status(code: Any) -> bool:
    """Whether the engine keeps ``code`` as the answer's status (an int from 100 to 599, not a bool;
    it answers 200 for any other)."""
    return isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599


def http_status(step: str, status: Any) -> int:
    """A handler's ``status`` as Motia's Python runtime sends it (``int(status)``: ``"201"`` and
    ``201.0`` are 201); one the engine would ignore (out of 100-599: it answers 200) is refused."""
    if isinstance(status, str):
        try:
            status = int(status)
        except ValueError:  # the runtime's int() raises: the handler fails
            raise TypeError(f"http step {step!r} returned status {status!r}; expected an int from 100 to 599") from None
    elif isinstance(status, float) and status.is_integer():
        status = int(status)
    if not engine_status(status):
        raise TypeError(
            f"http step {step!r} returned status {status!r}; expected an int from 100 to 599"
            " (the engine ignores any other and answers 200)"
        )
    return status


def header_values_check(who: str, headers: Mapping[Any, Any]) -> None:
    """The engine keeps only response headers whose value is a str (``set_headers``: it drops a
    number, a list or null without a word): refused here, naming the header."""
    for k, v in headers.items():
        if not isinstance(v, str):
            fix = "join its values with ', '" if isinstance(v, (list, tuple)) else "send it as a str"
            raise TypeError(
                f"{who} returned header {k!r} = {v!r}; the engine drops a header whose value is not a str: {fix}"
            )


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
    """The 405 (path served with other methods) or 404 answer, as the engine's router gives them.

    The engine's routes are axum method routers: a path served with other methods answers 405
    with no body and an ``allow`` header listing them comma-separated (a GET route also allows
    HEAD). A HEAD request on a GET route reaches the engine's handler, which finds no HEAD route
    for the path and answers 404 with the text ``Not Found`` (iii 0.9's ``rest_api/views.rs``,
    ``get_router`` by method and path). A path no route matches is axum's own 404: no body."""
    if method == "HEAD" and "GET" in allowed:
        return {"status": 404, "body": "Not Found", "headers": {}}
    if allowed:
        methods = allowed | {"HEAD"} if "GET" in allowed else allowed
        return {"status": 405, "body": None, "headers": {"allow": ",".join(sorted(methods))}}
    return {"status": 404, "body": None, "headers": {}}


def no_route_line(steps: list[Step], method: str, path: str, shown: int = 6) -> str:
    """What the cell is told when no route serves ``path`` (the answer itself is the engine's bare
    404): the http routes there are, so a typo is seen at once."""
    routes = sorted({f"{t.method} {t.path}" for st in steps for t in st.of_type(HttpTrigger)})
    there = ", ".join(routes[:shown]) + (f" (and {len(routes) - shown} more)" if len(routes) > shown else "")
    return f"request {method} {path}: no http step serves this path (404); " + (
        f"http routes: {there}" if routes else "no step has an http trigger")


def json_client(method: str, path: str, headers: Headers, body: Any) -> tuple[Headers, Any, str | None]:
    """The headers a step sees and the body it gets, as the engine gives them for ``request()``,
    and a line for the cell when that body is surely not what the caller meant.

    ``request()`` is a JSON client (as fetch's and requests' ``json=``): a body given without a
    content-type is sent with ``content-type: application/json``. The engine parses the body as
    JSON only when the request's content-type contains ``application/json`` (case-sensitive;
    ``rest_api/views.rs``); under any other the step's ``body`` is null and the raw bytes go to
    ``request_body``, and so here. A structured body (not a str) under such a type, or a JSON type
    written in other letters, is surely a slip: the line says why ``body`` is None."""
    if body is None:
        return headers, None, None
    if "content-type" not in headers:
        return Headers({**headers, "content-type": "application/json"}), body, None
    ct = headers["content-type"]
    if "application/json" in ct:
        return headers, body, None
    note = None
    if not isinstance(body, str) or "application/json" in ct.lower():
        note = (f"request {method} {path}: content-type {ct!r} does not contain 'application/json', so the step's body"
                " is None (the engine parses a body as JSON only then); the body's bytes are in request_body")
    return headers, None, note


def invocation_error(exc: BaseException) -> dict[str, Any]:
    """The 500 the engine answers when the step's (or its condition's) function fails.

    iii-sdk 0.9 answers a handler that raises with ``{"code": "invocation_failed", "message":
    str(e)}`` (``iii.py`` ``_handle_invoke``), and the engine turns an invocation error into 500
    ``{"error": err.message, "error_id": generate_error_id()}`` (``views.rs``; the id, which the
    engine's log line carries too, is its clock's nanoseconds & 0xFFFFFFFFFFFF in lower-case hex).
    A worker step's error carries the worker's own message (``engine_error``)."""
    message = getattr(exc, "engine_error", None)
    if not isinstance(message, str):
        try:
            message = str(exc)
        except Exception:  # noqa: BLE001 - a user's __str__ that fails
            message = "<exception str() failed>"
    return {"status": 500, "body": {"error": message, "error_id": format(time.time_ns() & 0xFFFFFFFFFFFF, "x")},
            "headers": {}}


def condition_not_met() -> dict[str, Any]:
    """The 422 the engine answers when an http trigger's condition is false (iii's rest_api
    worker, ``views.rs``), for a notebook step and a worker's alike."""
    return {"status": 422, "body": {"error": "Request condition not met", "skipped": True}, "headers": {}}


#: request() header / query values that would reach the handler as their Python repr
_NOT_TEXT = (Mapping, set, frozenset, bytes, bytearray)


def _article(name: str) -> str:
    return ("an " if name[:1] in "aeiou" else "a ") + name


def request_args(
    method: Any, path: Any, headers: Any, query: Any
) -> "tuple[str, SplitResult, tuple[str, ...], dict[str, Any], Headers]":
    """``request()``'s arguments checked as the engine's HTTP worker would take them (each
    refusal one :class:`StepCallError` line): the method upper-cased, the path split (its
    segments as written, percent-escapes kept, as the engine passes them), the query parameters
    and the headers."""
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise StepCallError(f"request: method must be one of {', '.join(HTTP_METHODS)}, got {method!r}")
    if not isinstance(path, str):
        raise StepCallError(f"request: path must be a str starting with '/', got {path!r}")
    if not path.startswith("/"):  # a route may be declared without it; a request's path never is
        raise StepCallError(
            f"request: path {path!r} must start with '/', as every HTTP request's path does: try {'/' + path!r}"
        )
    method = method.upper()
    parts = urlsplit(path)
    # as the engine: axum routes on the raw path and its path params are the raw segments
    # (rest_api/views.rs extract_path_params on uri.path()): "/orders/o%201" gives id "o%201"
    segs = tuple(split_path(parts.path))
    for what, given, keys in (("headers", headers, "names"), ("query", query, "keys")):
        if given is not None and not isinstance(given, Mapping):
            hint = f"; put a query string in the path: {parts.path + '?' + given!r}" if what == "query" and isinstance(given, str) else ""
            raise StepCallError(f"request: {what} must be a dict of str {keys}, got {_article(type(given).__name__)} ({given!r}){hint}")
    try:
        qp = parse_query(parts.query, query)
        hdrs = Headers(headers)
    except (TypeError, ValueError) as e:  # a key that is not a str
        raise StepCallError(f"request: {str(e).removeprefix('request: ')}") from None
    for what, given in (("header", headers), ("query", query)):
        # the engine hands a step strings only (its request's headers and query are maps of
        # str): None would reach the handler as the text "None"
        for k, v in (given or {}).items():
            if v is None:
                raise StepCallError(
                    f"request: {what} {k!r} is None; a {what}'s value is a str (leave {k!r} out to send no such {what})"
                )
            # nor a container or bytes, which would reach it as their Python repr ("{'id': 1}")
            if isinstance(v, (*_NOT_TEXT, list, tuple)):
                kind = type(v).__name__
                fix = {"list": "join its values with ', ' to send several", "tuple": "join its values with ', ' to send several",
                       "bytes": "decode it", "bytearray": "decode it"}.get(kind, "json.dumps(...) it to send it as JSON")
                raise StepCallError(
                    f"request: {what} {k!r} is {_article(kind)} ({v!r}); a {what}'s value is a str (a number is sent as its text): {fix}"
                )
    return method, parts, segs, qp, hdrs
