"""Kernel › Interrupt stops a slow step that a viewer action (a click in the browser) started.

A real kernel (jupyter_client): the click is a real ``comm_msg`` to the button's widget
model, as the browser sends it, so the action runs as a task on the kernel's loop (not
as a cell), and the interrupt is a real SIGINT to the kernel process.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from test_interrupt_kernel import SETUP as SLOW_STEP

# the slow state step of test_interrupt_kernel, and a viewer whose Add click writes to its group
SETUP = SLOW_STEP + """
from motia_nb.notebook.viewer import viewer

v = viewer("slow", live=False)
v.new_key.value, v.new_value.value = "a", '{"n": 1}'
print(v.add_button.model_id)
"""

# waits for the viewer's action (an event: the task's end), then says what the panel shows
AFTER = """
done, _ = await asyncio.wait([v._last_action], timeout=20)
print("finished:", bool(done))
print("message:", v.message)
print("statuses:", trace_frame(step="Slow")["status"].tolist())
print("stored:", state_manager.sync.get("slow", "a"))
"""


def interrupted_reply(kernel: Any, code: str, started: str) -> dict[str, Any]:
    """Run ``code`` as a cell, interrupt the kernel once its output shows ``started``; the cell's reply."""
    msg_id = kernel.kc.execute(code)
    outputs_of(kernel.kc, msg_id, started)
    kernel.km.interrupt_kernel()
    reply = kernel.kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.kc.get_shell_msg(timeout=30)
    return reply


def click(kc: Any, model_id: str) -> str:
    """Send the ``comm_msg`` a browser sends when a button is clicked; returns its msg_id."""
    msg = kc.session.msg("comm_msg", {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}})
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def outputs_of(kc: Any, msg_id: str, until: str, timeout: float = 30) -> str:
    """Stream text sent on behalf of message ``msg_id``, read until ``until`` shows in it."""
    text = ""
    deadline = time.monotonic() + timeout
    while until not in text:
        if time.monotonic() > deadline:
            raise AssertionError(f"{until!r} not seen within {timeout}s; output so far: {text!r}")
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            text += msg["content"]["text"]
    return text


def lines(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def test_interrupt_cancels_the_slow_step_a_viewer_click_started_and_the_panel_says_so(kernel):
    model_id = kernel.run(SETUP).strip().splitlines()[-1]
    clicked = click(kernel.kc, model_id)
    outputs_of(kernel.kc, clicked, "started a")  # the step runs, in the action's task
    kernel.km.interrupt_kernel()
    after = lines(kernel.run(AFTER))
    assert after["finished"] == "True", f"the step ran on after the interrupt: {after}"
    assert after["statuses"] == "['cancelled']"
    assert after["stored"] == "{'n': 1}"  # the write stands; only the step run was stopped
    message = after["message"]
    assert message == "add 'a' interrupted: cancelled step(s) 'Slow'; the write was made and stands", message

    # the kernel stays usable, and a cell is still interrupted as before
    assert kernel.run("print(1 + 1)").strip() == "2"
    reply = interrupted_reply(kernel, 'await state_manager.set("slow", "b", 2)', "started b")
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "CancelledByInterrupt"


SLOW_CONDITION = """
async def slow_check(event, ctx=None):
    print("checking", event.item_id, flush=True)
    await asyncio.sleep(60)
    return True

@step({"name": "Checked", "triggers": [state(condition=slow_check)]})
async def checked(event):
    print("checked step ran", flush=True)

v.new_group.value, v.new_key.value, v.new_value.value = "cond", "c1", "5"
"""


def test_an_interrupt_outside_a_step_run_stops_the_action_and_the_panel_says_so(kernel):
    """Cancelled while a trigger condition is awaited (no step run to name): the action's task
    stops, the panel shows the store as it is and says the action was interrupted."""
    model_id = kernel.run(SETUP).strip().splitlines()[-1]
    kernel.run(SLOW_CONDITION)
    clicked = click(kernel.kc, model_id)
    outputs_of(kernel.kc, clicked, "checking c1")
    kernel.km.interrupt_kernel()
    after = lines(kernel.run(AFTER.replace('"slow", "a"', '"cond", "c1"').replace('step="Slow"', 'step="Checked"')))
    assert after["finished"] == "True", f"the condition ran on after the interrupt: {after}"
    assert after["stored"] == "5" and after["statuses"] == "[]"
    assert after["message"] == (
        "interrupted: the action was cancelled (a write it made stands); showing the stored state"
    ), after
    groups = kernel.run("print([value for _, value in v.groups.options])").strip()
    assert "'cond'" in groups, groups  # the panel was refreshed: it lists the group the write made


def test_an_interrupt_between_actions_cancels_nothing_later(kernel):
    """An action that ran to its end leaves nothing armed: an interrupt while the kernel is idle
    cancels no later action, and a cell is interrupted as before."""
    model_id = kernel.run(SETUP).strip().splitlines()[-1]
    for key in ("f", "g"):
        kernel.run(f'v.new_group.value, v.new_key.value, v.new_value.value = "fast", "{key}", "2"')
        click(kernel.kc, model_id)
        after = lines(kernel.run(AFTER.replace('"slow", "a"', f'"fast", "{key}"')))
        assert after["finished"] == "True" and after["message"] == f"added fast/{key}", after
        assert after["stored"] == "2"
        kernel.km.interrupt_kernel()  # nothing runs: nothing to cancel
        assert kernel.run("print(1 + 1)").strip() == "2"
    reply = interrupted_reply(kernel, "%state set slow c 3", "started c")
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "Interrupted", "\n".join(reply["content"]["traceback"])


# ---------------------------------------------------------------------- the helper, in this process
def test_cancel_on_interrupt_cancels_only_inside_the_block_and_puts_the_handler_back():
    """Between cells ipykernel ignores SIGINT (SIG_IGN); inside the block a SIGINT cancels the task
    and says it was ours; after it the ignoring handler is back and a SIGINT cancels nothing."""
    import asyncio
    import signal

    from motia_nb._interrupts import cancel_on_interrupt

    async def main() -> tuple[bool, bool, bool, object]:
        with cancel_on_interrupt() as watch:
            assert watch is not None and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
            asyncio.get_running_loop().call_later(0.05, signal.raise_signal, signal.SIGINT)
            try:
                await asyncio.sleep(30)
                cancelled = False
            except asyncio.CancelledError:
                cancelled = True
        handler_after = signal.getsignal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # ignored now
        await asyncio.sleep(0.05)  # a cancel, had one been sent, would land here
        return cancelled, watch.interrupted, asyncio.current_task().cancelling() == 0, handler_after

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cancelled, ours, uncancelled, handler_after = asyncio.run(asyncio.wait_for(main(), 10))
    finally:
        signal.signal(signal.SIGINT, before)
    assert cancelled and ours and uncancelled
    assert handler_after is signal.SIG_IGN


def test_cancel_on_interrupt_leaves_sigint_to_whoever_owns_it_now():
    """While a cell runs, ipykernel's handler owns SIGINT: nothing is installed, the interrupt stays the cell's."""
    import asyncio
    import signal

    from motia_nb._interrupts import cancel_on_interrupt

    def cells_handler(signum, frame):  # stands for ipykernel's handler while a cell runs
        pass

    async def main() -> tuple[object, object]:
        with cancel_on_interrupt() as watch:
            return watch, signal.getsignal(signal.SIGINT)

    before = signal.signal(signal.SIGINT, cells_handler)
    try:
        watch, inside = asyncio.run(main())
        after = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, before)
    assert watch is None and inside is cells_handler and after is cells_handler
