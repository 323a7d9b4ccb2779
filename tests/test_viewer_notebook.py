"""The viewer tutorial (notebooks/06_viewer.ipynb) ends with a live viewer and carries its widget state.

JupyterLab draws widgets from the notebook's saved widget state when it opens the file, so
the tutorial shows its viewers before anything runs. This test checks the saved notebook:
every widget output's model is in the saved state with its whole tree, the last cell shows a
viewer, and the state holds no machine path. (nbval runs the cells; test_viewer_browser.py
opens the file in JupyterLab.)

Regenerate outputs and widget state after editing the tutorial::

    PYTHONPATH=. python tests/test_viewer_notebook.py --regenerate
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "06_viewer.ipynb"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")


def widget_views(nb: Any) -> list[tuple[int, str]]:
    """(cell index, model id) of every widget shown in an output."""
    return [
        (i, out["data"][WIDGET_VIEW]["model_id"])
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.get("outputs", []) if WIDGET_VIEW in out.get("data", {})
    ]


def reachable(state: dict[str, Any], roots: list[str]) -> set[str]:
    """Model ids reachable from ``roots`` through ``IPY_MODEL_`` references (children, layout, style)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        mid = todo.pop()
        if mid in seen or mid not in state:
            continue
        seen.add(mid)
        todo.extend(_REF.findall(json.dumps(state[mid]["state"])))
    return seen


def test_the_tutorial_ends_with_a_live_viewer_and_saves_its_widget_state() -> None:
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    views = widget_views(nb)
    last_code = max(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert views and views[-1][0] == last_code, "the last code cell does not show a widget"
    assert "close_all_viewers()" not in "".join(c.source for c in nb.cells if c.cell_type == "code")

    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    for cell, mid in views:
        assert mid in state, f"cell {cell}: widget {mid} has no saved state (JupyterLab: 'No such comm')"
    kept = reachable(state, [mid for _, mid in views])
    missing = {m for mid in kept for m in _REF.findall(json.dumps(state[mid]["state"]))} - set(state)
    assert not missing, f"saved widgets refer to models that were not saved: {sorted(missing)[:3]}"
    assert kept == set(state), "saved state holds widgets no output shows"

    last = state[views[-1][1]]["state"]
    assert last["_model_name"] == "VBoxModel" and "motia-nb-viewer" in last["_dom_classes"]
    texts = json.dumps(state)
    assert "tour_orders" in texts and "delivered" in texts  # it shows the tour's data as left by the tour
    assert not re.search(r"/(tmp|home|root|Users)/", texts), "a machine path in the saved widget state"


def regenerate() -> None:
    """Run the tutorial in a fresh directory (state in ``.motia/state.db`` there) and save its
    outputs and the widget state of the widgets its outputs show."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    env_db = os.environ.pop("MOTIA_NB_DB", None)
    try:
        with tempfile.TemporaryDirectory() as cwd:
            NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": cwd}},
                           store_widget_state=True).execute()
    finally:
        if env_db is not None:
            os.environ["MOTIA_NB_DB"] = env_db
    box = nb.metadata["widgets"][WIDGET_STATE]
    keep = reachable(box["state"], [mid for _, mid in widget_views(nb)])
    box["state"] = {mid: s for mid, s in box["state"].items() if mid in keep}
    nbformat.write(nb, str(NOTEBOOK))
    print(f"{NOTEBOOK.name}: {len(keep)} widget models saved")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/test_viewer_notebook.py --regenerate")
    regenerate()
