"""Two real Jupyter kernels (jupyter_client) sharing one Redis.

A write in kernel A reaches kernel B: B's remote listeners (what the viewer's live
refresh subscribes to) get the event, B's change token moves, B reads the new
value, and a state trigger that B opted in to run for changes made elsewhere fires
there. B's own inline triggers never see A's writes unless B opted in.
"""

from __future__ import annotations

from typing import Any

import pytest

from motia_nb.testing import Kernel, last_json

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_write_in_one_kernel_reaches_the_other_and_fires_an_opted_in_trigger(
    redis_url: str, kernels: tuple[Kernel, Kernel]
) -> None:
    a, b = kernels
    setup = f"""
        from motia_nb import state_manager
        print(state_manager.use({redis_url!r}))
    """
    assert a.run(setup).strip() == redis_url
    assert b.run(setup).strip() == redis_url
    b.run(
        """
        from motia_nb.steps import state
        from motia_nb.session import step

        seen_remote = []   # what a viewer's live refresh would be told
        state_manager.subscribe(
            lambda e: seen_remote.append((e.event_type, e.group_id, e.item_id)), remote=True)
        hits = []

        @step({"name": "OnOrder", "triggers": [state(condition=lambda e: e.group_id == "orders")]})
        def on_order(input):
            hits.append([input.event_type, input.item_id, input.new_value])

        token0 = state_manager.change_token()
        # opt in: run this kernel's state triggers for changes made in other processes
        state_manager.run_remote_triggers(True)
        print("ready")
        """
    )
    # kernel A writes: a sync call and a top-level await (the kernel's own loop is running)
    a.run(
        """
        state_manager.sync.set("orders", "o1", {"total": 5})
        r = await state_manager.update("orders", "o1", [{"type": "increment", "path": "total", "by": 2}])
        await state_manager.set("other", "x", 1)
        print(r)
        """
    )
    out = b.run(
        """
        import json, time
        deadline = time.monotonic() + 15
        while (len(hits) < 2 or len(seen_remote) < 3) and time.monotonic() < deadline:
            time.sleep(0.02)
        print(json.dumps({"hits": hits, "seen": seen_remote, "moved": state_manager.change_token() != token0,
                          "items": state_manager.sync.items("orders")}))
        """
    )
    got = last_json(out)
    assert got["hits"] == [
        ["state:created", "o1", {"total": 5}],
        ["state:updated", "o1", {"total": 7}],
    ]
    assert got["seen"] == [
        ["state:created", "orders", "o1"],
        ["state:updated", "orders", "o1"],
        ["state:created", "other", "x"],
    ]
    assert got["moved"] is True
    assert got["items"] == [["o1", {"total": 7}]]

    # opting out stops remote triggers; remote listeners (the viewer) still hear changes
    b.run("state_manager.run_remote_triggers(False)")
    a.run('state_manager.sync.set("orders", "o2", {"total": 1})')
    out = b.run(
        """
        deadline = time.monotonic() + 15
        while len(seen_remote) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        print(json.dumps({"hits": len(hits), "seen": len(seen_remote)}))
        """
    )
    assert last_json(out) == {"hits": 2, "seen": 4}
    # and B's own writes stay inline in B and reach A as remote events
    a.run(
        """
        seen_in_a = []
        state_manager.subscribe(lambda e: seen_in_a.append(e.item_id), remote=True)
        """
    )
    assert b.run('state_manager.sync.set("orders", "o3", 3); print(hits[-1])').strip() == "['state:created', 'o3', 3]"
    out = a.run(
        """
        import json, time
        deadline = time.monotonic() + 15
        while not seen_in_a and time.monotonic() < deadline:
            time.sleep(0.02)
        print(json.dumps(seen_in_a))
        """
    )
    assert last_json(out) == ["o3"]


def test_a_write_in_one_kernel_shows_in_the_other_kernels_viewer(
    redis_url: str, kernels: tuple[Kernel, Kernel]
) -> None:
    """The viewer in kernel B is live over Redis: A's writes appear in its model."""
    import time

    a, b = kernels
    setup = f"""
        from motia_nb import state_manager
        print(state_manager.use({redis_url!r}))
    """
    a.run(setup)
    b.run(setup)
    a.run('state_manager.sync.set("orders", "o1", {"status": "pending"})')
    b.run(
        """
        import json
        from motia_nb import viewer
        v = viewer("orders")
        def model():
            return {"groups": [value for _, value in v.groups.options],
                    "items": [value for _, value in v.items.options]}
        print(json.dumps(model()))
        """
    )
    a.run('state_manager.sync.set("orders", "o2", {"status": "paid"}); state_manager.sync.set("users", "u1", {})')
    # B's kernel must be idle for its live refresh to run (it runs on the kernel's loop)
    deadline = time.monotonic() + 15
    got: dict[str, Any] = {}
    while time.monotonic() < deadline:
        time.sleep(0.3)
        got = last_json(b.run('import json; print(json.dumps(model()))'))
        if got["items"] == ["o1", "o2"] and "users" in got["groups"]:
            break
    assert got == {"groups": ["orders", "users"], "items": ["o1", "o2"]}
    b.run("v.close()")
