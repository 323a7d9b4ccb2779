"""A notebook step run for a worker's own call prints into the cell that started serving.

A worker that writes state on its own (not while answering a call a cell made) causes
notebook steps with no causing cell; their output goes to the cell that started the
endpoint (``engine.serve()`` or ``%motia serve``), never into another cell that happens
to run at that moment. A real kernel (jupyter_client) and a real iii-sdk 0.25 client
(``tests/workers/iii_calls.py`` in ``.venv-iii``).

This held before the test was written: the endpoint's connection tasks inherit the context of
the ``serve()`` call (``LoopThread.submit`` schedules ``_start`` in a copy of the caller's
context, and the listening socket's callbacks keep it). The test pins it: run with the
invocation task given an empty context, both cases fail (the step prints into the busy cell).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import WORKERS, iii_python


pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

STEP = """
%load_ext motia_nb
import threading
from motia_nb import step, state
ran = threading.Event()

@step({"name": "Heard", "triggers": [state(condition=lambda e: e.group_id == "from-worker")]})
async def heard(event):
    print("step saw", event.item_id, flush=True)
    ran.set()
"""

SERVE = {
    "serve()": "from motia_nb import engine\nserver = engine.serve()\nprint(server.url)",
    "%motia serve": "%motia serve\nfrom motia_nb import engine\nprint(engine.servers()[-1].url)",
}

# a cell that runs while the worker writes: it waits (an event, set by the step) and says so
BUSY = 'print("busy cell waiting", flush=True)\nprint("step ran:", ran.wait(60))'


class Outputs:
    """Stream text of the kernel's iopub messages, kept per parent msg_id."""

    def __init__(self, kc: Any) -> None:
        self.kc = kc
        self.text: dict[str, str] = {}
        self.idle: set[str] = set()

    def pump(self, until: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; outputs so far: {self.text}")
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id", "")
            if msg["msg_type"] == "stream":
                self.text[parent] = self.text.get(parent, "") + msg["content"]["text"]
            elif msg["msg_type"] == "error":
                self.text[parent] = self.text.get(parent, "") + "\n".join(msg["content"]["traceback"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                self.idle.add(parent)

    def run(self, code: str) -> str:
        msg_id = self.kc.execute(code)
        self.pump(lambda: msg_id in self.idle)
        return msg_id


def worker_writes(url: str, *calls: list[Any]) -> list[dict[str, Any]]:
    """A real iii-sdk client connects to ``url`` and makes ``calls`` on its own."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    lines = "".join(json.dumps(c) + "\n" for c in calls)
    p = subprocess.run([str(iii_python()), str(WORKERS / "iii_calls.py"), url], input=lines, env=env,
                       cwd=str(WORKERS), capture_output=True, text=True, timeout=120)
    out = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert len(out) == len(calls), p.stdout + p.stderr
    return out


@pytest.mark.parametrize("how", list(SERVE))
def test_a_step_run_for_a_workers_own_write_prints_into_the_serving_cell(kernel, how):
    iii_python()  # skip (or fail in CI) before starting anything when the client is missing
    out = Outputs(kernel.kc)
    assert "Error" not in out.text.get(out.run(STEP), "")
    serving = out.run(SERVE[how])
    url = out.text[serving].strip().splitlines()[-1]
    assert url.startswith("ws://127.0.0.1:"), out.text[serving]

    busy = kernel.kc.execute(BUSY)
    out.pump(lambda: "busy cell waiting" in out.text.get(busy, ""))
    answers = worker_writes(url, ["state::set", {"scope": "from-worker", "key": "w1", "value": {"n": 1}}])
    assert answers == [{"ok": {"old_value": None, "new_value": {"n": 1}}}]
    out.pump(lambda: busy in out.idle)

    assert "step ran: True" in out.text[busy]
    assert "step saw" not in out.text[busy], f"the step printed into the cell running at the time: {out.text[busy]!r}"
    assert "step saw w1" in out.text[serving], f"not in the serving cell: {out.text}"


def test_the_readme_says_where_a_workers_own_steps_print():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "print in the cell that started\nserving, never in another cell running at that moment" in readme
