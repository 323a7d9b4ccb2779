"""A name argument of ``%state`` / ``%motia`` written as IPython's ``$var`` or ``{expr}``.

The magics are ``no_var_expand``: ``%motia logs $s`` looked up a step named ``$s`` ("no step
named '$s' has logged"), ``%motia cron run $name`` "no step named '$name'", ``%state get $g k``
"there is no group '$g'" and null, ``%state set $g k 1`` wrote a group named ``$g``. Only
``%motia trace $tid`` and a ``%state`` name written as ``{var}`` said so. The router now checks
every positional name of every subcommand (:meth:`Command._no_variable_names`), in one line;
quoted, the word is the name as written (the store takes ``$`` and braces in names).
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from motia_nb.notebook.commands import _CHECKED_AS_WRITTEN
from motia_nb.notebook.magics import SUBCOMMANDS
from motia_nb.notebook.parsing import MagicUsageError
from motia_nb.notebook.step_magics import MOTIA_COMMANDS
from motia_nb.testing.shell import error_lines

#: (magic, the line with VAR where a name goes); every subcommand with a name argument, each name
CASES = [
    ("state", "set VAR k 1"), ("state", "set orders VAR 1"), ("state", "get VAR k"), ("state", "get orders VAR"),
    ("state", "list VAR"), ("state", "list VAR --values"), ("state", "delete VAR k"), ("state", "delete orders VAR"),
    ("state", "clear VAR"), ("state", "update VAR k {}"), ("state", "update orders VAR {}"),
    ("state", "export VAR out.jsonl"), ("state", "history VAR"), ("state", "history orders VAR"),
    ("state", "restore --to -1 VAR k"), ("state", "restore --to -1 orders VAR"), ("state", "viewer VAR"),
    ("state", "help VAR"),
    ("motia", "steps VAR"), ("motia", "remove VAR"), ("motia", "remove Q VAR"), ("motia", "enqueue VAR {}"),
    ("motia", "enqueue VAR"), ("motia", "cron run VAR"), ("motia", "logs VAR"), ("motia", "flow VAR"),
    ("motia", "request VAR /orders"), ("motia", "help VAR"),
]
#: in a command with a VALUE/DATA, ``{expr}`` where a name goes is read as that JSON: the names are
#: missing, and the usage error's hint says why (as before; ``test_new_user_tutorials``)
BRACES_READ_AS_JSON = {"set VAR k 1", "set orders VAR 1", "update VAR k {}", "update orders VAR {}",
                       "enqueue VAR {}", "enqueue VAR", "request VAR /orders"}


def _expected(magic: str, line: str, word: str) -> str:
    sub = "cron run" if line.startswith("cron run") else line.split()[0]
    return (f"%{magic} {sub}: {word} reads as a variable of the notebook, but %{magic} takes names as written, never "
            f'from a variable ({{var}}, $var): write the name itself (quoted, "{word}", to mean it literally)')


def test_every_subcommand_with_a_name_is_a_case():
    """A subcommand added later with a name argument is checked too, and must be listed here."""
    covered = {(magic, line.replace(" VAR", "").split(" -")[0]) for magic, line in CASES}
    for magic, table in (("state", SUBCOMMANDS), ("motia", MOTIA_COMMANDS)):
        for cmd in table.values():
            names = [a for a in cmd.parser._actions if not a.option_strings and a.metavar not in _CHECKED_AS_WRITTEN
                     and a.type is None and cmd.name != "trace"]
            if names:
                assert any(m == magic and line.startswith(cmd.name) for m, line in covered), (magic, cmd.name)


@pytest.fixture()
def named(steps_ip):
    """The test shell with the notebook's variables a user would have written ``$var`` for."""
    steps_ip.run_cell('from motia_nb import state_manager\nstate_manager.sync.set("orders", "o1", 1)\n'
                      'VAR = "orders"').raise_error()
    steps_ip.run_cell('%%step\nfrom motia import queue\nconfig = {"name": "Q", "triggers": [queue("q")]}\n'
                      "def handler(d, ctx): pass").raise_error()
    return steps_ip


@pytest.mark.parametrize("form", ["$VAR", "{VAR}", "${VAR}", "$VAR.upper"])
@pytest.mark.parametrize(("magic", "line"), CASES, ids=[f"{m} {line}" for m, line in CASES])
def test_a_name_written_as_a_variable_is_one_line(named, capsys, magic, line, form):
    from motia_nb import all_steps, state_manager

    capsys.readouterr()
    typed = line.replace("VAR", form, 1)
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic(magic, typed)
    if form[0] == "{" and line in BRACES_READ_AS_JSON:
        assert "the following arguments are required" in str(err.value), str(err.value)
        assert str(err.value).splitlines()[-1] == (
            f"  hint: {form} was read as the {(SUBCOMMANDS if magic == 'state' else MOTIA_COMMANDS)[line.split()[0]].tail.name} "
            f"(JSON starts with {{), so the names before it are missing; {_expected(magic, line, form).split('but ')[1]}"
        ), str(err.value)
        return
    assert str(err.value) == _expected(magic, line, form), str(err.value)
    assert capsys.readouterr().err == ""  # no "no step named '$VAR'" besides
    lines = error_lines(named, f"%{magic} {typed}")
    assert len(lines) == 1 and "MagicUsageError" in lines[0], lines
    # nothing done: the item, the step, no group named after the word
    assert state_manager.sync.get("orders", "o1") == 1 and state_manager.sync.list_groups() == ["orders"]
    assert [s.name for s in all_steps()] == ["Q"]


def test_a_quoted_word_is_the_name_as_written(named, capsys):
    """The store takes ``$`` and braces in a group, key or step name: quoted, that name is meant."""
    from motia_nb import all_steps, state_manager

    named.run_line_magic("state", 'set "$g" "{k}" 1')
    assert state_manager.sync.get("$g", "{k}") == 1
    assert named.run_line_magic("state", "get '$g' '{k}'") == 1
    assert named.run_line_magic("state", 'clear "$g"') == 1
    named.run_line_magic("motia", 'remove "Q"')
    assert all_steps() == []
    # `$` inside a name, or not before an identifier, is no variable
    named.run_line_magic("state", "set price$usd $1 2")
    assert state_manager.sync.get("price$usd", "$1") == 2


def test_trace_keeps_its_own_words(named):
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic("motia", "trace $tid")
    assert str(err.value) == (
        "%motia trace: $tid reads as a variable of the notebook, but %motia trace takes the trace id as written, never "
        "from a variable ({var}, $var): write the id itself (its first characters are enough), or call "
        "trace_frame(tid) (from motia_nb import trace_frame)"
    )


@pytest.mark.slow
def test_in_a_real_kernel_the_cell_fails_in_one_line(tmp_path):
    cells = ["%load_ext motia_nb", 's = "Q"', "%motia logs $s", "%state get {g} k"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                            allow_errors=True)
    client.execute()
    for cell, word, magic in ((nb.cells[2], "$s", "%motia logs"), (nb.cells[3], "{g}", "%state get")):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1 and errors[0].ename == "MagicUsageError", cell.outputs
        assert len(errors[0].traceback) == 1, errors[0].traceback
        assert f"{magic}: {word} reads as a variable of the notebook" in errors[0].traceback[0]
        assert not [o for o in cell.outputs if o.output_type == "stream"], cell.outputs  # no "no step named '$s'"
