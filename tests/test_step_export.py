"""``%motia export DIR``: file names, the source kept per %%step cell, refusals, and what is reported.

Loading the exported folder with the real ``motia run`` is in test_step_export_motia.py.
"""

from __future__ import annotations

import pytest
from motia_nb.testing import run_cell

from motia_nb.notebook.step_export import ExportError, plan_export, step_file_name
from motia_nb.notebook.step_magics import MotiaUsageError
from motia_nb.session import all_steps, current_session, get_step, remove_step


@pytest.fixture
def ip(steps_ip):
    return steps_ip


CREATE = '''from motia import http, logger, stateManager

config = {"name": "CreateOrder", "triggers": [http("POST", "/orders")], "enqueues": ["order.created"]}


async def handler(request, ctx):
    logger.info("created")
    return {"status": 201, "body": {}}
'''

PAY = '''from motia import queue

config = {"name": "ProcessPayment", "triggers": [queue("order.created")]}


def handler(input, ctx):
    return None'''  # no final newline: the file gets one


def cell(ip, source: str) -> None:
    run_cell(ip, "%%step\n" + source).raise_error()


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("CreateOrder", "create_order_step.py"),
        ("ProcessPayment", "process_payment_step.py"),
        ("DailyReport", "daily_report_step.py"),
        ("create-order", "create_order_step.py"),
        ("Daily report", "daily_report_step.py"),
        ("HTTPHealthCheck", "http_health_check_step.py"),
        ("SendEmailStep", "send_email_step.py"),
        ("order.v2.Ship", "order_v2_ship_step.py"),
        ("3DPrint", "step_3_d_print_step.py"),
        ("already_snake", "already_snake_step.py"),
    ],
)
def test_file_names_follow_motias_convention(name, file):
    assert step_file_name(name) == file
    assert file.endswith("_step.py") and file[:-3].isidentifier()  # `motia run` globs *_step.py


@pytest.mark.parametrize("name", ["Step", "---", "step"])
def test_a_name_that_gives_no_file_name_is_refused(name):
    with pytest.raises(ExportError, match="no file name"):
        step_file_name(name)


def test_export_writes_each_cell_unchanged_and_reports(ip, tmp_path, capsys):
    cell(ip, CREATE)
    cell(ip, PAY)
    capsys.readouterr()
    out_dir = tmp_path / "steps"
    run_cell(ip, f'%motia export "{out_dir}"').raise_error()
    assert sorted(p.name for p in out_dir.iterdir()) == ["create_order_step.py", "process_payment_step.py"]
    assert (out_dir / "create_order_step.py").read_text() == CREATE
    assert (out_dir / "process_payment_step.py").read_text() == PAY + "\n"
    out = capsys.readouterr().out
    assert f"✓ {out_dir}/create_order_step.py  (CreateOrder)" in out
    assert f"✓ {out_dir}/process_payment_step.py  (ProcessPayment)" in out
    assert f"motia run --dir {out_dir}" in out
    assert "note" not in out and "not exported" not in out


def test_rerunning_a_cell_replaces_its_source_and_removing_forgets_it(ip, tmp_path):
    cell(ip, CREATE)
    cell(ip, PAY)
    cell(ip, PAY.replace("return None", "return 42"))
    assert get_step("ProcessPayment").cell.source.rstrip().endswith("return 42")
    remove_step("CreateOrder")
    plan = plan_export(all_steps())
    assert [(f.name, f.steps) for f in plan.files] == [("process_payment_step.py", ("ProcessPayment",))]
    assert "return 42" in plan.files[0].source and "return None" not in plan.files[0].source


def test_existing_files_are_refused_without_force_and_nothing_is_written(ip, tmp_path):
    cell(ip, CREATE)
    cell(ip, PAY)
    out_dir = tmp_path / "steps"
    out_dir.mkdir()
    (out_dir / "create_order_step.py").write_text("# mine\n")
    with pytest.raises(MotiaUsageError) as err:
        run_cell(ip, f"%motia export {out_dir}").raise_error()
    msg = str(err.value)
    assert "\n" not in msg and "create_order_step.py" in msg and "--force" in msg
    assert "process_payment_step.py" not in msg
    assert sorted(p.name for p in out_dir.iterdir()) == ["create_order_step.py"]  # nothing half-written
    assert (out_dir / "create_order_step.py").read_text() == "# mine\n"
    run_cell(ip, f"%motia export {out_dir} --force").raise_error()
    assert (out_dir / "create_order_step.py").read_text() == CREATE
    assert sorted(p.name for p in out_dir.iterdir()) == ["create_order_step.py", "process_payment_step.py"]


