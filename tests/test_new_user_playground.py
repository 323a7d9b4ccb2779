"""Step files in the shape of Motia 1.0's Python playground, as a new user runs them.

``MotiaDev/motia``'s ``frameworks/motia/motia-py/playground/steps/`` (greetings, conditions,
state_example, stream_example, otel_example, api_steps/sse, multi_trigger) — our own step
files with the same SDK calls and patterns, not copies — each in a ``%%step`` cell of a
real kernel, triggered as a user would (``await request``, ``%motia request``, ``enqueue``
from ``motia``, a state write, ``run_cron`` / ``%motia cron run``), in both worlds:
motia_nb's stand-in (this venv, no ``motia`` package) and the real ``motia==1.0.4rc1``
(the ``.venv-motia`` kernel ``make test`` builds).

Found by trying it: with the real package, ``stateManager.clear`` was the SDK's own (list
the scope, delete ``item["id"]`` of values that have an ``id``): an item without an ``id``
stayed, and an item whose ``id`` named another key deleted that other item instead.
SPEC §7: in both worlds ours removes every item.
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
from motia_nb import state_manager, request, run_cron
import motia
print(motia.__name__, motia.stateManager.__class__.__module__)"""

# greetings/: a Stream written by an http step (query parameter), read and deleted by others
CLUB_JOIN = '''%%step
"""Join the club: store a member in a stream."""
from typing import Any
from motia import ApiRequest, ApiResponse, Stream, http, logger

MEMBERS = "members"
club: Stream[dict[str, Any]] = Stream("club")


def _first(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


config = {"name": "Join", "description": "join", "triggers": [http("GET", "/join")], "enqueues": []}


def handler(request: ApiRequest[Any]) -> ApiResponse[dict[str, Any]]:
    who = _first(request.query_params.get("who")) or "nobody"
    member = {"who": who, "msg": f"welcome {who}"}
    club.set(MEMBERS, who, member)
    logger.info("Member joined", {"who": who})
    return ApiResponse(status=200, body=member)
'''

CLUB_MEMBER = '''%%step
from typing import Any
from motia import ApiRequest, ApiResponse, FlowContext, Stream, http, logger

club: Stream[dict[str, Any]] = Stream("club")
config = {"name": "Member", "triggers": [http("GET", "/club/:who")]}


def handler(request: ApiRequest[Any], ctx: FlowContext[Any]) -> ApiResponse[dict[str, Any]]:
    member = club.get("members", request.path_params.get("who"))
    if member is None:
        return ApiResponse(status=404, body={"error": "not found"})
    return ApiResponse(status=200, body=member)
'''

CLUB_LEAVE = '''%%step
from typing import Any
from motia import ApiRequest, ApiResponse, Stream, http, logger

club: Stream[dict[str, Any]] = Stream("club")
config = {"name": "Leave", "triggers": [http("DELETE", "/club/:who")]}


def handler(request: ApiRequest[Any]) -> ApiResponse[Any]:
    who = request.path_params.get("who")
    club.delete("members", who)
    logger.info("Member left", {"who": who})
    return ApiResponse(status=204, body="")
'''

# conditions/mixed_triggers_step.py: a queue condition and an http condition on one step, ctx.match
MIXED = '''%%step
from typing import Any
from motia import ApiRequest, ApiResponse, FlowContext, http, logger, queue


def is_big(input: Any, ctx: FlowContext[Any]) -> bool:
    data = input or {}
    amount = data.get("amount", 0) if isinstance(data, dict) else 0
    return amount > 100


def is_trusted(input: Any, ctx: FlowContext[Any]) -> bool:
    if isinstance(input, ApiRequest):
        body = input.body or {}
        return (body.get("user", {}) if isinstance(body, dict) else {}).get("verified", False)
    data = input or {}
    return (data.get("user", {}) if isinstance(data, dict) else {}).get("verified", False)


config = {
    "name": "MixedSale",
    "triggers": [queue("sale.made", condition=is_big), http("POST", "/sales", condition=is_trusted)],
    "enqueues": ["sale.done"],
}


def handler(input_data: Any, ctx: FlowContext[Any]) -> Any:
    def _on_queue(input: Any) -> None:
        logger.info("Sale (queue)", {"data": input, "topic": ctx.trigger.topic})

    def _on_http(request: ApiRequest[Any]) -> ApiResponse[Any]:
        logger.info("Sale (api)", {"path": ctx.trigger.path, "method": ctx.trigger.method})
        return ApiResponse(status=200, body={"message": "sale via API"})

    return ctx.match({"queue": _on_queue, "http": _on_http})
'''

