"""The tutorials used the way people really use notebooks (found by trying it, see each test).

Cells run out of order and twice, ``%%step`` cells edited and run again, the kernel
restarted midway, ``%load_ext`` twice, ``%config MotiaNB`` settings changed on the way,
``%state`` magics with odd names, ``%state history`` / ``restore``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from motia_nb import state_manager

ROOT = Path(__file__).resolve().parent.parent


def state(ip, line: str):
    return ip.run_line_magic("state", line)


def test_restore_compares_with_the_item_not_with_its_last_recorded_change(ip, fresh_db, capsys):
    # lesson 3's undo, after a stretch with history off (a bulk load, say): the item moved on
    # without a record, so "already as it was at its last change" was untrue and nothing was
    # written; and a time after the last change wrote the same value again (a change, a trigger)
    from motia_nb.session import reset_steps, step
    from motia_nb.steps import state as state_trigger

    seen = []
    reset_steps()
    try:

        @step({"name": "Watch", "triggers": [state_trigger(lambda e: e.group_id == "my orders")]})
        def watch(event):
            seen.append((event.event_type, event.new_value))

        state(ip, 'set "my orders" "ö 1" {"status": "new"}')
        state(ip, 'set "my orders" "ö 1" {"status": "paid"}')
        last = int(state(ip, 'history "my orders" "ö 1"').seq.iloc[-1])
        ip.run_line_magic("config", "MotiaNB.history_keep = 'off'")
        state(ip, 'set "my orders" "ö 1" {"status": "lost"}')  # not recorded
        ip.run_line_magic("config", "MotiaNB.history_keep = 'all'")
        seen.clear()
        capsys.readouterr()
        result = state(ip, f'restore --to {last} "my orders" "ö 1"')
        assert result == {"new_value": {"status": "paid"}, "old_value": {"status": "lost"}}
        assert state_manager.sync.get("my orders", "ö 1") == {"status": "paid"}
        assert seen == [("state:updated", {"status": "paid"})]
        assert "restored my orders/ö 1 to its value at change" in capsys.readouterr().out

        # a time after the item's last change: it is already so, as for a seq after it
        n = len(state(ip, 'history "my orders" "ö 1"'))
        seen.clear()
        assert state(ip, 'restore --to 2999-01-01T00:00 "my orders" "ö 1"') is None
        assert "is already as it was at 2999-01-01T00:00: nothing written" in capsys.readouterr().out
        assert seen == [] and len(state(ip, 'history "my orders" "ö 1"')) == n
        # the same value of another JSON type is a change (1.0 is not 1)
        state(ip, 'set "my orders" n 1')
        state(ip, 'set "my orders" n 1.0')
        assert state(ip, 'restore --to -1 "my orders" n') == {"new_value": 1, "old_value": 1.0}
    finally:
        ip.run_line_magic("config", "MotiaNB.history_keep = '100000'")
        reset_steps()


def test_running_a_state_use_memory_cell_again_keeps_its_items(ip, fresh_db, capsys):
    # lesson 3's `%state use :memory:` cell, run a second time: the scratch store was
    # swapped for a new, empty one (silently: no item, no group), while the same
    # choice made with %config MotiaNB.database kept it
    state(ip, "use :memory:")
    state(ip, 'set scratch "k 1" {"n": 1}')
    capsys.readouterr()
    state(ip, "use :memory:")
    assert capsys.readouterr().out == "motia_nb state database: :memory: (already in use: its items stay)\n"
    assert state(ip, 'get scratch "k 1"') == {"n": 1}
    ip.run_line_magic("config", "MotiaNB.database = ':memory:'")
    assert state(ip, 'get scratch "k 1"') == {"n": 1}
    state(ip, f"use {fresh_db}")  # a file opened again is the same file
    state(ip, "set kept k 1")
    state(ip, f"use {fresh_db}")
    assert state(ip, "get kept k") == 1


STEP_V1 = '''%%step
from motia import queue
config = {"name": "Charge", "triggers": [queue("charge")]}
def handler(data):
    raise ConnectionError("v1 cannot charge " + str(data))
'''


def test_a_step_cells_frames_are_named_by_the_number_the_notebook_shows(tmp_path):
    # a %%step cell's frames read `<%%step cell 2>`: a count of %%step runs, which matches
    # nothing on screen once cells are edited and run again (lesson 4's ChargeCard, fixed
    # twice); a plain cell's frames read `Cell In[3]`, as IPython writes them
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "%load_ext motia_nb\nfrom motia_nb import enqueue",                                # In[1]
        STEP_V1,                                                                            # In[2]
        STEP_V1.replace("v1", "v2"),                                                        # In[3]
        STEP_V1.replace("v1", "v3"),                                                        # In[4]
        'await enqueue({"topic": "charge", "data": 1})',                                    # In[5]
        "%%step\nfrom motia import queue\nconfig = {}\ndef handler(data)\n    pass\n",      # In[6]
        '%%step\nconfig = {"name": "Bad", "triggers": [{"type": "queue", "topic": nope}]}',  # In[7]
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)  # this checkout's motia_nb

    def shown(cell):
        parts = [o.get("text", "") for o in cell.outputs if o.output_type == "stream"]
        parts += ["\n".join(o.traceback) for o in cell.outputs if o.output_type == "error"]
        return "".join(parts)

    failed = shown(nb.cells[4])
    assert "Traceback (most recent call last):\n  Cell In[4], line 5, in handler\n" in failed, failed
    assert "ConnectionError: v3 cannot charge 1" in failed, failed
    syntax = shown(nb.cells[5])
    assert syntax.startswith("  Cell In[6], line 4\n    def handler(data)\n"), syntax
    assert shown(nb.cells[6]).startswith("Cell In[7], line 2, in <module>\n"), shown(nb.cells[6])
    assert not any("%%step cell" in shown(c) for c in nb.cells)


def test_a_name_written_as_ipythons_var_expansion_says_why_the_names_are_missing(ip, fresh_db):
    # IPython expands {var} in most magics; %state takes names as written, so `{grp}` began
    # the VALUE and the error said GROUP and KEY were missing, though both were typed
    from motia_nb.notebook.parsing import MagicUsageError

    ip.user_ns["grp"] = "orders"
    with pytest.raises(MagicUsageError) as info:
        state(ip, "set {grp} k 1")
    lines = str(info.value).splitlines()
    assert lines[0] == "%state set: the following arguments are required: GROUP, KEY"
    assert lines[-1] == ('  hint: {grp} was read as the VALUE (JSON starts with {), so the names before it are '
                         'missing; %state takes names as written, never from a variable ({var}, $var): write the '
                         'name itself (quoted, "{grp}", to mean it literally)')
    assert state_manager.sync.list_groups() == []
    with pytest.raises(MagicUsageError) as info:  # a forgotten name before real JSON: no such hint
        state(ip, 'set g {"a": 1}')
    assert "hint" not in str(info.value)
    state(ip, 'set "{grp}" k 1')  # quoted, the name as written
    assert state_manager.sync.get("{grp}", "k") == 1


def test_who_changed_my_order_runs_again(tmp_path):
    # Lesson 5's "Who changed my order?" unpacked `created, paid, refunded = changes`: run
    # the section a second time (as people do) and the refund cell added changes, so the
    # unpacking failed with "too many values to unpack"
    import shutil

    import nbformat
    from nbclient import NotebookClient

    from motia_nb.testing import cell_text

    folder = shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")  # what the lesson writes stays there
    nb = nbformat.read(folder / "05_order_workflow.ipynb", 4)
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Who changed my order?"))
    section = [nbformat.v4.new_code_cell(c.source) for c in nb.cells[start:] if c.cell_type == "code"]
    nb.cells += section
    env = {**os.environ, "MOTIA_NB_DB": str(tmp_path / "state.db"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute(env=env)
    again = [cell_text(c) for c in nb.cells[-len(section):]]
    assert not any(t.startswith("ERROR") or "\nERROR" in t for t in again), "\n----\n".join(again)
    assert "by ProcessPayment" in again[1]
    assert again[2].startswith("one cascade: True\nstep runs in the refund's trace: 0\n")
    # the cell's second putting back: its change's trace id leads to the step it triggered, that run only
    assert again[-1].split() == ["step", "status", "0", "OnOrderPaid", "ok"], again[-1]
