"""A VALUE / DATA or an option value of ``%state`` / ``%motia`` written as IPython's ``$var`` or ``{expr}``.

Names already said so in one line (``tests/test_magics_variable_names.py``). A value did not:
``%state set g k $x`` and ``%state update g k {ops}`` were "not valid JSON" with the JSON error's
snippet, caret and a hint (four lines); ``%motia enqueue t $x`` "cannot read '$x' as JSON or as a
Python expression: SyntaxError"; ``%motia enqueue t {oid}`` enqueued nothing but said "data is not
JSON (Object of type set …)" (``{oid}`` is a Python set); ``%motia request POST /o {v}`` "TypeError:
unhashable type: 'dict'". An option value: ``--since $x`` / ``--to {x}`` two lines (the refusal and a
hint), ``--port $n`` / ``--limit $n`` argparse's "invalid int value" with the usage,
``%motia cron start $n`` "'$n' is not a number" with the usage. Now each is one line saying what was
wrong and what to write instead. What is valid JSON (or, for DATA / BODY, a valid Python value) is
never refused: ``"{x}"``, ``"$x"`` and ``{"a": 1}`` are a text, a text and an object.
"""

from __future__ import annotations

import pytest

from motia_nb.notebook.parsing import MagicUsageError
from motia_nb.testing.shell import error_lines

FORMS = ["$VAR", "{VAR}", "${VAR}", "$VAR.upper"]

#: (magic, the line with VAR where the value goes, what the error names, a Python value (DATA / BODY))
VALUES = [
    ("state", "set orders k VAR", "%state set orders k: the VALUE", False),
    ("state", "update orders o1 VAR", "%state update orders o1: the OPS", False),
    ("motia", "enqueue q VAR", "%motia enqueue q: the DATA", True),
    ("motia", "request POST /orders VAR", "%motia request POST /orders: the BODY", True),
]

#: (magic, the line with VAR where an option's value (or a typed value) goes, what is taken as written)
OPTIONS = [
    ("state", "history orders --since VAR", "%state history: --since VAR", "--since SEQ|TIME"),
    ("state", "history orders --since=VAR", "%state history: --since VAR", "--since SEQ|TIME"),
    ("state", "history orders --limit VAR", "%state history: --limit VAR", "--limit N"),
    ("state", "restore orders o1 --to VAR", "%state restore: --to VAR", "--to SEQ|TIME|-N"),
    ("motia", "serve --port VAR", "%motia serve: --port VAR", "--port N"),
    ("motia", "serve --host VAR", "%motia serve: --host VAR", "--host HOST"),
    ("motia", "cron start VAR", "%motia cron start: VAR", "SECONDS"),
]


@pytest.fixture()
def named(steps_ip):
    """The test shell with an item, a queue step that prints what it gets, an http step that echoes
    its body, and the variables a user would have written ``$var`` for."""
    steps_ip.run_cell('from motia_nb import state_manager\nstate_manager.sync.set("orders", "o1", {"n": 1})\n'
                      'VAR = "orders"\nops = [{"type": "set", "path": "n", "value": 2}]\nd = {"a": 1}').raise_error()
    steps_ip.run_cell('%%step\nfrom motia import queue\nconfig = {"name": "Q", "triggers": [queue("q")]}\n'
                      'def handler(d, ctx): print("got", repr(d))').raise_error()
    steps_ip.run_cell('%%step\nfrom motia import http\nconfig = {"name": "H", "triggers": [http("POST", "/orders")]}\n'
                      'async def handler(req, ctx): return {"status": 200, "body": req.body}').raise_error()
    return steps_ip


def _unchanged() -> None:
    """Nothing was done: no write, no group named after the word, no endpoint, no scheduler."""
    from motia_nb import engine, state_manager
    from motia_nb.session import current_session

    assert state_manager.sync.get("orders", "o1") == {"n": 1} and state_manager.sync.get("orders", "k") is None
    assert state_manager.sync.list_groups() == ["orders"]
    assert not engine.servers() and not current_session().scheduler.running


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("magic", "line", "what", "python"), VALUES, ids=[v[1] for v in VALUES])
def test_a_value_written_as_a_variable_is_one_line(named, capsys, magic, line, what, python, form):
    capsys.readouterr()
    typed = line.replace("VAR", form)
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic(magic, typed)
    message = str(err.value)
    expression = "VAR.upper" if form == "$VAR.upper" else "VAR"
    assert message.startswith(f"{what} {form} reads as a variable of the notebook, but %{magic} never expands "
                              "{var} or $var: "), message
    if python:
        assert f"write the expression itself, {expression} " in message, message
    elif expression == "VAR":
        assert "write :VAR for its value " in message, message
    else:
        assert "write :name for a variable's value, after name = VAR.upper " in message, message
    assert message.endswith(f'(or "{form}", quoted, for the text itself)'), message
    assert "\n" not in message
    assert capsys.readouterr().out == ""  # the queue step never ran
    lines = error_lines(named, f"%{magic} {typed}")
    assert len(lines) == 1 and "MagicUsageError" in lines[0], lines
    _unchanged()


def test_the_whole_lines(named):
    """Two of the lines above, whole, as a user reads them."""
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic("state", "set orders k $VAR")
    assert str(err.value) == ('%state set orders k: the VALUE $VAR reads as a variable of the notebook, but %state never '
                              'expands {var} or $var: write :VAR for its value (or "$VAR", quoted, for the text itself)')
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic("motia", "enqueue q {d}")
    assert str(err.value) == ('%motia enqueue q: the DATA {d} reads as a variable of the notebook, but %motia never '
                              'expands {var} or $var: write the expression itself, d (or "{d}", quoted, for the text itself)')
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic("state", "history orders --since $seq")
    assert str(err.value) == ("%state history: --since $seq reads as a variable of the notebook, but %state takes "
                              "--since SEQ|TIME as written, never from a variable ({var}, $var): write the value itself")


