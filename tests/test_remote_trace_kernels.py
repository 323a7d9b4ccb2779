"""Two real kernels (jupyter_client) on one store: remote triggers run under the writer's trace.

Kernel B's cell writes an order; kernel A runs its state step for it
(``run_remote_triggers(True)``). The step ran under a new trace of A's own, so B's
``history()`` -> ``trace_id`` led to nothing in A. Now it runs under B's cell's trace id: its
``ctx.trace_id``, its logs, A's ``%motia trace <id>`` rows and the history rows of its writes
carry it; its print still goes to the cell that turned remote triggers on, whose own trace id
reaches nothing. A write with no trace id (a script's) runs in a trace of its own, as before.
On SQLite (history on) and on Redis.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.testing import Kernel, last_json
from motia_nb.testing.kernels import idle, iopub_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

READER = """
    %load_ext motia_nb
    import asyncio, json, threading
    from motia_nb import state_manager, step, state, trace_frame, log_frame
    from motia_nb.state.cause import current_cause
    print(state_manager.use({url!r}))
    handled = {{"o1": threading.Event(), "x1": threading.Event()}}

    @step({{"name": "Remote", "triggers": [state(lambda e: e.group_id == "orders")]}})
    async def remote(event, ctx):
        ctx.logger.info("remote order", {{"order": event.item_id}})
        await state_manager.set("seen", event.item_id, {{"by": "Remote"}})
        print(f"REMOTE {{event.item_id}} {{ctx.trace_id}}", flush=True)
        handled[event.item_id].set()
"""


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: Any, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return request.getfixturevalue("redis_url")




def _streams(seen: list[dict[str, Any]], text: str) -> list[tuple[str, str]]:
    """(cell msg_id, text) of the stream outputs holding ``text``."""
    return [(m["parent_header"].get("msg_id"), m["content"]["text"]) for m in seen
            if m["msg_type"] == "stream" and text in m["content"]["text"]]  # fmt: skip


def _remote_lines(seen: list[dict[str, Any]]) -> list[str]:
    """The ``REMOTE <key> <trace id>`` lines printed (the kernel may join or cut stream texts)."""
    text = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
    return [line for line in text.splitlines() if line.startswith("REMOTE ")]


def test_a_remote_triggered_step_runs_under_the_writing_cells_trace(store_url: str, kernels: tuple[Kernel, Kernel]) -> None:
    a, b = kernels
    assert a.run(READER.format(url=store_url)).strip().endswith(store_url)
    enable = a.kc.execute(textwrap.dedent("""
        state_manager.run_remote_triggers(True)
        print("ENABLE", current_cause()[1])
    """))
    seen = iopub_until(a, idle(enable))
    ((_, text),) = _streams(seen, "ENABLE")
    enable_trace = text.split()[1]
    assert enable_trace != "None"  # the cell had a trace id of its own (the extension is loaded)

    # kernel B's cell writes an order; its history names the cell's trace id
    b_trace = last_json(b.run(f"""
        %load_ext motia_nb
        import json
        from motia_nb import state_manager
        state_manager.use({store_url!r})
        await state_manager.set("orders", "o1", {{"total": 5}})
        print(json.dumps(state_manager.sync.history("orders", "o1")[-1]["trace_id"]))
    """))
    assert b_trace not in (None, enable_trace)

    # a write with no trace id (a script's, outside any cell run)
    script = StateManager(store_url)
    try:
        script.sync.set("orders", "x1", {"total": 1})
    finally:
        script.close()

    # another cell of A runs meanwhile; the steps' prints still go to the cell that turned them on
    busy = a.kc.execute('await asyncio.gather(*(asyncio.to_thread(e.wait, 60) for e in handled.values()))\nprint("busy end")')
    seen += iopub_until(a, lambda s: idle(busy)(s) and len(_remote_lines(s)) == 2)
    remote = _streams(seen, "REMOTE ")
    assert remote and {cell for cell, _ in remote} == {enable}, remote
    printed = dict(line.split()[1:3] for line in _remote_lines(seen))
    assert printed["o1"] == b_trace
    own = printed["x1"]
    assert own not in ("None", b_trace, enable_trace)

    got = last_json(a.run(f"""
        df = %motia trace {b_trace}
        print(json.dumps({{
            "trace": df["step"].tolist(),
            "traces": trace_frame()[["trace_id", "step"]].values.tolist(),
            "logs": log_frame(step="Remote")["trace_id"].tolist(),
            "seen": {{c["key"]: [c["cause"], c["trace_id"]] for c in state_manager.sync.history("seen")}},
        }}))
    """))
    # %motia trace <the id B's history gave> shows the step it set off in A
    assert got["trace"] == ["Remote"]
    assert sorted(got["traces"]) == sorted([[b_trace, "Remote"], [own, "Remote"]])
    assert sorted(got["logs"]) == sorted([b_trace, own])
    assert got["seen"] == {"o1": ["Remote", b_trace], "x1": ["Remote", own]}
    assert enable_trace not in json.dumps(got)  # the subscribing cell's trace reached nothing
    a.run("state_manager.run_remote_triggers(False)")
