"""A Motia user's evening with step files pasted unchanged into ``%%step`` cells, in a real kernel
(nbclient), in both worlds: motia_nb's stand-in and the real ``motia==1.0.4rc1`` (``.venv-motia``).

Found by trying it (each a silent difference from what the same file does on the engine):

- a queue trigger with ``input=`` a pydantic model: the handler got the model, but ``ctx.get_data()``,
  ``ctx.input_value`` and ``await ctx.match({...})`` handed on the raw dict in the stand-in
  (``order.id`` failed with ``'dict' object has no attribute 'id'``); Motia's runtime builds the
  ``FlowContext`` from the validated input, as the real world did.
- ``ctx.trigger.index`` (the place of the trigger that fired in ``triggers``, set by Motia's runtime
  for every trigger type) was None in the stand-in; in the real world a step with two state
  triggers always said 0, whichever fired.
- a step with two queue triggers on one topic (``queue("amount", condition=small)``,
  ``queue("amount", condition=big)``): only the first trigger's condition was asked, so a big amount
  ran nothing, silently. The SDK registers one engine function and trigger per trigger, so the
  engine delivers the message to each and runs the step for each whose condition holds; two state
  triggers whose conditions both hold run it twice there too (motia_nb ran the first only).
- ``await asyncio.wait_for(enqueue(...), 0.2)`` / ``async with asyncio.timeout(0.2)`` around a slow
  step, or ``task.cancel()`` of a task awaiting one: the cell failed with ``KeyboardInterrupt:
  interrupted: cancelled step(s) 'Slow'`` though nobody interrupted, and the ``TimeoutError`` /
  ``CancelledError`` asyncio promises never came (every cancel of a step was taken for Kernel ›
  Interrupt). Only a real interrupt (a SIGINT, seen on the wake-up fd) is one now; any other
  cancel is asyncio's, and the cell says which step it cut short.
- A Motia 0.x handler pasted as it was (``await ctx.streams.todo.set(...)``, ``ctx.emit(...)``)
  failed with a bare ``AttributeError: 'FlowContext' object has no attribute 'streams'``; the
  report now ends with how Motia 1.x writes it (``Stream("todo")``, ``enqueue``...).
- ``await run_step_now("Restock", data)`` (motia_nb's manual run) of any Motia step in the real world
  failed with pydantic's ``ValidationError`` for ``TriggerInfo`` (``'manual'`` is none of Motia's
  five trigger types), even for a handler taking no ``ctx``; it runs, ``ctx.trigger.type`` says
  ``manual`` as in the stand-in.
- A queue trigger's ``input=`` JSON Schema where the ``jsonschema`` package is missing (the real
  world's venv: Motia does not require it) was not checked, silently; Motia's runtime logs that it
  skips the check. The cell says so once per step and queue.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from motia_nb.testing import cell_text, kernel_manager_for
from worlds import world_python

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

SETUP = """%load_ext motia_nb
from motia_nb import state_manager, enqueue
import motia"""

CELLS = {
    "model_step": '''%%step
from pydantic import BaseModel
from motia import FlowContext, queue


class Order(BaseModel):
    id: str
    qty: int


config = {"name": "TakeOrder", "triggers": [queue("order.new", input=Order)], "enqueues": []}


async def handler(input, ctx: FlowContext):
    async def on_queue(order):
        print("match", type(order).__name__, order.id)

    print("data", type(ctx.get_data()).__name__, type(ctx.input_value).__name__)
    await ctx.match({"queue": on_queue})''',
    "model_run": 'await enqueue({"topic": "order.new", "data": {"id": "o1", "qty": 2}})',
    "route_step": '''%%step
from motia import http, queue, state


def small(data):
    return data["n"] < 10


def big(data):
    return data["n"] >= 10


config = {
    "name": "Route",
    "triggers": [
        queue("amount", condition=small),
        queue("amount", condition=big),
        http("POST", "/route"),
        state(condition=lambda e: e.group_id == "a"),
        state(condition=lambda e, ctx: e.group_id in ("a", "b") and ctx.trigger.index == 4),
    ],
    "enqueues": [],
}


def handler(input, ctx):
    seen = input if ctx.is_queue() else None if ctx.is_api() else input.group_id
    print("ran", ctx.trigger.type, ctx.trigger.index, seen)
    if ctx.is_api():
        return {"status": 200, "body": ctx.trigger.index}''',
    "route_small": 'await enqueue({"topic": "amount", "data": {"n": 5}})',
    "route_big": 'await enqueue({"topic": "amount", "data": {"n": 50}})',
    "route_http": 'from motia_nb import request\n(await request("POST", "/route"))["body"]',
    "route_state_b": 'await state_manager.set("b", "k", 1)',
    "route_state_a": 'await state_manager.set("a", "k", 1)',
    "slow_step": '''%%step
import asyncio
from motia import http, queue

config = {"name": "Slow", "triggers": [queue("slow"), http("GET", "/slow")], "enqueues": []}


async def handler(data):
    await asyncio.sleep(30)
    return {"status": 200, "body": "late"}''',
    "slow_wait_for": '''import asyncio
try:
    await asyncio.wait_for(enqueue({"topic": "slow", "data": 1}), 0.2)
except TimeoutError:
    print("wait_for timed out")''',
    "slow_timeout": '''from motia_nb import request
try:
    async with asyncio.timeout(0.2):
        await request("GET", "/slow")
except TimeoutError:
    print("timeout timed out")''',
    "slow_task_cancel": '''task = asyncio.create_task(enqueue({"topic": "slow", "data": 1}))
await asyncio.sleep(0.2)
task.cancel()
try:
    await task
except asyncio.CancelledError:
    print("task cancelled", task.cancelled())''',
    "old_ctx_step": '''%%step
from motia import queue

config = {"name": "OldTodo", "triggers": [queue("todo.old")], "enqueues": []}


async def handler(data, ctx):
    await ctx.streams.todo.set("inbox", data["id"], data)''',
    "old_ctx_run": 'await enqueue({"topic": "todo.old", "data": {"id": "t1"}})',
    "manual_step": '''%%step
from motia import queue

config = {"name": "Restock", "triggers": [queue("stock.low")], "enqueues": []}


def handler(data):
    print("restock", data)''',
    "manual_run": 'from motia_nb import run_step_now\nprint((await run_step_now("Restock", {"sku": "a1"})).status)',
    "schema_has": 'import importlib.util\nprint("jsonschema" if importlib.util.find_spec("jsonschema") else "none")',
    "schema_step": '''%%step
from motia import queue

ORDER = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
config = {"name": "Checked", "triggers": [queue("checked", input=ORDER)], "enqueues": []}


async def handler(data):
    print("got", data)''',
    "schema_run": 'await enqueue({"topic": "checked", "data": {"id": 5}})\nawait enqueue({"topic": "checked", "data": {"id": 6}})',
    "slow_trace": '%motia trace\nfrom motia_nb import trace_frame\nprint(trace_frame(step="Slow").status.tolist())',
}


@pytest.fixture(scope="module", params=["standin", "real"])
def ran(request, tmp_path_factory):
    world = request.param
    tmp = tmp_path_factory.mktemp(f"evening-{world}")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [SETUP, *CELLS.values()]])
    km = kernel_manager_for(world_python(world), tmp, f"evening-{world}")
    env = {**os.environ, "MOTIA_NB_DB": str(tmp / "state.db"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    NotebookClient(nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp)}}).execute(env=env)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    return {name: ansi.sub("", cell_text(c)) for name, c in zip(CELLS, nb.cells[1:])}


def test_a_validated_queue_input_is_what_ctx_hands_on(ran):
    assert "registered" in ran["model_step"], ran["model_step"]
    assert ran["model_run"] == "data Order Order\nmatch Order o1\n", ran["model_run"]


def test_each_queue_trigger_of_a_topic_is_its_own_subscription_with_its_index(ran):
    assert "registered" in ran["route_step"], ran["route_step"]
    assert ran["route_small"] == "ran queue 0 {'n': 5}\n", ran["route_small"]
    assert ran["route_big"] == "ran queue 1 {'n': 50}\n", ran["route_big"]
    assert ran["route_http"].startswith("ran http 2 None\n") and ran["route_http"].endswith("2\n"), ran["route_http"]


def test_the_state_trigger_that_fired_gives_the_index_and_each_that_holds_runs(ran):
    # the second state trigger's condition sees its own index (4) in ctx.trigger
    assert ran["route_state_b"].startswith("ran state 4 b\n"), ran["route_state_b"]
    assert "ran state 3" not in ran["route_state_b"], ran["route_state_b"]
    # both hold for group "a": the engine runs the step once per trigger
    assert ran["route_state_a"].startswith("ran state 3 a\nran state 4 a\n"), ran["route_state_a"]


def test_a_timeout_or_cancel_around_a_slow_step_is_asyncios_not_an_interrupt(ran):
    line = "✖ step 'Slow' cancelled: the call waiting for it was cancelled ({}; trace "
    for name, said, label in [("slow_wait_for", "wait_for timed out", "queue slow"),
                               ("slow_timeout", "timeout timed out", "http GET /slow"),
                               ("slow_task_cancel", "task cancelled True", "queue slow")]:
        text = ran[name]
        assert text.startswith(line.format(label)) and text.endswith(f"\n{said}\n"), (name, text)
        assert "KeyboardInterrupt" not in text and "ERROR" not in text, (name, text)
    assert ran["slow_trace"].rstrip().endswith("['cancelled', 'cancelled', 'cancelled']"), ran["slow_trace"]


def test_a_0x_ctx_attribute_says_how_motia_1_writes_it(ran):
    text = ran["old_ctx_run"]
    assert text.startswith("✖ step 'OldTodo' failed (queue todo.old; trace "), text
    assert text.endswith("AttributeError: 'FlowContext' object has no attribute 'streams'\n"
                         "hint: Motia 1.x has no ctx.streams: write `from motia import Stream`, "
                         'then Stream("NAME").set(group_id, id, value)\n'), text


def test_run_step_now_runs_a_motia_step(ran):
    assert ran["manual_run"] == "restock {'sku': 'a1'}\nok\n", ran["manual_run"]


def test_a_json_schema_input_that_cannot_be_checked_is_said_once(ran):
    text = ran["schema_run"]
    if ran["schema_has"] == "jsonschema\n":  # checked: each message refused in one line
        assert text.count("StepInputError: step 'Checked': data on queue 'checked' does not match its input schema: "
                          "input.id: ") == 2, text
    else:
        assert text == ("⚠ step 'Checked': data on queue 'checked' is not checked against its JSON Schema input: the "
                        "jsonschema package is not installed (Motia skips the check too; pip install jsonschema to "
                        "have it)\ngot {'id': 5}\ngot {'id': 6}\n"), text
