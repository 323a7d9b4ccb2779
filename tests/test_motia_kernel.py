"""Motia 1.0-style step files (tests/motia_steps) run unchanged in ``%%step`` cells of a real kernel,
driven as a notebook user would (``await request``, ``enqueue``, a state write, ``await run_cron``) —
in both worlds: motia_nb's stand-in (this venv, no ``motia`` package) and the real
``motia==1.0.4rc1`` + ``iii-sdk==0.9.0`` (the ``.venv-motia`` kernel that ``make test`` builds).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from motia_nb.testing import cell_text, kernel_manager_for
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).parent / "motia_steps"))
from shop_steps import STEPS  # noqa: E402
from worlds import world_python

ROOT = Path(__file__).resolve().parent.parent


CHECKS = [
    # the world in use
    ("import motia, sys\nprint('world', 'real' if motia.__name__ == 'motia' else 'standin')", None),
    # http + condition (422) + middleware + stream + state + enqueue cascade
    (
        'r = await request("POST", "/shop/orders", body={"id": "o-1", "items": ["pen"], "total": 5})\n'
        'assert r["status"] == 201, r\n'
        'assert r["body"]["stored"] == {"old_value": None, "new_value": r["body"]["data"] | {"status": "placed", '
        '"trace": r["body"]["stored"]["new_value"]["trace"], "id": "o-1"}} or r["body"]["stored"]["new_value"]["id"] == "o-1", r\n'
        'assert (await state_manager.get("shop-orders", "o-1"))["status"] == "paid"\n'
        'assert (await state_manager.get("orders::open", "o-1"))["status"] == "placed"\n'
        'print("placed", r["body"]["stored"]["old_value"], r["body"]["data"]["id"])',
        ["[INFO] PlaceOrder: audit", "Stream event", '"type": "create"', "Paid", '"new": "paid"',
         "Status now paid", "Summary saw payment", "placed None o-1"],
    ),
    (
        'r = await request("POST", "/shop/orders", body={"id": "o-2", "items": []})\n'
        'assert r["status"] == 422 and r["body"] == {"error": "Request condition not met", "skipped": True}, r\n'
        'assert await state_manager.get("shop-orders", "o-2") is None\nprint("refused", r["status"])',
        ["refused 422"],
    ),
    # enqueue from a plain cell (synchronous, as the SDK), condition false → PayOrder skipped
    ('import motia\nmotia.enqueue({"topic": "shop.order.placed", "data": {"id": "x-9"}})\n'
     'assert await state_manager.get("shop-orders", "x-9") is None\nprint("skipped")', ["skipped"]),
    # a state write from a plain cell fires the state step; the SDK's stateManager works here too
    ('motia.stateManager.set("shop-orders", "o-3", {"status": "paid"})\n'
     'print(motia.stateManager.get("shop-orders", "o-3"), motia.stateManager.list_groups())',
     ["Status now paid", "{'status': 'paid'}", "'shop-orders'"]),
    # cron (6 fields, with a condition) via run_cron; the http side of the same step
    ('await run_cron("ShopSummary")\nr = await request("GET", "/shop/summary")\n'
     'assert r["status"] == 200 and r["body"]["orders"] == 2, r\n'
     'assert "orders::open" not in r["body"]["groups"], r\nprint("summary", r["body"]["orders"])',
     ["Summary (cron)", "*/5 * * * * *", "summary 2"]),
    # step() / multi_trigger_step() definitions and get_instance().trigger
    ('r = await request("GET", "/shop/ping")\nassert r["body"]["latest"] == {"orders": 2} and r["body"]["api"], r\n'
     'r2 = await request("POST", "/shop/both")\nassert r2["status"] == 202 and r2["body"] == {"via": "http"}, r2\n'
     'motia.enqueue({"topic": "shop.both", "data": 7})\nprint("defined ok")', ["multi queue 7", "defined ok"]),
    # a streaming http step: the answer is what it wrote (status, headers, body chunks)
    ('r = await request("POST", "/shop/events", body={"items": ["pen", "ink"]})\n'
     'assert r == {"status": 200, "headers": {"content-type": "text/event-stream"}, '
     '"body": "data: pen\\n\\ndata: ink\\n\\n"}, r\nprint("streamed ok")', ["streamed ok"]),
    # a Stream from a plain cell: delete fires no OnOpenOrder line (condition), list_groups
    ('s = motia.Stream("orders")\nprint(s.list_groups(), len(s.get_group("open")))\ns.delete("open", "o-1")\n'
     'print(s.get("open", "o-1"))', ["['open'] 1", "None"]),
    # an integer past the engine's 64 bits (the engine would store a float): refused, nothing stored
    ('try:\n    motia.stateManager.set("shop-big", "b1", {"n": 2**64 + 1})\nexcept Exception as e:\n'
     '    print("refused:", "18446744073709551617, an integer outside the engine\'s 64-bit range" in str(e))\n'
     'print("stored:", motia.stateManager.get("shop-big", "b1"))', ["refused: True", "stored: None"]),
]


def _notebook(tmp_path: Path) -> nbformat.NotebookNode:
    setup = (
        "%load_ext motia_nb\n"
        "from motia_nb import state_manager, request, run_cron\n"
        f"state_manager.use({str(tmp_path / 'state.db')!r})\n"
        "%motia reset"
    )
    cells = [nbformat.v4.new_code_cell(setup)]
    cells += [nbformat.v4.new_code_cell("%%step\n" + src.strip("\n")) for src in STEPS.values()]
    cells += [nbformat.v4.new_code_cell(code) for code, _ in CHECKS]
    return nbformat.v4.new_notebook(cells=cells)


@pytest.mark.slow
@pytest.mark.parametrize("world", ["standin", "real"])
def test_motia_step_files_run_unchanged_in_a_kernel(world, tmp_path):
    python = world_python(world)
    km = kernel_manager_for(python, tmp_path, f"motia-{world}")
    nb = _notebook(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    client = NotebookClient(nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)
    texts = [cell_text(c) for c in nb.cells]
    errors = [(i, t) for i, (c, t) in enumerate(zip(nb.cells, texts)) if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"cells failed in the {world} world:\n" + "\n---\n".join(f"cell {i}:\n{t}" for i, t in errors)
    n_steps = len(STEPS)
    for step_cell in texts[1 : 1 + n_steps]:
        assert "✓ step" in step_cell
    assert "motia_nb: the installed `motia` package cannot be imported" not in "".join(texts)
    assert f"world {world}" in texts[1 + n_steps]
    for (code, expected), text in zip(CHECKS, texts[1 + n_steps :]):
        for fragment in expected or []:
            assert fragment in text, f"{fragment!r} missing from the output of:\n{code}\n--- output:\n{text}"
