"""Shared fixtures and rules for the whole suite.

The Redis server, the IPython shell and the system-binary rule come from
:mod:`motia_nb.testing` (shared with the benchmarks); the state contract suite's
fixtures from ``state_fixtures``.
"""

from __future__ import annotations

import pytest

# (MOTIA_NB_DB is set to a throwaway file by the root conftest.py.)
from motia_nb.testing.fixtures import fresh_db, ip, redis_server, redis_url, require_binary  # noqa: F401


@pytest.fixture
def db_path(tmp_path):
    """A fresh SQLite file path for one test."""
    return str(tmp_path / "state.db")


# The state contract suite's fixtures (sm, backend_url, events).
from state_fixtures import backend_url, events, sm  # noqa: E402,F401
