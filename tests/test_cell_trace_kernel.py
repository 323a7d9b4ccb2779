"""A trace per cell run, in a real kernel (jupyter_client), on SQLite and on Redis.

"Who changed my order?": ``history()`` named the cell that changed an item, with ``trace_id``
None, and the steps that change triggered ran under a new trace id, so nothing linked the
cell's change to ``%motia trace`` / ``%motia logs`` of what it set off. Now a cell run has a
trace id: its writes (``cell``, and ``magic`` for its ``%state`` lines) carry it, the steps
those writes trigger run under it (their logs and their own writes too), the next cell gets
another, a task the cell started keeps the cell's id when it writes later, and a cell that
triggers nothing adds no row to the traces.
"""

from __future__ import annotations

from typing import Any

import pytest

from motia_nb.testing import Kernel, last_json

pytestmark = pytest.mark.slow

SETUP = """
    %load_ext motia_nb
    import asyncio, json
    from motia_nb import state_manager, step, state, trace_frame, log_frame
    {use}
    for g in ("orders", "shipments", "notes", "late"):
        await state_manager.clear(g)

    @step({{"name": "Ship", "triggers": [state(lambda e: e.group_id == "orders" and (e.new_value or {{}}).get("status") == "paid")]}})
    async def ship(event, ctx):
        ctx.logger.info("shipping", {{"order": event.item_id}})
        await state_manager.set("shipments", event.item_id, {{"order": event.item_id}})

    go = asyncio.Event()
    async def write_later():
        await go.wait()   # set by a later cell
        await state_manager.set("late", "k", {{"by": "a task cell 1 started"}})

    def trace_of(group, key):
        return [c["trace_id"] for c in state_manager.sync.history(group, key)]
    print("ready")
"""


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def use(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return ""  # the kernel's own file (MOTIA_NB_DB, see the kernel fixture)
    return f"state_manager.use({request.getfixturevalue('redis_url')!r})"


def _run_json(kernel: Kernel, code: str) -> Any:
    return last_json(kernel.run(code))


def test_a_cells_change_and_the_steps_it_triggered_share_the_cells_trace_id(kernel: Kernel, use: str) -> None:
    assert kernel.run(SETUP.format(use=use)).strip().endswith("ready")

    # cell 1: a write that triggers Ship, and a task that will write after the cell ended
    kernel.run("""
        await state_manager.set("orders", "o1", {"status": "paid"})
        task = asyncio.get_running_loop().create_task(write_later())
    """)
    # cell 2: a %state magic's write, which triggers Ship too
    kernel.run('%state set orders o2 {"status": "paid"}')
    # cell 3: a write that triggers nothing (no top-level await: the cell runs in the kernel's own context)
    kernel.run('state_manager.sync.set("notes", "n1", {"text": "hello"})')
    # between cells (a widget's callback, a frontend's silent request: no cell run) no cell's id is current
    kernel.kc.execute_interactive("from motia_nb.state.cause import current_cause\nbetween = current_cause()",
                                  silent=True, timeout=60)
    # cell 4: let cell 1's task write now, and wait for it
    kernel.run("go.set()\nawait task")

    got = _run_json(kernel, """
        rows = {g: state_manager.sync.history(g) for g in ("orders", "shipments", "notes", "late")}
        traces = trace_frame()
        logs = log_frame(step="Ship")
        print(json.dumps({
            "orders": [[c["key"], c["cause"], c["trace_id"]] for c in rows["orders"]],
            "shipments": [[c["key"], c["cause"], c["trace_id"]] for c in rows["shipments"]],
            "notes": [[c["key"], c["cause"], c["trace_id"]] for c in rows["notes"]],
            "late": [[c["key"], c["cause"], c["trace_id"]] for c in rows["late"]],
            "traces": traces[["trace_id", "step"]].values.tolist(),
            "logs": logs["trace_id"].tolist(),
            "between": between,
        }))
    """)
    (o1, c1, t1), (o2, c2, t2) = got["orders"]
    assert (o1, c1, o2, c2) == ("o1", "cell", "o2", "magic")
    assert t1 and t2 and t1 != t2  # each cell run has its own id
    # the step runs, their logs and the steps' own writes carry the id of the cell that caused them
    assert got["traces"] == [[t1, "Ship"], [t2, "Ship"]]
    assert got["logs"] == [t1, t2]
    assert got["shipments"] == [["o1", "Ship", t1], ["o2", "Ship", t2]]
    # a cell that triggered nothing has an id of its own, and no row in the traces
    ((_, cause, t3),) = got["notes"]
    assert cause == "cell" and t3 not in (None, t1, t2)
    assert got["between"] == ["cell", None], got["between"]
    # cell 1's task wrote during cell 4: cell 1's id, not cell 4's
    assert got["late"] == [["k", "cell", t1]]

    # %motia trace <the history's trace id> shows the step the change triggered (a prefix too)
    shown = _run_json(kernel, f"""
        df = %motia trace {t1}
        part = %motia trace {t1[:8]}
        print(json.dumps([df["step"].tolist(), part["step"].tolist(), trace_of("orders", "o1")]))
    """)
    assert shown == [["Ship"], ["Ship"], [t1]]


def test_without_the_extension_a_cells_writes_have_no_trace_as_before(kernel: Kernel) -> None:
    """Plain Python (here: a kernel that never ran %load_ext motia_nb): no cell run, no trace id."""
    got = _run_json(kernel, """
        import json
        from motia_nb import state_manager, step, state, trace_frame
        await state_manager.clear("orders")

        @step({"name": "Seen", "triggers": [state(lambda e: e.group_id == "orders")]})
        async def seen(event, ctx):
            await state_manager.set("seen", event.item_id, 1)

        await state_manager.set("orders", "o1", 1)
        (row,) = state_manager.sync.history("orders", "o1")
        print(json.dumps([row["cause"], row["trace_id"], trace_frame()["trace_id"].nunique()]))
    """)
    assert got == ["cell", None, 1]
