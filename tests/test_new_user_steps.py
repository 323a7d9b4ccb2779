"""Steps in cells as a new user writes them (found by trying it, see each test).

The step files here are our own, written in the shape of Motia's playground steps
(``frameworks/motia/motia-py/playground/steps/``): module-level ``config`` with the
trigger helpers, ``handler(input)`` / ``handler(request)`` / ``handler(input, ctx)``,
``await stateManager.set(...)``, ``Stream("name")`` with ``await stream.set(...)``.
"""

from __future__ import annotations

import pytest

from motia_nb.session import all_steps, get_step
from motia_nb.state import state_manager
from motia_nb.testing import assert_cell_line_and_one_line, error_lines, run_cell


@pytest.fixture
def ip(steps_ip):
    steps_ip.run_cell("from motia_nb import request, enqueue, step, queue, http")
    return steps_ip


def cell(ip, source: str):
    res = run_cell(ip, source)
    res.raise_error()
    return res.result


# The playground's later 1.0 style: the SDK's calls are coroutines (`await stateManager.set`,
# `await stream.get_group`); 1.0.4's are synchronous. Both must work in a `%%step` cell.
SET_LEVEL = '''
from typing import Any
from motia import http, logger, stateManager

config = {"name": "SetLevel", "triggers": [http("POST", "/members/:id/level")], "flows": ["club"]}

async def handler(request: Any) -> dict[str, Any]:
    member = request.path_params.get("id")
    before = await stateManager.get("members", member)
    result = await stateManager.set("members", member, {"level": request.body.get("level", "bronze")})
    await stateManager.update("members", member, [{"type": "increment", "path": "changes", "by": 1}])
    everyone = await stateManager.list("members")
    groups = await stateManager.list_groups()
    logger.info(f"member {member} updated")
    return {"status": 200, "body": {"before": before, "result": result, "count": len(everyone), "groups": groups}}
'''

NOTES = '''
from typing import Any
from motia import ApiRequest, ApiResponse, Stream, http

notes: Stream[dict[str, Any]] = Stream("notes")

config = {"name": "AddNote", "triggers": [http("POST", "/notes")]}

async def handler(request: ApiRequest[dict[str, Any]]) -> ApiResponse[Any]:
    body = request.body or {}
    stored = await notes.set("inbox", body["id"], {"id": body["id"], "text": body["text"]})
    group = await notes.get_group("inbox")
    one = await notes.get("inbox", body["id"])
    missing = await notes.get("inbox", "nope")
    await notes.delete("inbox", "nope")
    return ApiResponse(status=200, body={"stored": stored, "group": group, "one": one, "missing": missing})
'''


def test_awaited_sdk_calls_in_a_step_cell_work_as_in_later_motia_releases(ip, capsys):
    cell(ip, "%%step\n" + SET_LEVEL)
    cell(ip, "%%step\n" + NOTES)
    r = cell(ip, 'await request("POST", "/members/m1/level", body={"level": "gold"})')
    assert r["status"] == 200, r
    assert r["body"] == {"before": None, "result": {"old_value": None, "new_value": {"level": "gold"}},
                         "count": 1, "groups": {"groups": ["members"]}}
    assert state_manager.sync.get("members", "m1") == {"level": "gold", "changes": 1}
    r = cell(ip, 'await request("POST", "/notes", body={"id": "n1", "text": "héllo"})')
    assert r["status"] == 200, r
    note = {"id": "n1", "text": "héllo"}
    assert r["body"] == {"stored": {"old_value": None, "new_value": note}, "group": [note], "one": note,
                         "missing": None}


def test_the_same_sdk_calls_unawaited_still_return_plain_values(ip):
    # 1.0.4's synchronous style, in a plain cell and in a sync handler: values, not awaitables
    cell(ip, "from motia import stateManager, Stream")
    assert cell(ip, 'stateManager.set("g", "k", 1)') == {"old_value": None, "new_value": 1}
    assert cell(ip, 'stateManager.get("g", "missing")') is None
    assert cell(ip, 'x = stateManager.get("g", "k"); x + 1') == 2
    assert cell(ip, 'await stateManager.get("g", "k")') == 1
    assert cell(ip, '[stateManager.get("g", "k"), await stateManager.get("g", "k")]') == [1, 1]
    assert cell(ip, 'await stateManager.clear("g")') is None
    assert cell(ip, 'Stream("s").get_group("a")') == []


