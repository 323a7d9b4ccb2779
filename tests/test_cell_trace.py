"""A trace per cell run, in the test shell: what carries a cell run's trace id and what must not.

The kernel-level story (a cell's change, the steps it triggered, %motia trace, a task outliving
its cell, SQLite and Redis) is tests/test_cell_trace_kernel.py. Here: a viewer action has a
trace of its own; a cell run inside a cell has its own id and the outer one's is current after
it; a thread a cell starts writes with no trace (Python gives it an empty context); and the
machinery a cell starts on motia_nb's behalf (the engine endpoint, remote triggers and
subscribers) never puts what it sets off later into the starting cell's trace.
"""

from __future__ import annotations

import contextvars
import json

import pytest
from websockets.sync.client import connect

from engine_helpers import frames
from motia_nb import state_manager
from motia_nb.notebook.viewer import viewer
from motia_nb.state.cause import acting_as, begin_cell_run, current_cause, end_cell_run
from motia_nb.state.remote import origin_context
from motia_nb.testing import run_cell


def _rows(group: str) -> list[tuple[str, str, str | None]]:
    return [(c["key"], c["cause"], c["trace_id"]) for c in state_manager.sync.history(group)]


def _define_watch(ip, group: str = "orders") -> None:
    res = run_cell(ip, f"""
from motia_nb import state_manager, step, state
@step({{"name": "Watch", "triggers": [state(lambda e: e.group_id == {group!r})]}})
async def watch(event, ctx):
    await state_manager.set("seen", event.item_id, 1)
""")
    assert res.success, res.error_in_exec


def test_each_viewer_action_has_a_trace_its_steps_run_in(steps_ip) -> None:
    _define_watch(steps_ip)
    state_manager.sync.set("orders", "o1", {"n": 1})  # (not in a cell: no trace, as before)
    v = viewer("orders", live=False)
    try:
        v.items.value = "o1"
        for n in (2, 3):
            v.value_text.value = json.dumps({"n": n})
            v.save_button.click()
    finally:
        v.close()
    (_, first, t0), (_, by2, t2), (_, by3, t3) = _rows("orders")
    assert (first, t0, by2, by3) == ("cell", None, "viewer", "viewer")
    assert t2 and t3 and t2 != t3  # one trace per action
    seen = _rows("seen")  # what Watch wrote for each change of o1: in that change's trace
    assert [t for _, _, t in seen[1:]] == [t2, t3] and {c for _, c, _ in seen} == {"Watch"}


def test_a_cell_run_inside_a_cell_has_its_own_id_and_the_outer_ones_is_current_after(steps_ip) -> None:
    res = run_cell(steps_ip, """
from motia_nb.state.cause import current_cause
outer = current_cause()
get_ipython().run_cell("inner = current_cause()", store_history=False)
after = current_cause()
""")
    assert res.success, res.error_in_exec
    ns = steps_ip.user_ns
    assert ns["outer"][0] == ns["inner"][0] == "cell"
    assert ns["outer"][1] and ns["inner"][1] and ns["outer"][1] != ns["inner"][1]
    assert ns["after"] == ns["outer"]
    assert current_cause() == ("cell", None)  # after the cell: no cell run's id is current


def test_a_thread_a_cell_starts_writes_with_no_trace(steps_ip) -> None:
    """threading.Thread starts from an empty context (Python's rule): no cell's id, never a later cell's."""
    res = run_cell(steps_ip, """
import threading
from motia_nb.state.cause import current_cause
state_manager.sync.set("t", "in-cell", 1)
worker = threading.Thread(target=lambda: state_manager.sync.set("t", "in-thread", 1))
worker.start(); worker.join()
cell_trace = current_cause()[1]
""")
    assert res.success, res.error_in_exec
    assert _rows("t") == [("in-cell", "cell", steps_ip.user_ns["cell_trace"]), ("in-thread", "cell", None)]


def test_a_workers_own_write_is_not_in_the_trace_of_the_cell_that_served(steps_ip) -> None:
    _define_watch(steps_ip, "wk")
    res = run_cell(steps_ip, """
from motia_nb import engine
from motia_nb.state.cause import current_cause
served_in = current_cause()[1]
server = engine.serve(worker_timeout=10)
""")
    assert res.success, res.error_in_exec
    server = steps_ip.user_ns["server"]
    try:
        ws = connect(server.url, max_size=None).__enter__()
        try:
            assert frames(ws)[0]["type"] == "workerregistered"
            for i, key in enumerate(("a", "b")):
                ws.send(json.dumps({"type": "invokefunction", "invocation_id": f"i{i}", "function_id": "state::set",
                                    "data": {"scope": "wk", "key": key, "value": i}}))
                assert frames(ws)[0]["invocation_id"] == f"i{i}"  # answered after the steps it triggered
        finally:
            ws.close()
    finally:
        server.close()
    (ka, ca, ta), (kb, cb, tb) = _rows("wk")
    assert ca.startswith("worker:") and cb.startswith("worker:") and ta is None and tb is None
    seen = [t for _, _, t in _rows("seen")]  # Watch ran for each write, each in a new trace
    served_in = steps_ip.user_ns["served_in"]
    assert len(seen) == 2 and seen[0] != seen[1] and served_in not in seen and None not in seen


def test_remote_origins_keep_the_cell_output_routing_but_not_its_trace() -> None:
    routing: contextvars.ContextVar[str] = contextvars.ContextVar("routing", default="none")

    def capture() -> contextvars.Context:
        routing.set("cell 7")
        token = begin_cell_run()
        try:
            return origin_context()
        finally:
            end_cell_run(token)

    ctx = contextvars.copy_context().run(capture)
    assert ctx.run(routing.get) == "cell 7" and ctx.run(current_cause) == ("cell", None)

    def in_step() -> contextvars.Context:
        with acting_as("Checkout", "trace-1"):  # a step turned them on: its cause and trace stay
            return origin_context()

    assert contextvars.copy_context().run(in_step).run(current_cause) == ("Checkout", "trace-1")


@pytest.mark.parametrize("kind", ["subscribe", "run_remote_triggers"])
def test_what_a_cell_turns_on_for_other_processes_changes_is_not_in_its_trace(steps_ip, kind: str) -> None:
    code = ("unsubscribe = state_manager.subscribe(lambda e: None, remote=True)" if kind == "subscribe"
            else "state_manager.run_remote_triggers(True)")
    res = run_cell(steps_ip, code)
    try:
        assert res.success, res.error_in_exec
        remote = state_manager._remote
        contexts = ([s.context for s in remote.subscribers] if kind == "subscribe" else [remote.origin])
        assert contexts and all(c.run(current_cause) == ("cell", None) for c in contexts)
    finally:
        if kind == "subscribe":
            steps_ip.user_ns["unsubscribe"]()
        else:
            state_manager.run_remote_triggers(False)
