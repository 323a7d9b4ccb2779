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
