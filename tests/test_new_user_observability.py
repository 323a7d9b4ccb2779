"""A Motia user debugging a workflow with ``%motia logs / trace / cron / export``, in a real kernel.

Found by trying it (each was a silent surprise):

- ``%motia cron stop`` while a cron step ran cancelled the step half-way (its first write
  stood, its second never came), though the scheduler says a running step finishes first;
  worse, the cancellation came back to the scheduler's loop as an error it survives, so the
  scheduler went on firing every second after "cron scheduler stopped" (``%motia cron list``
  said ``scheduled False``). ``%motia reset`` did the same, and the cancelled run's trace row
  came back after "logs and traces cleared". Now the loop ends, the running step finishes
  (the line says so), and a run that started before a reset leaves no trace row after it.
- ``ctx.logger`` in a thread the handler started logged with ``trace_id`` None (the step's
  name was there, its trace was not), so ``log_frame(trace_id=...)`` missed the line.
- the log kept the handler's ``data`` object itself: a handler that changed the dict after
  logging it rewrote the log line it had already written.
- the printed line wrote a numpy number as a string (``"n": "5"``), a set as its Python repr
  in a string, a datetime not as ISO 8601.
- past 20,000 lines the oldest were dropped without a word: ``%motia logs STEP`` showed
  lines from the middle of the run.
- a cron trigger's ``"timezone"`` (and any trigger key Motia does not read) was ignored
  silently; Motia ignores it too, so the step registers and stderr says so.
- ``%motia export ""`` wrote the step files into the kernel's folder and printed
  ``✓ /create_order_step.py`` and ``motia run --dir ``; a folder with a space was printed
  unquoted in the ``motia run`` line.
"""

from __future__ import annotations

import os
import re

import pytest

from motia_nb.notebook.step_export import ExportError, ExportFile, ExportPlan, write_export
from motia_nb.steps.config import parse_config
from motia_nb.steps.logs import LogStore, StepLogger
from motia_nb.steps.trace import TraceRecord, TraceStore
from test_new_user_unawaited_reads import result, run_in_kernel, shown

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# the cron step signals when it has made its first write and waits to be released
_TICK = '''%%step
import asyncio, builtins
from motia import cron, state_manager
config = {"name": "Tick", "triggers": [cron("* * * * * *")]}
async def handler(input, ctx):
    await state_manager.set("ticks", "first", ctx.trace_id)
    builtins.started.set()
    await builtins.release.wait()
    await state_manager.set("ticks", "second", ctx.trace_id)
    builtins.finished.set()'''

_EVENTS = "import asyncio, builtins\nbuiltins.started, builtins.release, builtins.finished = (asyncio.Event() for _ in range(3))"

# the scheduler loops alive now, and a wait for them to end (a loop that never ends fails the test)
_LOOPS_END = ('loops = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "CronScheduler._main"]\n'
              'if loops:\n    await asyncio.wait(loops, timeout=5)\n'
              'print("live scheduler loops:", sum(not t.done() for t in loops))')