# state_example/: an http step writes state; a state step (condition on the group) enqueues
MEMBER_STATUS = '''%%step
from typing import Any
from motia import http, logger, stateManager

config = {"name": "set-member-status", "triggers": [http("POST", "/members/:id/status")], "flows": ["club"]}


def handler(request: Any) -> dict[str, Any]:
    if not request.path_params or "id" not in request.path_params:
        return {"status": 400, "body": {"error": "Missing required path parameter: id"}}
    if request.body is None or not hasattr(request.body, "get"):
        return {"status": 400, "body": {"error": "Request body must be a valid object"}}
    member_id = request.path_params.get("id")
    status = request.body.get("status", "active")
    stateManager.set("members", member_id, {"status": status})
    logger.info(f"Member {member_id} is now {status}")
    return {"status": 200, "body": {"id": member_id, "status": status}}
'''

ON_MEMBER = '''%%step
from typing import Any
from motia import StateTriggerInput, enqueue, logger, state

config = {
    "name": "on-member-change",
    "triggers": [state(condition=lambda input, ctx: input.group_id == "members")],
    "enqueues": ["member.changed"],
    "flows": ["club"],
}


def handler(input: StateTriggerInput) -> None:
    old = input.old_value.get("status") if isinstance(input.old_value, dict) else None
    new = input.new_value.get("status") if isinstance(input.new_value, dict) else None
    logger.info("Member changed", {"item_id": input.item_id, "old": old, "new": new})
    enqueue({"topic": "member.changed", "data": {"member": input.item_id, "old": old, "new": new}})
'''

AUDIT = '''%%step
from typing import Any
from motia import FlowContext, logger, queue, stateManager

config = {"name": "AuditMember", "triggers": [queue("member.changed")], "flows": ["club"]}


def handler(data: Any, ctx: FlowContext[Any]) -> None:
    stateManager.set("audit", data["member"], {**data, "trace_id": ctx.trace_id})
    logger.info("Audited", {"member": data["member"]})
'''

# stream_example/: a stream trigger sees create / update / delete with the item's data
ON_TODO = '''%%step
from typing import Any
from motia import StreamTriggerInput, enqueue, logger, stream

config = {"name": "on-todo", "triggers": [stream("todo")], "enqueues": ["todo.seen"]}


def handler(input: StreamTriggerInput) -> None:
    logger.info("Todo event", {"group_id": input.group_id, "item_id": input.id, "type": input.event.type,
                               "data": input.event.data})
'''

# otel_example/: http -> queue -> queue, one trace id the whole way, logger.warn on a miss
OPEN_TICKET = '''%%step
from typing import Any
from motia import ApiRequest, ApiResponse, FlowContext, Stream, enqueue, http, logger

tickets: Stream[dict[str, Any]] = Stream("tickets")
config = {"name": "OpenTicket", "flows": ["help"], "triggers": [http("POST", "/tickets")], "enqueues": ["ticket.opened"]}


def handler(request: ApiRequest[dict[str, Any]], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    body = request.body or {}
    if not body.get("title"):
        return ApiResponse(status=400, body={"error": "title is required"})
    ticket = {"id": body["id"], "title": body["title"], "status": "open", "trace_id": ctx.trace_id}
    tickets.set("open", ticket["id"], ticket)
    enqueue({"topic": "ticket.opened", "data": {"data": ticket}})
    logger.info("Ticket opened", {"id": ticket["id"], "trace_id": ctx.trace_id})
    return ApiResponse(status=201, body=ticket)
'''

