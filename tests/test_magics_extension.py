"""Extension life cycle: ``%load_ext`` / ``%unload_ext`` / ``%reload_ext motia_nb``."""

from __future__ import annotations

import threading

import pytest

from motia_nb import state_manager
from motia_nb.notebook.completion import MATCHER_ID
from motia_nb.notebook.config import MotiaNB
from motia_nb.notebook.extension import is_loaded
from motia_nb.notebook.help_suffix import subcommand_help
from motia_nb.notebook.magics import StateMagics
from motia_nb.notebook.step_magics import StepMagics
from motia_nb.testing import run_cell


def counts(ip) -> dict[str, int]:
    """How many of each thing motia_nb adds are present in the shell."""
    magics = ip.magics_manager.magics
    return {
        "configurables": sum(isinstance(c, MotiaNB) for c in ip.configurables),
        "matchers": sum(getattr(m, "matcher_identifier", None) == MATCHER_ID for m in ip.Completer.custom_matchers),
        "line_state": int("state" in magics["line"]),
        "cell_state": int("state" in magics["cell"]),
        "registry": sum(isinstance(m, StateMagics) for m in ip.magics_manager.registry.values()),
        "help_suffix": sum(t is subcommand_help for t in ip.input_transformers_cleanup),
    }


ONE_OF_EACH = {"configurables": 1, "matchers": 1, "line_state": 1, "cell_state": 1, "registry": 1, "help_suffix": 1}
NONE = dict.fromkeys(ONE_OF_EACH, 0)


@pytest.fixture
def reloaded_after(ip):
    yield ip
    if "motia_nb" not in ip.extension_manager.loaded:
        ip.run_line_magic("load_ext", "motia_nb")
    assert counts(ip) == ONE_OF_EACH


def test_loaded_once(ip):
    assert is_loaded(ip)
    assert counts(ip) == ONE_OF_EACH
    bound = ip.magics_manager.magics["line"]["state"]
    assert isinstance(bound.__self__, StateMagics)
    assert bound.__self__.settings in ip.configurables


def test_reload_leaves_exactly_one_of_everything(reloaded_after):
    ip = reloaded_after
    for _ in range(3):
        res = run_cell(ip, "%reload_ext motia_nb")
        assert res.success, res.error_in_exec
        assert counts(ip) == ONE_OF_EACH
    # a second %load_ext is a no-op too
    run_cell(ip, "%load_ext motia_nb")
    assert counts(ip) == ONE_OF_EACH
    # the magic in the table belongs to the live settings object
    settings = ip.magics_manager.magics["line"]["state"].__self__.settings
    assert [c for c in ip.configurables if isinstance(c, MotiaNB)] == [settings]


def test_unload_removes_everything_and_releases_the_database(reloaded_after, fresh_db):
    ip = reloaded_after
    state_manager.sync.set("orders", "o1", {"a": 1})
    writer = getattr(state_manager.backend, "writer_thread", None)
    assert state_manager.is_open
    res = run_cell(ip, "%unload_ext motia_nb")
    assert res.success, res.error_in_exec
    assert counts(ip) == NONE
    assert not is_loaded(ip)
    assert not state_manager.is_open
    if isinstance(writer, threading.Thread):
        writer.join(timeout=5)
        assert not writer.is_alive()
    res = run_cell(ip, "%state get orders o1")
    assert not res.success and "state" in str(res.error_in_exec)
    # %config no longer knows MotiaNB; completion no longer offers subcommands
    assert "MotiaNB" not in [type(c).__name__ for c in ip.configurables]
    with pytest.warns(PendingDeprecationWarning):
        _, matches = ip.complete("", "%state ", 7)
    assert "update" not in matches
    # loading again works, and the data is still there (the manager reopens lazily)
    assert run_cell(ip, "%load_ext motia_nb").success
    assert ip.run_line_magic("state", "get orders o1") == {"a": 1}