def test_logs_of_a_registered_step_that_has_not_logged_yet_say_so(ip, capsys):
    # was: "no step named 'SetLevel' has logged. Did you mean 'SetLevel'?"
    cell(ip, "%%step\n" + SET_LEVEL)
    capsys.readouterr()
    assert cell(ip, "%motia logs SetLevel").empty
    assert capsys.readouterr().err == "%motia logs: step 'SetLevel' has logged nothing yet\n"
    assert cell(ip, "%motia logs SetLevl").empty
    assert capsys.readouterr().err == "%motia logs: no step named 'SetLevl' has logged. Did you mean 'SetLevel'?\n"


@pytest.mark.parametrize("source, message", [
    ('@step({"name": "Bad", "triggers": [queue("x", condition=lambda a, b, c: True)]})\ndef bad(d): pass',
     "StepConfigError\x1b[0m: step 'Bad': trigger 0 (queue) condition takes 3 required positional parameters"),
    ('@step({"name": "Bad", "triggers": [queue("x")]})\ndef bad(a, b, c): pass',
     "StepConfigError\x1b[0m: step 'Bad': handler takes 3 required positional parameters"),
    ('@step({"triggers": [queue("x")]})\ndef bad(d): pass', "StepConfigError\x1b[0m: step config has no 'name'"),
    ('await run_cron("Nope")', "StepNotFoundError\x1b[0m: no step named 'Nope'"),
    ('await enqueue({"data": 1})', "EnqueueError\x1b[0m: enqueue: 'topic' must be a non-empty str"),
])
def test_a_step_error_in_a_plain_cell_shows_the_cell_line_and_one_line(ip, source, message):
    # was: a full traceback through session.py, registry.py and config.py
    ip.run_cell("from motia_nb import step, queue, run_cron")
    assert_cell_line_and_one_line(error_lines(ip, source), message)


def test_a_state_error_in_a_plain_cell_shows_the_cell_line_and_one_line(ip):
    ip.run_cell("from motia_nb import state_manager")
    lines = error_lines(ip, 'await state_manager.set("g", "k", float("nan"))')
    assert not any("motia_nb" in line for line in lines), lines
    assert lines[-1] == "\x1b[0;31mInvalidInputError\x1b[0m: value for 'g'/'k' is not JSON: $ is NaN", lines


def run_in(ip, cell_id: str, source: str):
    """Run ``source`` as the notebook cell ``cell_id`` (the id JupyterLab sends with each run)."""
    res = ip.run_cell(source, cell_id=cell_id)
    res.raise_error()
    return res


WATCH = '''%%step
from motia import state
config = {"name": "NAME", "triggers": [state(condition=lambda e, c: e.group_id == "g")]}
def handler(event, ctx):
    print("NAME saw", event.item_id)
'''


def test_rerunning_a_cell_drops_the_steps_it_no_longer_defines(ip, capsys):
    # was: renaming a step and re-running its cell left the old step registered and firing
    run_in(ip, "cell-a", WATCH.replace("NAME", "Watch"))
    run_in(ip, "cell-b", '@step({"name": "Other", "triggers": [queue("t")]})\ndef other(d): pass')
    capsys.readouterr()
    run_in(ip, "cell-a", WATCH.replace("NAME", "Watcher"))
    assert capsys.readouterr().out == ("✓ step 'Watcher' registered (state (condition))\n"
                                       "✓ step 'Watch' removed: this cell no longer defines it\n")
    state_manager.sync.set("g", "k", 1)
    assert capsys.readouterr().out == "Watcher saw k\n"
    # the same for @step, and for a cell whose step code was deleted
    run_in(ip, "cell-b", "x = 1")
    assert capsys.readouterr().out == "✓ step 'Other' removed: this cell no longer defines it\n"
    assert [s.name for s in all_steps()] == ["Watcher"]


def test_a_failing_rerun_or_another_cells_redefinition_removes_nothing(ip, capsys):
    run_in(ip, "cell-a", WATCH.replace("NAME", "Watch"))
    assert ip.run_cell("raise ValueError('oops')", cell_id="cell-a").error_in_exec is not None
    assert [s.name for s in all_steps()] == ["Watch"]  # a failed run keeps what the cell defined
    run_in(ip, "cell-c", WATCH.replace("NAME", "Watch"))  # another cell now defines Watch
    run_in(ip, "cell-a", "y = 2")
    assert [s.name for s in all_steps()] == ["Watch"] and get_step("Watch").cell is not None
    run_in(ip, "cell-c", "y = 3")  # its owner's re-run without it does remove it
    assert all_steps() == []
    ip.run_cell(WATCH.replace("NAME", "Term"))  # no cell id (a terminal): nothing is tracked
    ip.run_cell("z = 1")
    assert [s.name for s in all_steps()] == ["Term"]