def test_step_functions_are_named_not_exported(ip, tmp_path, capsys):
    cell(ip, PAY)
    run_cell(ip, 'from motia_nb import step\n@step({"name": "Audit", "triggers": [{"type": "queue", "topic": "t"}]})\n'
                 "def audit(data):\n    pass\n").raise_error()
    capsys.readouterr()
    run_cell(ip, f"%motia export {tmp_path}/out").raise_error()
    out = capsys.readouterr().out
    assert "not exported (defined with @step in a plain cell, not a %%step cell): Audit" in out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["process_payment_step.py"]


def test_a_step_cell_replaced_by_a_step_function_is_not_exported(ip, tmp_path):
    cell(ip, PAY)
    run_cell(ip, 'from motia_nb import step\n@step({"name": "ProcessPayment", "triggers": [{"type": "queue", "topic": "t"}]})\n'
                 "def pay(data):\n    pass\n").raise_error()
    with pytest.raises(MotiaUsageError, match=r"no %%step cells to export; defined with @step in plain cells: ProcessPayment"):
        run_cell(ip, f"%motia export {tmp_path}/out").raise_error()
    assert not (tmp_path / "out").exists()


def test_nothing_to_export_and_a_file_for_a_folder_are_one_line_errors(ip, tmp_path):
    with pytest.raises(MotiaUsageError, match=r"^%motia export: no %%step cells to export$"):
        run_cell(ip, f"%motia export {tmp_path}/out").raise_error()
    cell(ip, PAY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(MotiaUsageError, match="is not a folder"):
        run_cell(ip, f"%motia export {tmp_path}/file").raise_error()
    with pytest.raises(MotiaUsageError, match="DIR"):
        run_cell(ip, "%motia export").raise_error()


def test_two_steps_whose_names_give_one_file_are_refused(ip, tmp_path):
    cell(ip, PAY)
    cell(ip, PAY.replace('"ProcessPayment"', '"process-payment"').replace("order.created", "other"))
    with pytest.raises(MotiaUsageError, match="'ProcessPayment' and 'process-payment' would both be written to process_payment_step.py"):
        run_cell(ip, f"%motia export {tmp_path}/out").raise_error()
    assert not (tmp_path / "out").exists()


def test_notes_say_what_a_motia_project_would_miss(ip, tmp_path, capsys):
    source = '''from motia import state_manager, step

config = {"name": "Notes", "triggers": [queue("a")]}


async def handler(input):
    await enqueue({"topic": "b", "data": input})


extra = step({"name": "Extra", "triggers": [queue("c")]}, handler)
'''
    cell(ip, source)
    capsys.readouterr()
    run_cell(ip, f"%motia export {tmp_path}/out").raise_error()
    out = capsys.readouterr().out
    assert "✓ " + f"{tmp_path}/out/notes_step.py  (Notes, Extra)" in out
    assert "note: uses enqueue, queue without importing it" in out
    assert "note: imports state_manager from motia" in out
    assert "note: motia run loads only a file's module-level config + handler: Extra" in out
    assert (tmp_path / "out" / "notes_step.py").read_text() == source


def test_a_connected_workers_steps_are_neither_exported_nor_listed(ip, tmp_path):
    cell(ip, PAY)
    current_session().registry.register({"name": "Remote", "triggers": [{"type": "queue", "topic": "r"}]},
                                        lambda data: None, source="worker:host:1")
    plan = plan_export(all_steps())
    assert [f.steps for f in plan.files] == [("ProcessPayment",)] and plan.skipped == ()


def test_a_cell_whose_module_step_moved_to_another_cell_is_named_from_what_it_still_defines(ip, tmp_path):
    first = '''from motia import queue, step

config = {"name": "Alpha", "triggers": [queue("a")]}


def handler(input):
    pass


beta = step({"name": "Beta", "triggers": [queue("b")]}, handler)
'''
    cell(ip, first)
    cell(ip, PAY.replace('"ProcessPayment"', '"Alpha"'))  # Alpha now comes from this cell
    plan = plan_export(all_steps())
    assert [(f.name, f.steps) for f in plan.files] == [("alpha_step.py", ("Alpha",)), ("beta_step.py", ("Beta",))]
    assert "config = {\"name\": \"Alpha\", \"triggers\": [queue(\"order.created\")]}" in plan.files[0].source
