"""SPEC clauses an outside reviewer would test in a real kernel (``%load_ext motia_nb``), in both
worlds: motia_nb's ``motia`` stand-in (this venv) and the real ``motia==1.0.4rc1`` (``.venv-motia``).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from motia_nb.testing import cell_text, kernel_manager_for
from worlds import world_python

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

# §4: "A state trigger ... optionally restricted by config scope/key as the engine allows", in a
# %%step cell holding a Motia step file (its config a dict, as the playground writes them).
CELLS = [
    "%load_ext motia_nb\nfrom motia_nb import state_manager\nimport motia\nprint(motia.__name__)",
    '%%step\nfrom motia import logger\n\nconfig = {"name": "OrdersOnly", "triggers": [{"type": "state", "scope": "orders"}]}\n\n'
    'def handler(input):\n    logger.info("fired", {"group": input.group_id, "key": input.item_id})\n',
    '%%step\nfrom motia import logger\n\nconfig = {"name": "O2Only", "triggers": [{"type": "state", "scope": "orders", "key": "o2", '
    '"condition": lambda input, ctx: input.new_value is not None}]}\n\n'
    'def handler(input, ctx):\n    logger.info("o2", {"group": input.group_id, "key": input.item_id})\n',
    'await state_manager.set("orders", "o1", 1)\nawait state_manager.set("users", "u1", 1)\n'
    'await state_manager.set("orders", "o2", 2)\nawait state_manager.delete("orders", "o2")\nprint("done")',
]


@pytest.mark.parametrize("world", ["standin", "real"])
def test_a_step_files_state_trigger_scope_and_key_restrict_it_in_both_worlds(world, tmp_path):
    km = kernel_manager_for(world_python(world), tmp_path, f"specaudit-{world}")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    env = {**os.environ, "MOTIA_NB_DB": str(tmp_path / "state.db"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}  # fmt: skip
    NotebookClient(nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
    setup, only, o2, writes = (cell_text(c) for c in nb.cells)
    assert setup.strip() == ("motia" if world == "real" else "motia_nb.motia"), setup
    assert only.strip() == "✓ step 'OrdersOnly' registered (state scope=orders)", only
    assert o2.strip() == "✓ step 'O2Only' registered (state scope=orders key=o2 (condition))", o2
    assert [line for line in writes.splitlines() if line.startswith("[INFO]")] == [
        '[INFO] OrdersOnly: fired {"group": "orders", "key": "o1"}',
        '[INFO] OrdersOnly: fired {"group": "orders", "key": "o2"}',
        '[INFO] O2Only: o2 {"group": "orders", "key": "o2"}',
        '[INFO] OrdersOnly: fired {"group": "orders", "key": "o2"}',  # the delete: O2Only's condition is false
    ], writes
    assert writes.rstrip().endswith("done"), writes
