"""The pytest side of :mod:`motia_nb.testing` (imports pytest).

Import the fixtures into a ``conftest.py``::

    from motia_nb.testing.fixtures import fresh_db, ip, redis_server, redis_url, require_binary

A test module that wants a fixture under a shorter name imports it under that name
(pytest registers a fixture by the name it has in the module)::

    from motia_nb.testing.fixtures import redis_backend as backend

- ``require_binary(name, why)``: the binary's path, or skip with the reason on a
  user's machine / fail under ``CI=true`` (CI installs the binaries).
- ``redis_server`` (session): a running :class:`~motia_nb.testing.RedisServer`.
- ``redis_url``: ``redis://127.0.0.1:<port>/0`` on an emptied server (FLUSHALL first).
- ``redis_client``: a plain redis-py client (``decode_responses=True``) on that database:
  the "by hand" / Motia side of a Redis test.
- ``redis_backend``: an opened :class:`~motia_nb.state.backends.redis.RedisBackend` on it,
  closed after the test; ``redis_manager``: an opened ``StateManager`` on it, closed after.
- ``kernels``: two real Jupyter kernels (:class:`~motia_nb.testing.kernels.Kernel`),
  shut down after the test (skipped without jupyter_client).
- ``kernel``: one real Jupyter kernel of this checkout (``PYTHONPATH`` its root, so it imports
  the motia_nb under test) with its own state file (``MOTIA_NB_DB`` in ``tmp_path``, also its
  working directory), shut down after the test.
- ``db_path``: a fresh SQLite state file path for one test; ``sqlite_manager``: a
  ``StateManager`` on it, closed after the test.
- ``big_db`` (module): a state file whose group ``big`` holds 1,000,000 items
  (:func:`~motia_nb.testing.state_files.big_state_file`): each module gets its own copy
  of one file built once per session (a copy takes a fraction of a second, a build seconds).
- ``ip``: the shared InteractiveShell with motia_nb loaded; ``%config MotiaNB...``
  values a test leaves are dropped afterwards.
- ``fresh_db``: a new SQLite state database for one test, selected with ``%state use``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..state import StateManager
from ..state.backends import Backend, open_backend
from .binaries import BinaryMissing, find_binary, in_ci
from .kernels import Kernel, started_kernels
from .redis_server import RedisServer, running_redis_server
from .shell import get_shell, preserved_config, using_database
from .state_files import big_state_file

__all__ = [
    "require_binary",
    "redis_server",
    "redis_url",
    "redis_client",
    "redis_backend",
    "redis_manager",
    "kernels",
    "db_path",
    "sqlite_manager",
    "big_db",
    "ip",
    "fresh_db",
]


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
def redis_client(redis_server: RedisServer, redis_url: str) -> Iterator[Any]:
    """A plain redis-py client on the emptied database (strings in, strings out)."""
    c = redis_server.client(decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def redis_backend(redis_url: str) -> Iterator[Backend]:
    """An opened Redis backend on the emptied database, closed after the test."""
    b = open_backend(redis_url)
    b.open()
    yield b
    b.close()


@pytest.fixture
def redis_manager(redis_url: str) -> Iterator[StateManager]:
    """A ``StateManager`` on the emptied database, its backend opened now; closed after the test."""
    m = StateManager(redis_url)
    m.backend  # open now
    yield m
    m.close()


@pytest.fixture
def db_path(tmp_path: Any) -> str:
    """A fresh SQLite file path for one test."""
    return str(tmp_path / "state.db")


@pytest.fixture
def sqlite_manager(db_path: str) -> Iterator[StateManager]:
    """A ``StateManager`` on this test's ``db_path``, closed after the test."""
    m = StateManager(db_path)
    yield m
    m.close()


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: Any) -> str:
    """A state file whose group ``big`` holds 1,000,000 items ``item-0000000`` … (one per module:
    a copy of a file built once per session and never opened, so nothing a module does reaches another)."""
    built = tmp_path_factory.getbasetemp() / "big-built" / "state.db"
    if not built.exists():
        built.parent.mkdir(exist_ok=True)
        big_state_file(str(built.with_suffix(".partial")))
        built.with_suffix(".partial").rename(built)  # complete, or absent
    path = tmp_path_factory.mktemp("big") / "state.db"
    shutil.copyfile(built, path)
    return str(path)


@pytest.fixture
def kernels() -> Iterator[tuple[Kernel, Kernel]]:
    """Two started Jupyter kernels (this process's environment), shut down after the test."""
    pytest.importorskip("jupyter_client")
    with started_kernels(2) as (a, b):
        yield a, b


@pytest.fixture
def kernel(tmp_path: Any) -> Iterator[Kernel]:
    """One started kernel of this checkout, on a state file of its own (see the module doc)."""
    pytest.importorskip("jupyter_client")
    root = Path(__file__).resolve().parents[2]  # the checkout holding this motia_nb
    env = dict(os.environ, MOTIA_NB_DB=str(Path(tmp_path) / "state.db"), PYTHONPATH=str(root))
    with started_kernels(1, env=env, cwd=str(tmp_path)) as (k,):
        yield k


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
