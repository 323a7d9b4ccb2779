"""A Motia user's afternoon with their own step code (found by trying it in a real kernel).

Each was a silent surprise or a bare error:

- ``http("GET", "/orders/{id}")`` (OpenAPI's way of writing a param) was a literal path:
  ``request("GET", "/orders/42")`` answered 404, only ``/orders/{id}`` itself matched. The
  iii engine reads ``{id}`` as a param too (its http worker turns ``:id`` into ``{id}`` for
  its router and passes ``{id}`` through): both are params now.
- two steps of one name in one cell (``@step`` twice, or a ``%%step`` file's ``config`` and a
  ``motia.step(...)`` beside it): the second silently replaced the first. A step's name is its
  identity in Motia (its functions are ``steps::<name>::…``): the second is refused.
- a config without ``triggers`` (or with ``"trigger"``) said ``✓ step 'X' registered (no
  triggers)`` and never ran; Motia 1.0's ``StepConfig`` requires ``triggers``.
- ``state.set(...)`` (the trigger helper taken for the state API): ``AttributeError:
  'function' object has no attribute 'set'``; it now says what ``state`` is and what to write.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from motia_nb import http, queue, register, state, state_manager
from motia_nb.session import all_steps, get_step
from motia_nb.steps import StepConfigError
from motia_nb.steps.config import parse_config
from motia_nb.testing import cell_text, error_lines, kernel_manager_for, run_cell
from worlds import world_python  # (the kernel's python in each world)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ip(steps_ip):
    steps_ip.run_cell("from motia_nb import request, enqueue, step, queue, http, state, state_manager")
    return steps_ip


def cell(ip, source: str):
    res = run_cell(ip, source)
    res.raise_error()
    return res.result


# ---------------------------------------------------------------- {id} params


def test_a_braced_path_param_is_a_param_as_in_the_engine(ip, capsys):
    cell(ip, '@step({"name": "Order", "triggers": [http("GET", "/orders/{id}/lines/{line}")]})\n'
             'def order(req): return {"status": 200, "body": req.path_params}')
    assert cell(ip, 'await request("GET", "/orders/42/lines/7")') == {
        "status": 200, "body": {"id": "42", "line": "7"}, "headers": {}}
    assert get_step("Order").triggers[0].path == "/orders/:id/lines/:line"
    # the same route written both ways is one route
    with pytest.raises(StepConfigError, match=r"http route GET /orders/:oid/lines/:n is already served by step 'Order' \(GET /orders/:id/lines/:line\)"):
        register({"name": "Other", "triggers": [http("GET", "/orders/:oid/lines/{n}")]}, lambda r: None)


@pytest.mark.parametrize("path, bad", [("/orders/{id", "{id"), ("/orders/{}", "{}"), ("/orders/{1x}", "{1x}"),
                                       ("/orders/id}", "id}"), ("/orders/x{id}", "x{id}")])
def test_a_malformed_braced_segment_is_refused_in_one_line(path, bad):
    with pytest.raises(StepConfigError) as exc:
        parse_config({"name": "A", "triggers": [http("GET", path)]})
    assert str(exc.value) == (f"step 'A': trigger 0 (http) path {path!r}: bad param segment {bad!r} "
                              "(write a param as :name or {name})")


# ---------------------------------------------------------------- two steps, one name, one cell


def test_two_steps_of_one_name_in_one_cell_refuse_the_second(ip, capsys):
    src = ('@step({"name": "Dup", "triggers": [queue("d")]})\ndef first(d): print("first")\n\n'
           '@step({"name": "Dup", "triggers": [queue("d")]})\ndef second(d): print("second")')
    lines = error_lines(ip, src)
    assert lines[-1] == ("\x1b[0;31mStepConfigError\x1b[0m: step 'Dup' is defined twice in this cell; "
                         "give each step its own name (the first definition stands)"), lines
    assert not any("motia_nb" in line for line in lines), lines
    capsys.readouterr()
    cell(ip, 'await enqueue({"topic": "d", "data": 1})')
    assert capsys.readouterr().out == "first\n"
    # running a cell again still replaces its step; so does another cell's step of that name
    cell(ip, '@step({"name": "Dup", "triggers": [queue("d")]})\ndef third(d): print("third")')
    cell(ip, 'await enqueue({"topic": "d", "data": 1})')
    assert capsys.readouterr().out == "third\n"
    assert [s.name for s in all_steps()] == ["Dup"]


def test_a_step_file_cell_defining_its_name_twice_is_refused(ip, capsys):
    lines = error_lines(ip, '''%%step
from motia import queue, step
other = step({"name": "Twice", "triggers": [queue("t")]}, lambda d: print("a"))
config = {"name": "Twice", "triggers": [queue("t")]}
def handler(d): print("b")''')
    assert lines[-1] == ("\x1b[0;31mStepConfigError\x1b[0m: step 'Twice' is defined twice in this cell; "
                         "give each step its own name (the first definition stands)"), lines


def test_registering_outside_a_cell_still_replaces(steps_ip):
    register({"name": "R", "triggers": [queue("r")]}, lambda d: None)
    assert register({"name": "R", "triggers": [queue("r2")]}, lambda d: None)[1] is True


# ---------------------------------------------------------------- no triggers


@pytest.mark.parametrize("config, message", [
    ({"name": "Quiet"},
     "step 'Quiet': config has no 'triggers': Motia 1.0 requires it (e.g. \"triggers\": [queue(\"topic\")]; "
     "\"triggers\": [] for a step nothing triggers)"),
    ({"name": "Typo", "trigger": [{"type": "queue", "topic": "t"}]},
     "step 'Typo': config has no 'triggers' (it has 'trigger': did you mean 'triggers'?)"),
    ({"name": "Case", "Triggers": []},
     "step 'Case': config has no 'triggers' (it has 'Triggers': did you mean 'triggers'?)"),
])
def test_a_config_without_triggers_is_refused(config, message):
    with pytest.raises(StepConfigError) as exc:
        parse_config(config)
    assert str(exc.value) == message


def test_an_empty_triggers_list_is_still_a_step(steps_ip):
    assert register({"name": "Noop", "triggers": []}, lambda d: None)[0].triggers == []


# ---------------------------------------------------------------- state.set


STATE_HINT = ("'state' is the state trigger helper (state(condition=...) in a step's triggers), not the state API: "
              "write await state_manager.{0}(...) (from motia_nb import state_manager), or stateManager.{0}(...) "
              "in a Motia step file (from motia import stateManager)")


@pytest.mark.parametrize("call", ['state.set("g", "k", 1)', 'await state.get("g", "k")', "state.list_groups()"])
def test_the_state_trigger_helper_used_as_the_state_api_says_so(ip, call):
    name = re.match(r"(?:await )?state\.(\w+)", call).group(1)
    lines = error_lines(ip, call)  # the cell's line, then one line (the hint names motia_nb's import)
    assert len(lines) == 3 and lines[0].endswith(", line 1, in <module>") and lines[1].strip() == call, lines
    assert lines[2] == "\x1b[0;31mStateHelperError\x1b[0m: " + STATE_HINT.format(name), lines


def test_the_state_helper_is_still_the_trigger_helper():
    cond = lambda e: True  # noqa: E731
    assert state() == {"type": "state"} and state(condition=cond) == {"type": "state", "condition": cond}
    assert state(cond) == {"type": "state", "condition": cond}
    assert getattr(state, "_repr_html_", None) is None and not hasattr(state, "__wrapped__")
    assert "state trigger" in state.__doc__


# ---------------------------------------------------------------- the same, in real kernels, both worlds

SETUP = "%load_ext motia_nb\nfrom motia_nb import state_manager, request, enqueue, step, queue, state"

CELLS = {
    "braced": '''%%step
from typing import Any
from motia import ApiRequest, ApiResponse, http, logger

config = {"name": "GetOrder", "triggers": [http("GET", "/orders/{id}")], "flows": ["shop"]}

async def handler(request: ApiRequest[Any]) -> ApiResponse[Any]:
    logger.info("order asked", {"id": request.path_params.get("id")})
    return ApiResponse(status=200, body={"id": request.path_params.get("id")})''',
    "braced_call": 'r = await request("GET", "/orders/42")\nprint(r["status"], r["body"])',
    "twice": '''@step({"name": "Dup", "triggers": [queue("d")]})
def first(d): print("first")

@step({"name": "Dup", "triggers": [queue("d")]})
def second(d): print("second")''',
    "twice_after": 'await enqueue({"topic": "d", "data": 1})',
    # was: Out[n]: <motia_nb._calls.NotAwaitedCall at 0x7f…>, nothing else (the result cache keeps
    # the call alive, so the line said when it is dropped unawaited never came)
    "unawaited": 'enqueue({"topic": "d", "data": 2})',
    "no_triggers": '''%%step
from motia import queue
config = {"name": "Quiet", "trigger": [queue("q")], "flows": ["shop"]}
def handler(data): print("never")''',
    "state_set": 'state.set("orders", "o1", {"total": 1})',
    "steps": "print(sorted(s.name for s in __import__('motia_nb').all_steps()))",
    # Motia 0.x's ctx.logger: motia_nb's ctx has it; the real SDK's FlowContext (a pydantic model) does not
    "ctx_logger": '''%%step
from motia import queue
config = {"name": "OldStyle", "triggers": [queue("old")]}
async def handler(data, ctx):
    ctx.logger.info("old style", {"data": data})''',
    "ctx_logger_call": 'await enqueue({"topic": "old", "data": 1})',
}


@pytest.fixture(scope="module", params=["standin", "real"])
def ran(request, tmp_path_factory):
    world = request.param
    tmp = tmp_path_factory.mktemp(f"afternoon-{world}")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [SETUP, *CELLS.values()]])
    km = kernel_manager_for(world_python(world), tmp, f"afternoon-{world}")
    env = {**os.environ, "MOTIA_NB_DB": str(tmp / "state.db"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    NotebookClient(nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp)}}).execute(env=env)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    return {"world": world, **dict(zip(["setup", *CELLS], (ansi.sub("", cell_text(c)) for c in nb.cells)))}


@pytest.mark.slow
def test_in_a_real_kernel(ran):
    assert ran["braced"] == "✓ step 'GetOrder' registered (http GET /orders/:id)\n", ran["braced"]
    assert ran["braced_call"] == '[INFO] GetOrder: order asked {"id": "42"}\n200 {\'id\': \'42\'}\n', ran["braced_call"]
    assert ran["twice"].startswith("ERROR "), ran["twice"]
    assert ran["twice"].endswith("StepConfigError: step 'Dup' is defined twice in this cell; give each step its own "
                                 "name (the first definition stands)"), ran["twice"]
    assert ran["twice_after"] == "first\n", ran["twice_after"]
    assert ran["unawaited"] == ("<enqueue(...) was not awaited, so nothing ran: write await enqueue(...) "
                                "(or enqueue.sync(...))>\n"), ran["unawaited"]
    assert ran["no_triggers"].endswith(
        "StepConfigError: step 'Quiet': config has no 'triggers' (it has 'trigger': did you mean 'triggers'?)"), ran["no_triggers"]
    assert ran["state_set"].endswith("StateHelperError: " + STATE_HINT.format("set")), ran["state_set"]
    assert ran["steps"] == "['Dup', 'GetOrder']\n", ran["steps"]
    said = ran["ctx_logger_call"]
    if ran["world"] == "standin":
        assert said == '[INFO] OldStyle: old style {"data": 1}\n', said
    else:  # the handler's line and the error: not pydantic's frame (a machine path under site-packages)
        lines = said.splitlines()
        assert lines[0].startswith("✖ step 'OldStyle' failed (queue old; trace ") and "site-packages" not in said, said
        assert lines[2].endswith("line 5, in handler") and lines[-2] == "AttributeError: 'FlowContext' object has no attribute 'logger'", said
        assert lines[-1] == "hint: Motia 1.x has no ctx.logger: write `from motia import logger`, then logger.info(message, data)", said



# ---------------------------------------------------------------- a handler failing inside a library


def test_a_handler_failing_inside_a_library_shows_its_own_frames_not_the_librarys(ip, capsys):
    # was: the frames of json/__init__.py and json/decoder.py (a machine path each), as the real
    # motia's pydantic FlowContext showed .../site-packages/pydantic/main.py for `ctx.logger`
    cell(ip, '%%step\nimport json\nfrom motia import queue\nconfig = {"name": "Parse", "triggers": [queue("p")]}\n'
             'def handler(data):\n    return json.loads(data)')
    capsys.readouterr()
    cell(ip, 'await enqueue({"topic": "p", "data": "{not json"})')
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("✖ step 'Parse' failed (queue p; trace ") and err[1] == "Traceback (most recent call last):", err
    assert err[2].endswith(", line 6, in handler") and err[3].strip() == "return json.loads(data)", err
    assert [line for line in err[4:] if line.strip("^ ")] == [
        "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"], err


# ---------------------------------------------------------------- a trigger type Motia 1.0 does not have


@pytest.mark.parametrize("trigger, said", [
    ({"type": "event", "topic": "t"}, "unknown type 'event': Motia 1.0 calls it 'queue' (queue(\"t\"), from motia import queue)"),
    ({"type": "api", "method": "GET", "path": "/x"}, "unknown type 'api': Motia 1.0 calls it 'http' (http(\"GET\", \"/x\"), from motia import http)"),
    ({"type": "qeueu", "topic": "t"}, "unknown type 'qeueu': did you mean 'queue'? (one of: state, queue, http, cron, stream)"),
    ({"type": "webhook"}, "unknown type 'webhook' (expected one of: state, queue, http, cron, stream)"),
])
def test_an_unknown_trigger_type_says_what_motia_calls_it(trigger, said):
    # was: "has unknown type 'event' (expected one of: …)" for Motia 0.x's names and typos alike
    with pytest.raises(StepConfigError) as exc:
        parse_config({"name": "A", "triggers": [trigger]})
    assert str(exc.value) == "step 'A': trigger 0 has " + said


# ---------------------------------------------------------------- @step written another way


@pytest.mark.parametrize("source, said", [
    ('@step\ndef take(d): pass',
     "@step needs the step's config: write @step({\"name\": ..., \"triggers\": [...]}) above def take(...)"),
    ('@step(name="Take", triggers=[queue("t")])\ndef take(d): pass',
     "step() takes the config as one dict, not keyword arguments: write @step({\"name\": \"Take\", \"triggers\": [...]})"),
])
def test_step_written_bare_or_with_keywords_says_how_to_write_it(ip, source, said):
    # was: "a step config must be a dict, got function <function take at 0x7f…>", and a bare
    # "TypeError: step() got an unexpected keyword argument 'name'"
    lines = error_lines(ip, source)
    assert lines[0].endswith(", line 1, in <module>") and len(lines) == 3, lines
    assert lines[-1] == "\x1b[0;31mStepConfigError\x1b[0m: " + said, lines
    assert all_steps() == []


# ---------------------------------------------------------------- enqueue / request called another way


@pytest.mark.parametrize("source, said", [
    ('await enqueue("orders", {"a": 1})',
     "enqueue() takes 1 positional argument but 2 were given: write await enqueue({\"topic\": TOPIC, \"data\": DATA})"),
    ('await enqueue(topic="orders", data={"a": 1})',
     "enqueue() got an unexpected keyword argument 'topic': write await enqueue({\"topic\": TOPIC, \"data\": DATA})"),
    ('await request("/orders")',
     "request() missing 1 required positional argument: 'path': write await request(method, path, body=None, "
     "headers=None, query=None)"),
    ('enqueue.sync("orders", 1)',
     "enqueue() takes 1 positional argument but 2 were given: write await enqueue({\"topic\": TOPIC, \"data\": DATA})"),
])
def test_enqueue_or_request_called_with_the_wrong_arguments_is_one_line(ip, source, said):
    # was: a TypeError with a frame of motia_nb/steps/runtime.py (Entry.__call__), its source and path
    lines = error_lines(ip, source)
    assert len(lines) == 3 and lines[0].endswith(", line 1, in <module>"), lines
    assert lines[-1] == "\x1b[0;31mStepArgumentError\x1b[0m: " + said, lines
    assert issubclass(type(run_cell(ip, source).error_in_exec), TypeError)


# ---------------------------------------------------------------- the SDK's typed trigger models


def test_the_sdks_trigger_models_build_triggers_without_the_real_package(ip, capsys):
    # was: QueueTrigger & co. were `dict`: QueueTrigger(topic="typed") had no type, and the cell
    # failed with "trigger 0 has no 'type'" (the real SDK's models default it)
    cell(ip, '''%%step
from motia import ApiTrigger, CronTrigger, FlowContext, QueueTrigger, StateTrigger, StepConfig, StreamTrigger
config = StepConfig(name="Typed", triggers=[
    QueueTrigger(topic="typed"), ApiTrigger(method="POST", path="/typed/:id"), CronTrigger(expression="0 9 * * *"),
    StateTrigger(condition=lambda e, c: e.group_id == "typed"), StreamTrigger(stream_name="notes")])
async def handler(data, ctx: FlowContext):
    print("typed", ctx.trigger.type)
    return {"status": 200, "body": None} if ctx.is_api() else None''')
    assert capsys.readouterr().out == ("✓ step 'Typed' registered (queue typed, http POST /typed/:id, cron 0 9 * * *, "
                                       "state (condition), stream notes)\n")
    cell(ip, 'await enqueue({"topic": "typed", "data": 1})')
    assert capsys.readouterr().out == "typed queue\n"
    with pytest.raises(TypeError, match=r"^QueueTrigger: missing field 'topic'$"):
        cell(ip, "from motia import QueueTrigger\nQueueTrigger(condition=None)")


# ---------------------------------------------------------------- a plain-def handler's enqueue that fails


def test_a_sync_handlers_enqueue_loop_fails_the_cell_as_an_async_ones_does(ip, capsys):
    # was: the loop guard's error was kept in the innermost call's answer (nothing awaits a call in a
    # plain def), printed as "✖ enqueue(...) was not awaited and failed: trigger loop stopped …",
    # and every run above it, and the cell, went on as if nothing had happened
    cell(ip, '@step({"name": "SyncQ", "triggers": [queue("sq")]})\n'
             'def sync_q(d, ctx):\n    ctx.enqueue({"topic": "sq", "data": d + 1})')
    capsys.readouterr()
    err = run_cell(ip, 'await enqueue({"topic": "sq", "data": 0})').error_in_exec
    assert type(err).__name__ == "StepLoopError" and err.steps == ("SyncQ",), err
    assert "not awaited" not in capsys.readouterr().err


def test_a_sync_handlers_bad_enqueue_is_that_steps_failure_at_its_line(ip, capsys):
    # was: the step ran "ok", and the error came as "✖ enqueue(...) was not awaited and failed: …"
    cell(ip, '@step({"name": "Typo", "triggers": [queue("typo")]})\n'
             'def typo(d, ctx):\n    ctx.enqueue({"topc": "next", "data": d})')
    capsys.readouterr()
    cell(ip, 'await enqueue({"topic": "typo", "data": 1})')
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("✖ step 'Typo' failed (queue typo; trace "), err
    assert err[2].endswith(", line 3, in typo") and err[3].strip() == 'ctx.enqueue({"topc": "next", "data": d})', err
    assert err[-1] == "EnqueueError: enqueue: 'topic' must be a non-empty str, got None in {'topc': 'next', 'data': 1}", err


def test_a_sync_handlers_unawaited_write_loop_fails_the_cell_too(ip, capsys):
    # was: "✖ state_manager.set(...) was not awaited and failed: trigger loop stopped …", and the cell
    # (and every run of the loop) went on
    cell(ip, '@step({"name": "SyncLoop", "triggers": [state(condition=lambda e: e.group_id == "sl")]})\n'
             'def sync_loop(e, ctx):\n    state_manager.set("sl", "c", {"n": (e.new_value or {}).get("n", 0) + 1})')
    capsys.readouterr()
    err = run_cell(ip, 'await state_manager.set("sl", "c", {"n": 0})').error_in_exec
    assert type(err).__name__ == "StepLoopError" and err.steps == ("SyncLoop",), err
    assert "not awaited" not in capsys.readouterr().err
    assert state_manager.sync.get("sl", "c") == {"n": 24}  # the writes made stand


# ---------------------------------------------------------------- an http condition that raises


def test_an_http_condition_that_raises_answers_500_not_condition_not_met(ip, capsys):
    # was: 422 {"code": "CONDITION_NOT_MET", "message": "Request condition not met"} beside the
    # cell's report that the condition raised; the engine answers a failing condition function 500
    cell(ip, '@step({"name": "CondBoom", "triggers": [http("POST", "/cb", condition=lambda req, ctx: req.body["x"] > 1)]})\n'
             'def cb(req): return {"status": 200, "body": "ran"}')
    capsys.readouterr()
    r = cell(ip, 'await request("POST", "/cb", body={"y": 1})')
    assert r["status"] == 500 and r["body"] == {"error": "'x'", "error_id": r["body"]["error_id"]}, r  # the engine's
    assert "✖ condition of step 'CondBoom' raised" in capsys.readouterr().err
    assert cell(ip, 'await request("POST", "/cb", body={"x": 0})')["status"] == 422  # false: as before
    assert cell(ip, 'await request("POST", "/cb", body={"x": 2})') == {"status": 200, "body": "ran", "headers": {}}


# ---------------------------------------------------------------- a 6-field cron written minute first


@pytest.mark.parametrize("expr, said", [
    ("0 9 * * 1 2026", "days of week: 2026 is out of range 1-7"),
    ("0 9 * * MON-FRI *", "'MON' is not a valid name in months"),
])
def test_a_six_field_cron_that_fails_says_its_fields_are_read_seconds_first(expr, said):
    # was: only the field's error ("days of week: 2026 is out of range"), for a user who wrote
    # minute first and added a year or a trailing field
    from motia_nb import cron

    with pytest.raises(StepConfigError) as exc:
        cron(expr)
    assert str(exc.value) == (f"cron: bad cron expression {expr!r}: {said} (6 fields are read seconds first, as the "
                              "engine does: second minute hour day-of-month month day-of-week; minute first is 5 fields)")


# ---------------------------------------------------------------- %motia request PATH with {var}


def test_motia_request_with_a_braced_variable_in_its_path_is_refused(ip):
    # was: %motia request GET /orders/{oid} (magics never expand) answered 200 for the order "{oid}"
    cell(ip, '@step({"name": "O", "triggers": [http("GET", "/orders/{id}")]})\n'
             'def o(req): return {"status": 200, "body": req.path_params}')
    ip.user_ns["oid"] = "o-7"
    err = run_cell(ip, "%motia request GET /orders/{oid}").error_in_exec
    assert str(err) == ("%motia request: '/orders/{oid}' reads as a variable of the notebook, but %motia takes the PATH "
                        "as written, never from a variable ({var}, $var, :name): write it out"), err
    assert cell(ip, "%motia request GET /orders/o-7")["body"] == {"id": "o-7"}


# ---------------------------------------------------------------- %motia workers with nothing served


def test_motia_workers_says_why_it_is_empty(ip, capsys):
    # was: an empty frame and nothing else, serving or not
    assert cell(ip, "%motia workers").empty
    assert capsys.readouterr().err == "%motia workers: no engine endpoint is running (%motia serve starts one)\n"
    cell(ip, "%motia serve")
    try:
        capsys.readouterr()
        assert cell(ip, "%motia workers").empty
        url = __import__("motia_nb").engine.servers()[0].url
        assert capsys.readouterr().err == (f"%motia workers: no worker is connected to {url} "
                                           f"(III_URL={url} motia run --dir steps connects one)\n")
    finally:
        cell(ip, "%motia serve stop")


def test_motia_cron_list_says_why_it_is_empty(ip, capsys):
    # was: "Empty DataFrame" and nothing else, e.g. after the only cron step was replaced by a queue one
    assert cell(ip, "%motia cron list").empty
    assert capsys.readouterr().err == ("%motia cron list: no cron step is registered "
                                       '(a step with "triggers": [cron("0 9 * * *")] is one)\n')
    cell(ip, '@step({"name": "Daily", "triggers": [__import__("motia_nb").cron("0 9 * * *")]})\ndef daily(): pass')
    capsys.readouterr()
    assert list(cell(ip, "%motia cron list")["step"]) == ["Daily"]
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- a config key Motia does not read


def test_a_config_key_motia_does_not_read_is_said(ip, capsys):
    # was: silent ('flow' for 'flows': the step was in no flow; 'input_schema': nothing validated)
    cell(ip, '@step({"name": "K", "triggers": [queue("k")], "flow": ["shop"], "input_schema": {}})\ndef k(d): pass')
    assert capsys.readouterr().err == (
        "⚠ step 'K': Motia does not read config key 'flow' (did you mean 'flows'?)\n"
        "⚠ step 'K': Motia does not read config key 'input_schema' (it reads: name, description, triggers, enqueues, "
        "flows, virtual_enqueues, virtual_subscribes, include_files; a queue's input schema is queue(topic, input=...))\n")
    cell(ip, '@step({"name": "K", "triggers": [queue("k")], "flows": ["shop"], "emits": [], "virtualEnqueues": []})\n'
             'def k(d): pass')
    assert capsys.readouterr().err == ""  # Motia's aliases are read
