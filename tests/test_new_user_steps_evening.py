"""A Motia user's evening with steps (found by trying it; the kernel cases are in
``test_new_user_steps_evening_kernel.py``).

- A handler (or an http trigger's condition) raising an exception whose ``str()`` fails itself (a
  ``__str__`` reading a field its ``__init__`` never set): motia_nb's report of the failure raised
  in turn, so the causing cell failed with a ``RuntimeError`` and a screen of motia_nb's frames,
  the cascade stopped, and an http call got no answer. It is the step's one failure now, named
  ``Weird: <exception str() failed>`` as Python's own tracebacks name it.
- A handler written with ``yield`` (``async def handler(data): ... yield``, a streaming habit) was
  registered and "ran" without its body ever running: calling it makes a generator nobody
  iterates (Motia's runtime only awaits a coroutine), so a queue step did nothing, silently, and
  a condition written so always held (a generator is truthy). Both are refused at definition.
- An http step whose condition is false answered 422 with ``{"error": {"code": "CONDITION_NOT_MET",
  "message": ...}, "skipped": true}`` when it was a notebook step and ``{"error": "condition not
  met", "step": ...}`` when it was a worker's on the kernel's endpoint; the engine (iii's rest_api
  worker, ``views.rs``) answers ``{"error": "Request condition not met", "skipped": true}`` for
  any step: both say that now, so code reading the body works on the engine too.
- A ``%%step`` cell whose step was renamed (``"A"`` → ``"B"``, same http route) failed when run
  again: ``step 'B': http route GET /orders is already served by step 'A'``, the cell's own
  previous step, which its re-run was about to drop; the user had to ``%motia remove A`` by hand.
  The cell's new step takes its old step's route over (another cell's step on it is still refused).
"""

from __future__ import annotations

import re

import pytest

from motia_nb import log_frame, trace_frame
from motia_nb.session import all_steps
from motia_nb.steps import StepConfigError
from motia_nb.testing import error_lines, run_cell


@pytest.fixture
def ip(steps_ip):
    steps_ip.run_cell("from motia_nb import request, enqueue, step, queue, http, state_manager")
    steps_ip.run_cell(
        "class Weird(Exception):\n"
        "    def __init__(self, code):\n"
        "        self.code = code\n"
        "    def __str__(self):\n"
        "        return f'{self.code}: {self.reason}'  # never set\n"
    )
    return steps_ip


def cell(ip, source: str):
    res = run_cell(ip, source)
    res.raise_error()
    return res.result


def test_a_handler_error_whose_str_fails_is_the_steps_failure_and_the_cascade_goes_on(ip, capsys):
    cell(ip, '@step({"name": "Weirdo", "triggers": [queue("weird")]})\n'
             'async def weirdo(d):\n'
             '    raise Weird(7)\n'
             'after = []\n'
             '@step({"name": "After", "triggers": [queue("weird")]})\n'
             'def after_step(d):\n'
             '    after.append(d)')
    capsys.readouterr()
    cell(ip, 'await enqueue({"topic": "weird", "data": 1})')
    err = capsys.readouterr().err
    assert err.startswith("✖ step 'Weirdo' failed (queue weird; trace "), err
    assert err.rstrip().endswith("Weird: <exception str() failed>"), err
    assert "motia_nb" not in err, err
    assert ip.user_ns["after"] == [1]  # the next subscriber still ran
    row = trace_frame().iloc[0]
    assert (row.step, row.status, row.error) == ("Weirdo", "error", "Weird: <exception str() failed>")
    assert log_frame(step="Weirdo").message.tolist()[-1] == "step failed: Weird: <exception str() failed>"


def test_an_http_step_or_condition_whose_error_str_fails_answers_500(ip, capsys):
    cell(ip, '@step({"name": "WeirdHttp", "triggers": [http("GET", "/weird")]})\n'
             'def weird_http(req):\n'
             '    raise Weird(1)\n'
             'def picky(req):\n'
             '    raise Weird(2)\n'
             '@step({"name": "WeirdCond", "triggers": [http("GET", "/cond", condition=picky)]})\n'
             'def weird_cond(req):\n'
             '    return {"status": 200, "body": "never"}')
    for path in ("/weird", "/cond"):  # the engine's body, {"error": str(e), "error_id"}, str(e) said as Python says it
        r = cell(ip, f'await request("GET", "{path}")')
        assert r["status"] == 500 and r["body"] == {"error": "<exception str() failed>", "error_id": r["body"]["error_id"]}, r
    err = capsys.readouterr().err
    assert "✖ condition of step 'WeirdCond' raised (http GET /cond; trace " in err and "motia_nb" not in err, err


