"""``%state history`` / ``%state restore``, ``MotiaNB.history_keep``, and the viewer as a cause, in a shell."""

from __future__ import annotations

import json

import pytest

from motia_nb import state_manager
from motia_nb.notebook.completion import state_completions
from motia_nb.notebook.display import StateFrame
from motia_nb.notebook.magics import StateMagicError
from motia_nb.notebook.viewer import viewer
from motia_nb.state.errors import InvalidInputError, StateError
from motia_nb.state.history import CHANGE_KEYS


def state(ip, line: str):
    return ip.run_line_magic("state", line)


def test_history_shows_who_changed_an_item_as_a_dataframe(ip, fresh_db):
    state(ip, 'set orders o1 {"status": "new"}')
    state(ip, 'update orders o1 {"type": "set", "path": "status", "value": "paid"}')
    state_manager.sync.set("orders", "o2", 1)  # a cell's own write
    df = state(ip, "history orders o1")
    assert isinstance(df, StateFrame) and list(df.columns) == list(CHANGE_KEYS)
    assert df.event_type.tolist() == ["state:created", "state:updated"]
    assert df.cause.tolist() == ["magic", "magic"]
    assert df.old_value.tolist() == [None, {"status": "new"}]  # the values, as history() gives them
    assert df.new_value.tolist() == [{"status": "new"}, {"status": "paid"}]
    whole = state(ip, "history orders")
    assert whole.key.tolist() == ["o1", "o1", "o2"] and whole.cause.tolist()[-1] == "cell"
    assert state(ip, "history orders --limit 1").key.tolist() == ["o2"]
    first = int(whole.seq.iloc[0])
    assert state(ip, f"history orders --since {first}").seq.tolist() == whole.seq.tolist()[1:]


def test_history_frame_holds_the_values_as_history_gives_them(ip, fresh_db):
    """The frame showed values as JSON text: a plain string ``hello`` read ``"hello"``, an
    object had to be ``json.loads``-ed back. Now each cell is what ``history()`` gives, as
    ``%state list`` holds values, and no value changes type on the way (pandas would make
    ``[None, 1]`` into ``[NaN, 1.0]``)."""
    for v in ("hello", "1", 1, 2.5, True, None, [1, "x"], {"status": "paid"}):
        state_manager.sync.set("vals", "k", v)
    state_manager.sync.delete("vals", "k")
    state_manager.sync.set("vals", "n", 1)
    state_manager.sync.set("vals", "n", 2)
    rows = state_manager.sync.history("vals")
    df = state(ip, "history vals")
    assert df.to_dict("records") == rows
    for col in ("old_value", "new_value"):
        assert [type(v) for v in df[col]] == [type(r[col]) for r in rows]
    counter = state(ip, "history vals n")
    assert counter.old_value.tolist() == [None, 1] and counter.new_value.tolist() == [1, 2]
    assert "hello" in df.to_string() and '"hello"' not in df.to_string()


def test_a_seq_taken_from_the_history_frame_works_in_the_api(ip, fresh_db):
    """``df.seq.iloc[0]`` is a ``numpy.int64``: ``get(at=)``, ``history(since=)`` and ``limit=``
    refused it ("must be a change's seq (an int >= 0) ..., got np.int64(1)")."""
    import numpy as np

    for i in range(3):
        state_manager.sync.set("np", "k", i)
    df = state(ip, "history np k")
    first, second = df.seq.iloc[0], df.seq.iloc[1]
    assert isinstance(first, np.integer)
    assert state_manager.sync.get("np", "k", at=second) == 1
    assert [c["new_value"] for c in state_manager.sync.history("np", since=first, limit=np.int64(1))] == [1]
    for bad in (np.bool_(True), np.float64(1.0)):
        with pytest.raises(InvalidInputError):
            state_manager.sync.history("np", since=bad)
        with pytest.raises(InvalidInputError):
            state_manager.sync.history("np", limit=bad)


def test_a_seq_written_as_a_variable_says_magics_take_it_as_written(ip, fresh_db):
    """``%state restore g k --to {seq}`` (IPython expands {var} in most magics) said only that
    --to takes a seq, got '{seq}'."""
    from motia_nb.notebook.parsing import MagicUsageError

    state_manager.sync.set("v", "k", 1)
    ip.user_ns["seq"] = 1
    for line in ("restore v k --to {seq}", "history v --since $seq"):
        with pytest.raises(MagicUsageError) as err:
            state(ip, line)
        assert "never from a variable ({var}, $var)" in str(err.value).splitlines()[-1], line
    assert state_manager.sync.get("v", "k") == 1


