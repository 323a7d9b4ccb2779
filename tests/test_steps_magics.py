"""``%%step`` and ``%motia`` in IPython's InteractiveShell (the kernel case is the nbval notebook)."""

from __future__ import annotations

import pytest

from motia_nb.state import state_manager
from motia_nb.steps import StepConfigError
from motia_nb.session import all_steps, get_step
from motia_nb.notebook.step_magics import MOTIA_COMMANDS, MotiaUsageError, StepSyntaxError
from motia_nb.testing import run_cell


@pytest.fixture
def ip(steps_ip):
    return steps_ip


PAYMENT = '''
from motia import enqueue, logger, state_manager

config = {
    "name": "ProcessPayment",
    "description": "Process payment for an order",
    "triggers": [{"type": "queue", "topic": "order.created"}],
    "enqueues": ["payment.completed"],
    "flows": ["order-processing"],
}

async def handler(input):
    order_id = input["orderId"]
    await state_manager.update("orders", order_id, [{"type": "set", "path": "status", "value": "paid"}])
    logger.info("Payment processed", {"orderId": order_id})
    await enqueue({"topic": "payment.completed", "data": {"orderId": order_id}})
'''


def test_step_cell_registers_and_rerun_replaces(ip, capsys):
    res = run_cell(ip, "%%step\n" + PAYMENT)
    res.raise_error()
    assert "✓ step 'ProcessPayment' registered (queue order.created)" in capsys.readouterr().out
    res = run_cell(ip, "%%step\n" + PAYMENT.replace("Process payment", "v2"))
    res.raise_error()
    assert "✓ step 'ProcessPayment' replaced" in capsys.readouterr().out
    assert [s.name for s in all_steps()] == ["ProcessPayment"]
    assert get_step("ProcessPayment").description == "v2 for an order"
    assert get_step("ProcessPayment").source == "%%step"
    # config/handler stay in the step's own namespace, not the user's
    assert "config" not in ip.user_ns or ip.user_ns["config"] is not get_step("ProcessPayment").config.raw


def test_step_cell_runs_inline_from_enqueue_magic(ip, capsys):
    run_cell(ip, "%%step\n" + PAYMENT).raise_error()
    state_manager.sync.set("orders", "o1", {"status": "pending"})
    capsys.readouterr()
    run_cell(ip, '%motia enqueue order.created {"orderId": "o1"}').raise_error()
    assert capsys.readouterr().out == '[INFO] ProcessPayment: Payment processed {"orderId": "o1"}\n'
    assert state_manager.sync.get("orders", "o1") == {"status": "paid"}
    ip.user_ns["oid"] = "o1"
    run_cell(ip, '%motia enqueue order.created {"orderId": oid}').raise_error()  # a Python expression
    assert "Payment processed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "cell, fragment",
    [
        ("%%step\nconfig = {'triggers': []}\ndef handler(i): pass\n", "no 'name'"),
        ("%%step\nconfig = {'name': 'X', 'triggers': [{'type': 'cron', 'expression': '0 0 * *'}]}\ndef handler(i): pass\n", "5 fields"),
        ("%%step\nconfig = {'name': 'X', 'triggers': [{'type': 'http', 'path': '/x'}]}\ndef handler(i): pass\n", "no 'method'"),
        ("%%step\nconfig = {'name': 'X', 'triggers': [{'type': 'smoke'}]}\ndef handler(i): pass\n", "unknown type 'smoke'"),
        ("%%step\nconfig = {'name': 'X'}\n", "missing: handler"),
    ],
)
def test_invalid_step_cell_fails_with_clear_error(ip, cell, fragment):
    res = run_cell(ip, cell)
    assert isinstance(res.error_in_exec, StepConfigError)
    assert fragment in str(res.error_in_exec)
    assert all_steps() == []


