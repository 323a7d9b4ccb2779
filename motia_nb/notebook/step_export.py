"""``%motia export DIR``: the notebook's ``%%step`` cells written out as a Motia ``steps/`` folder.

Every registered step defined by a ``%%step`` cell carries that cell's source
(:class:`.step_cells.StepCell`, on ``Step.cell``). :func:`plan_export` turns the
registry into one file per cell, named as Motia's CLI finds step files (``motia
run --dir DIR`` loads every ``*_step.py`` under DIR): the step name in snake_case
plus ``_step.py`` — ``CreateOrder`` → ``create_order_step.py``. :func:`write_export`
writes them, refusing (before writing anything) to overwrite existing files
unless ``force``. Steps registered with ``@step`` in plain cells have no step file
to write; the plan names them. Nothing here needs IPython.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..steps.registry import Step
from .step_cells import public_names

__all__ = ["ExportError", "ExportFile", "ExportPlan", "step_file_name", "plan_export", "write_export", "other_step_files"]

#: the names every module has without defining them
_MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__",
                           "__annotations__", "__path__", "__cached__"})

#: what motia_nb's stand-in for `motia` offers beyond motia 1.0's SDK
_NOT_IN_MOTIA = ("state_manager", "ensure_motia")


class ExportError(ValueError):
    """An export that cannot be done; nothing was written. The message is one line."""


@dataclass(frozen=True)
class ExportFile:
    """One step file to write: its name, the cell source, the steps it defines, and notes for a Motia project."""

    name: str
    source: str
    steps: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportPlan:
    """What an export writes (``files``) and the registered steps it cannot export (``skipped``: @step functions)."""

    files: tuple[ExportFile, ...]
    skipped: tuple[str, ...] = field(default=())


def step_file_name(step_name: str) -> str:
    """Motia's file name for a step: snake_case plus ``_step.py`` (``CreateOrder`` → ``create_order_step.py``).

    Runs of capitals stay one word (``HTTPHealth`` → ``http_health``); any character
    that cannot be in a module name becomes ``_``; a trailing ``Step`` is not doubled.
    """
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", step_name)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words)
    snake = re.sub(r"\W+", "_", words, flags=re.ASCII).strip("_").lower()
    snake = re.sub(r"_+", "_", snake).removesuffix("_step")
    if not snake or snake == "step":
        raise ExportError(f"step {step_name!r}: no file name can be made from its name; rename the step")
    if snake[0].isdigit():
        snake = "step_" + snake
    return f"{snake}_step.py"


def _bound_and_used(source: str) -> tuple[set[str], set[str], set[str]]:
    """(names bound anywhere, names read, names imported ``from motia``) in a cell's source."""
    tree = ast.parse(source)
    bound: set[str] = set()
    used: set[str] = set()
    from_motia: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            if isinstance(node, ast.ImportFrom) and node.module == "motia":
                from_motia.update(a.name for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return bound, used, from_motia


def _notes(source: str, cell_names: tuple[str, ...], module_step: str | None) -> tuple[str, ...]:
    """What would stop the file from working unchanged in a Motia project."""
    try:
        bound, used, from_motia = _bound_and_used(source)
    except SyntaxError:  # a registered cell always parsed; kept for sources changed by hand
        return ()
    notes = []
    implicit = sorted((used - bound) & set(public_names()))  # what a %%step cell sees without importing it
    if implicit:
        notes.append(f"uses {', '.join(implicit)} without importing it (a %%step cell's convenience): "
                     "add the import for a Motia project")
    unknown = sorted(used - bound - set(public_names()) - set(dir(builtins)) - _MODULE_NAMES)
    if unknown:  # a notebook variable the cell read (it was told when the cell ran): a NameError in Motia
        notes.append(f"uses {', '.join(unknown)}, which the file does not define or import (a name of the notebook?): "
                     "a Motia project fails on it with NameError")
    extra = sorted(from_motia & set(_NOT_IN_MOTIA))
    if extra:
        notes.append(f"imports {', '.join(extra)} from motia: motia_nb's stand-in has it, Motia's SDK does not")
    if "motia_nb" in bound:
        notes.append("imports motia_nb, which a Motia project does not have")
    others = [n for n in cell_names if n != module_step]
    if others:
        notes.append(f"motia run loads only a file's module-level config + handler: {', '.join(others)} "
                     "(step() definitions) will not be registered")
    return tuple(notes)


def plan_export(steps: Iterable[Step]) -> ExportPlan:
    """The files an export writes for ``steps`` (one per ``%%step`` cell), in registration order.

    A cell that defined several steps is one file, named from its module-level
    step (else its first one still registered from it). Two cells whose names give the same file name raise
    :class:`ExportError`.
    """
    cells: dict[int, list[Step]] = {}
    skipped: list[str] = []
    for st in steps:
        if st.source.startswith("worker:"):
            continue  # a connected worker's step lives in its own project
        if st.cell is None:
            skipped.append(st.name)
        else:
            cells.setdefault(st.cell.number, []).append(st)
    files: list[ExportFile] = []
    owner: dict[str, str] = {}
    for members in cells.values():
        cell = members[0].cell
        owned = [s.name for s in members]  # a step another cell redefined since is that cell's now
        first = cell.module_step if cell.module_step in owned else owned[0]
        name = step_file_name(first)
        if name in owner:
            raise ExportError(f"steps {owner[name]!r} and {first!r} would both be written to {name}; rename one of them")
        owner[name] = first
        source = cell.source if cell.source.endswith("\n") else cell.source + "\n"
        files.append(ExportFile(name, source, tuple(s.name for s in members), _notes(cell.source, cell.names, cell.module_step)))
    return ExportPlan(tuple(files), tuple(skipped))


def write_export(plan: ExportPlan, directory: str | os.PathLike[str], force: bool = False) -> list[Path]:
    """Write the plan's files into ``directory`` (created if missing); returns their paths.

    Refuses, before writing anything, when there is nothing to export or when a
    file exists and ``force`` is false (one :class:`ExportError` naming the files).
    Each file is written whole (a temporary file renamed into place).
    """
    if not plan.files:
        why = f"; defined with @step in plain cells: {', '.join(plan.skipped)}" if plan.skipped else ""
        raise ExportError(f"no %%step cells to export{why}")
    if not os.fspath(directory).strip():  # Path("") is the kernel's folder: say it, never guess it
        raise ExportError(f"the folder name {os.fspath(directory)!r} is empty: name the folder to write to "
                          "(e.g. steps, or . for the notebook's folder)")
    target = Path(directory).expanduser()
    if target.exists() and not target.is_dir():
        raise ExportError(f"{os.fspath(directory)} is not a folder")
    paths = [target / f.name for f in plan.files]
    existing = [p.name for p in paths if p.exists()]
    if existing and not force:
        raise ExportError(f"{os.fspath(directory)} already has {', '.join(existing)}; add --force to overwrite")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create {os.fspath(directory)}: {e.strerror or e}") from None
    for f, path in zip(plan.files, paths):
        fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{f.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f.source)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return paths


def other_step_files(directory: Path, written: Iterable[Path]) -> list[str]:
    """The step files under ``directory`` (``**/*_step.py``, as ``motia run --dir`` finds them) other
    than ``written``, as paths relative to it, sorted: files an earlier export (of a step renamed
    since) or the user left there, which ``motia run`` would load beside the exported ones."""
    mine = {p.resolve() for p in written}
    found = (p.relative_to(directory) for p in directory.rglob("*_step.py") if p.is_file() and p.resolve() not in mine)
    return sorted(r.as_posix() for r in found if not any(part.startswith(".") for part in r.parts))  # (glob's `**` skips dot names)
