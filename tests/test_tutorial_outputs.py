"""The tutorials as saved: what a reader sees before running anything.

- No saved output (any MIME type, tracebacks, the saved widget state) shows a machine path:
  where the notebook was last run (``/tmp/…``, ``/root/…``, this checkout) means nothing to a
  reader, who should see ``.motia/state.db`` as the lesson says.
- The lessons speak to a Motia user: their text never talks about tests or test tools.

(tests/test_tutorials_browser.py applies the same path check to the outputs JupyterLab shows
after *Run All*.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from machine_paths import ROOT, machine_paths, notebook_machine_paths

TUTORIALS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("motia_nb state database: /tmp/tmpeovp81_1/state.db\n", ["/tmp/tmpeovp81_1/state.db"]),
        ("'/tmp/gen_tutorials/run/state.db'", ["/tmp/gen_tutorials/run/state.db"]),
        ("<code>/root/motia_nb/notebooks/.motia/state.db</code>", ["/root/motia_nb/notebooks/.motia/state.db"]),
        ("see ../../home/ana/x.db", ["/home/ana/x.db"]),
        ("file:///Users/ana/state.db", ["/Users/ana/state.db"]),
        (f"written to {ROOT}/notebooks/out.jsonl", [f"{ROOT}/notebooks/out.jsonl"]),
        ("motia_nb state database: .motia/state.db", []),
        ("GET /tickets/T-2 answered 200; POST /orders", []),
        ("ws://127.0.0.1:8765/tmp is a route, steps/tmp a relative folder", []),
        ("/tmpfile and /rooted are not those roots", []),
    ],
)
def test_machine_paths_are_found_and_relative_paths_and_routes_pass(text: str, found: list[str]) -> None:
    assert machine_paths(text) == found


def test_a_notebook_with_a_machine_path_in_an_output_or_its_widget_state_is_caught() -> None:
    nb = {
        "metadata": {"widgets": {"state": {"m1": {"state": {"value": "<code>/tmp/run/state.db</code>"}}}}},
        "cells": [
            {"cell_type": "markdown", "source": "State lives in /tmp/anything (text is not an output)"},
            {"cell_type": "code", "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["ok\n", "db: /work/x/state.db\n"]},
                {"output_type": "execute_result", "data": {"text/html": "<b>/root/a</b>", "text/plain": "'.motia/state.db'"}},
                {"output_type": "error", "ename": "E", "evalue": "e", "traceback": ["File /home/u/m.py, line 1"]},
            ]},
        ],
    }
    assert notebook_machine_paths(nb) == [
        ("cell 1 (stream)", "/work/x/state.db"),
        ("cell 1 (execute_result)", "/root/a"),
        ("cell 1 (error)", "/home/u/m.py"),
        ("saved widget state", "/tmp/run/state.db"),
    ]


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_saved_outputs_show_no_machine_paths(path: Path) -> None:
    hits = notebook_machine_paths(_load(path))
    assert not hits, f"{path.name} shows machine paths in its saved outputs: {hits}"


#: Words that belong to the test suite, not to a lesson.
TEST_TALK = re.compile(r"(?i)\b(tests?|tested|testing|nbval|pytest|test harness|CI)\b")


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_lessons_do_not_talk_about_tests(path: Path) -> None:
    said = []
    for index, cell in enumerate(_load(path)["cells"]):
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            said += [f"cell {index}: …{source[max(0, m.start() - 40):m.end() + 20]}…" for m in TEST_TALK.finditer(source)]
    assert not said, f"{path.name} talks about tests:\n" + "\n".join(said)


def test_there_are_tutorials() -> None:
    assert len(TUTORIALS) >= 9, [p.name for p in TUTORIALS]
