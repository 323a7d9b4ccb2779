"""Output printed late lands in the cell that caused it, as a user sees it in JupyterLab.

nbclient stops listening to a cell at its ``execute_reply``, so output arriving after it is lost
there: only a real front end shows where it goes. The test starts ``jupyter lab`` headless
(tests/lab_harness.py), opens a notebook in Debian's Chromium, runs all its cells and reads
each cell's output text from the DOM (``.jp-OutputArea-output`` under each ``.jp-Cell``).

Each late print happens while the *next* cell is running (it waits until that cell has started,
and that cell waits until it printed: events, no sleeps), so output routed by "the cell running
now" would land in the wrong cell:

(a) a state step whose handler starts a task that prints after the cell that wrote the state
    has replied (the write awaits its cascade, so the handler itself cannot print late): it shows
    in that cell, whether the cell wrote with ``await state_manager.set`` (the task runs on the
    kernel's loop) or ``state_manager.sync.set`` (the cascade runs on motia_nb's loop thread, in a
    copy of the cell's context: motia_nb/steps/runtime.py);
(b) threads printing after the cell that started them replied: one started in a copy of the
    cell's context (README's recipe) shows in that cell; a plain ``threading.Thread`` starts in an
    empty context, so ipykernel (7.x) sends its prints to the cell running when it prints (its
    fallback parent header), here the next cell. motia_nb does not own user threads and does not
    patch ``threading``: the test pins ipykernel's behaviour, which the README states;
(c) a cron step run by the scheduler: it shows in the cell that started the scheduler, as
    ``motia_nb/steps/scheduling.py`` says.

A screenshot goes to ``test-output/late_output_browser/`` (gitignored), overwritten on each run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from lab_harness import KERNEL_IDLE_JS, LabServer, chromium_page

from conftest import require_binary

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "late_output_browser"

CELLS = [
    # 0: set-up. Each late print waits until the next cell has started (``next_cell_started``),
    # which then waits until the print happened (``printed``): no sleeps, no races.
    """\
import asyncio, contextvars, threading
from motia_nb import state_manager, start_scheduler, stop_scheduler
from motia_nb.session import step
from motia_nb.steps import cron, state

WORDS = ("LATE-A", "LATE-SYNC", "THREAD-B", "THREAD-CTX", "CRON-C")
next_cell_started = {w: threading.Event() for w in WORDS}
printed = {w: threading.Event() for w in WORDS}

def print_late(word):  # blocking: in a thread
    next_cell_started[word].wait(120)
    print(word)
    printed[word].set()

async def print_late_async(word):
    await asyncio.to_thread(next_cell_started[word].wait, 120)
    print(word)
    printed[word].set()

tasks = []

@step({"name": "late-a", "triggers": [state(condition=lambda e: e.group_id == "late")]})
async def late_a(event):
    # The write awaits its cascade (README: inline), so the late print is a task the step starts.
    tasks.append(asyncio.create_task(print_late_async(event.new_value)))

cron_runs = []

@step({"name": "cron-c", "triggers": [cron("* * * * * *")]})
async def cron_c(event):
    cron_runs.append(1)
    if len(cron_runs) == 1:
        await print_late_async("CRON-C")
print("SETUP")
""",
    # 1: (a) the write that triggers the step; the cell replies before the step's task prints
    """\
await state_manager.set("late", "k", "LATE-A")
print("CELL-A")
""",
    # 2: runs while LATE-A is printed
    """\
print("CELL-A2")
next_cell_started["LATE-A"].set()
_ = await asyncio.to_thread(printed["LATE-A"].wait, 120)
""",
    # 3: (a) through the synchronous API (its cascade runs on motia_nb's loop thread)
    """\
state_manager.sync.set("late", "k", "LATE-SYNC")
print("CELL-SYNC")
""",
    # 4: runs while LATE-SYNC is printed
    """\
print("CELL-SYNC2")
next_cell_started["LATE-SYNC"].set()
_ = await asyncio.to_thread(printed["LATE-SYNC"].wait, 120)
""",
    # 5: (b) a plain thread, and one started in a copy of the cell's context
    """\
threading.Thread(target=print_late, args=("THREAD-B",)).start()
threading.Thread(target=contextvars.copy_context().run, args=(print_late, "THREAD-CTX")).start()
print("CELL-B")
""",
    # 6: runs while THREAD-B and THREAD-CTX are printed
    """\
print("CELL-B2")
for word in ("THREAD-B", "THREAD-CTX"):
    next_cell_started[word].set()
    _ = await asyncio.to_thread(printed[word].wait, 120)
""",
    # 7: (c) start the cron scheduler
    """\
print(start_scheduler(0.2))
print("CELL-C")
""",
    # 8: runs while CRON-C is printed
    """\
print("CELL-C2")
next_cell_started["CRON-C"].set()
_ = await asyncio.to_thread(printed["CRON-C"].wait, 120)
print(stop_scheduler())
print("DONE")
""",
]


def _notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, str(path))


#: Each code cell's output texts, in order.
CELL_OUTPUTS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')].map(
  c => [...c.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText))"""


def test_late_output_lands_in_the_cell_that_caused_it(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "the late-output browser test drives Debian's Chromium")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    SHOTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "root"
    root.mkdir()
    _notebook(root / "late.ipynb")
    with (
        LabServer(root, tmp_path / "jupyter", env={"MOTIA_NB_DB": str(tmp_path / "state.db")}) as lab,
        chromium_page(chromium) as page,
    ):
        try:
            page.goto(lab.notebook_url("late.ipynb"))
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # The last cell prints DONE once every late print has happened.
            try:
                page.wait_for_function(
                    f"() => ({CELL_OUTPUTS_JS})().flat().some(t => t.includes('DONE'))", timeout=150_000)
                page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)
            except PlaywrightTimeout:
                pytest.fail(f"the notebook did not finish; each cell's output: {page.evaluate(CELL_OUTPUTS_JS)}")
            outputs = page.evaluate(CELL_OUTPUTS_JS)
        finally:
            page.screenshot(path=str(SHOTS / "late.png"), full_page=True)
    texts = ["\n".join(o) for o in outputs]
    where = {word: [i for i, t in enumerate(texts) if word in t]
             for word in ("LATE-A", "LATE-SYNC", "THREAD-B", "THREAD-CTX", "CRON-C")}
    shown = f"where each late print landed: {where}; each cell's output: {texts}"
    # (a) a step's late print, in the cell whose write triggered the step (not the cell running then)
    assert where["LATE-A"] == [1], shown
    assert where["LATE-SYNC"] == [3], shown
    # (b) a thread started in a copy of the cell's context: in the cell that started it
    assert where["THREAD-CTX"] == [5], shown
    # (b) a plain thread starts in an empty context: ipykernel sends its prints to the cell
    # running when it prints (its fallback parent), here the cell after the one that started it
    assert where["THREAD-B"] == [6], shown
    # (c) a cron step run by the scheduler: in the cell that started the scheduler
    assert where["CRON-C"] == [7], shown
