"""The pytest side of :mod:`motia_nb.testing` (imports pytest).

Import the fixtures into a ``conftest.py``::

    from motia_nb.testing.fixtures import fresh_db, ip, redis_server, redis_url, require_binary

- ``require_binary(name, why)``: the binary's path, or skip with the reason on a
  user's machine / fail under ``CI=true`` (CI installs the binaries).
- ``redis_server`` (session): a running :class:`~motia_nb.testing.RedisServer`.
- ``redis_url``: ``redis://127.0.0.1:<port>/0`` on an emptied server (FLUSHALL first).
- ``ip``: the shared InteractiveShell with motia_nb loaded; ``%config MotiaNB...``
  values a test leaves are dropped afterwards.
- ``fresh_db``: a new SQLite state database for one test, selected with ``%state use``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .binaries import BinaryMissing, find_binary, in_ci
from .redis_server import RedisServer, running_redis_server
from .shell import get_shell, preserved_config, using_database

__all__ = ["require_binary", "redis_server", "redis_url", "ip", "fresh_db"]


def require_binary(name: str, why: str) -> str:
    """Return the path of a system binary, or skip (on a user's machine) / fail (in CI)."""
    try:
        return find_binary(name, why)
    except BinaryMissing as exc:
        if in_ci():
            pytest.fail(f"CI=true but {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server for the whole session (skipped, or failed in CI, if the binary is missing)."""
    binary = require_binary("redis-server", "the Redis backend tests run against a real server")
    with running_redis_server(binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of an empty Redis database (every database of the server is flushed first)."""
    redis_server.flushall()
    return redis_server.url


@pytest.fixture
def ip() -> Iterator[Any]:
    """The shell with motia_nb loaded; ``%config MotiaNB...`` left by the test is dropped."""
    with preserved_config(get_shell()) as shell:
        yield shell


@pytest.fixture
def fresh_db(ip: Any, tmp_path: Any) -> Iterator[str]:
    """A new, empty SQLite state database for this test, selected with ``%state use``."""
    with using_database(ip, str(tmp_path / "state.db")) as path:
        yield path