TRIAGE = '''%%step
from typing import Any
from motia import FlowContext, Stream, enqueue, logger, queue, stateManager

tickets: Stream[dict[str, Any]] = Stream("tickets")
config = {"name": "TriageTicket", "flows": ["help"], "triggers": [queue("ticket.opened")], "enqueues": ["ticket.triaged"]}


def handler(data: Any, ctx: FlowContext[Any]) -> None:
    ticket = data.get("data", {}) if isinstance(data, dict) else {}
    ticket_id = ticket.get("id", "unknown")
    current = tickets.get("open", ticket_id)
    if current:
        stateManager.set("triage", ticket_id, {"status": "triaging", "trace_id": ctx.trace_id})
        enqueue({"topic": "ticket.triaged", "data": {"data": {**current, "status": "triaged"}}})
        logger.info("Ticket triaged", {"id": ticket_id})
    else:
        logger.warn("Ticket not found", {"id": ticket_id})
'''

NOTIFY = '''%%step
from typing import Any
from motia import FlowContext, logger, queue, stateManager

config = {"name": "NotifyTicket", "flows": ["help"], "triggers": [queue("ticket.triaged")]}


def handler(data: Any, ctx: FlowContext[Any]) -> None:
    ticket = data.get("data", {})
    stateManager.set("notified", ticket["id"], {"notified": True, "trace_id": ctx.trace_id})
'''

# conditions/cron_with_condition_step.py: a 7-field cron (seconds first, year last) with a condition
CRON = '''%%step
from typing import Any
from motia import FlowContext, cron, logger, stateManager


def is_open(input: Any, ctx: FlowContext[Any]) -> bool:
    return bool((stateManager.get("shop", "hours") or {}).get("open"))


config = {"name": "OpenHoursTask", "triggers": [cron("5 * * * * * *", condition=is_open)], "enqueues": []}


def handler(input: None) -> None:
    logger.info("Open-hours task ran", {"input": input})
'''

# api_steps/sse_step.py: a form body read by iterating request_body.stream, events written back
SSE = '''%%step
import json
from typing import Any
from urllib.parse import parse_qsl
from motia import MotiaHttpArgs, http, logger

config = {"name": "Form Events", "flows": ["sse"], "triggers": [http("POST", "/form-events")], "enqueues": []}


async def handler(args: MotiaHttpArgs[Any]) -> None:
    request, response = args.request, args.response
    logger.info("Form received", {"headers": {k: v for k, v in request.headers.items() if k.lower() == "content-type"}})
    await response.status(200)
    await response.headers({"content-type": "text/event-stream", "cache-control": "no-cache"})
    raw = []
    for chunk in request.request_body.stream:
        raw.append(chunk.decode("utf-8", errors="replace") if isinstance(chunk, bytes) else str(chunk))
    fields = dict(parse_qsl("".join(raw).strip(), keep_blank_values=True))
    for name, value in fields.items():
        response.writer.stream.write(f"event: item\\ndata: {json.dumps({name: value})}\\n\\n".encode("utf-8"))
    response.writer.stream.write(f"event: done\\ndata: {json.dumps({'total': len(fields)})}\\n\\n".encode("utf-8"))
    response.close()
'''

STEPS = [CLUB_JOIN, CLUB_MEMBER, CLUB_LEAVE, MIXED, MEMBER_STATUS, ON_MEMBER, AUDIT, ON_TODO, OPEN_TICKET, TRIAGE,
         NOTIFY, CRON, SSE]

