"""A Motia user's hour with the day's changes, in a real Jupyter kernel (jupyter_client).

The shell-level defects are in ``test_today_user.py``.
"""

from __future__ import annotations

import pytest

from motia_nb.testing import Kernel, last_json

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- 1. the cell that loads the extension
def test_the_cell_that_loads_the_extension_has_a_trace_id_too(kernel: Kernel) -> None:
    """A notebook's first cell loads the extension and sets things up (lesson 5's clears the
    groups; a user's writes the first order). That cell's writes said ``cause: cell`` with
    ``trace_id`` None, and the steps they triggered ran each under a trace of its own: the
    cell's ``pre_run_cell`` had run before the extension was there. Now the rest of that cell
    is a cell run as any other; the next cell gets another id, and between cells none is current."""
    kernel.run("""
        import json
        from motia_nb import state_manager  # (before the extension: no motia_nb hook yet)
        print("ok")
    """)
    got = last_json(kernel.run("""
        %load_ext motia_nb
        from motia_nb import step, state, trace_frame
        @step({"name": "Ship", "triggers": [state(lambda e: e.group_id == "orders")]})
        async def ship(event, ctx):
            await state_manager.set("shipments", event.item_id, 1)
        await state_manager.set("orders", "o1", 1)
        await state_manager.set("orders", "o2", 1)
        from motia_nb.state.cause import current_cause
        print(json.dumps({"now": current_cause()[1]}))
    """))
    rows = last_json(kernel.run("""
        from motia_nb.state.cause import current_cause
        print(json.dumps({
            "orders": [c["trace_id"] for c in state_manager.sync.history("orders")],
            "shipments": [c["trace_id"] for c in state_manager.sync.history("shipments")],
            "traces": trace_frame()["trace_id"].tolist(),
            "now": current_cause()[1],
        }))
    """))
    first = rows["orders"][0]
    assert first is not None and rows["orders"] == [first, first] and got["now"] == first, (got, rows)
    assert rows["shipments"] == [first, first] and rows["traces"] == [first, first], rows
    assert rows["now"] not in (None, first), rows  # the next cell: its own
    kernel.kc.execute_interactive("between = current_cause()", silent=True, timeout=60)
    assert last_json(kernel.run("print(json.dumps(between))")) == ["cell", None]


# ---------------------------------------------------------------- 2. a read dropped unawaited in a %%step cell
def test_a_read_dropped_unawaited_in_a_step_cell_gets_one_line_not_pythons_warning(kernel: Kernel) -> None:
    """The day's change says a state read the running cell's own code calls without ``await`` in
    one line instead of Python's 3-line ``RuntimeWarning``. A ``%%step`` cell's module code is
    the cell's own code too, but got Python's warning (its source is the magic's argument, which
    the look did not read). Now the line, in a step file's words: module code cannot await."""
    kernel.run("""
        %load_ext motia_nb
        from motia_nb import state_manager
        await state_manager.set("orders", "o1", 1)
    """)
    out = kernel.run(
        '%%step\n'
        'from motia_nb import state_manager as sm\n'
        'sm.count("orders")\n'
        'config = {"name": "Counted", "triggers": [{"type": "queue", "topic": "t"}]}\n'
        'def handler(data):\n'
        '    pass\n'
    )
    assert "RuntimeWarning" not in out and "never awaited" not in out, out
    assert out.splitlines() == [
        "✓ step 'Counted' registered (queue t)",
        ('✖ sm.count(...) is not awaited in this %%step cell, so nothing was read: a step file awaits only in its '
        'handler; write sm.sync.count("orders") here (or await sm.count("orders") in the handler)'),
    ], out
    # a plain cell's line is as before
    assert kernel.run('state_manager.count("orders")\nNone').strip() == (
        '✖ state_manager.count(...) is not awaited in this cell, so nothing was read: write '
        '(await state_manager.count("orders")) (or state_manager.sync.count("orders"))')
