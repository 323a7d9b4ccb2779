"""A trace per cell run: the ``pre_run_cell`` / ``post_run_cell`` callbacks that give each cell
run a trace id of its own (see :mod:`motia_nb.state.cause`).

What the cell writes (cause ``cell``; ``magic`` for its ``%state`` lines) carries the id in
the state history, and the steps those writes trigger run under it, so
``history()``'s ``trace_id`` is the id ``%motia trace`` and ``log_frame()`` show for them.
A cell that triggers no step adds nothing to the traces. A cell run inside a cell
(``get_ipython().run_cell(...)``) has an id of its own; the outer cell's is current again
after it.
"""

from __future__ import annotations

import contextvars
import sys
from typing import Any

from ..state.cause import begin_cell_run, end_cell_run

__all__ = ["CellTraces"]


class CellTraces:
    """IPython's ``pre_run_cell`` / ``post_run_cell`` callbacks: begin / end a cell run's trace."""

    def __init__(self) -> None:
        self._tokens: list[contextvars.Token[Any]] = []  # one per cell running now (nested runs)

    def pre_run_cell(self, info: Any) -> None:
        self._tokens.append(begin_cell_run())

    def begin_if_in_a_cell(self, ip: Any) -> None:
        """The extension is loaded by a running cell (``%load_ext motia_nb``, the notebook's first
        cell most often), whose ``pre_run_cell`` came before us: the rest of that cell is a cell
        run too (its ``post_run_cell`` reaches us and ends it). Loaded outside any cell (an
        extension of the kernel's config): nothing."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name in ("run_cell_async", "run_cell") and frame.f_locals.get("self") is ip:
                self.pre_run_cell(None)
                return
            frame = frame.f_back

    def post_run_cell(self, result: Any) -> None:
        end_cell_run(self._tokens.pop() if self._tokens else None)

    def close(self) -> None:
        """``%unload_ext`` (inside a cell, whose ``post_run_cell`` will not reach us): end the runs begun."""
        while self._tokens:
            end_cell_run(self._tokens.pop())