def test_handler_traceback_shows_the_cell_source(ip, capsys):
    run_cell(
        ip,
        "%%step\nconfig = {'name': 'Bad', 'triggers': [{'type': 'queue', 'topic': 't'}]}\n"
        "async def handler(input):\n    raise KeyError('orderId')\n",
    ).raise_error()
    run_cell(ip, "%motia enqueue t 1").raise_error()  # the cell itself does not fail
    err = capsys.readouterr().err
    assert "✖ step 'Bad' failed (queue t" in err
    assert "raise KeyError('orderId')" in err and "Cell In[" in err


def test_motia_subcommands(ip, capsys):
    run_cell(ip, "%%step\n" + PAYMENT).raise_error()
    run_cell(
        ip,
        "%%step\nconfig = {'name': 'Create', 'triggers': [{'type': 'http', 'method': 'POST', 'path': '/orders'}],"
        " 'flows': ['order-processing'], 'enqueues': ['order.created']}\n"
        "def handler(req):\n    return {'status': 201, 'body': req.body}\n",
    ).raise_error()
    run_cell(
        ip,
        "%%step\nconfig = {'name': 'DailyReport', 'triggers': [cron('0 0 * * *')], 'flows': ['order-processing']}\n"
        "async def handler(input):\n    logger.info('report', {'n': len(await state_manager.list('orders'))})\n",
    ).raise_error()
    df = ip.run_line_magic("motia", "steps")
    assert df["name"].tolist() == ["ProcessPayment", "Create", "DailyReport"]
    assert ip.run_line_magic("motia", 'request POST /orders {"total": 5}') == {
        "status": 201,
        "body": {"total": 5},
        "headers": {},
    }
    capsys.readouterr()
    ip.run_line_magic("motia", "cron run DailyReport")
    assert capsys.readouterr().out == '[INFO] DailyReport: report {"n": 0}\n'
    assert ip.run_line_magic("motia", "cron list")["step"].tolist() == ["DailyReport"]
    assert ip.run_line_magic("motia", "logs DailyReport")["message"].tolist() == ["report"]
    assert ip.run_line_magic("motia", "trace last")["step"].tolist() == ["DailyReport"]
    assert "[cron 0 0 * * *] → DailyReport" in ip.run_line_magic("motia", "flow order-processing").text()
    ip.run_line_magic("motia", "remove Create")
    assert [s.name for s in all_steps()] == ["ProcessPayment", "DailyReport"]
    ip.run_line_magic("motia", "reset")
    assert all_steps() == []


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("", "needs a subcommand"),
        ("launch", "%motia: unknown subcommand 'launch'"),
        ("remove", "the following arguments are required: NAME"),
        ("request POST", "METHOD PATH"),
        ("enqueue t {not json", "cannot read"),
        ("cron start soon", "is not a number"),
        ("cron explode", "unknown subcommand 'cron explode'"),
    ],
)
def test_motia_usage_errors_fail_the_cell(ip, line, fragment):
    res = run_cell(ip, "%motia " + line)
    assert isinstance(res.error_in_exec, MotiaUsageError)
    assert fragment in str(res.error_in_exec)


def test_state_magic_triggers_step_inline(ip, capsys):
    run_cell(
        ip,
        "from motia_nb import step, state\n"
        "@step({'name': 'OnTaskComplete', 'triggers': [state(lambda e: e.group_id == 'tasks' and bool(e.new_value)"
        " and e.new_value['completedSteps'] == e.new_value['totalSteps'])]})\n"
        "def on_complete(input):\n    print('task', input.item_id, 'complete')\n",
    ).raise_error()
    run_cell(ip, '%state set tasks t1 {"completedSteps": 1, "totalSteps": 2}').raise_error()
    assert "task t1 complete" not in capsys.readouterr().out
    run_cell(ip, '%state update tasks t1 [{"type": "increment", "path": "completedSteps", "by": 1}]').raise_error()
    assert "task t1 complete" in capsys.readouterr().out


def test_motia_ignores_a_trailing_comment(ip):
    res = ip.run_cell("%motia steps   # the registered steps")
    assert res.success, res.error_in_exec


