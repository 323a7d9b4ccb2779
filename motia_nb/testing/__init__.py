"""Test support shared by the test suite and the benchmarks.

- :class:`RedisServer` / :func:`running_redis_server`: a private ``redis-server`` on a
  free 127.0.0.1 port that keeps nothing on disk (``--save '' --appendonly no``).
- :func:`get_shell` / :func:`run_cell` / :func:`preserved_config` /
  :func:`using_database`: IPython's ``InteractiveShell`` with motia_nb loaded, as the
  notebook-surface tests and the ``%store`` benchmark drive it.
- :class:`Kernel` / :func:`started_kernels` / :func:`kernel_manager_for`: real Jupyter
  kernels driven cell by cell (jupyter_client is imported when one starts).
- :func:`big_state_file`: a state file with a 1,000,000-item group, made in seconds.
- :func:`find_binary`: the system-binary rule (a missing ``redis-server`` or
  ``chromium`` raises :class:`BinaryMissing` with how to install it).

Importing this package imports neither pytest nor IPython. The pytest fixtures
(``redis_server``, ``redis_url``, ``redis_client``, ``redis_backend``, ``redis_manager``,
``kernels``, ``ip``, ``fresh_db``) and ``require_binary``
(skip on a user's machine, fail under ``CI=true``) live in
:mod:`motia_nb.testing.fixtures`, which imports pytest.
"""

from __future__ import annotations

from .binaries import BinaryMissing, find_binary, in_ci
from .kernels import Kernel, cell_text, kernel_manager_for, last_json, started_kernels
from .redis_server import RedisServer, running_redis_server
from .state_files import BIG_ITEMS, big_state_file
from .shell import assert_cell_line_and_one_line, error_lines, get_shell, preserved_config, run_cell, using_database

__all__ = [
    "BinaryMissing",
    "find_binary",
    "in_ci",
    "Kernel",
    "started_kernels",
    "kernel_manager_for",
    "last_json",
    "cell_text",
    "RedisServer",
    "running_redis_server",
    "BIG_ITEMS",
    "big_state_file",
    "get_shell",
    "run_cell",
    "error_lines",
    "assert_cell_line_and_one_line",
    "preserved_config",
    "using_database",
]
