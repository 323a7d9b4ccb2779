"""Test support shared by the test suite and the benchmarks.

- :class:`RedisServer` / :func:`running_redis_server`: a private ``redis-server`` on a
  free 127.0.0.1 port that keeps nothing on disk (``--save '' --appendonly no``).
- :func:`get_shell` / :func:`run_cell` / :func:`preserved_config` /
  :func:`using_database`: IPython's ``InteractiveShell`` with motia_nb loaded, as the
  notebook-surface tests and the ``%store`` benchmark drive it.
- :func:`find_binary`: the system-binary rule (a missing ``redis-server`` or
  ``chromium`` raises :class:`BinaryMissing` with how to install it).

Importing this package imports neither pytest nor IPython. The pytest fixtures
(``redis_server``, ``redis_url``, ``ip``, ``fresh_db``) and ``require_binary``
(skip on a user's machine, fail under ``CI=true``) live in
:mod:`motia_nb.testing.fixtures`, which imports pytest.
"""

from __future__ import annotations

from .binaries import BinaryMissing, find_binary, in_ci
from .redis_server import RedisServer, running_redis_server
from .shell import get_shell, preserved_config, run_cell, using_database

__all__ = [
    "BinaryMissing",
    "find_binary",
    "in_ci",
    "RedisServer",
    "running_redis_server",
    "get_shell",
    "run_cell",
    "preserved_config",
    "using_database",
]
