"""Every tutorial, run as a user runs it: JupyterLab in Debian's Chromium, Run All.

One JupyterLab server (tests/lab_harness.py) serves a copy of ``notebooks/`` (its ``steps/``
folder too), so the run never rewrites the repository's notebooks. The kernels get a user's
environment, not the test run's: no ``MOTIA_NB_DB``, so the state lives in ``.motia/state.db``
beside the notebooks, as after ``make lab``; the real ``motia`` worker of lesson 9 is on
``PATH`` (from ``.venv-motia``, which ``make lab`` / ``make workers`` build).

For each notebook the test opens it, runs *Run All* from JupyterLab's command, waits for
the kernel to be idle, saves the notebook and reads what JupyterLab saved. It fails when

- a cell shows an error and is not tagged ``raises-exception`` (a tagged cell must show one:
  JupyterLab 4 goes on past it, as the lessons say);
- a code cell never ran (Run All stopped early);
- a cell writes to stderr where the tutorial's saved output has none, or reports other step
  failures (``✖ step …`` lines) than the lesson shows;
- an output shows a machine path (tests/machine_paths.py).

A screenshot of each notebook after its run goes to ``test-output/tutorials_browser/``
(gitignored), overwritten on each run. Lesson 9 needs ``.venv-motia``: without it that one
notebook is skipped with the reason (a failure under ``CI=true``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import require_binary
from engine_helpers import motia_cli
from lab_harness import KERNEL_IDLE_JS, LabServer, chromium_page
from machine_paths import notebook_machine_paths

BROWSER = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TUTORIALS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
SHOTS = ROOT / "test-output" / "tutorials_browser"
#: Lessons that start a real Motia worker (they need .venv-motia).
NEEDS_WORKER = {"09_notebook_as_engine.ipynb"}
#: The longest a single tutorial's Run All may take on a loaded machine.
RUN_ALL_TIMEOUT_MS = 420_000

#: Starts Run All and counts the kernel's execute requests and replies. JupyterLab sends every
#: cell at once; its command resolves early (``false``) when a cell tagged raises-exception
#: fails, while the kernel goes on with the cells after it. An untagged error makes the kernel
#: abort the rest: those replies come back too, with status "aborted".
RUN_ALL_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session.kernel;
  window.__runAll = {done: null, sent: 0, replies: 0};
  k.anyMessage.connect((_, a) => {
    const t = a.msg.header.msg_type;
    if (a.direction === 'send' && t === 'execute_request') window.__runAll.sent++;
    if (a.direction === 'recv' && t === 'execute_reply') window.__runAll.replies++;
  });
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    ok => { window.__runAll.done = {ok: ok}; },
    err => { window.__runAll.done = {error: String(err)}; });
}"""
#: True once Run All has returned, every cell sent has its reply and the kernel is idle.
SETTLED_JS = """() => {
  const r = window.__runAll;
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!r.done && r.sent > 0 && r.replies === r.sent && !!k && k.status === 'idle';
}"""
#: Shows the notebook's last cell (what the screenshot keeps).
SCROLL_TO_END_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.scrollToItem(nb.widgets.length - 1, 'end');
}"""


def _ignore(directory: str, names: list[str]) -> set[str]:
    """What a copy of notebooks/ leaves out: a local run's state, checkpoints, exports."""
    return {n for n in names if n in {".motia", ".ipynb_checkpoints", "__pycache__", "lesson08_project"}}


