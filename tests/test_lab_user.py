"""What a new user met in JupyterLab, pinned down in a real kernel.

Found by driving JupyterLab in Chromium (two notebooks on one default store, one with
``state_manager.run_remote_triggers(True)``): the prints of a step triggered by the other
notebook's write landed in whichever cell of this notebook happened to be running, between
that cell's own lines. The defect is the kernel's output routing, so the test talks to a
real kernel through jupyter_client (what JupyterLab sends and receives) and writes from this
process, as the other notebook did.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.testing.kernels import Kernel, idle, iopub_until

pytestmark = [pytest.mark.timeout(120)]

STEP = '''\
%load_ext motia_nb
import asyncio, threading
from motia_nb import state_manager
from motia_nb.session import step
from motia_nb.steps import state
handled = threading.Event()

@step({"name": "remote-printer", "triggers": [state(condition=lambda e: e.group_id == "orders")]})
def remote_printer(event):
    print(f"REMOTE {event.item_id}", flush=True)
    handled.set()
'''


def _execute(k: Kernel, code: str) -> str:
    return k.kc.execute(textwrap.dedent(code))




def _streams(seen: list[dict[str, Any]], text: str) -> list[str]:
    """The msg_ids of the cells (execute requests) the stream outputs holding ``text`` went to."""
    return [m["parent_header"].get("msg_id") for m in seen if m["msg_type"] == "stream" and text in m["content"]["text"]]


def test_a_remote_triggered_steps_print_goes_to_the_cell_that_turned_remote_triggers_on(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    # this checkout's motia_nb in the kernel (the venv's editable install may point elsewhere)
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, MOTIA_NB_DB=str(db), PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    k = Kernel(env=env, cwd=str(tmp_path))
    other = StateManager(str(db))
    try:
        k.run(STEP)
        enable = _execute(k, 'state_manager.run_remote_triggers(True)\nprint("remote triggers on")')
        seen = iopub_until(k, idle(enable))
        assert _streams(seen, "remote triggers on") == [enable]

        # an unrelated cell runs (it waits until the step has run) while another process writes
        busy = _execute(k, 'print("busy start", flush=True)\nawait asyncio.to_thread(handled.wait, 60)\nprint("busy end")')
        seen = iopub_until(k, lambda s: bool(_streams(s, "busy start")))
        other.sync.set("orders", "r1", {"id": "r1"})
        seen += iopub_until(k, lambda s: idle(busy)(s) and bool(_streams(s, "REMOTE r1")))

        assert _streams(seen, "busy end") == [busy]
        assert _streams(seen, "REMOTE r1") == [enable], (
            "the remote-triggered step's print went to the cell that happened to be running, "
            "not to the cell that turned remote triggers on")
    finally:
        other.close()
        k.shutdown()