def test_history_with_history_off_says_why_nothing_is_recorded(ip, fresh_db, capsys):
    # `%state history` said only "no recorded change" while history_keep was 'off'
    state_manager.sync.set("off", "old", 1)
    keep = state_manager.history_keep
    try:
        state_manager.history_keep = "off"
        state_manager.sync.set("off", "new", 1)
        capsys.readouterr()
        assert state(ip, "history off new").empty
        assert "no recorded change of 'off'/'new' (the state history is off" in capsys.readouterr().err
        assert state(ip, "history off").key.tolist() == ["old"]
        assert "the state history is off" in capsys.readouterr().err
    finally:
        state_manager.history_keep = keep
    capsys.readouterr()
    state(ip, "history off")
    assert "history is off" not in capsys.readouterr().err


def test_a_question_mark_after_a_subcommand_shows_its_help(ip, capsys):
    """IPython read ``%state history?`` as ``pinfo history``: it showed IPython's own
    ``%history`` ("Print input history"), ``%state set?`` Python's ``set``; never the options."""
    from motia_nb.testing import run_cell

    for cell, usage in (("%state history?", "usage: %state history [--since SEQ|TIME] [--limit N] GROUP [KEY]"),
                        ("%state restore orders o1??", "usage: %state restore --to SEQ|TIME|-N GROUP KEY"),
                        ("%state set?", "usage: %state set GROUP KEY VALUE"),
                        ("%motia steps?", "usage: %motia steps")):  # fmt: skip
        capsys.readouterr()
        assert run_cell(ip, cell).success, cell
        out = capsys.readouterr().out
        assert out.startswith(usage) and "input history" not in out, (cell, out)


def test_history_of_nothing_says_so(ip, fresh_db, capsys):
    df = state(ip, "history nothing-here")
    assert df.empty and list(df.columns) == list(CHANGE_KEYS)
    assert "no recorded change of 'nothing-here'" in capsys.readouterr().err


def test_restore_writes_an_old_value_back_as_a_recorded_write_that_fires_triggers(ip, fresh_db, capsys):
    from motia_nb.session import reset_steps, step
    from motia_nb.steps import state as state_trigger

    seen = []
    reset_steps()
    try:

        @step({"name": "Watch", "triggers": [state_trigger(lambda e: e.group_id == "orders")]})
        def watch(event):
            seen.append((event.event_type, event.new_value))

        state(ip, 'set orders o1 {"status": "new"}')
        state(ip, 'set orders o1 {"status": "paid"}')
        state(ip, 'set orders o1 {"status": "refunded"}')
        seqs = state(ip, "history orders o1").seq.tolist()
        seen.clear()
        result = state(ip, f"restore orders o1 --to {seqs[0]}")
        assert result == {"new_value": {"status": "new"}, "old_value": {"status": "refunded"}}
        assert state_manager.sync.get("orders", "o1") == {"status": "new"}
        assert seen == [("state:updated", {"status": "new"})]
        last = state(ip, "history orders o1 --limit 1")
        assert last.cause.tolist() == ["magic"] and last.new_value.tolist() == [{"status": "new"}]
        # -1 undoes the item's last change (the restore itself)
        state(ip, "restore orders o1 --to -1")
        assert state_manager.sync.get("orders", "o1") == {"status": "refunded"}
        # at or after the item's last change (a typo'd seq, too): already so, nothing written
        seen.clear()
        for to in (seqs[-1] + 2, seqs[-1] + 10**6):
            capsys.readouterr()
            assert state(ip, f"restore orders o1 --to {to}") is None
            assert f"its last change is {seqs[-1] + 2}): nothing written" in capsys.readouterr().out
        assert seen == [] and len(state(ip, "history orders o1")) == len(seqs) + 2
        # before the item existed: restoring deletes it
        state(ip, f"restore orders o1 --to {seqs[0] - 1}")
        assert not state_manager.sync.exists("orders", "o1")
        assert "did not exist" in capsys.readouterr().out
    finally:
        reset_steps()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("restore orders o1", "--to"),
        ("restore orders o1 --to soon", "%state restore: --to takes a change's seq"),
        ("restore orders o1 --to -5", "fewer than 5"),
        ("history orders --since nope", "%state history: --since takes"),
        ("history orders --limit 0", "limit must be"),
    ],
)
def test_bad_history_magics_fail_with_the_reason_first(ip, fresh_db, line, message):
    state(ip, "set orders o1 1")
    with pytest.raises(StateMagicError, match=message) as err:
        state(ip, line)
    assert message in str(err.value).splitlines()[0]  # the reason first (argparse adds the usage line)