GENERATOR = "is a generator function (it has `yield`): it is called once and what it returns is never iterated"


def test_a_step_file_whose_handler_yields_is_refused_in_its_cell(ip):
    lines = error_lines(ip, '%%step\n'
                            'from motia import queue\n'
                            'config = {"name": "Streamy", "triggers": [queue("s")], "enqueues": []}\n'
                            'async def handler(data, ctx):\n'
                            '    print("never runs")\n'
                            '    yield data\n')
    assert "StepConfigError" in lines[-1] and f"step 'Streamy': handler {GENERATOR}" in lines[-1], lines
    assert [s.name for s in all_steps()] == []


@pytest.mark.parametrize("source", [
    "def handler(data):\n    yield data",
    "import functools\ndef gen(prefix, data):\n    yield data\nhandler = functools.partial(gen, 'p')",
    "class Gen:\n    async def __call__(self, data):\n        yield data\nhandler = Gen()",
])
def test_a_yielding_handler_or_condition_is_refused_at_definition(ip, source):
    ip.user_ns.pop("handler", None)
    cell(ip, source)
    with pytest.raises(StepConfigError, match=re.escape(f"step 'Gen': handler {GENERATOR}")):
        cell(ip, 'step({"name": "Gen", "triggers": [queue("g")]})(handler)')
    with pytest.raises(StepConfigError, match=re.escape(f"condition {GENERATOR}")):
        cell(ip, 'step({"name": "GenCond", "triggers": [queue("g", condition=handler)]})(lambda d: None)')
    assert [s.name for s in all_steps()] == []


CONDITION_NOT_MET = {"status": 422, "body": {"error": "Request condition not met", "skipped": True}, "headers": {}}


def test_a_false_http_condition_answers_the_engines_422_for_a_notebook_step(ip):
    cell(ip, '@step({"name": "Picky", "triggers": [http("POST", "/picky", condition=lambda req: req.body.get("ok"))]})\n'
             'def picky(req): return {"status": 200, "body": "ran"}')
    assert cell(ip, 'await request("POST", "/picky", body={"ok": False})') == CONDITION_NOT_MET


def test_a_false_http_condition_answers_the_engines_422_for_a_workers_step(steps_ip):
    import json
    import threading

    from websockets.sync.client import connect

    from engine_helpers import frames
    from motia_nb import engine, request

    server = engine.serve(worker_timeout=10)
    try:
        ws = connect(server.url, max_size=None).__enter__()
        assert frames(ws)[0]["type"] == "workerregistered"
        for frame in ({"type": "registerfunction", "id": "raw::picky"}, {"type": "registerfunction", "id": "raw::cond"},
                      {"type": "registertrigger", "id": "t1", "trigger_type": "http", "function_id": "raw::picky",
                       "config": {"api_path": "wpicky", "http_method": "POST", "condition_function_id": "raw::cond"}}):
            ws.send(json.dumps(frame))
        assert "error" not in frames(ws)[0]
        out = {}
        t = threading.Thread(target=lambda: out.update(r=request.sync("POST", "/wpicky", body={"ok": False})))
        t.start()
        call = frames(ws)[0]
        assert call["function_id"] == "raw::cond"
        ws.send(json.dumps({"type": "invocationresult", "invocation_id": call["invocation_id"], "function_id": "raw::cond",
                            "result": False}))
        t.join(30)
        assert out["r"] == CONDITION_NOT_MET
        ws.close()
    finally:
        server.close()


RENAMED = """%%step
from motia import http
config = {{"name": "{name}", "triggers": [http("GET", "/orders")], "enqueues": []}}
def handler(req):
    return {{"status": 200, "body": "{name}"}}"""


def test_a_renamed_step_on_the_same_route_takes_its_cells_old_step_over(ip, capsys):
    assert ip.run_cell(RENAMED.format(name="ListOrders"), cell_id="cell-1").success
    capsys.readouterr()
    res = ip.run_cell(RENAMED.format(name="Orders"), cell_id="cell-1")  # the cell edited, run again
    assert res.success, res.error_in_exec
    assert capsys.readouterr().out == ("✓ step 'Orders' registered (http GET /orders)\n"
                                       "✓ step 'ListOrders' removed: this cell no longer defines it\n")
    assert [s.name for s in all_steps()] == ["Orders"]
    assert cell(ip, 'await request("GET", "/orders")')["body"] == "Orders"
    # another cell's step on that route is refused, as before, and nothing changes
    res = ip.run_cell(RENAMED.format(name="Other"), cell_id="cell-2")
    assert "http route GET /orders is already served by step 'Orders'" in str(res.error_in_exec)
    assert [s.name for s in all_steps()] == ["Orders"]