CELLS = {
    "setup": "%load_ext motia_nb\n" + _EVENTS + "\nfrom motia_nb import state_manager\nfrom motia_nb.session import log_frame, trace_frame",
    "tick": _TICK,
    "start": "%motia cron start 0.1",
    "stop": "await builtins.started.wait()\n%motia cron stop\nbuiltins.release.set()\n"
            "await asyncio.wait_for(builtins.finished.wait(), 10)\n" + _LOOPS_END,
    "after_stop": 'print(await state_manager.list("ticks"))\n'
                  'print(trace_frame(step="Tick")[["status"]].to_dict("list"))\n%motia cron list',
    "restart": "await state_manager.clear(\"ticks\")\n" + _EVENTS + "\n%motia cron start 0.1",
    "reset": "await builtins.started.wait()\n%motia reset\nbuiltins.release.set()\n"
             "await asyncio.wait_for(builtins.finished.wait(), 10)\n" + _LOOPS_END,
    "after_reset": 'print(await state_manager.list("ticks"))\nprint(len(trace_frame()), len(log_frame()))',
    # ---- logs
    "weird": '''%%step
import datetime, threading
import numpy as np
from motia import queue
config = {"name": "Weird", "triggers": [queue("weird")]}
def handler(data, ctx):
    ctx.logger.info("values", {"when": datetime.datetime(2024, 1, 2, 3, 4, 5), "tags": {"b", "a"},
                               "n": np.int64(5), "arr": np.arange(3), "f": np.float32(1.5)})
    ctx.logger.info("got", data)
    data["status"] = "changed"
    t = threading.Thread(target=lambda: ctx.logger.info("from a thread", {"i": 1}))
    t.start(); t.join()''',
    "weird_run": '%motia enqueue weird {"status": "new"}',
    "weird_logs": 'df = log_frame(step="Weird")\ntid = trace_frame("last")["trace_id"].iloc[0]\n'
                  'print(df["message"].tolist())\nprint(df["trace_id"].eq(tid).tolist())\n'
                  'print(len(log_frame(trace_id=tid)))\nprint(df["data"].iloc[1])',
    "boom": '''%%step
from motia import queue, logger
config = {"name": "Boom", "triggers": [queue("boom")]}
def handler(data, ctx):
    logger.info("about to fail", data)
    raise ValueError("bad data")''',
    "boom_run": '%motia enqueue boom {"x": 1}',
    "boom_logs": 'df = %motia logs Boom\nprint(df[["level", "message"]].values.tolist())\n'
                 'print(df["trace_id"].eq(trace_frame("last")["trace_id"].iloc[0]).all())',
    "chatty": '''%%step
from motia import queue
config = {"name": "Chatty", "triggers": [queue("chat")]}
def handler(data, ctx):
    for i in range(data["n"]):
        ctx.logger.debug("line", {"i": i})''',
    "chatty_run": '%motia enqueue chat {"n": 20005}',
    "chatty_logs": "df = %motia logs Chatty\nprint(len(df), df['data'].iloc[0])",
    "loud": '''%%step
from motia import queue, logger
config = {"name": "Loud", "triggers": [queue("loud")]}
def handler(data):
    for i in range(data["n"]):
        logger.info("line", {"i": i})''',
    "loud_run": '%motia enqueue loud {"n": 5000}',
    # ---- a cron trigger's time zone
    "tz": '''%%step
from motia import cron
config = {"name": "Morning", "triggers": [{"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Paris"}]}
def handler(): pass''',
    # ---- export
    "orders": '''%%step
from motia import http
config = {"name": "CreateOrder", "flows": ["orders"], "triggers": [http("POST", "/orders")]}
async def handler(req, ctx):
    ctx.logger.info("creating", {"total": req.body["total"]})
    return {"status": 201, "body": {"total": req.body["total"]}}''',
    "export_empty": '%motia export ""',
    "listing": 'import os\nprint(sorted(f for f in os.listdir(".") if f.endswith("_step.py")))',
    "export_space": '%motia export "my steps"',
    "round_trip": '%motia reset\nfrom pathlib import Path\nfor f in sorted(Path("my steps").glob("*_step.py")):\n'
                  '    get_ipython().run_cell_magic("step", "--quiet", f.read_text())\n'
                  'df = %motia steps\nprint(df["name"].tolist())',
    "round_trip_request": '%motia request POST /orders {"total": 7}',
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_in_kernel(CELLS, tmp_path_factory.mktemp("observability"))


def out(cell) -> str:
    return ANSI.sub("", shown(cell))


def test_cron_stop_lets_the_running_step_finish_and_ends_the_scheduler(ran):
    assert out(ran["start"]).startswith("cron scheduler started"), out(ran["start"])
    stop = out(ran["stop"])
    assert stop == ("cron scheduler stopped (cron step 'Tick' is running: it finishes first)\n"
                    "live scheduler loops: 0\n"), stop
    after = out(ran["after_stop"])
    first, statuses, *_ = after.splitlines()
    tid = eval(first)  # both writes of the one run: it was not cut half-way
    assert len(tid) == 2 and tid[0] == tid[1], after
    assert statuses == "{'status': ['ok']}", after  # one run, not cancelled, none after the stop
    assert "Tick" in result(ran["after_stop"]) and "False" in result(ran["after_stop"])


def test_reset_while_a_cron_step_runs_ends_the_scheduler_and_leaves_no_trace_of_before(ran):
    assert out(ran["restart"]).startswith("cron scheduler started"), out(ran["restart"])
    assert out(ran["reset"]) == ("✓ every step removed; logs and traces cleared\n"
                                 "cron scheduler stopped (cron step 'Tick' is running: it finishes first)\n"
                                 "live scheduler loops: 0\n"), out(ran["reset"])
    lines = out(ran["after_reset"]).splitlines()
    assert len(eval(lines[0])) == 2, lines  # the running step finished its two writes
    assert lines[1] == "0 0", lines  # and its run, begun before the reset, is not a trace row after it


def test_log_lines_are_json_snapshots_and_a_thread_keeps_the_trace(ran):
    printed = out(ran["weird_run"])
    assert printed == (
        '[INFO] Weird: values {"when": "2024-01-02T03:04:05", "tags": ["a", "b"], "n": 5, "arr": [0, 1, 2], "f": 1.5}\n'
        '[INFO] Weird: got {"status": "new"}\n'
        '[INFO] Weird: from a thread {"i": 1}\n'), printed
    messages, same_trace, by_trace, got = out(ran["weird_logs"]).splitlines()
    assert messages == "['values', 'got', 'from a thread']"
    assert same_trace == "[True, True, True]", same_trace  # the thread's line carries the run's trace id
    assert by_trace == "3"
    assert got == "{'status': 'new'}", got  # as logged, not as the handler left the dict afterwards


def test_the_log_of_a_step_that_raised_ends_with_why(ran):
    shown_in_cell = out(ran["boom_run"])
    assert shown_in_cell.startswith('[INFO] Boom: about to fail {"x": 1}\n✖ step \'Boom\' failed (queue boom; trace ')
    assert shown_in_cell.rstrip().endswith("ValueError: bad data"), shown_in_cell
    assert shown_in_cell.count("ValueError: bad data") == 1  # the error line is kept in the log, not printed twice
    assert out(ran["boom_logs"]).splitlines() == [
        "[['info', 'about to fail'], ['error', 'step failed: ValueError: bad data']]", "True"]


def test_logs_past_the_kept_lines_say_how_many_were_dropped(ran):
    text = out(ran["chatty_logs"])  # (Weird's 3 lines, Boom's 2 and Chatty's first 5 went; stderr and stdout in any order)
    assert sorted(text.splitlines()) == ["%motia logs: the log keeps the newest 20,000 lines and 64 MB of their data; 10 older lines were dropped",
                                         "20000 {'i': 5}"], text


def test_many_printed_log_lines_are_a_few_outputs_of_the_cell(ran):
    # each line was flushed on its own: 5,000 lines were 5,000 output messages (20,000 took 8 s
    # in a kernel, 0.4 s now) that the notebook had to render and keep
    outputs = ran["loud_run"].outputs
    lines = "".join(o.get("text", "") for o in outputs).splitlines()
    assert lines == [f'[INFO] Loud: line {{"i": {i}}}' for i in range(5000)]
    assert len(outputs) < 100, len(outputs)


def test_a_cron_time_zone_key_is_said_not_silently_ignored(ran):
    text = out(ran["tz"])  # (stderr and stdout in any order)
    assert sorted(text.splitlines()) == [
        ("⚠ step 'Morning': trigger 0 (cron): Motia does not read trigger key 'timezone' (a cron trigger reads: type, "
         "expression, condition; there is no time zone: a 5-field expression runs in the kernel's local time, "
         "6/7 fields (seconds first) in UTC, as the engine)"),
        "✓ step 'Morning' registered (cron 0 9 * * *)"], text


def test_export_to_an_empty_folder_name_is_refused_and_a_spaced_folder_is_quoted(ran):
    assert out(ran["export_empty"]).strip().splitlines()[-1] == (
        "ERROR MagicUsageError: %motia export: the folder name '' is empty: name the folder to write to "
        "(e.g. steps, or . for the notebook's folder)"), out(ran["export_empty"])
    assert out(ran["listing"]) == "[]\n"  # nothing was written into the kernel's folder
    assert out(ran["export_space"]).splitlines()[-1] == "run them with: motia run --dir 'my steps'"
    # the exported files load back with %%step: the same steps, the same answer
    assert out(ran["round_trip"]).splitlines()[-1] == "['Boom', 'Chatty', 'CreateOrder', 'Loud', 'Morning', 'Weird']", \
        out(ran["round_trip"])
    assert out(ran["round_trip_request"]).splitlines()[0] == '[INFO] CreateOrder: creating {"total": 7}'
    assert result(ran["round_trip_request"]) == "{'status': 201, 'body': {'total': 7}, 'headers': {}}"


# ---------------------------------------------------------------- the same, without a kernel


def test_a_trace_row_of_a_run_begun_before_clear_is_not_kept():
    from datetime import datetime, timedelta

    store = TraceStore()
    before = datetime.now() - timedelta(seconds=1)
    store.clear()
    store.record(TraceRecord("t1", "Tick", "cron", before, 1.0, "ok", None, 1, None))
    store.record(TraceRecord("t2", "Tick", "cron", datetime.now(), 1.0, "ok", None, 1, None))
    assert store.frame()["trace_id"].tolist() == ["t2"]


def test_a_bound_logger_names_its_trace_outside_the_cascade_and_keeps_a_copy():
    store = LogStore(max_records=2)
    log = StepLogger(lambda: store).bound("S", "trace-1")
    data = {"k": [1]}
    log.info("a", data)
    data["k"].append(2)
    log.info("b")
    log.info("c")
    assert [(r.step, r.trace_id, r.message) for r in store.records()] == [("S", "trace-1", "b"), ("S", "trace-1", "c")]
    assert store.dropped == 1
    store.clear()
    assert store.dropped == 0


def test_unread_trigger_keys_are_said_per_trigger():
    parsed = parse_config({"name": "X", "triggers": [{"type": "queue", "topic": "t", "topc": "u"},
                                                     {"type": "cron", "expression": "0 9 * * *", "tz": "UTC"}]})
    assert parsed.unread == [
        "step 'X': trigger 0 (queue): Motia does not read trigger key 'topc' (did you mean 'topic'?)",
        ("step 'X': trigger 1 (cron): Motia does not read trigger key 'tz' (a cron trigger reads: type, expression, "
         "condition; there is no time zone: a 5-field expression runs in the kernel's local time, 6/7 fields "
         "(seconds first) in UTC, as the engine)"),
    ]


def test_write_export_refuses_an_empty_folder_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = ExportPlan((ExportFile("a_step.py", "config = {}\n", ("A",)),))
    for empty in ("", "  "):
        with pytest.raises(ExportError, match="is empty: name the folder to write to"):
            write_export(plan, empty)
    assert os.listdir(tmp_path) == []


def test_a_negative_cron_interval_gets_no_hint_to_write_it_after_dashes(steps_ip):
    from motia_nb.notebook.parsing import MagicUsageError

    # '-1' was read as SECONDS and refused; "goes after --: %motia cron start -- -1" would be refused too
    with pytest.raises(MagicUsageError) as info:
        steps_ip.run_line_magic("motia", "cron start -1")
    assert str(info.value) == ("%motia cron start: SECONDS: '-1' is not a positive number of seconds\n"
                               "  usage: %motia cron start [SECONDS]")


def test_an_export_says_which_step_files_it_did_not_write_there(steps_ip, tmp_path, capsys):
    from motia_nb.testing import run_cell

    out_dir = tmp_path / "steps"
    src = 'from motia import queue\nconfig = {{"name": "{}", "triggers": [queue("t")]}}\ndef handler(d): pass'
    run_cell(steps_ip, "%%step\n" + src.format("CreateOrder")).raise_error()
    run_cell(steps_ip, f'%motia export "{out_dir}"').raise_error()
    assert "also holds" not in capsys.readouterr().err
    # the step renamed in its cell: the old file stays, and motia run would load both
    steps_ip.run_line_magic("motia", "reset")
    run_cell(steps_ip, "%%step\n" + src.format("PlaceOrder")).raise_error()
    (out_dir / "sub").mkdir()
    (out_dir / "sub" / "helper_step.py").write_text("")
    (out_dir / ".hidden").mkdir()
    (out_dir / ".hidden" / "x_step.py").write_text("")  # motia's glob does not look there
    capsys.readouterr()
    run_cell(steps_ip, f'%motia export "{out_dir}"').raise_error()
    assert capsys.readouterr().err == (f"⚠ {out_dir} also holds create_order_step.py, sub/helper_step.py, not written by "
                                       f"this export: motia run --dir {out_dir} loads them too\n")
    assert sorted(p.name for p in out_dir.glob("*_step.py")) == ["create_order_step.py", "place_order_step.py"]


def test_a_trace_id_can_be_given_by_its_first_characters(steps_ip, capsys):
    from motia_nb.session import trace_frame
    from motia_nb.testing import run_cell

    run_cell(steps_ip, '%%step\nfrom motia import queue\nconfig = {"name": "Q", "triggers": [queue("q")]}\n'
                       'def handler(d, ctx): ctx.logger.info("ran", {"trace": ctx.trace_id})').raise_error()
    for _ in range(3):
        steps_ip.run_line_magic("motia", "enqueue q {}")
    ids = trace_frame()["trace_id"].tolist()
    first = ids[0]
    short = next(first[:n] for n in range(4, len(first)) if sum(t.startswith(first[:n]) for t in ids) == 1)
    capsys.readouterr()
    df = steps_ip.run_line_magic("motia", f"trace {short}")
    assert df["trace_id"].tolist() == [first] and capsys.readouterr().err == ""
    # a beginning several ids share says so, and the frame is empty (uuid4 ids rarely share one: two that do)
    from datetime import datetime

    from motia_nb.session import current_session
    for tid in ("abcd-1", "abcd-2"):
        current_session().traces.record(TraceRecord(tid, "Q", "queue q", datetime.now(), 1.0, "ok", None, 1, None))
    df = steps_ip.run_line_magic("motia", "trace abcd")
    assert df.empty and capsys.readouterr().err == "%motia trace: 'abcd' begins 2 trace ids; write more of it\n"
    # nothing begins with it: as before
    df = steps_ip.run_line_magic("motia", "trace zzzz")
    assert df.empty and capsys.readouterr().err == "%motia trace: no trace 'zzzz' (5 traces kept; %motia trace lists them)\n"


def test_the_printed_line_writes_models_and_dataclasses_as_their_fields(capsys):
    import dataclasses
    from decimal import Decimal

    from pydantic import BaseModel

    class Order(BaseModel):
        id: str
        total: Decimal

    @dataclasses.dataclass
    class Line:
        sku: str
        qty: int

    store = LogStore()
    StepLogger(lambda: store).info("order", {"order": Order(id="o1", total=Decimal("9.50")),
                                             "line": Line("a", 2), "other": Decimal("1.5")})
    assert capsys.readouterr().out == ('[INFO] order {"order": {"id": "o1", "total": "9.50"}, '
                                       '"line": {"sku": "a", "qty": 2}, "other": "1.5"}\n')


def test_cron_run_of_a_step_whose_condition_is_false_says_it_did_not_run(steps_ip, capsys):
    from motia_nb.testing import run_cell

    # the playground's cron_with_condition_step.py, outside business hours
    run_cell(steps_ip, '''%%step
from motia import cron, logger
def is_business_hours(input, ctx):
    return False
config = {"name": "CronWithCondition", "triggers": [cron("5 * * * * * *", condition=is_business_hours)], "enqueues": []}
def handler(input):
    logger.info("Running business hours task")''').raise_error()
    capsys.readouterr()
    steps_ip.run_line_magic("motia", "cron run CronWithCondition")
    assert capsys.readouterr() == ("", "⚠ cron step 'CronWithCondition' did not run: its condition is_business_hours is "
                                       "false now (its trigger's condition, as on its schedule)\n")
    # on its schedule, a false condition stays silent, as on the engine
    import asyncio

    from motia_nb.session import current_session

    asyncio.run(current_session().runtime.run_cron("CronWithCondition", scheduled=True))
    assert capsys.readouterr() == ("", "")


def test_trace_past_the_kept_rows_says_how_many_were_dropped(steps_ip, capsys):
    from datetime import datetime

    from motia_nb.session import current_session

    from motia_nb.steps.trace import MAX_RECORDS

    traces = current_session().traces
    for i in range(MAX_RECORDS + 2):
        traces.record(TraceRecord(f"t{i}", "Tick", "cron * * * * * *", datetime.now(), 1.0, "ok", None, 1, None, i))
    capsys.readouterr()
    df = steps_ip.run_line_magic("motia", "trace")
    assert len(df) == MAX_RECORDS and df["trace_id"].iloc[0] == "t2"
    assert capsys.readouterr().err == "%motia trace: the trace keeps the newest 20,000 step runs; 2 older step runs were dropped\n"
    steps_ip.run_line_magic("motia", "reset")
    steps_ip.run_line_magic("motia", "trace")
    assert capsys.readouterr().err == ""


def test_an_exported_cell_reading_a_notebook_variable_gets_a_note(steps_ip, tmp_path, capsys):
    from motia_nb.testing import run_cell

    steps_ip.run_cell("TAX = 0.2")
    run_cell(steps_ip, '''%%step
import math
from motia import queue
config = {"name": "Tax", "triggers": [queue("t")]}
def handler(d, ctx):
    rate = [r for r in (TAX,)][0]
    match d:
        case {"v": v, **rest}:
            ctx.logger.info("tax", {"v": math.floor(v * rate), "rest": rest, "name": __name__, "n": len(d)})''').raise_error()
    capsys.readouterr()
    steps_ip.run_line_magic("motia", f'export "{tmp_path}"')
    assert capsys.readouterr().out == (
        f"✓ {tmp_path}/tax_step.py  (Tax)\n"
        "    note: uses TAX, which the file does not define or import (a name of the notebook?): a Motia project "
        "fails on it with NameError\n"
        f"run them with: motia run --dir {tmp_path}\n")


def test_the_flow_diagram_draws_a_stream_trigger(steps_ip):
    from motia_nb import http, register
    from motia_nb.steps.config import stream

    register({"name": "OnTodo", "flows": ["todo"], "triggers": [stream("todos", group_id="inbox"), http("GET", "/t")]},
             lambda ev: None)
    mermaid = steps_ip.run_line_magic("motia", "flow todo").mermaid
    assert '  st0_0[("stream todos inbox")] --> s0' in mermaid.splitlines(), mermaid


def test_the_log_keeps_at_most_max_bytes_of_data():
    store = LogStore(max_records=100, max_bytes=1000)
    log = StepLogger(lambda: store).bound("S", "t")
    big = {"blob": "x" * 300}  # (one object, logged again and again: each line keeps its own copy)
    for i in range(10):
        log.debug(f"m{i}", big)
    kept = store.records()
    assert [r.message for r in kept] == ["m7", "m8", "m9"] and store.dropped == 7
    assert sum(r.size for r in kept) <= 1000
    log.debug("huge", {"blob": "y" * 5000})  # one line past the budget is kept alone
    assert [r.message for r in store.records()] == ["huge"]


@pytest.mark.parametrize(("expr", "zone"), [("CRON_TZ=Europe/Paris 0 9 * * *", "a time zone prefix (CRON_TZ=)"),
                                            ("TZ=UTC 0 0 9 * * *", "a time zone prefix (TZ=)"),
                                            ("0 9 * * * Europe/Paris", "a time zone (Europe/Paris)"),
                                            ("0 9 * * * UTC", "a time zone (UTC)")])
def test_a_cron_time_zone_is_refused_saying_which_time_a_cron_runs_in(expr, zone):
    from motia_nb.steps.errors import StepConfigError
    from motia_nb.steps.triggers import cron

    with pytest.raises(StepConfigError) as info:
        cron(expr)
    assert str(info.value) == (f"cron: bad cron expression {expr!r}: {zone} is not read: a 5-field "
                               "expression runs in the kernel's local time, 6/7 fields (seconds first) in UTC, as the engine")