CHECKS = {
    "greetings": """r = await request("GET", "/join", query={"who": "ann"})
print(r["status"], r["body"])
print((await request("GET", "/join?who=cy"))["body"]["who"])
print((await request("GET", "/club/ann"))["status"], (await request("DELETE", "/club/ann"))["status"])
print((await request("GET", "/club/ann"))["status"], motia.Stream("club").get_group("members"))""",
    "greetings_magic": "%motia request DELETE /club/cy",
    "mixed": """print((await request("POST", "/sales", body={"user": {"verified": True}}))["status"])
print((await request("POST", "/sales", body={"user": {"verified": False}}))["status"])
motia.enqueue({"topic": "sale.made", "data": {"amount": 500}})
motia.enqueue({"topic": "sale.made", "data": {"amount": 5}})""",
    "state_example": """r = await request("POST", "/members/u1/status", body={"status": "gold"})
r2 = await request("POST", "/members/u1/status", body={"status": "silver"})
r3 = await request("POST", "/members/u1/status", body="not an object")
audit = await state_manager.get("audit", "u1")
print(r["status"], r2["body"], r3["status"], r3["body"]["error"])
print(audit["old"], audit["new"], len(audit["trace_id"]) > 0)""",
    "stream_example": """todo = motia.Stream("todo")
todo.set("inbox", "t1", {"text": "milk"})
todo.set("inbox", "t1", {"text": "milk", "done": True})
todo.delete("inbox", "t1")
print("todos left", todo.get_group("inbox"))""",
    "otel": """r = await request("POST", "/tickets", body={"id": "T1", "title": "printer"})
trace = r["body"]["trace_id"]
print(r["status"], (await state_manager.get("triage", "T1"))["trace_id"] == trace,
      (await state_manager.get("notified", "T1"))["trace_id"] == trace)
motia.enqueue({"topic": "ticket.opened", "data": {"data": {"id": "T9"}}})
print((await request("POST", "/tickets", body={"id": "T2"}))["status"])""",
    "cron": """await run_cron("OpenHoursTask")
print("closed ran nothing")
_ = await state_manager.set("shop", "hours", {"open": True})""",
    "cron_magic": "%motia cron run OpenHoursTask",
    "sse": """r = await request("POST", "/form-events", body="a=1&b=two",
                  headers={"content-type": "application/x-www-form-urlencoded"})
print(r["status"], r["headers"]["content-type"])
print(r["body"])""",
    "clear": """from motia import stateManager
stateManager.set("cleanup", "k1", {"id": "k2", "who": "first"})
stateManager.set("cleanup", "k2", {"who": "second"})
stateManager.set("cleanup", "k3", {"id": "k3"})
print("clear ->", stateManager.clear("cleanup"), "left:", stateManager.list("cleanup"))""",
    # an SDK call the engine refuses, from a plain cell (the stand-in's and the real SDK's path)
    "sdk_error": """from motia import Stream
todo = Stream("todo")
todo.set("inbox", "n", 1)
todo.update("inbox", "n", [{"type": "set", "path": "done", "value": True}])""",
}


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _error(cell: nbformat.NotebookNode) -> list[str]:
    """The lines the front end shows for the cell's error (colours removed)."""
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1, cell.outputs
    return ANSI.sub("", "\n".join(errors[0].traceback)).splitlines()


@pytest.fixture(scope="module", params=["standin", "real"])
def ran(request, tmp_path_factory):
    world = request.param
    python = world_python(world)
    tmp = tmp_path_factory.mktemp(f"playground-{world}")
    cells = [SETUP, *STEPS, *CHECKS.values()]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    km = kernel_manager_for(python, tmp, f"playground-{world}")
    env = {**os.environ, "MOTIA_NB_DB": str(tmp / "state.db"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    client = NotebookClient(nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp)}})
    client.execute(env=env)
    texts = [cell_text(c) for c in nb.cells]
    out = {"world": world, "setup": texts[0], "steps": texts[1 : 1 + len(STEPS)]}
    out.update(zip(CHECKS, texts[1 + len(STEPS) :]))
    out["sdk_error_lines"] = _error(nb.cells[1 + len(STEPS) + list(CHECKS).index("sdk_error")])
    return out


def test_every_step_file_registers_in_its_world(ran):
    assert ran["setup"].startswith("motia " if ran["world"] == "real" else "motia_nb.motia "), ran["setup"]
    assert "motia_nb: the installed `motia` package cannot be imported" not in ran["setup"]
    for text in ran["steps"]:
        assert text.startswith("✓ step ") and "ERROR" not in text, text


def test_greetings_shaped_stream_steps(ran):
    assert ran["greetings"] == (
        '[INFO] Join: Member joined {"who": "ann"}\n'
        "200 {'who': 'ann', 'msg': 'welcome ann'}\n"
        '[INFO] Join: Member joined {"who": "cy"}\n'
        "cy\n"
        '[INFO] Leave: Member left {"who": "ann"}\n'
        "200 204\n"
        "404 [{'who': 'cy', 'msg': 'welcome cy'}]\n"
    ), ran["greetings"]
    assert ran["greetings_magic"].startswith('[INFO] Leave: Member left {"who": "cy"}\n'), ran["greetings_magic"]
    assert "'status': 204" in ran["greetings_magic"] and "'body': ''" in ran["greetings_magic"]