def test_steps_magics_follow_the_extension(reloaded_after):
    ip = reloaded_after

    def step_magic_names() -> set[str]:
        names = set()
        for kind, table in ip.magics_manager.magics.items():
            for name, fn in table.items():
                if isinstance(getattr(fn, "__self__", None), StepMagics):
                    names.add(f"{kind}:{name}")
        return names

    loaded = step_magic_names()
    assert loaded, "StepMagics registered no magic"
    run_cell(ip, "%reload_ext motia_nb")
    assert step_magic_names() == loaded
    assert sum(isinstance(m, StepMagics) for m in ip.magics_manager.registry.values()) == 1
    run_cell(ip, "%unload_ext motia_nb")
    assert step_magic_names() == set()


def test_shell_config_is_applied_at_load_and_bad_values_only_warn(reloaded_after):
    ip = reloaded_after
    section = ip.config.MotiaNB
    saved = dict(section)
    try:
        section.json_indent = 4
        section.display_max_rows = -5
        with pytest.warns(UserWarning, match="MotiaNB.display_max_rows = -5 ignored"):
            assert run_cell(ip, "%reload_ext motia_nb").success
        assert counts(ip) == ONE_OF_EACH
        assert ip.run_line_magic("config", "MotiaNB.json_indent") == 4
        assert ip.run_line_magic("config", "MotiaNB.display_max_rows") is None
    finally:
        section.clear()
        section.update(saved)
        run_cell(ip, "%reload_ext motia_nb")


def test_unload_leaves_no_motia_nb_thread_running(reloaded_after, fresh_db):
    """Threads the extension's features started (store writer, motia_nb's loop, the cron
    scheduler) are all gone after %unload_ext, and a viewer's live refresh is stopped."""
    ip = reloaded_after
    from motia_nb import _threads, cron, run_cron, step, viewer
    from motia_nb.session import start_scheduler

    before = set(threading.enumerate())  # (other tests' own managers may have threads too)

    @step({"name": "UnloadTick", "triggers": [cron("0 0 * * *")]})
    def tick(_input):
        pass

    state_manager.sync.set("orders", "o1", {"a": 1})
    run_cron.sync("UnloadTick")  # starts motia_nb's loop thread
    v = viewer("orders")  # starts the viewer's live refresh (timers on a loop, no thread of its own)
    start_scheduler()
    ours = {t for t in threading.enumerate() if t.name.startswith("motia-") and t not in before}
    ours |= {_threads.get_loop_thread().thread, state_manager.backend.writer_thread}
    assert len(ours) >= 2 and v.live is not None and v.live.active, (
        f"not enough was started for the test to prove anything: {ours}")
    assert run_cell(ip, "%unload_ext motia_nb").success
    for t in ours:
        t.join(timeout=10)
    assert [t.name for t in ours if t.is_alive()] == [] and v.closed and not v.live.active
    from motia_nb.session import remove_step

    remove_step("UnloadTick")
    assert run_cell(ip, "%load_ext motia_nb").success  # (fresh_db's teardown uses %state)


def test_a_cell_that_unloads_the_extension_leaves_no_cell_run_open(reloaded_after):
    """A cell running ``%unload_ext motia_nb`` began a cell run (the registry refuses a step name
    defined twice in one run) whose end never came: the unload had taken ``post_run_cell`` away.
    Every later ``@step`` then counted as in that run, and defining a step again in a later cell
    (or the same name in the next test) was refused as "defined twice in this cell"."""
    ip = reloaded_after
    assert run_cell(ip, "%unload_ext motia_nb").success
    for _ in range(2):  # two later cells define the same step: the second replaces the first
        res = run_cell(ip, """
from motia_nb import step
@step({"name": "AfterUnload", "triggers": [{"type": "queue", "topic": "after.unload"}]})
def after_unload(data):
    pass
""")
        assert res.success, res.error_in_exec
    from motia_nb.session import current_session

    current_session().registry.remove("AfterUnload")
