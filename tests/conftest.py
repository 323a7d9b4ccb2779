"""Shared fixtures and rules for the whole suite."""

from __future__ import annotations

import os
import shutil

import pytest

# (MOTIA_NB_DB is set to a throwaway file by the root conftest.py.)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str, why: str) -> str:
    """Return the path of a system binary, or skip (on a user's machine) / fail (in CI).

    Tests that need chromium or redis-server call this. In CI (CI=true) a missing
    binary is a failure, because .ci/run installs them with apt-get.
    """
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed ({why}); install it with: apt-get install {name}"
        if IN_CI:
            pytest.fail(f"CI=true but {msg}", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture
def db_path(tmp_path):
    """A fresh SQLite file path for one test."""
    return str(tmp_path / "state.db")


# The state contract suite's fixtures (sm, backend_url, events) and the Redis server.
from state_fixtures import backend_url, events, sm  # noqa: E402,F401

try:
    from redis_server import redis_server, redis_url  # noqa: E402,F401
except ImportError:  # the Redis fixtures module is not there: Redis cases skip visibly

    @pytest.fixture
    def redis_url():
        if IN_CI:
            pytest.fail("tests/redis_server.py is missing", pytrace=False)
        pytest.skip("Redis fixtures unavailable")
