"""Small loose ends that need a real kernel (nbclient), in both worlds: motia_nb's stand-in and
the real ``motia==1.0.4rc1`` + ``iii-sdk==0.9.0`` (``.venv-motia``).

- ``from motia import logger`` / ``logger.info(...)`` called in a cell, outside any step, logged
  with trace None; it now has the cell run's trace id (the id the cell's writes carry in
  ``history()``), with and without a top-level ``await`` in the cell.
- ``%motia trace <that id>`` said "no trace ..."; it now says the trace is a cell run's that
  triggered no step, and points at the cell's log lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from motia_nb.testing import cell_text, kernel_manager_for
from worlds import world_python

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


CELLS = [
    # setup: `import motia` resolves (the real package, or the stand-in)
    ("%load_ext motia_nb\nimport json\nfrom motia_nb import state_manager, log_frame\n"
     "from motia_nb.motia import ensure_motia\nensure_motia()\n%motia reset"),
    "import motia\nprint('world', 'real' if motia.__name__ == 'motia' else 'standin')",
    # a cell with no top-level await runs in the kernel's own context
    'from motia import logger\nlogger.info("plain cell", {"n": 1})\nstate_manager.sync.set("notes", "plain", 1)',
    # a cell with a top-level await runs as a task
    'logger.warn("awaiting cell")\nawait state_manager.set("notes", "awaiting", 2)',
    # what each line and change carries
    ('rows = {c["key"]: c["trace_id"] for c in state_manager.sync.history("notes")}\n'
     'logs = log_frame()[["step", "trace_id", "message"]].values.tolist()\n'
     'print(json.dumps({"rows": rows, "logs": logs}))'),
    # %motia trace of the plain cell's id (stderr), in a cell of its own
    'df = %motia trace {plain}\nprint("empty", df.empty)',
]


@pytest.mark.parametrize("world", ["standin", "real"])
def test_logger_in_a_cell_has_the_cells_trace_id_and_motia_trace_says_the_cell_ran_no_step(world, tmp_path):
    python = world_python(world)
    km = kernel_manager_for(python, tmp_path, f"smallends-{world}")
    env = {**os.environ, "MOTIA_NB_DB": str(tmp_path / "state.db"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS[:-1]])
    client = NotebookClient(nb, km=km, timeout=120, allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel(env=env):
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        texts = [cell_text(c) for c in nb.cells]
        assert f"world {world}" in texts[1], texts[1]
        got = json.loads(texts[4].strip().splitlines()[-1])
        plain, awaiting = got["rows"]["plain"], got["rows"]["awaiting"]
        assert plain and awaiting and plain != awaiting
        assert got["logs"] == [[None, plain, "plain cell"], [None, awaiting, "awaiting cell"]], got
        last = nbformat.v4.new_code_cell(CELLS[-1].format(plain=plain))
        nb.cells.append(last)
        client.execute_cell(last, len(nb.cells) - 1)
        said = {name: "".join(o.text for o in last.outputs if o.get("name") == name) for name in ("stdout", "stderr")}
    assert said == {
        "stderr": f"%motia trace: trace {plain!r} has no step runs: it is a cell run's, and that cell triggered no step "
                  f"(its changes carry it in history(); its 1 log line: log_frame(trace_id={plain!r}))\n",
        "stdout": "empty True\n",
    }, said