def _worker_bin() -> str | None:
    for venv in (".venv-motia", ".venv-worker"):
        exe = ROOT / venv / "bin" / "motia"
        if exe.exists():
            return str(exe.parent)
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, Any, Path]]:
    """One JupyterLab on a copy of notebooks/, and one Chromium page, for every tutorial."""
    chromium = require_binary("chromium", "the tutorials' browser test drives Debian's Chromium")
    base = tmp_path_factory.mktemp("tutorials-lab")
    served = base / "notebooks"
    shutil.copytree(NOTEBOOKS, served, ignore=_ignore)
    env: dict[str, str | None] = {"MOTIA_NB_DB": None}  # a user's default: .motia/state.db
    worker_bin = _worker_bin()
    if worker_bin is not None:  # after the user's own PATH, as "a motia on your PATH"
        env["PATH"] = os.environ.get("PATH", "") + os.pathsep + worker_bin
    SHOTS.mkdir(parents=True, exist_ok=True)
    with LabServer(served, base / "jupyter", env=env) as server, chromium_page(chromium, width=1400, height=1000) as page:
        yield server, page, served


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _stderr(cell: dict[str, Any]) -> str:
    return "".join("".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                   for o in cell.get("outputs") or [] if o["output_type"] == "stream" and o.get("name") == "stderr")


def _reports(stderr: str) -> list[str]:
    """The ``✖ step … failed`` lines a cell printed, trace ids left out (they vary by run)."""
    return [_UUID.sub("<trace>", line) for line in stderr.splitlines() if line.startswith("✖")]


def _problems(saved: dict[str, Any], ran: dict[str, Any]) -> list[str]:
    """What is wrong with a tutorial after Run All (``ran``), against its saved form."""
    problems = []
    saved_cells = saved["cells"]
    for index, cell in enumerate(ran["cells"]):
        if cell["cell_type"] != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        source = "".join(cell["source"]).strip().splitlines()
        where = f"cell {index} ({source[0][:60] if source else 'empty'})"
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o["output_type"] == "error"]
        if cell.get("execution_count") is None:
            problems.append(f"{where}: never ran")
        elif "raises-exception" in tags:
            if not errors:
                problems.append(f"{where}: tagged raises-exception but showed no error")
        elif errors:
            problems.append(f"{where}: unexpected error {errors[0]['ename']}: {errors[0]['evalue']}")
        saved_stderr = _stderr(saved_cells[index]) if index < len(saved_cells) else ""
        stderr = _stderr(cell)
        if stderr and not saved_stderr:
            problems.append(f"{where}: unexpected stderr: {stderr[:300]!r}")
        elif _reports(stderr) != _reports(saved_stderr):
            problems.append(f"{where}: step reports {_reports(stderr)}, the lesson shows {_reports(saved_stderr)}")
    problems += [f"{where}: shows the machine path {path}" for where, path in notebook_machine_paths(ran)]
    return problems


def _run_all(lab: tuple[LabServer, Any, Path], name: str) -> dict[str, Any]:
    """Open ``name`` in JupyterLab, Run All, save; the notebook as JupyterLab saved it."""
    server, page, served = lab
    shot = SHOTS / f"{name.removesuffix('.ipynb')}.png"
    try:
        page.goto(server.notebook_url(name) + "&reset")  # a fresh workspace: only this notebook open
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
        page.evaluate(RUN_ALL_JS)
        page.wait_for_function(SETTLED_JS, timeout=RUN_ALL_TIMEOUT_MS)
        done = page.evaluate("() => window.__runAll.done")
        assert "error" not in done, f"Run All failed in JupyterLab: {done['error']}"
        page.evaluate(SCROLL_TO_END_JS)
        page.wait_for_timeout(500)  # let the scrolled cells draw before the screenshot (not a check)
        page.screenshot(path=str(shot))
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=60_000)
        return json.loads((served / name).read_text(encoding="utf-8"))
    except Exception:
        page.screenshot(path=str(shot.with_name(shot.stem + "-failure.png")))
        raise
    finally:
        # Stop this notebook's kernel before the next one starts (one at a time on a small machine).
        for session in server.api("GET", "/api/sessions") or []:
            server.api("DELETE", f"/api/sessions/{session['id']}")


