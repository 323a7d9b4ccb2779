"""Kernel › Interrupt cancels the cascade the cell started, and the cell says which steps were cancelled.

A real kernel (jupyter_client): an interrupt is a SIGINT to the kernel process, which a plain
InteractiveShell in pytest cannot reproduce. Both ways a cell causes a cascade are covered:
an awaited write (ipykernel cancels the cell's task) and a magic (a synchronous call that
waits on motia_nb's loop thread).
"""

from __future__ import annotations

import queue
import time

import pytest


SETUP = """
%load_ext motia_nb
import asyncio
from motia_nb import state_manager, step, state, trace_frame

@step({"name": "Slow", "triggers": [state(condition=lambda e: e.group_id == "slow")]})
async def slow(event):
    print("started", event.item_id, flush=True)
    await asyncio.sleep(60)
    print("done", event.item_id, flush=True)
"""


@pytest.fixture
def channels(kernel):
    """The kernel's manager and client."""
    return kernel.km, kernel.kc


def run(kc, code: str, *, interrupt_after: str | None = None, km=None, timeout: float = 60) -> dict:
    """Execute ``code``; when ``interrupt_after`` appears on stdout, interrupt the kernel.
    Returns the cell's stdout, stderr and error (ename, traceback) once the kernel is idle."""
    msg_id = kc.execute(code)
    out = {"stdout": "", "stderr": "", "error": None}
    interrupted = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out[content["name"]] += content["text"]
            if interrupt_after and not interrupted and interrupt_after in out["stdout"]:
                km.interrupt_kernel()
                interrupted = True
        elif kind == "error":
            out["error"] = (content["ename"], content["traceback"])
        elif kind == "status" and content["execution_state"] == "idle":
            return out
    raise AssertionError(f"cell did not finish within {timeout}s: {out}")


def test_interrupt_cancels_the_cascade_of_an_awaited_write(channels):
    km, kc = channels
    assert run(kc, SETUP)["error"] is None
    out = run(kc, 'await state_manager.set("slow", "a", 1)', interrupt_after="started a", km=km)
    assert "step 'Slow' cancelled: interrupted (" in out["stderr"]
    ename, tb = out["error"]  # the cell stopped, with one line naming the cancelled step
    assert ename == "CancelledByInterrupt" and tb == ["KeyboardInterrupt: interrupted: cancelled step(s) 'Slow'"]
    check = run(kc, 'print(trace_frame(step="Slow")["status"].tolist()); print(state_manager.sync.get("slow", "a"))')
    assert check["stdout"].split("\n")[:2] == ["['cancelled']", "1"]  # the write stands, the step was cancelled


def test_interrupt_cancels_the_cascade_of_a_magic_in_one_line(channels):
    km, kc = channels
    assert run(kc, SETUP)["error"] is None
    out = run(kc, "%state set slow b 2", interrupt_after="started b", km=km)
    assert "step 'Slow' cancelled: interrupted (" in out["stderr"]
    ename, tb = out["error"]
    assert ename == "Interrupted" and tb == ["KeyboardInterrupt: interrupted: cancelled step(s) 'Slow'"]
    check = run(kc, 'print(trace_frame(step="Slow")["status"].tolist())')
    assert check["stdout"].strip() == "['cancelled']"
    assert "done" not in out["stdout"] + check["stdout"]


PLAIN = """
%load_ext motia_nb
import time
from motia_nb import state_manager, step, state, trace_frame
told = []

@step({"name": "Busy", "triggers": [state(condition=lambda e: e.group_id == "busy")]})
def busy(event):
    try:
        # inside the try: the test interrupts as soon as it reads "started", while this
        # thread may still be in ipykernel's flush (Python code, where the CancelledError
        # the interrupt sends can land) after the text went out
        print("started", event.item_id, flush=True)
        for _ in range(600):
            time.sleep(0.1)
    except BaseException as e:
        told.append(type(e).__name__)
        raise
    print("done", event.item_id, flush=True)
"""


def test_interrupt_tells_a_plain_def_step_and_stops_waiting_for_it(channels):
    km, kc = channels
    assert run(kc, PLAIN)["error"] is None
    out = run(kc, "%state set busy c 3", interrupt_after="started c", km=km)
    assert "step 'Busy' cancelled" in out["stderr"] and out["error"][0] == "Interrupted"
    check = run(kc, "import time\nfor _ in range(50):\n    if told: break\n    time.sleep(0.1)\nprint(told)")
    assert check["stdout"].strip() == "['CancelledError']"
