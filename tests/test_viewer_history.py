"""The viewer's item history: *History* shows the selected item's changes with their causes."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from motia_nb.notebook.viewer import Viewer, viewer
from motia_nb.notebook.viewer.item_history import history_html
from motia_nb.session import Session
from motia_nb.state import StateManager
from motia_nb.testing import fixtures as shared
from motia_nb.steps.triggers import state


sm = shared.sqlite_manager  # a StateManager on this test's db_path, closed after


@pytest.fixture
def v(sm: StateManager) -> Iterator[Viewer]:
    made = viewer("orders", manager=sm, live=False)
    yield made
    made.close()


def table_rows(v: Viewer) -> list[list[str]]:
    """The history table's body rows as lists of cell texts (tags removed)."""
    rows = re.findall(r"<tr>(.*?)</tr>", v.history.table.value)[1:]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td>(.*?)</td>", r)] for r in rows]


def test_history_shows_each_change_newest_first_with_the_step_that_made_it(sm: StateManager, v: Viewer) -> None:
    session = Session(sm)

    @session.step({"name": "MarkPaid", "triggers": [state(lambda e: e.group_id == "payments")]})
    async def mark_paid(event: object) -> None:
        await sm.update("orders", "o1", [{"type": "set", "path": "status", "value": "paid"}])

    sm.sync.set("orders", "o1", {"status": "pending"})  # a cell (plain code)
    sm.sync.set("payments", "p1", {"order": "o1"})  # fires MarkPaid, which updates o1
    v.refresh()
    v.select_item("o1")
    assert not v.history_shown
    v.history.button.click()
    assert v.history_shown
    assert "History of orders / o1" in v.history.heading.value and "(2 changes)" in v.history.heading.value
    rows = table_rows(v)
    assert [(r[2], r[3].split(" (pid")[0], r[4]) for r in rows] == [
        ("updated", "MarkPaid", '{"status":"paid"}'),
        ("created", "cell", '{"status":"pending"}'),
    ]
    assert int(rows[0][0]) > int(rows[1][0])  # newest (highest seq) first
    # an edit made in the viewer is recorded as the viewer's
    v.value_text.value = '{"status": "shipped"}'
    v.save_button.click()
    v.history.button.click()
    assert table_rows(v)[0][2:5:2] == ["updated", '{"status":"shipped"}'] and table_rows(v)[0][3].startswith("viewer")
    v.history.hide_button.click()
    assert not v.history_shown


def test_history_needs_a_selected_item(v: Viewer) -> None:
    v.history.button.click()
    assert not v.history_shown and v.message == "select an item first"


def test_a_deleted_items_history_and_html_escaping() -> None:
    rows = [
        {"seq": 1, "at": "2026-11-30T12:00:00.5+00:00", "event_type": "state:created", "group_id": "g", "key": "k",
         "old_value": None, "new_value": {"x": "<b>"}, "trace_id": None, "cause": "<step>", "pid": 7},
        {"seq": 2, "at": "2026-11-30T12:00:01+00:00", "event_type": "state:deleted", "group_id": "g", "key": "k",
         "old_value": {"x": "<b>"}, "new_value": None, "trace_id": None, "cause": "magic", "pid": 7},
    ]  # fmt: skip
    text = history_html(rows)
    assert "<b>" not in text and "&lt;step&gt;" in text and "&lt;b&gt;" in text
    assert text.index("deleted") < text.index("created")  # newest first
    assert "2026-11-30 12:00:01" in text
    assert history_html([]) == "<i>no recorded change</i>"
