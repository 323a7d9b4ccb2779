"""The new user's mistakes of ``test_new_user_mistakes.py`` in a real kernel (jupyter_client):
what the cells show, with ipykernel's own loop and handler threads, not the test shell.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_a_first_afternoons_mistakes_in_a_real_kernel(kernel):
    kernel.run("%load_ext motia_nb\nfrom motia_nb import step, queue, enqueue, state_manager\nTAX = 0.2")
    # a sync handler's unawaited write is made (it was a coroutine nothing awaited: lost)
    kernel.run('''
        @step({"name": "SyncWriter", "triggers": [queue("w")]})
        def sync_writer(data, ctx):
            state_manager.set("orders", data["id"], {"n": data["n"]})
    ''')
    out = kernel.run('await enqueue({"topic": "w", "data": {"id": "o1", "n": 1}})\nprint(await state_manager.get("orders", "o1"))')
    assert out == "{'n': 1}\n", out
    # a pasted Motia 0.x step file is refused in one line, saying how 1.0 writes it
    with pytest.raises(AssertionError) as err:
        kernel.run('%%step\nconfig = {"type": "event", "name": "Old", "subscribes": ["w"]}\ndef handler(d, ctx): pass')
    assert "StepConfigError" in str(err.value), str(err.value)
    assert 'write "triggers": [queue("w")] (from motia import queue)' in str(err.value), str(err.value)
    assert "Traceback" not in str(err.value) and "motia_nb/" not in str(err.value), str(err.value)
    # a %%step handler using a notebook name says so when the cell runs
    out = kernel.run('%%step\nfrom motia import queue\nconfig = {"name": "Taxed", "triggers": [queue("t")]}\n'
                     'def handler(d, ctx): return d * (1 + TAX)')
    assert "✓ step 'Taxed' registered (queue t)" in out and "⚠ step 'Taxed': TAX is a name of the notebook" in out, out


def test_enqueue_without_await_in_a_cell_and_in_a_sync_handler(kernel):
    kernel.run('''
        %load_ext motia_nb
        from motia_nb import step, queue, enqueue
        seen = []
        @step({"name": "Next", "triggers": [queue("next")]})
        def nxt(d, ctx):
            seen.append(d)
        @step({"name": "Relay", "triggers": [queue("relay")]})
        def relay(d, ctx):
            ctx.enqueue({"topic": "next", "data": d})  # Motia 1.0.4's SDK: a plain call
    ''')
    out = kernel.run('await enqueue({"topic": "relay", "data": 1})\nprint(seen)')
    assert out == "[1]\n", out
    # in a cell, unawaited: nothing runs, and the cell says so, each time
    for _ in range(2):
        out = kernel.run('enqueue({"topic": "next", "data": 2})\nprint(seen)')
        said = "✖ enqueue(...) was not awaited, so nothing ran: write await enqueue(...) (or enqueue.sync(...))\n"
        assert sorted(out.splitlines(True)) == sorted(["[1]\n", said]), out  # (stdout and stderr: either order)
