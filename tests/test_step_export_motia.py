"""``%motia export`` writes a folder the REAL ``motia run`` loads: nothing mocked.

%%step cells written in Motia 1.0's style are exported; then PyPI's motia 1.0.4rc1
(``.venv-motia``) runs ``III_URL=<url> motia run --dir <exported folder>`` against this
process's engine endpoint. Its worker must register exactly the exported steps, and
they must work there: a request to its http step writes state and enqueues a message
its queue step consumes. Without ``.venv-motia`` the test skips with the reason (fails
under CI=true).
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from motia_nb.testing import kernel_manager_for, run_cell
from engine_helpers import motia_cli, start_motia, wait_for, worker_with_steps

from motia_nb import engine, request, state_manager, steps_frame
from motia_nb.session import reset_steps

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "08_motia_project_and_back.ipynb"

CREATE = '''"""Create an order (http), store it and enqueue order.created."""
import asyncio
from typing import Any

from motia import ApiRequest, FlowContext, enqueue, http, logger, stateManager

config = {
    "name": "CreateOrder",
    "description": "Store a new order",
    "triggers": [http("POST", "/export-orders")],
    "enqueues": ["export.order.created"],
    "flows": ["export-demo"],
}


async def handler(request: ApiRequest[Any], ctx: FlowContext[Any]) -> dict[str, Any]:
    order = request.body or {}
    logger.info("order received", {"id": order.get("id")})
    await asyncio.to_thread(stateManager.set, "export-orders", order["id"], {"total": order.get("total", 0), "status": "new"})
    await asyncio.to_thread(enqueue, {"topic": "export.order.created", "data": {"id": order["id"]}})
    return {"status": 201, "body": {"id": order["id"]}}
'''

PAY = '''"""Pay an order when export.order.created arrives."""
import asyncio
from typing import Any

from motia import queue, stateManager

config = {"name": "ProcessPayment", "triggers": [queue("export.order.created")], "flows": ["export-demo"]}


async def handler(data: Any, ctx: Any) -> None:
    await asyncio.to_thread(stateManager.update, "export-orders", data["id"], [{"type": "set", "path": "status", "value": "paid"}])
'''

NOT_EXPORTED = '''from motia_nb import step

@step({"name": "NotebookOnly", "triggers": [{"type": "queue", "topic": "export.other"}]})
def notebook_only(data):
    pass
'''


@pytest.fixture
def ip(steps_ip):
    return steps_ip


def test_motia_loads_the_exported_files_as_motia_run_discovers_them(ip, tmp_path):
    """The exported folder, through motia 1.0.4rc1's own discovery and loader (no engine needed)."""
    python = motia_cli().parent / "python"  # skips (or fails in CI) without .venv-motia
    for source in (CREATE, PAY):
        run_cell(ip, "%%step --quiet\n" + source).raise_error()
    out = tmp_path / "steps"
    run_cell(ip, f"%motia export {out}").raise_error()
    probe = (
        "import sys\nfrom motia.cli import discover_steps, load_module_from_path\n"
        "for path in sorted(discover_steps(sys.argv[1])):\n"
        "    m = load_module_from_path(path)\n"
        "    print(path.rsplit('/', 1)[1], m.config['name'], callable(m.handler))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}  # no PYTHONPATH: only the real venv's packages
    done = subprocess.run([str(python), "-c", probe, str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["create_order_step.py CreateOrder True", "process_payment_step.py ProcessPayment True"]


def test_motia_run_registers_and_runs_the_exported_steps(ip, tmp_path, capsys):
    motia_cli()
    for source in (CREATE, PAY):
        run_cell(ip, "%%step --quiet\n" + source).raise_error()
    run_cell(ip, NOT_EXPORTED).raise_error()
    # the steps work in the notebook first
    key = f"o-{uuid.uuid4().hex[:6]}"
    assert request.sync("POST", "/export-orders", body={"id": key, "total": 3}) == {"status": 201, "body": {"id": key}, "headers": {}}
    assert state_manager.sync.get("export-orders", key) == {"total": 3, "status": "paid"}

    out = tmp_path / "project" / "steps"
    capsys.readouterr()
    run_cell(ip, f"%motia export {out}").raise_error()
    report = capsys.readouterr().out
    assert "NotebookOnly" in report and "not exported" in report
    assert sorted(p.name for p in out.iterdir()) == ["create_order_step.py", "process_payment_step.py"]

    reset_steps()  # the project, not the notebook, serves them now
    server = engine.serve(worker_timeout=30)
    proc = start_motia(server.url, tmp_path / "project", steps=out)
    try:
        names = {"CreateOrder", "ProcessPayment"}
        wait_for(lambda: worker_with_steps(server, names) or proc.p.poll() is not None, what="motia run to register")
        assert proc.p.poll() is None, proc.output()
        (w,) = [w for w in server.workers if w["steps"]]
        assert set(w["steps"]) == names, proc.output()
        frame = steps_frame().set_index("name")
        assert frame.loc["CreateOrder", "triggers"] == "http POST /export-orders"
        assert frame.loc["ProcessPayment", "triggers"] == "queue export.order.created"
        assert set(frame["worker"]) == {w["name"]}

        key = f"o-{uuid.uuid4().hex[:6]}"
        r = request.sync("POST", "/export-orders", body={"id": key, "total": 7})
        assert r["status"] == 201 and r["body"] == {"id": key}, (r, proc.output())
        wait_for(lambda: (state_manager.sync.get("export-orders", key) or {}).get("status") == "paid",
                 what="the worker's ProcessPayment to pay the order")
        assert state_manager.sync.get("export-orders", key) == {"total": 7, "status": "paid"}
    finally:
        proc.stop()
        server.close()


def _sanitized(outputs: list) -> list[str]:
    """Text of a cell's outputs, with what legitimately varies (tests/nbval_sanitize.cfg) replaced."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg")
    texts: list[str] = []
    streams: dict[str, int] = {}  # a stream may arrive in several messages: one text per stream name
    for o in outputs:
        if o.get("output_type") == "stream":
            if o["name"] in streams:
                texts[streams[o["name"]]] += o["text"]
                continue
            streams[o["name"]] = len(texts)
            texts.append(o["text"])
        else:
            texts.append(o.get("data", {}).get("text/plain") or o.get("evalue") or "")
    for section in cfg.sections():
        texts = [re.sub(cfg[section]["regex"], cfg[section]["replace"], t) for t in texts]
    return texts


def test_lesson_8_gives_the_same_outputs_with_the_real_motia_package(tmp_path):
    """The lesson's Motia 1.0 step files run unchanged in a kernel whose `motia` is PyPI's 1.0.4rc1."""
    python = motia_cli().parent / "python"
    nb = nbformat.read(LESSON, as_version=4)
    saved = [c.get("outputs") for c in nb.cells]
    nb.cells.append(nbformat.v4.new_code_cell('import sys\nprint("motia is", sys.modules["motia"].__name__, sys.modules["motia"].__file__)'))
    km = kernel_manager_for(python, tmp_path, "motia-real")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MOTIA_NB_DB": str(tmp_path / "state.db")}
    work = tmp_path / "notebooks"
    work.mkdir()
    NotebookClient(nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(work)}}).execute(env=env)
    world = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert world.startswith("motia is motia ") and str(python.parent.parent) in world, world  # the real package
    code = [(c, s) for c, s in zip(nb.cells, saved) if c.cell_type == "code"]
    for c, s in code:
        assert _sanitized(c.outputs) == _sanitized(s), f"cell differs in the real world:\n{c.source}"