def test_steps_keep_firing_after_state_use_switches_the_store_mid_session(ip, tmp_path, capsys):
    run_in(ip, "cell-w", WATCH.replace("NAME", "Watch"))
    cell(ip, "%state set g a 1")
    cell(ip, f"%state use {tmp_path / 'other.db'}")
    cell(ip, "%state set g b 2")
    cell(ip, "%state use :memory:")
    cell(ip, "%state set g c 3")
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if "saw" in line] == ["Watch saw a", "Watch saw b", "Watch saw c"]
    assert state_manager.sync.items("g") == [("c", 3)]  # each store holds its own write


# The playground's trace example, in shape: an http step stores a stream item and enqueues it
# (both awaited); the queue step it causes reads it back and writes state, in the same trace.
PLACE = '''
from typing import Any
from motia import ApiRequest, ApiResponse, FlowContext, Stream, enqueue, http, logger

parcels: Stream[dict[str, Any]] = Stream("parcels")
config = {"name": "PlaceParcel", "triggers": [http("POST", "/parcels")], "enqueues": ["parcel.placed"]}

async def handler(request: ApiRequest[dict[str, Any]], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    parcel = {"id": request.body["id"], "trace_id": ctx.trace_id}
    await parcels.set("pending", parcel["id"], parcel)
    await enqueue({"topic": "parcel.placed", "data": parcel})
    return ApiResponse(status=201, body=parcel)
'''

ROUTE = '''
from typing import Any
from motia import FlowContext, Stream, logger, queue, stateManager

parcels: Stream[dict[str, Any]] = Stream("parcels")
config = {"name": "RouteParcel", "triggers": [queue("parcel.placed")]}

async def handler(data: Any, ctx: FlowContext[Any]) -> None:
    current = await parcels.get("pending", data["id"])
    await stateManager.set("routing", data["id"], {"seen": current, "trace_id": ctx.trace_id})
    logger.info("Routed", {"id": data["id"], "same_trace": ctx.trace_id == data["trace_id"]})
'''


def test_a_traced_http_to_queue_pair_in_the_playgrounds_shape(ip, capsys):
    cell(ip, "%%step\n" + PLACE)
    cell(ip, "%%step\n" + ROUTE)
    capsys.readouterr()
    r = cell(ip, 'await request("POST", "/parcels", body={"id": "p1"})')
    assert r["status"] == 201, r
    assert capsys.readouterr().out.startswith('[INFO] RouteParcel: Routed {"id": "p1", "same_trace": true}\nOut')
    routed = state_manager.sync.get("routing", "p1")
    assert routed == {"seen": r["body"], "trace_id": r["body"]["trace_id"]}
    assert state_manager.sync.get("parcels::pending", "p1") == r["body"]  # the stream's item, in %state


def test_remove_with_a_typo_in_one_name_removes_none(ip, capsys):
    # was: the names before the typo were removed, then the cell failed
    run_in(ip, "cell-r", WATCH.replace("NAME", "Watch"))
    res = run_cell(ip, "%motia remove Watch Wacth")
    assert "no step named 'Wacth'" in str(res.error_in_exec)
    assert [s.name for s in all_steps()] == ["Watch"]
    capsys.readouterr()
    cell(ip, "%motia remove Watch Watch")
    assert capsys.readouterr().out == "✓ step 'Watch' removed\n" and all_steps() == []


def test_an_http_body_that_is_not_json_is_the_steps_error_not_a_200(ip, capsys):
    # was: {"status": 200, "body": {1, 2}} answered 200 with a set (the engine cannot send it)
    cell(ip, '@step({"name": "H", "triggers": [http("GET", "/h")]})\n'
             'def h(req): return {"status": 200, "body": {"when": __import__("datetime").date(2026, 1, 1)}}')
    r = cell(ip, 'await request("GET", "/h")')
    assert r["status"] == 500 and "returned a body that is not JSON: $.when is a datetime.date" in r["body"]["error"], r
    assert "✖ step 'H' failed" in capsys.readouterr().err
    cell(ip, '@step({"name": "H", "triggers": [http("GET", "/h")]})\ndef h(req): return {"status": 200, "body": "plain text"}')
    assert cell(ip, 'await request("GET", "/h")') == {"status": 200, "body": "plain text", "headers": {}}
