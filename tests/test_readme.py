"""The README's 30-second example, run as a newcomer would: pasted into a real kernel."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def try_it_blocks() -> list[str]:
    section = README.split("## Try it in 30 seconds", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def outputs_text(cell) -> str:  # noqa: ANN001
    parts = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            parts.append(o["text"])
        elif o["output_type"] in ("execute_result", "display_data"):
            parts.append(o["data"].get("text/plain", ""))
        elif o["output_type"] == "error":
            parts.append(f"ERROR {o['ename']}: {o['evalue']}")
    return "".join(parts)


@pytest.mark.slow
def test_the_readme_example_runs_in_a_kernel_and_prints_what_it_says(tmp_path, monkeypatch):
    blocks = try_it_blocks()
    assert len(blocks) == 3, "the README's 30-second example changed shape: update this test"
    monkeypatch.setenv("MOTIA_NB_DB", str(tmp_path / "readme.db"))  # a newcomer's empty store
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(b) for b in blocks]
    nb.cells.insert(2, nbformat.v4.new_code_cell("print(orders.to_dict('records'))"))  # what was assigned
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    first, frames, assigned, trigger = (outputs_text(c) for c in nb.cells)
    promised = re.search(r"^# (\{.*\})$", blocks[0], re.M).group(1)
    assert first.strip() == promised
    assert "ERROR" not in frames
    # pasted as one cell, the snippet shows the group: its last line is displayed
    assert frames.split() == ["key", "status", "total", "retries", "0", "order-1", "paid", "99.99", "1"], frames
    assert assigned.strip() == "[{'key': 'order-1', 'status': 'paid', 'total': 99.99, 'retries': 1}]"
    promised_log = re.search(r"^# (\[INFO\] .*)$", blocks[2], re.M).group(1)
    assert promised_log in trigger
