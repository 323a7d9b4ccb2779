"""The flow diagram renders as a chart in a real JupyterLab, with no system binary.

``flow_diagram()`` outputs Mermaid in Markdown, which JupyterLab (>= 4.1) renders
itself; this test proves it in Debian's Chromium: the output becomes an SVG whose
text names the steps and topics. Screenshot: test-output/flow_diagram/flow.png.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import nbformat
import pytest
from conftest import require_binary
from lab_harness import LabServer, chromium_page, open_and_run_all

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "flow_diagram"

CELLS = [
    """\
from motia_nb import step, queue, http, flow_diagram

@step({"name": "CreateOrder", "triggers": [http("POST", "/orders")], "enqueues": ["order.created"], "flows": ["orders"]})
def create_order(req):
    return {"status": 201, "body": {}}

@step({"name": "ProcessPayment", "triggers": [queue("order.created")], "enqueues": ["payment.completed"], "flows": ["orders"]})
def process_payment(data):
    pass
""",
    'flow_diagram("orders")',
]

def test_flow_diagram_renders_as_an_svg_chart_in_jupyterlab(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "the flow diagram's browser test drives Debian's Chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, str(root / "flow.ipynb"))
    with LabServer(root, tmp_path / "jupyter", env={"MOTIA_NB_DB": str(tmp_path / "s.db")}) as lab:
        with chromium_page(chromium) as page:
            try:
                open_and_run_all(page, lab, "flow.ipynb")
                # JupyterLab renders the Mermaid block to an SVG image (no system binary involved)
                img = page.locator(".jp-RenderedMermaid img").first
                img.wait_for(state="visible", timeout=60_000)
                page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=30_000)
                src = img.get_attribute("src") or ""
                assert src.startswith("data:image/svg+xml"), src[:80]
                svg = urllib.parse.unquote(src)
                for name in ("CreateOrder", "ProcessPayment", "order.created", "POST /orders"):
                    assert name in svg, name
                page.locator(".jp-OutputArea-output").last.screenshot(path=str(SHOTS / "flow.png"))
            except Exception:
                page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
                raise