def test_a_cell_body_written_as_a_variable_is_one_line(named):
    with pytest.raises(MagicUsageError) as err:
        named.run_cell_magic("state", "set orders k", "$VAR\n")
    assert str(err.value).startswith("%state set orders k: the VALUE $VAR reads as a variable of the notebook"), err.value
    _unchanged()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("magic", "line", "said", "taken"), OPTIONS, ids=[o[1] for o in OPTIONS])
def test_an_option_value_written_as_a_variable_is_one_line(named, magic, line, said, taken, form):
    typed = line.replace("VAR", form)
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic(magic, typed)
    assert str(err.value) == (f"{said.replace('VAR', form)} reads as a variable of the notebook, but %{magic} takes "
                              f"{taken} as written, never from a variable ({{var}}, $var): write the value itself")
    _unchanged()


@pytest.mark.parametrize(("line", "said"), [
    ("restore orders o1 --to :at1", "%state restore: --to :at1"), ("history orders --since :seq", "%state history: --since :seq"),
    ('history orders --since "$seq"', "%state history: --since $seq"),
])
def test_since_and_to_as_a_colon_name_or_quoted_is_one_line_too(named, line, said):
    """``:name`` (the VALUE's and OPS's way to a variable) and a quoted ``"$seq"`` reach --since / --to's
    own reader, which says it in the same words."""
    taken = "--to SEQ|TIME|-N" if "--to" in line else "--since SEQ|TIME"
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic("state", line)
    assert str(err.value) == (f"{said} reads as a variable of the notebook, but %state takes {taken} as written, never "
                              "from a variable ({var}, $var, :name): write the value itself")


def test_valid_json_and_python_values_with_dollars_and_braces_still_work(named, capsys):
    """Only what is neither JSON nor (for DATA / BODY) a Python value is refused."""
    from motia_nb import state_manager

    for text, value in [('"{x}"', "{x}"), ('"$x"', "$x"), ('"a {x} $y"', "a {x} $y"), ('{"a": 1}', {"a": 1}),
                        ('{"$x": "{y}"}', {"$x": "{y}"}), ('["{VAR}"]', ["{VAR}"]), (":VAR", "orders")]:
        named.run_line_magic("state", f"set g k {text}")
        assert state_manager.sync.get("g", "k") == value, text
    named.run_cell_magic("state", "set g k2", '"{VAR}"\n')
    assert state_manager.sync.get("g", "k2") == "{VAR}"
    named.run_line_magic("state", 'update g k [{"type": "set", "path": "", "value": {"v": "$x"}}]')
    assert state_manager.sync.get("g", "k") == {"v": "$x"}
    capsys.readouterr()
    for text, got in [('"{VAR}"', "'{VAR}'"), ('{"id": VAR}', "{'id': 'orders'}"), ("{k: v for k, v in d.items()}", "{'a': 1}"),
                      ('{**d, "b": "$x"}', "{'a': 1, 'b': '$x'}"), ("VAR", "'orders'"), ("{}", "{}")]:
        named.run_line_magic("motia", f"enqueue q {text}")
        assert capsys.readouterr().out == f"got {got}\n", text
    assert named.run_line_magic("motia", 'request POST /orders {"who": VAR}')["body"] == {"who": "orders"}


@pytest.mark.parametrize(("magic", "line", "start"), [
    ("state", "set g k {x: 1}", "%state set g k: the VALUE is not valid JSON: Expecting property name"),
    ("state", 'set g k {"a": {b}}', "%state set g k: the VALUE is not valid JSON: Expecting property name"),
    ("state", "set g k $x + 1", "%state set g k: the VALUE is not valid JSON: Expecting value"),
    ("motia", "enqueue q {1: oops}", "%motia enqueue q: the DATA: cannot read '{1: oops}' as JSON or as a Python expression"),
])
def test_what_is_no_variable_keeps_its_own_error(named, magic, line, start):
    """A dict body (``{x: 1}``), a brace inside JSON, or more than one word is not a variable
    written as IPython expands one: the JSON (or Python) error says what is wrong with it."""
    with pytest.raises(MagicUsageError) as err:
        named.run_line_magic(magic, line)
    assert str(err.value).startswith(start), str(err.value)
    assert "reads as a variable" not in str(err.value)


@pytest.mark.slow
def test_in_a_real_kernel_the_cell_fails_in_one_line(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    cells = ["%load_ext motia_nb", f"from motia_nb import state_manager\nstate_manager.use({str(tmp_path / 's.db')!r})\nx = 5",
             "%state set g k $x", "%state history g --since {x}", '%state set g k "{x}"']
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                            allow_errors=True)
    client.execute()
    for cell, said in ((nb.cells[2], "%state set g k: the VALUE $x reads as a variable of the notebook"),
                       (nb.cells[3], "%state history: --since {x} reads as a variable of the notebook")):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1 and errors[0].ename == "MagicUsageError", cell.outputs
        assert len(errors[0].traceback) == 1 and said in errors[0].traceback[0], errors[0].traceback
    assert not [o for o in nb.cells[4].outputs if o.output_type == "error"], nb.cells[4].outputs  # a text: stored
    from motia_nb.state import StateManager

    m = StateManager(str(tmp_path / "s.db"))
    try:
        assert m.sync.get("g", "k") == "{x}"
    finally:
        m.close()
