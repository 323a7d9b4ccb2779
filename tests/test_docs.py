"""Documentation is part of the product: every command and public name is documented."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

import motia_nb
from motia_nb.notebook.magics import SUBCOMMANDS, StateMagics
from motia_nb.notebook.step_magics import MOTIA_COMMANDS, StepMagics
from motia_nb.state import StateManager, SyncStateManager

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def notebook_sources(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"])


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_state_subcommand_is_in_help_and_shown_in_the_magics_lesson(name):
    doc = inspect.getdoc(StateMagics.state) or ""
    assert name in doc, f"%state {name} missing from %state? help"
    lesson = notebook_sources(ROOT / "notebooks" / "03_state_magics.ipynb")
    assert re.search(rf"%%?state {name}\b", lesson), f"%state {name} is never shown in notebooks/03"


COMMANDS = [(table, name) for table in (SUBCOMMANDS, MOTIA_COMMANDS) for name in table]


@pytest.mark.parametrize(("table", "name"), COMMANDS, ids=[f"{t.magic} {n}" for t, n in COMMANDS])
def test_every_magic_subcommand_is_documented_in_the_readme_and_its_docstring(table, name):
    """Docs cover every command: each usage line of %state and %motia is in the README."""
    command = table[name]
    assert f"`{command.usage()}` — " in README, f"README does not document {command.usage()}"
    magic = StateMagics.state if table is SUBCOMMANDS else StepMagics.motia
    assert command.usage() in (inspect.getdoc(magic) or ""), f"{command.usage()} missing from {table.magic}?"


def test_the_step_cell_magic_is_documented():
    assert "`%%step [--quiet]`" in README
    assert "%%step [--quiet]" in (inspect.getdoc(StepMagics.step) or "")


@pytest.mark.parametrize("name", motia_nb.__all__)
def test_every_public_name_has_a_docstring(name):
    obj = getattr(motia_nb, name)
    doc = inspect.getdoc(obj)
    assert doc and len(doc) > 20, f"motia_nb.{name} has no real docstring"


SPEC_CALLS = ["set", "get", "list", "delete", "clear", "update", "list_groups", "items", "frame", "count", "group_counts", "history"]


@pytest.mark.parametrize("name", SPEC_CALLS)
def test_every_state_call_exists_async_and_sync_and_is_documented(name):
    assert inspect.getdoc(getattr(StateManager, name)), name
    assert callable(getattr(SyncStateManager, name)), name
    assert f"`{name}" in README or f"{name}(" in README, f"README does not mention {name}"


def test_readme_names_both_commands_and_every_tutorial_exists():
    assert "make lab" in README and "make test" in README
    links = re.findall(r"\]\((notebooks/[^)]+\.ipynb)\)", README)
    assert len(links) >= 7
    for link in links:
        assert (ROOT / link).exists(), f"README links to a missing notebook {link}"
    on_disk = {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk <= set(links), f"tutorials not linked from the README: {on_disk - set(links)}"


TAILS = [(table, name) for table in (SUBCOMMANDS, MOTIA_COMMANDS) for name in table if table[name].tail is not None]


@pytest.mark.parametrize(("table", "name"), TAILS, ids=[f"{t.magic} {n}" for t, n in TAILS])
def test_every_verbatim_value_its_python_form_and_its_cell_form_are_in_the_readme(table, name):
    """Docs cover how each command's value is written: the README's Magics section names every
    tail taken verbatim (VALUE, OPS, DATA, BODY), says which also take a Python expression, and
    gives the ``%%state NAME GROUP KEY`` cell form of each command whose value may be the body."""
    tail = table[name].tail
    magics = README.split("## Magics", 1)[1]
    verbatim = " ".join(magics.split("are taken verbatim", 1)[0].rsplit("\n\n", 1)[-1].split())
    assert tail.name in verbatim, f"README does not say {tail.name} is taken verbatim"
    python = " ".join(magics.split("may also be a Python expression", 1)[0].rsplit("(", 1)[-1].split())
    assert (tail.name in python) == tail.python, f"README: {tail.name} taking a Python expression is {tail.python}"
    if tail.cell:
        assert f"`%{table.magic} {name} GROUP KEY`" in README, f"README does not show the cell form of {table.magic} {name}"
