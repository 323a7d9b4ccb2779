"""Each notebook cell owns the steps it defines: re-running it drops the ones it no longer defines.

Running a cell again replaces the steps it defines by name (SPEC §5). A cell whose
step was renamed (``"Watch"`` → ``"Watcher"``) or deleted would otherwise leave the
old step registered, still firing, from code the notebook no longer shows — as
Motia's dev server drops a step when its file stops defining it. IPython tells which
cell runs (``cell_id``, sent by JupyterLab, Notebook 7 and VS Code; not by nbclient): the
steps a cell run defines (``@step``, ``%%step``, ``register``; never a worker's) are
recorded against its cell, and a later successful run of that cell removes the steps
it defined before and defines no more, saying so in the cell. Nothing is removed
when the run fails, when the frontend sends no cell id (a terminal), or when another
cell has since redefined the step.
"""

from __future__ import annotations

from typing import Any

from ..session import current_session
from ..steps.registry import CELL_SOURCES, Step, StepRegistry

__all__ = ["CellSteps"]


class CellSteps:
    """IPython ``pre_run_cell`` / ``post_run_cell`` callbacks keeping each cell's steps."""

    def __init__(self) -> None:
        self.owned: dict[str, dict[str, Step]] = {}  # cell id -> the steps its last successful run defined
        self._cell: str | None = None
        self._before: dict[str, Step] | None = None
        self._run: StepRegistry | None = None  # the registry refusing a name defined twice in this run

    def pre_run_cell(self, info: Any) -> None:
        self._cell = getattr(info, "cell_id", None) or None
        self._before = self._steps() if self._cell is not None else None
        self._run = current_session().registry
        self._run.begin_cell_run(self.owned.get(self._cell, {}) if self._cell is not None else None)

    def post_run_cell(self, result: Any) -> None:
        taken: set[str] = set()
        if self._run is not None:
            taken = self._run.end_cell_run()
            self._run = None
        cell, before = self._cell, self._before
        self._cell = self._before = None
        if cell is None or before is None or not getattr(result, "success", False):
            return
        now = self._steps()
        defined = {n: s for n, s in now.items() if s.source in CELL_SOURCES and before.get(n) is not s}
        previous = self.owned.pop(cell, {})
        registry = current_session().registry
        for name, st in previous.items():
            if name not in defined and now.get(name) is st:  # still the one this cell defined
                registry.remove(name)
                print(f"✓ step {name!r} removed: this cell no longer defines it")
            elif name not in defined and name not in now and name in taken:
                # a step this run defined on its http route took its place (renamed in the cell)
                print(f"✓ step {name!r} removed: this cell no longer defines it")
        if defined:
            self.owned[cell] = defined

    def close(self) -> None:
        """The extension is unloaded (maybe by the running cell, whose ``post_run_cell`` then never
        comes here): end the registry's cell run, or every later ``@step`` would count as in it."""
        if self._run is not None:
            self._run.end_cell_run()
        self._run = self._cell = self._before = None

    @staticmethod
    def _steps() -> dict[str, Step]:
        return {s.name: s for s in current_session().registry.all()}
