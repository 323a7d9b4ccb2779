"""A shared IPython shell with motia_nb loaded, for the notebook-surface tests.

``ip`` is IPython's singleton ``InteractiveShell`` (the same object a kernel's
magics see, minus the kernel), with ``%load_ext motia_nb`` done once. ``fresh_db``
points the state manager at a new SQLite file for one test (through ``%state use``)
and restores the previous database afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from motia_nb import state_manager


def get_shell() -> InteractiveShell:
    """The singleton InteractiveShell with motia_nb loaded (history kept in memory)."""
    if InteractiveShell.initialized():
        ip = InteractiveShell.instance()
    else:
        cfg = Config()
        cfg.HistoryManager.hist_file = ":memory:"
        ip = InteractiveShell.instance(config=cfg)
    if "motia_nb" not in ip.extension_manager.loaded:
        ip.run_line_magic("load_ext", "motia_nb")
    return ip


@pytest.fixture
def ip() -> Iterator[InteractiveShell]:
    """The shell, with motia_nb loaded; ``%config MotiaNB...`` values a test leaves
    in the shell's config are dropped afterwards (they would apply on the next reload)."""
    shell = get_shell()
    saved = dict(shell.config.MotiaNB) if "MotiaNB" in shell.config else None
    yield shell
    if saved is None:
        shell.config.pop("MotiaNB", None)
    else:
        shell.config.MotiaNB.clear()
        shell.config.MotiaNB.update(saved)


@pytest.fixture
def fresh_db(ip: InteractiveShell, tmp_path: Any) -> Iterator[str]:
    """A new, empty SQLite state database for this test, selected with ``%state use``."""
    previous = state_manager.url
    path = str(tmp_path / "state.db")
    ip.run_line_magic("state", f"use {path}")
    try:
        yield path
    finally:
        ip.run_line_magic("state", f'use "{previous}"')


def run_cell(ip: InteractiveShell, code: str) -> Any:
    """Run ``code`` as a cell; return IPython's ExecutionResult."""
    return ip.run_cell(code, store_history=False)
