"""In a real kernel, a ``%state`` error fails the cell: Run All stops and nbval fails.

``tests/notebooks/magic_error_fails_cell.ipynb`` tags its failing cells
``raises-exception`` (so the suite's own nbval run passes). Here the tags are
removed and the notebook must fail: under nbclient (what "Run All" does) and
under nbval (which only notices errors sent as ``error`` messages, so a plain
``UsageError`` would slip through it).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK = Path(__file__).parent / "notebooks" / "magic_error_fails_cell.ipynb"
ROOT = Path(__file__).resolve().parent.parent


def untagged(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every cell tag removed and no outputs."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def test_the_notebook_expects_errors_where_it_has_them():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    tagged = [c for c in nb.cells if "raises-exception" in c.metadata.get("tags", [])]
    assert len(tagged) == 4
    for cell in tagged:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1 and errors[0].ename == "MagicUsageError"
        assert len(errors[0].traceback) == 1  # one line, no traceback


def test_run_all_stops_at_the_first_magic_error(tmp_path):
    nb = untagged(nbformat.read(NOTEBOOK, as_version=4))
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as exc:
        client.execute()
    assert exc.value.ename == "MagicUsageError"
    assert "the VALUE is not valid JSON" in exc.value.evalue
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = next(i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs))
    assert code[failed].source.startswith("%state set orders order-2")
    assert all(c.execution_count is None for c in code[failed + 1 :]), "cells after the error ran"


def test_nbval_fails_on_an_untagged_magic_error(tmp_path):
    copy_path = tmp_path / "untagged.ipynb"
    nbformat.write(untagged(nbformat.read(NOTEBOOK, as_version=4)), copy_path)
    env = dict(os.environ, MOTIA_NB_DB=str(tmp_path / "state.db"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "--nbval-lax", "--nbval-current-env", str(copy_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MagicUsageError" in proc.stdout
    # each of the four magic errors fails its cell; the three other cells pass
    assert "4 failed, 3 passed" in proc.stdout