def test_motia_help_lists_every_subcommand_with_usage_and_summary(ip, capsys):
    run_cell(ip, "%motia help").raise_error()
    out = capsys.readouterr().out
    lines = out.splitlines()
    for command in MOTIA_COMMANDS.values():
        row = next((ln for ln in lines if ln.strip().startswith(command.usage() + " ")), None)
        assert row is not None, f"{command.usage()} missing from %motia help"
        assert row.rstrip().endswith(command.summary)
    run_cell(ip, "%motia help cron start").raise_error()
    out = capsys.readouterr().out
    assert out.startswith("usage: %motia cron start [SECONDS]\n") and "%motia cron start 0.5" in out
    run_cell(ip, "%motia help enqueue").raise_error()
    assert "or a Python expression" in capsys.readouterr().out
    res = run_cell(ip, "%motia help launch")
    assert isinstance(res.error_in_exec, MotiaUsageError) and "unknown subcommand 'launch'" in str(res.error_in_exec)


def test_question_mark_shows_readable_help(ip, capsys):
    run_cell(ip, "%motia?").raise_error()
    out = capsys.readouterr().out
    assert "%motia enqueue TOPIC [DATA]" in out and "%motia cron start [SECONDS]" in out
    assert ip.find_line_magic("motia").__doc__.startswith("Drive the steps")
    assert "``" not in ip.find_line_magic("motia").__doc__  # plain text, not reST
    run_cell(ip, "%%step?").raise_error()
    out = capsys.readouterr().out
    assert "%%step [--quiet]" in out and "handler" in out
    assert "``" not in ip.find_cell_magic("step").__doc__


def test_step_options_and_quiet(ip, capsys):
    run_cell(ip, "%%step -q\n" + PAYMENT).raise_error()
    assert capsys.readouterr().out == ""
    res = run_cell(ip, "%%step --loud\n" + PAYMENT)
    assert isinstance(res.error_in_exec, MotiaUsageError)
    assert str(res.error_in_exec) == "%%step: unrecognized arguments: --loud\n  usage: %%step [--quiet]"


def test_a_syntax_error_in_a_step_cell_registers_nothing(ip):
    res = run_cell(ip, "%%step\nconfig = {'name': 'S', 'triggers': []}\ndef handler(input)\n    pass\n")
    assert isinstance(res.error_in_exec, StepSyntaxError)
    assert isinstance(res.error_in_exec, StepConfigError)  # callers catching config errors catch it too
    assert res.error_in_exec.syntax_error.lineno == 3  # the line in the cell (line 1 is %%step)
    assert all_steps() == []


def test_a_typo_in_a_step_flow_or_trace_name_is_reported_not_an_empty_table(ip, capsys):
    # as %state list for a group: the empty frame is still returned, a note on stderr names the closest
    run_cell(ip, "%%step\n" + PAYMENT).raise_error()
    state_manager.sync.set("orders", "o1", {"status": "pending"})
    run_cell(ip, '%motia enqueue order.created {"orderId": "o1"}').raise_error()
    capsys.readouterr()
    for line, note in [
        ("%motia logs ProcessPaymnt", "%motia logs: no step named 'ProcessPaymnt' has logged. Did you mean 'ProcessPayment'?"),
        ("%motia steps order-procesing", "%motia steps: no step belongs to flow 'order-procesing'. Did you mean 'order-processing'?"),
        ("%motia trace 1234", "%motia trace: no trace '1234' (1 trace kept; %motia trace lists them)"),
    ]:
        res = run_cell(ip, line)
        assert res.success and len(res.result) == 0
        assert capsys.readouterr().err == note + "\n"
    # the names that exist give no note
    for line in ("%motia logs ProcessPayment", "%motia steps order-processing", "%motia trace last", "%motia trace"):
        res = run_cell(ip, line)
        assert res.success and len(res.result) > 0 and capsys.readouterr().err == ""