def test_history_keep_setting_turns_recording_off_and_refuses_bad_values(ip, fresh_db):
    try:
        ip.run_line_magic("config", "MotiaNB.history_keep = 'off'")
        state(ip, "set g a 1")
        assert state_manager.sync.history("g") == []
        with pytest.raises(StateMagicError, match="history is off"):  # nothing to restore from
            state(ip, "restore g a --to 1")
        ip.run_line_magic("config", "MotiaNB.history_keep = '500,2d'")
        assert state_manager.history_keep == "500,2d"
        state(ip, "set g a 2")
        assert [r["new_value"] for r in state_manager.sync.history("g")] == [2]
        ip.run_line_magic("config", "MotiaNB.history_keep = 'forever'")  # refused; the value stays
        assert state_manager.history_keep == "500,2d"
    finally:
        ip.run_line_magic("config", "MotiaNB.history_keep = '100000'")


def test_completion_offers_groups_and_keys_for_history_and_restore():
    groups = lambda: ["orders", "users"]  # noqa: E731
    keys = lambda group, prefix: [k for k in ("o1", "o2") if k.startswith(prefix)]  # noqa: E731
    assert ("history", "subcommand") in state_completions([], "hi", groups, keys)
    assert state_completions(["history"], "or", groups, keys) == [("orders", "group")]
    assert state_completions(["restore", "orders"], "o", groups, keys) == [("o1", "key"), ("o2", "key")]
    assert ("--to", "option") in state_completions(["restore", "orders", "o1"], "--", groups, keys)


def test_a_viewer_edit_is_recorded_as_the_viewers(fresh_db):
    state_manager.sync.set("orders", "o1", {"n": 1})
    v = viewer("orders", live=False)
    try:
        v.items.value = "o1"
        v.value_text.value = json.dumps({"n": 2})
        v.save_button.click()
    finally:
        v.close()
    assert [r["cause"] for r in state_manager.sync.history("orders", "o1")] == ["cell", "viewer"]


def test_history_magic_restore_and_the_viewer_show_what_history_keep_keeps(ip, fresh_db):
    # ten changes, three kept: `%state history` and the viewer showed all ten until the pruning
    # thread got there (tests/test_history_retention_exact.py tests the API on both backends)
    before = state_manager.history_keep
    state_manager.history_keep = "3"
    try:
        for i in range(10):
            state_manager.sync.set("orders", "o1", i)
        df = state(ip, "history orders o1")
        assert df.new_value.tolist() == [7, 8, 9]
        assert state(ip, "history orders o1 --since 0 --limit 2").new_value.tolist() == [7, 8]
        first = int(df.seq.iloc[0])
        with pytest.raises(StateError, match="was pruned"):
            state(ip, f"restore orders o1 --to {first - 2}")
        state(ip, f"restore orders o1 --to {first - 1}")  # just before the oldest kept: its old value
        assert state_manager.sync.get("orders", "o1") == 6
        v = viewer("orders", manager=state_manager, live=False)
        try:
            v.refresh()
            v.select_item("o1")
            v.history.button.click()
            assert "(3 changes)" in v.history.heading.value
        finally:
            v.close()
    finally:
        state_manager.history_keep = before


def test_restore_of_a_misspelt_item_names_the_closest(ip, fresh_db):
    """``%state restore --to -1 order o1`` (for orders) said only "order/o1 has 0 recorded
    change(s)"; as ``%state history`` and ``%state list`` do, it names the closest."""
    state(ip, "set orders o1 1")
    state(ip, "set orders o1 2")
    with pytest.raises(StateMagicError, match=r"order/o1 has 0 recorded change\(s\), fewer than 1\. Did you mean 'orders'/'o1'\?"):
        state(ip, "restore --to -1 order o1")
    with pytest.raises(StateMagicError, match=r"orders/o1 has 2 recorded change\(s\), fewer than 3$"):
        state(ip, "restore --to -3 orders o1")
    assert state_manager.sync.get("orders", "o1") == 2
