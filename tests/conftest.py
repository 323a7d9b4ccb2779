"""Shared fixtures and rules for the whole suite.

The Redis server, the IPython shell and the system-binary rule come from
:mod:`motia_nb.testing` (shared with the benchmarks); the state contract suite's
fixtures from ``state_fixtures``.
"""

from __future__ import annotations

import pytest

# (MOTIA_NB_DB is set to a throwaway file by the root conftest.py.)
from motia_nb.session import clear_logs, clear_traces, reset_steps
from motia_nb.state import state_manager
from motia_nb.testing import get_shell
from motia_nb.testing.fixtures import (  # noqa: F401
    big_db,
    db_path,
    fresh_db,
    ip,
    kernel,
    kernels,
    redis_backend,
    redis_client,
    redis_manager,
    redis_server,
    redis_url,
    require_binary,
    sqlite_manager,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """test_binder.py's slow tests run last: their commands (fresh virtualenvs, every tutorial
    in the binder environment) run in the background from that module's first test on, so
    the rest of the suite runs meanwhile instead of waiting for them."""
    late = [item for item in items if item.path.name == "test_binder.py" and item.get_closest_marker("slow")]
    if late:
        moved = set(map(id, late))
        items[:] = [item for item in items if id(item) not in moved] + late


@pytest.fixture
def steps_sandbox(tmp_path):
    """A fresh database file and no steps, logs or traces (the steps cleared and the database put
    back after)."""
    previous = state_manager.url
    state_manager.use(str(tmp_path / "state.db"))
    reset_steps()
    clear_logs()
    clear_traces()
    yield
    reset_steps()
    state_manager.use(previous)


@pytest.fixture
def steps_ip(steps_sandbox):
    """The test shell on a fresh database with no steps, logs or traces (all cleared again after)."""
    return get_shell()


# The state contract suite's fixtures (sm, backend_url, events).
from state_fixtures import backend_url, events, sm  # noqa: E402,F401
