"""Two real Jupyter kernels (jupyter_client) sharing one SQLite file, history on.

Kernel A follows the changelog: a write in kernel B reaches A's remote subscribers
and fires the state step A opted in to run for changes made elsewhere
(``run_remote_triggers(True)``), as on Redis (tests/test_redis_kernels.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from motia_nb.testing import Kernel, last_json

pytestmark = pytest.mark.slow


def test_a_write_in_one_kernel_fires_the_other_kernels_step_over_sqlite(tmp_path: Any, kernels: tuple[Kernel, Kernel]) -> None:
    a, b = kernels
    path = str(tmp_path / "shared.db")
    setup = f"""
        from motia_nb import state_manager
        print(state_manager.use({path!r}))
    """
    assert a.run(setup).strip() == path
    assert b.run(setup).strip() == path
    a.run(
        """
        import json, os, time
        from motia_nb.steps import state
        from motia_nb.session import step

        seen_remote = []
        state_manager.subscribe(
            lambda e: seen_remote.append((e.event_type, e.group_id, e.item_id)), remote=True)
        hits = []

        @step({"name": "OnOrder", "triggers": [state(condition=lambda e: e.group_id == "orders")]})
        def on_order(input):
            hits.append([input.event_type, input.item_id, input.new_value, os.getpid()])

        state_manager.run_remote_triggers(True)
        print("ready")
        """
    )
    b_pid = int(b.run("import os; print(os.getpid())"))
    b.run(
        """
        state_manager.sync.set("orders", "o1", {"total": 5})
        await state_manager.update("orders", "o1", [{"type": "increment", "path": "total", "by": 2}])
        await state_manager.set("other", "x", 1)
        await state_manager.delete("orders", "o1")
        """
    )
    out = a.run(
        """
        deadline = time.monotonic() + 15
        while (len(hits) < 3 or len(seen_remote) < 4) and time.monotonic() < deadline:
            time.sleep(0.02)
        written_by = [(c["event_type"], c["cause"], c["pid"]) for c in state_manager.sync.history("orders", "o1")]
        print(json.dumps({"hits": hits, "seen": seen_remote, "pid": os.getpid(), "by": written_by}))
        """
    )
    got = last_json(out)
    # A's history names B's process as the writer of every change it was told about
    assert got["by"] == [["state:created", "cell", b_pid], ["state:updated", "cell", b_pid], ["state:deleted", "cell", b_pid]]
    # the step ran in kernel A (its own pid), for B's changes, in B's commit order
    assert [h[:3] for h in got["hits"]] == [
        ["state:created", "o1", {"total": 5}],
        ["state:updated", "o1", {"total": 7}],
        ["state:deleted", "o1", None],
    ]
    assert {h[3] for h in got["hits"]} == {got["pid"]} and got["pid"] != b_pid
    assert got["seen"] == [
        ["state:created", "orders", "o1"],
        ["state:updated", "orders", "o1"],
        ["state:created", "other", "x"],
        ["state:deleted", "orders", "o1"],
    ]

    # A's own writes run A's step inline once, and are not delivered to A again as remote
    out = a.run(
        """
        n_hits, n_seen = len(hits), len(seen_remote)
        await state_manager.set("orders", "mine", 1)
        time.sleep(0.5)
        print(json.dumps({"hits": hits[n_hits:], "seen": seen_remote[n_seen:]}))
        """
    )
    got = last_json(out)
    assert [h[:3] for h in got["hits"]] == [["state:created", "mine", 1]] and got["seen"] == [
        ["state:created", "orders", "mine"]]  # the local subscriber, once  # fmt: skip

    # opting out: B's changes no longer run A's step; the remote subscriber still hears them
    a.run("state_manager.run_remote_triggers(False)")
    b.run('state_manager.sync.set("orders", "o2", {"total": 1})')
    out = a.run(
        """
        deadline = time.monotonic() + 15
        while len(seen_remote) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        print(json.dumps({"hits": len(hits), "seen": seen_remote[-1]}))
        """
    )
    assert last_json(out) == {"hits": 4, "seen": ["state:created", "orders", "o2"]}

    # and the other way round: B subscribes, A writes
    b.run(
        """
        import json, time
        seen_in_b = []
        state_manager.subscribe(lambda e: seen_in_b.append([e.item_id, e.new_value]), remote=True)
        """
    )
    a.run('state_manager.sync.set("orders", "from-a", {"total": 9})')
    out = b.run(
        """
        deadline = time.monotonic() + 15
        while not seen_in_b and time.monotonic() < deadline:
            time.sleep(0.02)
        print(json.dumps(seen_in_b))
        """
    )
    assert last_json(out) == [["from-a", {"total": 9}]]
