"""Typos do not pass silently: a database path in a missing folder, a group that does not exist."""

from __future__ import annotations

import pandas as pd
from motia_nb.testing import run_cell

from motia_nb import state_manager
from motia_nb.state import StateError, StateManager


def state(ip, line: str):
    return ip.run_line_magic("state", line)


# ----------------------------------------------------------------------------- %state use PATH
def test_use_in_a_missing_folder_is_refused_in_one_line_and_creates_nothing(ip, fresh_db, tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.db"
    res = run_cell(ip, f"%state use {target}")
    err = res.error_in_exec
    assert isinstance(err, StateError)
    assert "\n" not in str(err) and "does not exist" in str(err) and str(target.parent) in str(err)
    assert not (tmp_path / "nonexistent").exists()  # no directory was made
    assert state_manager.url == fresh_db  # still on the previous database


def test_the_default_motia_folder_is_still_created(tmp_path):
    path = tmp_path / ".motia" / "state.db"
    sm = StateManager(str(path))
    try:
        sm.sync.set("g", "k", 1)
        assert path.exists()
    finally:
        sm.close()


def test_a_motia_folder_inside_a_missing_folder_is_refused(tmp_path):
    sm = StateManager(str(tmp_path / "missing" / ".motia" / "state.db"))
    try:
        sm.sync.get("g", "k")
    except StateError as err:
        assert "does not exist" in str(err)
    else:
        raise AssertionError("opened a database in a folder that does not exist")
    assert not (tmp_path / "missing").exists()


# ----------------------------------------------------------------------------- a missing group
def seed(ip) -> None:
    state(ip, 'set orders o1 {"total": 1}')
    state(ip, 'set users u1 {"name": "Ana"}')


def test_list_of_a_missing_group_says_so_and_still_returns_an_empty_frame(ip, fresh_db, capsys):
    seed(ip)
    capsys.readouterr()
    df = state(ip, "list order")
    captured = capsys.readouterr()
    assert isinstance(df, pd.DataFrame) and len(df) == 0
    lines = captured.err.strip().splitlines()
    assert lines == ["%state list: there is no group 'order' (no item is stored in it). Did you mean 'orders'?"]


def test_get_from_a_missing_group_names_the_groups_and_prints_null(ip, fresh_db, capsys):
    seed(ip)
    capsys.readouterr()
    assert state(ip, "get nosuchgroup k") is None
    captured = capsys.readouterr()
    assert captured.out.strip() == "null"
    assert captured.err.strip() == (
        "%state get: there is no group 'nosuchgroup' (no item is stored in it). Groups: orders, users."
    )


def test_a_missing_key_of_an_existing_group_is_just_null(ip, fresh_db, capsys):
    seed(ip)
    capsys.readouterr()
    assert state(ip, "get orders nope") is None
    assert capsys.readouterr().err == ""
    assert state(ip, "list orders --dict") == {"o1": {"total": 1}}
    assert capsys.readouterr().err == ""  # an existing group: no notice


def test_an_empty_database_says_it_holds_no_groups(ip, fresh_db, capsys):
    assert state(ip, "list --values orders") == []
    assert "The database holds no groups yet." in capsys.readouterr().err
