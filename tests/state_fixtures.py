"""Fixtures for the state contract suite: one StateManager per test, per backend.

The same tests run against every backend listed in ``BACKENDS``; the Redis one
needs a real ``redis-server`` (``motia_nb.testing`` starts it).
"""

from __future__ import annotations

import pytest

from motia_nb.state import StateManager

BACKENDS = ["sqlite-file", "sqlite-memory", "redis"]


@pytest.fixture(params=BACKENDS)
def backend_url(request, tmp_path):
    kind = request.param
    if kind == "sqlite-file":
        return str(tmp_path / "state.db")
    if kind == "sqlite-memory":
        return ":memory:"
    # redis: a fresh logical database on the session's server
    return request.getfixturevalue("redis_url")


@pytest.fixture
def sm(backend_url):
    """A fresh StateManager on its own store; closed after the test."""
    m = StateManager(backend_url)
    if backend_url.startswith("redis"):
        m.backend  # open now
    yield m
    m.close()


@pytest.fixture
def events(sm):
    """Every event the manager commits, in order."""
    got: list = []
    unsubscribe = sm.subscribe(got.append)
    yield got
    unsubscribe()