def test_conditions_on_a_queue_and_an_http_trigger_of_one_step(ran):
    # the http condition gets an ApiRequest (isinstance works), a false one answers 422 as the engine does
    assert ran["mixed"] == (
        '[INFO] MixedSale: Sale (api) {"path": "/sales", "method": "POST"}\n'
        "200\n422\n"
        '[INFO] MixedSale: Sale (queue) {"data": {"amount": 500}, "topic": "sale.made"}\n'
    ), ran["mixed"]


def test_state_example_shaped_http_state_queue_cascade(ran):
    out = ran["state_example"]
    assert out.count("[INFO] on-member-change: Member changed") == 2, out
    assert '{"item_id": "u1", "old": "gold", "new": "silver"}' in out, out
    assert out.count("[INFO] AuditMember: Audited") == 2, out
    assert "[INFO] set-member-status: Member u1 is now silver" in out, out
    assert out.endswith("200 {'id': 'u1', 'status': 'silver'} 400 Request body must be a valid object\n"
                        "gold silver True\n"), out


def test_stream_trigger_sees_create_update_and_delete_with_the_data(ran):
    assert ran["stream_example"] == (
        '[INFO] on-todo: Todo event {"group_id": "inbox", "item_id": "t1", "type": "create", "data": {"text": "milk"}}\n'
        '[INFO] on-todo: Todo event {"group_id": "inbox", "item_id": "t1", "type": "update", '
        '"data": {"text": "milk", "done": true}}\n'
        '[INFO] on-todo: Todo event {"group_id": "inbox", "item_id": "t1", "type": "delete", '
        '"data": {"text": "milk", "done": true}}\n'
        "todos left []\n"
    ), ran["stream_example"]


def test_one_trace_id_from_the_http_call_through_two_queues(ran):
    out = ran["otel"]
    assert "[INFO] TriageTicket: Ticket triaged" in out and "[INFO] OpenTicket: Ticket opened" in out, out
    assert "201 True True\n" in out, out
    assert '[WARN] TriageTicket: Ticket not found {"id": "T9"}\n' in out, out
    assert out.endswith("400\n"), out


def test_a_seven_field_cron_with_a_condition(ran):
    # (run by name while its condition is false: one line says it did not run)
    assert ran["cron"] == ("⚠ cron step 'OpenHoursTask' did not run: its condition is_open is false now "
                           "(its trigger's condition, as on its schedule)\nclosed ran nothing\n"), ran["cron"]
    assert ran["cron_magic"] == '[INFO] OpenHoursTask: Open-hours task ran {"input": null}\n', ran["cron_magic"]


def test_an_sse_step_reads_a_form_body_by_iterating_the_stream(ran):
    assert ran["sse"] == (
        '[INFO] Form Events: Form received {"headers": {"content-type": "application/x-www-form-urlencoded"}}\n'
        "200 text/event-stream\n"
        'event: item\ndata: {"a": "1"}\n\nevent: item\ndata: {"b": "two"}\n\nevent: done\ndata: {"total": 2}\n\n\n'
    ), ran["sse"]


def test_state_manager_clear_removes_every_item_in_both_worlds(ran):
    # the real SDK's own clear deleted key "k2" (k1's `id`) and kept k1: ours removes every item
    assert ran["clear"] == "clear -> None left: []\n", ran["clear"]


def test_an_sdk_call_the_engine_refuses_shows_the_cells_line_and_one_line(ran):
    # it showed some twenty frames of motia_nb's in-process client, its threads and asyncio
    # (and the SDK's own) before the message, as motia_nb's own state errors no longer do
    lines = ran["sdk_error_lines"]
    assert len(lines) == 3, "\n".join(lines)
    assert re.fullmatch(r"Cell In\[\d+\], line 4, in <module>", lines[0]), lines
    assert lines[1].strip() == 'todo.update("inbox", "n", [{"type": "set", "path": "done", "value": True}])'
    assert lines[2].startswith("EngineFunctionError: set.target_not_object: "), lines