@pytest.mark.parametrize("name", [pytest.param(n, marks=BROWSER) for n in TUTORIALS])
def test_tutorial_runs_all_in_jupyterlab(lab: tuple[LabServer, Any, Path], name: str) -> None:
    if name in NEEDS_WORKER:
        motia_cli()  # skips without .venv-motia (fails under CI=true)
    saved = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    problems = _problems(saved, _run_all(lab, name))
    shot = SHOTS / f"{name.removesuffix('.ipynb')}.png"
    assert not problems, f"{name} after Run All in JupyterLab (screenshot {shot}):\n" + "\n".join(problems)


def _code(source: str, outputs: list[dict[str, Any]] | None = None, tags: list[str] | None = None,
          count: int | None = 1) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "metadata": {"tags": tags or []},
            "execution_count": count, "outputs": outputs or []}


_ERROR = {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": []}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_unexpected_error_in_a_notebook_is_caught_after_run_all(lab: tuple[LabServer, Any, Path]) -> None:
    """The check itself, in the same JupyterLab: an untagged failing cell stops Run All (the kernel
    aborts the cells after it), and the test sees both the error and the cells that never ran."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    expected = nbformat.v4.new_code_cell("1 / 0")
    expected.metadata["tags"] = ["raises-exception"]
    nb.cells = [nbformat.v4.new_code_cell(s) for s in ("print('a')", "{}['missing']", "print('never')")]
    nb.cells.insert(1, expected)
    nbformat.write(nb, str(lab[2] / "zz_broken.ipynb"))
    saved = json.loads((lab[2] / "zz_broken.ipynb").read_text(encoding="utf-8"))
    problems = _problems(saved, _run_all(lab, "zz_broken.ipynb"))
    assert problems == [
        "cell 2 ({}['missing']): unexpected error KeyError: 'missing'",
        "cell 3 (print('never')): never ran",
    ], problems


def test_problems_name_unexpected_errors_cells_that_never_ran_stderr_and_paths() -> None:
    saved = {"cells": [_code("a"), _code("b"), _code("c"), _code("d"), _code("e"), _code("f")]}
    saved["cells"][3]["outputs"] = [{"output_type": "stream", "name": "stderr", "text": "known warning"}]
    expected_report = "✖ step 'ChargeCard' failed (trace 0a5592e6-db6f-484f-aafd-c060150d949a):\nTraceback\n"
    saved["cells"][5]["outputs"] = [{"output_type": "stream", "name": "stderr", "text": expected_report}]
    ran = {"cells": [
        _code("x = 1 / 0", [_ERROR]),
        _code("expected", [_ERROR], tags=["raises-exception"]),
        _code("tagged but fine", tags=["raises-exception"]),
        _code("noisy", [{"output_type": "stream", "name": "stderr", "text": ["known ", "warning"]}]),
        _code("later", count=None),
        _code("charge", [{"output_type": "stream", "name": "stderr",
                          "text": "✖ step 'Audit' failed (trace c7fbb128-81bc-43f0-b24d-45f27b6a2260):\nTraceback\n"}]),
        {"cell_type": "markdown", "source": "text"},
        _code("print(db)", [{"output_type": "stream", "name": "stdout", "text": "/tmp/x/state.db"},
                            {"output_type": "stream", "name": "stderr", "text": "Traceback (most recent call last)"}]),
    ]}
    assert _problems(saved, ran) == [
        "cell 0 (x = 1 / 0): unexpected error ZeroDivisionError: division by zero",
        "cell 2 (tagged but fine): tagged raises-exception but showed no error",
        "cell 4 (later): never ran",
        ("cell 5 (charge): step reports [\"✖ step 'Audit' failed (trace <trace>):\"], "
         "the lesson shows [\"✖ step 'ChargeCard' failed (trace <trace>):\"]"),
        "cell 7 (print(db)): unexpected stderr: 'Traceback (most recent call last)'",
        "cell 7 (stream): shows the machine path /tmp/x/state.db",
    ]
