"""The viewer in a narrow JupyterLab (600-900 px wide), in Debian's Chromium: with an item's
History open, nothing overlaps and the History box follows its item.

Below about 900 px the three columns wrap: the value column (the item's value, its Save /
Revert / Delete / History row, then *Add an item* and *Clear group…*) goes under the other
two, and the History box, under the three columns, came after *Add an item*, far from the item
it is about. Measured from the laid-out page (bounding boxes), at each width; screenshots go to
``test-output/viewer_narrow_browser/`` (gitignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_harness import LabServer, chromium_page, open_viewer_item

from conftest import require_binary

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "viewer_narrow_browser"

CELLS = [
    """\
%load_ext motia_nb
from motia_nb import state_manager
from motia_nb.notebook.viewer import viewer
for i in range(3):
    state_manager.sync.set("orders", "o1", {"status": f"s{i}", "note": "a longer note " * 3})
state_manager.sync.set("orders", "o2", {"status": "new"})
""",
    "viewer('orders')",
]

#: the parts whose boxes must not meet, by CSS selector inside the panel (the first match)
PARTS = {
    "groups": ".motia-nb-groups",
    "items": ".motia-nb-items",
    "value": ".motia-nb-value",
    "item actions": ".motia-nb-actions:has(.motia-nb-save)",
    "history": ".motia-nb-history-box",
    "add heading": ".motia-nb-add-heading",
    "new item": ".motia-nb-new-value",
    "clear group": ".motia-nb-actions:has(.motia-nb-clear)",
    "trigger output": ".motia-nb-output",
}

BOXES_JS = """(panel, parts) => Object.fromEntries(Object.entries(parts).map(([name, sel]) => {
  const el = panel.querySelector(sel);
  if (!el) return [name, null];
  const r = el.getBoundingClientRect();
  return [name, {x: r.x, y: r.y, w: r.width, h: r.height}];
}))"""


def _meet(a: dict[str, float], b: dict[str, float]) -> bool:
    """The two boxes share some area (touching edges do not count)."""
    return (min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > 0.5
            and min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > 0.5)  # fmt: skip


def _cut_buttons(panel: Any) -> list[str]:
    """Visible buttons of the panel whose label does not fit (shown cut, as "cl…")."""
    return panel.evaluate(  # type: ignore[no-any-return]
        """el => [...el.querySelectorAll('button')]
            .filter(b => b.offsetParent !== null && b.scrollWidth > b.clientWidth + 1)
            .map(b => b.textContent.trim() || b.title)""")  # fmt: skip


def _notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, str(path))


def test_at_600_to_900_px_nothing_overlaps_and_history_follows_its_item(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "the viewer's browser test drives Debian's Chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "root"
    root.mkdir()
    _notebook(root / "narrow.ipynb")

    with LabServer(root, tmp_path / "jupyter", env={"MOTIA_NB_DB": str(tmp_path / "state.db")}) as lab, \
            chromium_page(chromium) as page:  # fmt: skip
        try:
            panel, editor = open_viewer_item(page, lab, "narrow.ipynb", "o1", shows='s2')
            panel.locator(".motia-nb-history").click()
            panel.locator(".motia-nb-history-box").wait_for(state="visible", timeout=15_000)
            panel.locator("div.motia-nb-history-table tr").nth(3).wait_for(timeout=15_000)  # its 3 changes

            checked: list[int] = []
            for width in (900, 800, 700, 600):
                page.set_viewport_size({"width": width, "height": 1300})
                boxes: dict[str, Any] = panel.evaluate(BOXES_JS, PARTS)  # (measuring lays the page out)
                panel.locator(".motia-nb-history-box").scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / f"history-{width}px.png"))
                assert not _cut_buttons(panel), (width, _cut_buttons(panel))
                assert all(boxes.values()), (width, boxes)
                met = [(a, b) for i, a in enumerate(PARTS) for b in list(PARTS)[i + 1:] if _meet(boxes[a], boxes[b])]
                assert met == [], (width, met, boxes)
                # the History box follows its item: right under the item's actions, before "Add an item"
                actions, history, add = boxes["item actions"], boxes["history"], boxes["add heading"]
                assert actions["y"] + actions["h"] <= history["y"] + 0.5, (width, boxes)
                assert history["y"] + history["h"] <= add["y"] + 0.5, (width, "History after Add an item", boxes)
                checked.append(width)
            assert checked == [900, 800, 700, 600]
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            raise
