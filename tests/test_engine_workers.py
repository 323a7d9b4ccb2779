"""Real workers on the kernel's engine endpoint: nothing mocked.

- ``motia run`` from PyPI's motia 1.0.4rc1 on iii-sdk 0.9.0 (``.venv-worker``), on the
  Motia 1.0 step files in tests/workers/motia_steps/;
- a bare Python worker on iii-sdk 0.25 (``.venv-iii``, tests/workers/iii_worker.py);
- a Node worker on npm's iii-sdk (tests/workers/node/worker.mjs).

``make test`` builds them first (``make workers``); without them these tests skip
with the reason, and fail under CI=true.
"""

from __future__ import annotations

import asyncio

import pytest

from engine_helpers import MOTIA_STEPS, has_step, key, notebook_steps, start_motia, wait_for, worker_with_steps  # noqa: F401 (fixture)
from motia_nb import engine, enqueue, request, state_manager, step, steps_frame, trace_frame
from motia_nb.session import get_step, reset_steps

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def motia(tmp_path_factory):
    """One endpoint with a real ``motia run`` worker connected to it."""
    server = engine.serve(worker_timeout=30)
    proc = start_motia(server.url, tmp_path_factory.mktemp("motia"))
    try:
        # its steps, then its name (the SDK sends engine::workers::register after replaying registrations)
        ready = lambda: (w := worker_with_steps(server, MOTIA_STEPS)) is not None and w["runtime"] is not None  # noqa: E731
        wait_for(lambda: ready() or proc.p.poll() is not None, what="motia run to register")
        assert proc.p.poll() is None, proc.output()
        yield server, proc
    finally:
        proc.stop()
        server.close()
        reset_steps()




def test_motia_run_connects_and_its_steps_show_with_their_worker(motia):
    server, proc = motia
    (w,) = server.workers  # its telemetry connection, if any, is not a second worker
    assert w["runtime"] == "python" and w["pid"] == proc.p.pid
    assert MOTIA_STEPS <= set(w["steps"])
    frame = steps_frame().set_index("name")
    assert frame.loc["ShipOrder", "worker"] == w["name"]
    assert frame.loc["ShipOrder", "triggers"] == "queue order.paid"
    assert frame.loc["ShipOrder", "enqueues"] == "order.shipped"
    assert frame.loc["OrderStatus", "triggers"] == "http GET /orders/:id/status"
    assert frame.loc["OrderAudit", "flows"] == "orders"


def test_a_cell_write_fires_the_workers_state_step_and_waits_for_it(motia, capsys):
    k = key()
    state_manager.sync.set("orders", k, {"total": 42})
    # inline: the worker's own write (through state::set) is there when the cell's write returns
    assert state_manager.sync.get("audit", k) == {"event": "state:created", "total": 42, "by": "OrderAudit"}
    assert "↳ worker step 'OrderAudit' on " in capsys.readouterr().out
    state_manager.sync.set("not-orders", k, 1)  # the worker's condition is false: no audit
    assert state_manager.sync.get("audit", k)["total"] == 42


def test_the_async_api_from_another_loop_waits_for_the_worker_too(motia):
    k = key()

    async def cell():
        await state_manager.set("orders", k, {"total": 7})
        return await state_manager.get("audit", k)

    assert asyncio.run(cell()) == {"event": "state:created", "total": 7, "by": "OrderAudit"}


def test_a_workers_write_fires_notebook_steps(motia, notebook_steps):
    k = key()
    seen = []

    @step({"name": "SeesAudit", "triggers": [{"type": "state", "condition": lambda e: e.group_id == "audit"}]})
    def sees(event):
        seen.append((event.item_id, event.new_value["by"]))

    notebook_steps.append("SeesAudit")
    state_manager.sync.set("orders", k, {"total": 1})  # cell → worker step → its write → notebook step
    assert (k, "OrderAudit") in seen


