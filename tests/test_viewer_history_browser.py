"""The viewer's item history in a real JupyterLab, driven in Debian's Chromium (issue 16, SPEC §9).

A newcomer opens the viewer, selects an item and clicks *History*: each change is
listed with what made it (the notebook's cell, a step, ``%state``, the viewer). The
history then follows the item while it is open, whoever writes it: a Save in the viewer,
another process writing the same SQLite file, that process deleting it. Turning history
off (``%config MotiaNB.history_keep = "off"`` run in the kernel) is said in the box.

Every wait is on a condition of the page (no sleeps); screenshots go to
``test-output/viewer_history_browser/`` (gitignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_harness import LabServer, chromium_page, open_viewer_item

from conftest import require_binary

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "viewer_history_browser"

CELLS = [
    """\
%load_ext motia_nb
from motia_nb import state_manager
from motia_nb.notebook.viewer import viewer
from motia_nb.steps import state
from motia_nb.session import step

state_manager.sync.set("orders", "o1", {"status": "new", "note": "héllo ✓ 日本"})

@step({"name": "MarkPaid", "triggers": [state(condition=lambda e: e.group_id == "payments")]})
async def mark_paid(event):
    await state_manager.update("orders", event.new_value["order"], [{"type": "set", "path": "status", "value": "paid"}])
""",
    'await state_manager.set("payments", "p1", {"order": "o1"})',
    '%state set orders o1 {"status": "from-magic"}',
    "viewer('orders')",
]

#: The history table's rows as [seq, when, change, by, value after] (text).
ROWS_JS = """el => [...el.querySelectorAll('tr')].slice(1)
    .map(tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()))"""


#: The history table is read as it is: nothing cut off at the right (no horizontal scrolling) and
#: each time on one line (its text in one line box).
FITS_JS = """el => {
  const lines = td => { const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length; };
  const rows = [...el.querySelectorAll('tr')].slice(1);
  return {scrollWidth: el.scrollWidth, clientWidth: el.clientWidth, whenLines: rows.map(tr => lines(tr.cells[1]))};
}"""


def _fits(m: dict[str, Any]) -> bool:
    return m["scrollWidth"] <= m["clientWidth"] + 1 and bool(m["whenLines"]) and set(m["whenLines"]) == {1}


def _notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, str(path))


def _run_in_kernel(page: Any, code: str) -> str:
    """Run ``code`` in the notebook's kernel (as a cell would, without adding one); its status."""
    return page.evaluate(  # type: ignore[no-any-return]
        """async code => {
          const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
          return (await k.requestExecute({code, store_history: false}).done).content.status;
        }""", code)  # fmt: skip


def _another_process(db: Path, code: str) -> int:
    """Run ``code`` with ``m``, a StateManager on ``db``, in another Python process; its pid."""
    script = f"import os\nfrom motia_nb.state import StateManager\nm = StateManager({str(db)!r})\n{code}\nm.close()\nprint(os.getpid())"
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


def test_the_history_panel_lists_causes_and_follows_its_item_from_chromium(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "the viewer's browser test drives Debian's Chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "root"
    root.mkdir()
    db = tmp_path / "state.db"
    _notebook(root / "history.ipynb")

    with LabServer(root, tmp_path / "jupyter", env={"MOTIA_NB_DB": str(db)}) as lab, chromium_page(chromium) as page:
        try:
            panel, editor = open_viewer_item(page, lab, "history.ipynb", "o1", shows='from-magic')

            panel.locator(".motia-nb-history").click()
            box = panel.locator(".motia-nb-history-box")
            box.wait_for(state="visible", timeout=15_000)
            table = panel.locator("div.motia-nb-history-table")  # the widget (the <table> inside has the class too)

            def rows() -> list[list[str]]:
                return table.evaluate(ROWS_JS)  # type: ignore[no-any-return]

            def wait_rows(js_condition: str, what: str, timeout_ms: int = 10_000) -> None:
                """Wait until ``js_condition`` holds for ``rows`` (the table's rows, newest first)."""
                try:
                    page.wait_for_function(f"el => {{ const rows = ({ROWS_JS})(el); return {js_condition}; }}",
                                           arg=table.element_handle(), timeout=timeout_ms)  # fmt: skip
                except Exception as exc:
                    raise AssertionError(f"the history never showed {what}; its rows: {rows()}") from exc

            wait_rows("rows.length === 3", "the first three changes")
            assert [(r[2], r[3].split(" (pid")[0]) for r in rows()] == [
                ("updated", "magic"), ("updated", "MarkPaid"), ("created", "cell")]  # fmt: skip
            assert '"note":"héllo ✓ 日本"' in rows()[2][4]
            assert "History of orders / o1" in box.inner_text() and "(3 changes)" in box.inner_text()
            # readable as it is: no column cut off at the right, one line per time (measuring lays the page out)
            for width in (1400, 900):
                page.set_viewport_size({"width": width, "height": 1300})
                assert _fits(table.evaluate(FITS_JS)), (width, table.evaluate(FITS_JS))
                panel.screenshot(path=str(SHOTS / f"1-history-{width}px.png"))

            # a Save in the viewer adds its row to the open history, as the viewer's
            editor.fill('{"status": "from-viewer"}')
            panel.locator(".motia-nb-save").click()
            panel.locator(".motia-nb-status").get_by_text("saved orders/o1").wait_for(timeout=15_000)
            wait_rows("rows.length === 4 && rows[0][3].startsWith('viewer')", "the viewer's save")

            # another process writes the same file: the row arrives without a click
            pid = _another_process(db, "m.sync.set('orders', 'o1', {'status': 'remote-proc'})")
            # within a second or so (the follower hears it in about 200 ms, the debounce adds 150 ms)
            wait_rows("rows.length === 5 && rows[0][4].includes('remote-proc')", "the other process's write",
                      timeout_ms=5_000)  # fmt: skip
            assert rows()[0][3] == f"cell (pid {pid})", rows()[0]
            page.wait_for_function("el => el.value.includes('remote-proc')", arg=editor.element_handle(),
                                   timeout=10_000)  # fmt: skip
            page.screenshot(path=str(SHOTS / "2-followed.png"), full_page=True)

            # ... and deletes it: the deletion is listed, the box still about orders / o1
            _another_process(db, "m.sync.delete('orders', 'o1')")
            wait_rows("rows.length === 6 && rows[0][2] === 'deleted'", "the other process's delete")
            assert "History of orders / o1" in box.inner_text()

            # history off, in the kernel: the open box says so
            assert _run_in_kernel(page, '%config MotiaNB.history_keep = "off"') == "ok"
            panel.locator(".motia-nb-history-note").get_by_text("history is off").wait_for(timeout=10_000)
            assert len(rows()) == 6  # what was recorded before stays listed
            page.screenshot(path=str(SHOTS / "3-history-off.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            raise
