"""A Motia user's hour with the day's changes (CHANGELOG "Unreleased"), in an InteractiveShell.

Each test is a defect a user met; the kernel-level ones are in ``test_today_user_kernel.py``.
"""

from __future__ import annotations

import pytest

from motia_nb import state_manager
from motia_nb.testing import run_cell
from motia_nb.testing.shell import error_lines


# ---------------------------------------------------------------- 1. %motia trace $tid
@pytest.mark.parametrize("given, expr", [("$tid", "tid"), ("{tid}", "tid"), ('{last["trace_id"]}', None)])
def test_motia_trace_of_a_variable_says_it_takes_the_id_as_written(steps_ip, capsys, given, expr):
    """Lesson 5 leads from a change's ``trace_id`` to ``%motia trace <trace_id>``; a user holding it in a
    variable writes ``%motia trace $tid`` (IPython expands ``$``/``{}`` in other magics). It answered
    ``no trace '$tid' (n traces kept; ...)``, as if the id had been looked up; now the cell fails
    in one line saying the magic takes the id as written, and what to write instead."""
    res = run_cell(steps_ip, 'from motia_nb import state_manager\nstate_manager.sync.set("notes", "n1", 1)\n'
                             'last = state_manager.sync.history("notes", "n1")[-1]\ntid = last["trace_id"]')
    assert res.success, res.error_in_exec
    capsys.readouterr()
    lines = error_lines(steps_ip, f"%motia trace {given}")
    assert "no trace" not in "\n".join(lines)
    last_line = lines[-1]
    assert "MagicUsageError" in last_line and "reads as a variable of the notebook" in last_line, lines
    assert "%motia trace takes the trace id as written, never from a variable" in last_line, lines
    hint = f"trace_frame({expr})" if expr else "trace_frame(...)"
    assert hint in last_line, lines
    assert "no trace" not in capsys.readouterr().err
    # the id itself (and its first characters) still work
    tid = state_manager.sync.history("notes", "n1")[-1]["trace_id"]
    steps_ip.run_line_magic("motia", f"trace {tid[:8]}")
    assert "cell run's" in capsys.readouterr().err


# ---------------------------------------------------------------- 2. Stream("todo:") in one line
@pytest.mark.parametrize("code, said", [
    ('Stream("todo:")', "a stream name must be a non-empty str without '::' and not ending in ':', got 'todo:'"),
    ('Stream("a::b")', "a stream name must be a non-empty str without '::' and not ending in ':', got 'a::b'"),
    ('Stream("todo").set("", "i1", 1)', "stream 'todo': group_id must be a non-empty str, got ''"),
])
def test_a_bad_stream_name_fails_the_cell_in_one_line(steps_ip, code, said):
    """The day's change refuses a stream name ending in ':' "in one line", but the refusal was a plain
    ValueError: a cell showed ~20 lines of motia_nb's frames (``_state.py``, ``streams.py``) around it.
    Now it is the user's line and the message, as every other bad input (``InvalidInputError``,
    still a ``ValueError``)."""
    from motia_nb.testing.shell import assert_cell_line_and_one_line

    res = run_cell(steps_ip, "from motia_nb.motia import Stream")
    assert res.success, res.error_in_exec
    lines = error_lines(steps_ip, code)
    assert_cell_line_and_one_line(lines, said, count=None)
    assert len(lines) <= 3, lines


# ---------------------------------------------------------------- 3. a timed-out write that ran: nobody here heard of it
@pytest.mark.redis
def test_a_write_whose_answer_timed_out_says_this_processs_triggers_and_subscribers_never_hear_of_it():
    """``busy_timeout`` is now Redis's socket timeout: a write to a hung server fails after it,
    "it may or may not have been applied". After ``kill -CONT`` the server runs it (the item and
    its change are there, cause ``cell``/None), but its events came in the reply nobody waited
    for (this process's own pub/sub messages are not handed to it again): no state trigger and no
    subscriber of this process ran for it, and nothing said so. The error now says it."""
    import os
    import signal
    import threading

    from motia_nb.state import StateManager
    from motia_nb.state.errors import StateError
    from motia_nb.testing.fixtures import require_binary
    from motia_nb.testing.redis_server import running_redis_server

    binary = require_binary("redis-server", "a server of its own, hung mid-test")
    with running_redis_server(binary) as server:
        assert server.proc is not None
        m = StateManager(server.url, busy_timeout=0.5)
        heard: list[str] = []
        later = threading.Event()

        def on(e):
            heard.append(e["key"])
            if e["key"] == "later":
                later.set()

        try:
            m.subscribe(on)
            m.subscribe(on, remote=True)
            m.sync.set("g", "before", 1)
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                with pytest.raises(StateError) as caught:
                    m.sync.set("g", "lost", 2)
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            said = str(caught.value)
            assert "\n" not in said and said.endswith("it may or may not have been applied"), said
            m.sync.set("g", "later", 3)
            assert later.wait(5)
            assert m.sync.get("g", "lost") == 2  # it ran ...
            assert heard == ["before", "before", "later", "later"], heard  # ... and nobody here heard of it
            assert "no state trigger or subscriber of this process hears of it" in said, said
        finally:
            m.close()


