"""The tutorials used the way people really use notebooks (found by trying it, see each test).

Cells run out of order and twice, ``%%step`` cells edited and run again, the kernel
restarted midway, ``%load_ext`` twice, ``%config MotiaNB`` settings changed on the way,
``%state`` magics with odd names, ``%state history`` / ``restore``.
"""

from __future__ import annotations

from motia_nb import state_manager


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