def test_queues_cross_the_boundary_both_ways(motia, notebook_steps):
    k = key()
    shipped = []

    @step({"name": "OnShipped", "triggers": [{"type": "queue", "topic": "order.shipped"}]})
    def on_shipped(data):
        shipped.append(data)

    notebook_steps.append("OnShipped")
    enqueue.sync({"topic": "order.paid", "data": {"order_id": k}})  # notebook → worker → notebook
    assert state_manager.sync.get("shipments", k) == {"order_id": k, "status": "shipped"}
    assert {"order_id": k} in shipped
    # one cascade: the worker's enqueue belongs to the step that made it (same trace, one level deeper)
    rows = trace_frame(step="OnShipped").iloc[-1]
    assert rows["caused_by"] == "ShipOrder" and rows["depth"] == 2
    ship = trace_frame(step="ShipOrder").iloc[-1]
    assert ship["trace_id"] == rows["trace_id"] and ship["depth"] == 1
    # traces name the worker that served a step (and none for the notebook's own)
    cascade = trace_frame(ship["trace_id"]).set_index("step")["worker"]
    assert cascade["ShipOrder"] == get_step("ShipOrder").source[len("worker:"):] != "" and cascade["OnShipped"] == ""


def test_an_http_step_served_by_the_worker(motia):
    k = key()
    state_manager.sync.set("orders", k, {"total": 5})
    assert request.sync("GET", f"/orders/{k}/status") == {"status": 200, "body": {"id": k, "total": 5}, "headers": {}}
    assert request.sync("GET", "/orders/nope/status")["status"] == 404


def test_a_failing_worker_step_is_one_line_and_the_cell_goes_on(motia, capsys):
    enqueue.sync({"topic": "broken.job", "data": {"n": 1}})
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if "Broken" in ln]
    assert line.startswith("✖ worker step 'Broken' on ") and ": error (" in line and "cannot handle {'n': 1}" in line
    assert trace_frame(step="Broken").iloc[-1]["status"] == "error"


def test_a_worker_step_that_never_answers_times_out_and_the_cell_says_so(motia, capsys):
    server, _ = motia
    server.worker_timeout = 1.5
    try:
        enqueue.sync({"topic": "stuck.job", "data": {}})
    finally:
        server.worker_timeout = 30
    err = capsys.readouterr().err
    assert "✖ worker step 'Stuck' on " in err and "timed out" in err and "within 1.5 s" in err


def test_a_real_motia_http_step_gets_the_body_as_the_engine_sends_it_and_raises_into_the_engines_500(tmp_path):
    # iii-sdk 0.9 answers a raising handler with str(e); the engine's 500 is {"error", "error_id"} (views.rs).
    # request() is a JSON client: the step sees content-type application/json; under another type its body
    # is null and the bytes are in request_body, as the engine gives them
    from engine_helpers import WORKERS

    server = engine.serve(worker_timeout=30)
    proc = start_motia(server.url, tmp_path, steps=WORKERS / "motia_http_steps", name="echo")
    try:
        wait_for(lambda: worker_with_steps(server, {"Echo"}) or proc.p.poll() is not None, what="motia run to register")
        assert proc.p.poll() is None, proc.output()
        ok = request.sync("POST", "/echo", body={"a": 1})
        assert ok == {"status": 200, "body": {"body": {"a": 1}, "ct": "application/json", "raw": None}, "headers": {}}, ok
        form = request.sync("POST", "/echo", body="a=1", headers={"content-type": "application/x-www-form-urlencoded"})
        assert form["body"] == {"body": None, "ct": "application/x-www-form-urlencoded", "raw": "a=1"}, form
        failed = request.sync("POST", "/echo", body={"fail": True})
        assert failed["status"] == 500 and set(failed["body"]) == {"error", "error_id"}, failed
        assert failed["body"]["error"] == "payment provider down", failed
    finally:
        proc.stop()
        server.close()
        reset_steps()