# ---------------------------------------------------------------- 4. "Did you mean 'h'/'k'?" of 'h'/'k' itself
def test_history_of_a_stored_item_with_no_change_kept_never_suggests_its_own_name(steps_ip, capsys):
    """An item whose changes the retention pushed out (``history_keep``; on Redis also a history
    stream deleted by hand) is stored but has no change kept. ``%state history orders o1`` answered
    ``no recorded change of 'orders'/'o1'. Did you mean 'orders'/'o1'?``: the typo hint suggested
    the very name asked. Now it says the item is stored and why no change of it is there; a typo
    still gets the closest name."""
    from motia_nb.notebook.magics import StateMagicError

    keep = state_manager.history_keep
    try:
        state_manager.history_keep = "1"
        state_manager.sync.set("orders", "o1", 1)
        state_manager.sync.set("orders", "o2", 2)  # the store keeps its newest change only: o2's
        capsys.readouterr()
        for asked, what in ((("orders", "o1"), "'orders'/'o1'"),):
            steps_ip.run_line_magic("state", "history " + " ".join(asked))
            err = capsys.readouterr().err
            assert "Did you mean" not in err, err
            assert err == (f"%state history: no recorded change of {what}; it is stored, but no change of it is kept "
                           "(pushed out by history_keep = '1', written while the history was off, or its history "
                           "removed)\n"), err
        state_manager.sync.delete("orders", "o2")  # (the delete is now the one change kept: o1 and 'orders' have none but it)
        state_manager.sync.set("users", "u1", 1)  # the newest change is another group's: 'orders' has none kept
        capsys.readouterr()
        steps_ip.run_line_magic("state", "history orders")
        err = capsys.readouterr().err
        assert "Did you mean" not in err and "'orders'; it is stored, but no change of it is kept" in err, err
        with pytest.raises(StateMagicError) as caught:
            steps_ip.run_line_magic("state", "restore orders o1 --to -1")
        assert "Did you mean" not in str(caught.value) and "it is stored, but no change of it is kept" in str(caught.value)
        # a typo still gets the closest name
        steps_ip.run_line_magic("state", "history order o1")
        assert capsys.readouterr().err.endswith("Did you mean 'orders'/'o1'?\n")
    finally:
        state_manager.history_keep = keep


# ---------------------------------------------------------------- 6. %state use :memory: while remote triggers listen
def test_switching_to_memory_while_remote_triggers_or_subscribers_listen_says_they_hear_nothing(tmp_path):
    """Today ``subscribe(fn, remote=True)`` on ``:memory:`` refuses, as ``run_remote_triggers(True)``
    does, because on such a store they never hear anything. Turned on on a shared file and then
    ``use(":memory:")`` (``%state use :memory:``), they stayed on, hearing nothing, and nothing said
    so (turning history off under them warns). Now the switch warns in one line; a switch with none
    listening (a viewer's own subscription only) says nothing."""
    import warnings

    from motia_nb.state import StateManager

    m = StateManager(str(tmp_path / "a.db"))
    try:
        m._subscribe(lambda e: None, remote=True)  # (the viewer's: kept on any store, never warned of)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.use(":memory:")
            m.use(str(tmp_path / "b.db"))
        assert [str(w.message) for w in caught] == []
        m.run_remote_triggers(True)
        unsubscribe = m.subscribe(lambda e: None, remote=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.use(":memory:")
        said = [str(w.message) for w in caught]
        assert said == [
            (":memory:: this backend does not publish changes between processes (no other process can write an "
            "in-memory store: use a file or Redis), so this kernel's remote triggers and 1 remote subscriber "
            "(run_remote_triggers, subscribe(..., remote=True)) hear no other process's change until you use "
            "one that does")
        ], said
        unsubscribe()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.use(str(tmp_path / "c.db"))
            m.use(":memory:")  # remote triggers only
        assert [str(w.message).split(", so ")[1] for w in caught] == [
            "this kernel's remote triggers (run_remote_triggers) hear no other process's change until you use one that does"
        ]
        m.run_remote_triggers(False)
    finally:
        m.close()


# ---------------------------------------------------------------- 7. state(cond, scope="orders")
@pytest.mark.parametrize("call, said", [
    ('state(lambda e: True, scope="orders")',
     ("state() takes only condition (as Motia's state() helper), got scope='orders': a state trigger for one group "
     "or key is the dict {\"type\": \"state\", \"scope\": \"orders\", \"condition\": ...}")),
    ('state(scope="orders", key="o1")',
     ("state() takes only condition (as Motia's state() helper), got scope='orders', key='o1': a state trigger for "
     "one group or key is the dict {\"type\": \"state\", \"scope\": \"orders\", \"key\": \"o1\"}")),
])  # fmt: skip
def test_state_helper_with_scope_or_key_says_to_write_the_dict(steps_ip, call, said):
    """Today's state triggers read ``scope`` / ``key``, written in the trigger's dict. A user
    reaching for the helper, ``state(cond, scope="orders")``, got
    ``TypeError: _StateHelper.__call__() got an unexpected keyword argument 'scope'`` (a name of
    motia_nb's, and no way forward). Motia's own ``state()`` takes only ``condition``, so the
    helper still does, and says in one line how to write it."""
    from motia_nb.testing.shell import assert_cell_line_and_one_line

    res = run_cell(steps_ip, "from motia_nb import state")
    assert res.success, res.error_in_exec
    lines = error_lines(steps_ip, call)
    assert_cell_line_and_one_line(lines, said, count=None)
    assert "StepConfigError" in lines[-1] and len(lines) <= 3, lines
