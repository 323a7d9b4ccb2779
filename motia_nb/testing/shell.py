"""IPython's ``InteractiveShell`` with motia_nb loaded, for tests and benchmarks.

The shell is IPython's singleton (the same object a kernel's magics see, minus the
kernel), created with its history in memory so nothing touches the user's profile.
IPython is imported when a shell is first asked for, not when this module loads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..state import state_manager

__all__ = ["get_shell", "run_cell", "preserved_config", "using_database"]


def get_shell() -> Any:
    """The singleton InteractiveShell with ``%load_ext motia_nb`` done (history in memory)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if InteractiveShell.initialized():
        ip = InteractiveShell.instance()
    else:
        cfg = Config()
        cfg.HistoryManager.hist_file = ":memory:"
        ip = InteractiveShell.instance(config=cfg)
    if "motia_nb" not in ip.extension_manager.loaded:
        ip.run_line_magic("load_ext", "motia_nb")
    return ip


def run_cell(ip: Any, code: str) -> Any:
    """Run ``code`` as a cell (not stored in history); return IPython's ExecutionResult."""
    return ip.run_cell(code, store_history=False)


@contextlib.contextmanager
def preserved_config(shell: Any) -> Iterator[Any]:
    """Yield ``shell``; afterwards drop the ``%config MotiaNB...`` values set meanwhile
    (they would otherwise apply at the next ``%reload_ext``)."""
    saved = dict(shell.config.MotiaNB) if "MotiaNB" in shell.config else None
    try:
        yield shell
    finally:
        if saved is None:
            shell.config.pop("MotiaNB", None)
        else:
            shell.config.MotiaNB.clear()
            shell.config.MotiaNB.update(saved)


@contextlib.contextmanager
def using_database(shell: Any, path: str) -> Iterator[str]:
    """Point motia_nb's state manager at ``path`` with ``%state use`` for the block,
    then switch back to the database it used before."""
    previous = state_manager.url
    shell.run_line_magic("state", f"use {path}")
    try:
        yield path
    finally:
        shell.run_line_magic("state", f'use "{previous}"')
