"""``%config MotiaNB`` and the state manager are one source of truth for the settings both have
(``database``, ``history_keep``, ``busy_timeout``): either side shows what the other set, a bad
value from either side is the same one-line error and changes nothing, and ``%reload_ext`` does
not bring back an older ``%config`` value."""

from __future__ import annotations

import logging
import warnings

import pytest

from motia_nb import state_manager
from motia_nb.state.errors import StateError
from motia_nb.testing import run_cell


def config(ip, line: str):
    return ip.run_line_magic("config", line)


@pytest.fixture
def settings_back(ip, fresh_db, caplog):
    """Put history_keep / busy_timeout back as they were (the manager outlives the test)."""
    caplog.set_level(logging.ERROR)
    keep, busy = state_manager.history_keep, state_manager._busy_timeout
    yield ip
    ip.config.MotiaNB.pop("history_keep", None)
    ip.config.MotiaNB.pop("busy_timeout", None)
    state_manager.history_keep = keep
    state_manager.busy_timeout = busy


def test_config_shows_what_python_calls_set(settings_back, tmp_path, capsys):
    """``%config MotiaNB`` kept the value it was last given: ``state_manager.history_keep = "1000"``,
    ``state_manager.busy_timeout = 3`` and ``state_manager.use(...)`` / ``%state use`` left it
    showing the old one."""
    ip = settings_back
    state_manager.history_keep = "1000"
    state_manager.busy_timeout = 3
    other = str(tmp_path / "other.db")
    state_manager.use(other)
    assert config(ip, "MotiaNB.history_keep") == "1000"
    assert config(ip, "MotiaNB.busy_timeout") == 3.0
    assert config(ip, "MotiaNB.database") == state_manager.url == other
    run_cell(ip, "%config MotiaNB")
    listing = capsys.readouterr().out
    assert "Current: '1000'" in listing and "Current: 3.0" in listing and f"Current: {other!r}" in listing
    third = str(tmp_path / "third.db")
    ip.run_line_magic("state", f"use {third}")
    assert config(ip, "MotiaNB.database") == third


def test_config_sets_the_manager_and_none_means_the_default_again(settings_back):
    ip = settings_back
    config(ip, "MotiaNB.history_keep = '7d'")
    config(ip, "MotiaNB.busy_timeout = 2.5")
    assert (state_manager.history_keep, state_manager.busy_timeout) == ("7d", 2.5)
    config(ip, "MotiaNB.busy_timeout = None")  # back to $MOTIA_NB_BUSY_TIMEOUT / 10, not pinned to it
    assert state_manager._busy_timeout is None
    assert config(ip, "MotiaNB.busy_timeout") == state_manager.busy_timeout


def test_switching_to_memory_again_keeps_its_items(settings_back):
    ip = settings_back
    config(ip, "MotiaNB.database = ':memory:'")
    state_manager.sync.set("mem", "k", 1)
    config(ip, "MotiaNB.database = ':memory:'")  # already in use: not a new, empty store
    assert state_manager.sync.get("mem", "k") == 1


BAD = [
    ("history_keep", "'bogus'", lambda: setattr(state_manager, "history_keep", "bogus")),
    ("history_keep", "True", lambda: setattr(state_manager, "history_keep", True)),
    ("history_keep", "0", lambda: setattr(state_manager, "history_keep", 0)),
    ("busy_timeout", "-1", lambda: setattr(state_manager, "busy_timeout", -1)),
    ("busy_timeout", "True", lambda: setattr(state_manager, "busy_timeout", True)),
    ("busy_timeout", "'soon'", lambda: setattr(state_manager, "busy_timeout", "soon")),
    ("database", "5", lambda: state_manager.use(5)),
]


@pytest.mark.parametrize("name,text,from_python", BAD, ids=[f"{n}={t}" for n, t, _ in BAD])
def test_a_bad_value_is_the_same_one_line_error_from_either_side_and_changes_nothing(
    settings_back, caplog, name, text, from_python
):
    ip = settings_back
    state_manager.history_keep = "500"
    state_manager.busy_timeout = 4
    before = {n: getattr(state_manager, n) for n in ("history_keep", "busy_timeout", "url")}
    with pytest.raises((StateError, ValueError, TypeError)) as info:
        from_python()
    caplog.clear()
    config(ip, f"MotiaNB.{name} = {text}")
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert said == [f"MotiaNB.{info.value}"], (said, str(info.value))
    assert "\n" not in said[0]
    assert {n: getattr(state_manager, n) for n in before} == before
    assert config(ip, "MotiaNB.history_keep") == "500" and config(ip, "MotiaNB.busy_timeout") == 4.0


def test_reload_keeps_what_python_set_last(settings_back):
    """``%reload_ext motia_nb`` applied the shell's ``%config`` values again (an older value set
    back), and a new ``MotiaNB`` set the manager's history_keep to the default when first read."""
    ip = settings_back
    config(ip, "MotiaNB.history_keep = '500'")
    state_manager.history_keep = "1000"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_cell(ip, "%reload_ext motia_nb").success
    assert state_manager.history_keep == "1000"
    assert config(ip, "MotiaNB.history_keep") == "1000"
    ip.config.MotiaNB.pop("history_keep")
    state_manager.history_keep = "all"  # not in the shell's config: the new MotiaNB must not reset it
    assert run_cell(ip, "%reload_ext motia_nb").success
    assert config(ip, "MotiaNB.history_keep") == "all"
    assert state_manager.history_keep == "all"
