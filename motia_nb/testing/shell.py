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

__all__ = ["get_shell", "run_cell", "error_lines", "assert_cell_line_and_one_line", "preserved_config", "using_database"]


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


def error_lines(ip: Any, code: str) -> list[str]:
    """What IPython shows for the error ``code`` raises as a cell: its rendered traceback lines."""
    res = run_cell(ip, code)
    assert res.error_in_exec is not None, f"no error from {code!r}"
    return "\n".join(res.error_in_exec._render_traceback_()).splitlines()


def assert_cell_line_and_one_line(lines: list[str], message: str, *, count: int | None = 3) -> None:
    """``lines`` (:func:`error_lines`) show the cell's own line first and ``message`` in the last
    line, in red, with no frame of motia_nb in between (``count``: how many lines, None: any)."""
    assert lines[0].endswith(", line 1, in <module>") and "ipython-input" in lines[0], lines  # the cell
    assert lines[-1].startswith("\x1b[0;31m") and message in lines[-1], lines
    assert not any("motia_nb" in line for line in lines), lines
    assert count is None or len(lines) == count, lines


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
