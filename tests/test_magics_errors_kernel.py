"""In a real kernel, a failing magic shows one line plus the user's own frames — never motia_nb's.

Each case runs in an ipykernel through nbclient (what Run All does); the error
output's traceback is what the front end shows. Its lines are counted: one line
for motia_nb's own errors, two more per frame of the user's code, and for a
``%%step`` syntax error the user's line with its caret.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

ANSI = re.compile(r"\x1b\[[0-9;]*m")

STEP = "%%step\nconfig = {{'name': 'X', 'triggers': [{trigger}]}}\ndef handler(input):\n    pass\n"

#: (cell, ename, lines shown, a fragment of the last line)
CASES = [
    (STEP.format(trigger="{'type': 'smoke'}"), "StepConfigError", 1, "unknown type 'smoke'"),
    ("%%step\nconfig = {'name': 'X', 'triggers': []}\n", "StepConfigError", 1, "missing: handler"),
    (STEP.format(trigger="{'type': 'state', 'condition': 'x == 1'}"), "StepConfigError", 1, "condition"),
    (STEP.format(trigger="state(condition='x == 1')"), "StepConfigError", 1, "condition"),
    ("%motia flow nosuchflow", "StepCallError", 1, "no step belongs to flow 'nosuchflow'"),
    ("%state use redis://127.0.0.1:1/0", "RedisBackendError", 1, "127.0.0.1:1"),
    ("%motia launch", "MagicUsageError", 1, "%motia: unknown subcommand 'launch'"),
    ("%motia enqueue", "MagicUsageError", 2, "usage: %motia enqueue TOPIC [DATA]"),
    ("%%step --loud\nconfig = {}\n", "MagicUsageError", 2, "usage: %%step [--quiet]"),
    # the user's own code fails while the cell runs: their two frames, then the error
    (
        "%%step\ndef pick(triggers):\n    return triggers[3]\n\nconfig = {'name': 'X', 'triggers': pick([])}\n",
        "IndexError", 5, "list index out of range",
    ),
    # a motia_nb helper refuses what the user's line passed it: their frame, then the error
    ("%%step\nconfig = {'name': 'X', 'triggers': [cron('every day')]}\n", "StepConfigError", 3, "every day"),
]


def run_cells(cells: list[str], tmp_path) -> list[nbformat.NotebookNode]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in ["%load_ext motia_nb", *cells]])
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    return nb.cells[1:]


def shown(cell: nbformat.NotebookNode) -> tuple[str, list[str]]:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1, cell.outputs
    return errors[0].ename, ANSI.sub("", "\n".join(errors[0].traceback)).splitlines()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    path = tmp_path_factory.mktemp("kernel")
    syntax = "%%step\nconfig = {'name': 'X', 'triggers': []}\n\ndef handler(input)\n    pass\n"
    cells = run_cells([c for c, *_ in CASES] + [syntax], path)
    return dict(zip([c for c, *_ in CASES] + ["syntax"], cells))


@pytest.mark.parametrize(("cell", "ename", "n_lines", "fragment"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_error_is_one_line_plus_the_users_frames(outputs, cell, ename, n_lines, fragment):
    name, lines = shown(outputs[cell])
    assert name == ename
    assert len(lines) == n_lines, "\n".join(lines)
    assert fragment in "\n".join(lines[-2:])
    text = "\n".join(lines)
    for internal in ("motia_nb/", "site-packages", "Traceback", "interactiveshell", "run_cell_magic", "run_line_magic"):
        assert internal not in text, f"{internal!r} shown:\n{text}"


def test_user_frames_show_the_users_lines(outputs):
    # line numbers are the cell's own (line 1 is %%step), outermost frame first
    _, lines = shown(outputs[CASES[-2][0]])
    assert re.fullmatch(r'Cell In\[\d+\], line 5, in <module>', lines[0])
    assert lines[1].strip() == "config = {'name': 'X', 'triggers': pick([])}"
    assert re.fullmatch(r'Cell In\[\d+\], line 3, in pick', lines[2])
    assert lines[3].strip() == "return triggers[3]"
    _, lines = shown(outputs[CASES[-1][0]])
    assert re.fullmatch(r'Cell In\[\d+\], line 2, in <module>', lines[0])
    assert lines[1].strip() == "config = {'name': 'X', 'triggers': [cron('every day')]}"


def test_a_step_cell_syntax_error_shows_the_users_line(outputs):
    name, lines = shown(outputs["syntax"])
    assert name == "StepSyntaxError"
    assert len(lines) == 4, "\n".join(lines)
    assert re.fullmatch(r'\s*Cell In\[\d+\], line 4', lines[0])
    assert lines[1].strip() == "def handler(input)"
    assert lines[2].strip() == "^"
    assert lines[3] == "SyntaxError: expected ':'"
