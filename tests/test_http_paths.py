"""An http trigger's path without a leading slash, as Motia 1.0 takes it.

Motia's Python SDK strips the leading slashes of every http trigger's path before it
registers it (``motia/runtime.py``: ``api_path = trigger.path.lstrip("/")``), so a real
worker's ``api_path`` never has one; the iii engine keys a route by the path without
its leading slashes and gives axum the path with one put back
(``engine/src/workers/rest_api/api_core.rs``: ``normalize_http_path_for_key``,
``build_router_for_axum``). ``http("GET", "orders")`` and ``http("GET", "/orders")`` are
therefore the same route, served at ``/orders``; ``""`` and ``"/"`` are both the root.

A *request's* path is another matter: an HTTP request's path always starts with '/'
(axum routes on ``uri.path()``), so ``request("GET", "orders")`` stays refused, with the
reason and the path it meant.
"""

from __future__ import annotations

import uuid

import pytest

from motia_nb import engine, request, step
from motia_nb.session import get_step, reset_steps
from motia_nb.steps.config import parse_config
from motia_nb.steps.errors import StepCallError, StepConfigError
from motia_nb.testing import error_lines, run_cell


@pytest.mark.parametrize("written, served", [
    ("orders", "/orders"),
    ("/orders", "/orders"),
    ("orders/:id", "/orders/:id"),
    ("", "/"),
    ("/", "/"),
])
def test_an_http_path_with_or_without_a_leading_slash_is_the_engines_route(steps_ip, written, served):
    @step({"name": "Route", "triggers": [{"type": "http", "method": "GET", "path": written}]})
    def route(req):
        return {"status": 200, "body": {"params": dict(req.path_params)}}

    assert get_step("Route").triggers[0].path == served
    answer = request.sync("GET", served.replace(":id", "7"))
    assert answer["status"] == 200
    assert answer["body"] == {"params": {"id": "7"} if ":id" in written else {}}


def test_a_path_that_is_not_a_str_is_still_refused_in_one_line():
    with pytest.raises(StepConfigError) as exc:
        parse_config({"name": "A", "triggers": [{"type": "http", "method": "GET", "path": 3}]})
    assert str(exc.value) == "step 'A': trigger 0 (http) needs a 'path' that is a str (e.g. '/orders'), got 3"


STEP_FILE = '''%%step
from motia import http

config = {"name": "ListOrders", "triggers": [http("GET", "orders")]}

def handler(request):
    return {"status": 200, "body": ["o1"]}
'''


def test_a_step_file_with_http_get_orders_runs_as_under_motia(steps_ip):
    res = run_cell(steps_ip, STEP_FILE)
    res.raise_error()
    assert get_step("ListOrders").triggers[0].describe().startswith("http GET /orders")
    res = run_cell(steps_ip, 'from motia_nb import request\nawait request("GET", "/orders")')
    res.raise_error()
    assert res.result == {"status": 200, "body": ["o1"], "headers": {}}


@pytest.mark.parametrize("path, meant", [("orders", "/orders"), ("orders/1?x=2", "/orders/1?x=2")])
def test_a_request_path_without_a_slash_is_refused_with_the_reason_and_the_path_it_meant(path, meant):
    with pytest.raises(StepCallError) as exc:
        request.sync("GET", path)
    assert str(exc.value) == (
        f"request: path {path!r} must start with '/', as every HTTP request's path does: try {meant!r}"
    )


def test_the_request_magic_says_the_same_in_one_line(steps_ip):
    lines = error_lines(steps_ip, "%motia request GET orders")
    assert lines == [("\x1b[0;31mStepCallError\x1b[0m: request: path 'orders' must start with '/', "
                      "as every HTTP request's path does: try '/orders'")]


# A worker's http trigger (a raw iii frame): Motia's SDK sends ``api_path`` without the slash.
@pytest.mark.parametrize("api_path, served", [("orders", "/orders"), ("/orders", "/orders"), ("", "/")])
def test_a_workers_http_trigger_with_or_without_a_slash_is_served_at_the_slashed_path(api_path, served):
    import json

    from engine_helpers import frames
    from websockets.sync.client import connect

    server = engine.serve(worker_timeout=10)
    try:
        ws = connect(server.url, max_size=None).__enter__()
        frames(ws)  # workerregistered
        fid = f"raw::route-{uuid.uuid4().hex[:6]}"
        ws.send(json.dumps({"type": "registerfunction", "id": fid}))
        ws.send(json.dumps({"type": "registertrigger", "id": "t", "trigger_type": "http", "function_id": fid,
                            "config": {"api_path": api_path, "http_method": "GET"}}))
        ack = frames(ws)[0]
        assert ack["type"] == "triggerregistrationresult" and "error" not in ack, ack
        assert get_step(fid).triggers[0].path == served
        ws.close()
    finally:
        server.close()
        reset_steps()
