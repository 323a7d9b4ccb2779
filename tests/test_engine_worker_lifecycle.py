"""Real workers that come and go, and several runtimes at once, on the kernel's endpoint.

(A separate module from test_engine_workers.py: its module-wide ``motia run`` worker
would serve the same routes as the workers started here.) Nothing mocked; without
the worker venvs / node these skip with the reason, and fail under CI=true.
"""

from __future__ import annotations


import pytest

from engine_helpers import (  # noqa: F401 (fixture)
    MOTIA_STEPS,
    has_step,
    key,
    notebook_steps,
    start_iii,
    start_motia,
    start_node,
    wait_for,
    worker_with_steps,
)
from motia_nb import engine, enqueue, state_manager, step
from motia_nb.session import remove_step

pytestmark = pytest.mark.slow





def test_a_worker_killed_and_restarted(tmp_path, notebook_steps):
    server = engine.serve(worker_timeout=30)
    try:

        @step({"name": "StaysHere", "triggers": [{"type": "queue", "topic": "stays"}]})
        def stays(data):
            pass

        notebook_steps.append("StaysHere")
        proc = start_motia(server.url, tmp_path, name="first")
        wait_for(lambda: worker_with_steps(server, MOTIA_STEPS), what="the first worker")
        k = key()
        state_manager.sync.set("orders", k, {"total": 1})
        assert state_manager.sync.get("audit", k)["total"] == 1
        proc.kill()  # SIGKILL: no goodbye
        wait_for(lambda: server.workers == [], what="the killed worker to be dropped")
        assert not any(has_step(n) for n in MOTIA_STEPS) and has_step("StaysHere")
        state_manager.sync.set("orders", k, {"total": 2})  # no worker: the write alone
        assert state_manager.sync.get("audit", k)["total"] == 1
        again = start_motia(server.url, tmp_path, name="second")
        try:
            wait_for(lambda: worker_with_steps(server, MOTIA_STEPS), what="the restarted worker")
            state_manager.sync.set("orders", k, {"total": 3})
            assert state_manager.sync.get("audit", k) == {"event": "state:updated", "total": 3, "by": "OrderAudit"}
        finally:
            again.stop()
    finally:
        server.close()
        for n in MOTIA_STEPS:
            if has_step(n):
                remove_step(n)


def test_python_025_and_node_workers_at_once(tmp_path, notebook_steps):
    server = engine.serve(worker_timeout=30)
    procs = []
    try:
        procs.append(start_iii(server.url, tmp_path, "py25"))
        procs.append(start_node(server.url, tmp_path, "nodew"))
        wait_for(
            lambda: worker_with_steps(server, {"py25::on_order"}) and worker_with_steps(server, {"nodew::on_order"}),
            what="both workers",
        )
        # each SDK names itself (engine::workers::register) right after replaying its registrations
        wait_for(lambda: {w["name"] for w in server.workers} == {"nodew", "py25"}, what="both workers' names")
        assert sorted((w["name"], w["runtime"]) for w in server.workers) == [("nodew", "node"), ("py25", "python")]
        pinged, paid = [], []

        @step({"name": "OnPinged", "triggers": [{"type": "queue", "topic": "pinged"}]})
        def on_pinged(data):
            pinged.append(data)

        @step({"name": "OnPaid", "triggers": [{"type": "queue", "topic": "order.paid"}]})
        def on_paid(data):
            paid.append(data)

        notebook_steps.extend(["OnPinged", "OnPaid"])
        k = key()
        state_manager.sync.set("orders", k, {"total": 9})  # both workers' state steps run before this returns
        assert state_manager.sync.get("seen_py25", k) == {"event": "state:created"}
        assert state_manager.sync.get("seen_nodew", k) == {"event": "state:created", "runtime": "node"}
        state_manager.sync.set("elsewhere", k, 1)  # their config's scope excludes it
        assert state_manager.sync.get("seen_py25", k) == {"event": "state:created"}
        enqueue.sync({"topic": "ping.py25", "data": {"id": k}})  # Python worker: writes, then enqueues to the notebook
        assert state_manager.sync.get("pongs", k) == {"by": "py25"} and {"id": k, "by": "py25"} in pinged
        enqueue.sync({"topic": "relay.nodew", "data": {"order_id": k}})  # Node worker enqueues to the notebook
        assert {"order_id": k} in paid
    finally:
        for p in procs:
            p.stop()
        server.close()
        for n in ("py25::on_order", "py25::on_ping", "nodew::on_order", "nodew::relay"):
            if has_step(n):
                remove_step(n)


@pytest.mark.parametrize("runtime", ["python", "node"])
def test_a_worker_whose_connection_drops_comes_back_with_its_functions(tmp_path, runtime):
    # the SDK reconnects and replays its registrations (after a `reattach`): its function ids are
    # its own again, never refused as another worker's (the engine: one live worker per id)
    server = engine.serve(worker_timeout=30)
    proc = (start_iii if runtime == "python" else start_node)(server.url, tmp_path, "rc")
    try:
        wait_for(lambda: worker_with_steps(server, {"rc::on_order"}), what="the worker")
        (old,) = server._live()
        server.loop.call_soon_threadsafe(old.conn.transport.abort)  # the connection drops, no close frame
        wait_for(lambda: [w.id for w in server._live() if "rc::on_order" in w.functions and w.id != old.id],
                 what="the worker back on a new connection")  # fmt: skip
        assert len(server.workers) == 1 and "rejected" not in proc.output().lower()
        k = key()
        state_manager.sync.set("orders", k, {"total": 1})  # its state step runs again, on the new connection
        assert state_manager.sync.get("seen_rc", k)["event"] == "state:created"
    finally:
        proc.stop()
        server.close()
        for n in ("rc::on_order", "rc::on_ping", "rc::relay"):
            if has_step(n):
                remove_step(n)


def test_a_second_worker_registering_the_same_function_is_refused_and_the_first_keeps_it(tmp_path):
    # iii-sdk 0.25 logs the engine's RegistrationRejected (FUNCTION_NAMESPACE_CONFLICT) and keeps
    # serving its other functions; calls of the id go to its owner
    server = engine.serve(worker_timeout=30)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_iii(server.url, tmp_path / "a", "dup")
    procs = [first]
    try:
        wait_for(lambda: worker_with_steps(server, {"dup::on_order"}), what="the first worker")
        (owner,) = server._live()
        procs.append(start_iii(server.url, tmp_path / "b", "dup"))
        wait_for(lambda: "Function registration rejected" in procs[1].output(), what="the second worker told")
        assert "dup::echo" in procs[1].output()
        wait_for(lambda: len(server.workers) == 2, what="both connected")
        second = next(w for w in server._live() if w is not owner)
        assert sorted(owner.functions) == ["dup::echo", "dup::on_order", "dup::on_ping"]
        assert second.functions == {}  # was: all three accepted, and never called
        assert server._provider("dup::echo") is owner
    finally:
        for p in procs:
            p.stop()
        server.close()
        for n in ("dup::on_order", "dup::on_ping"):
            if has_step(n):
                remove_step(n)
