"""The viewer's item history: *History* shows the selected item's changes with their causes."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from motia_nb.notebook.viewer import Viewer, viewer
from motia_nb.notebook.viewer.item_history import HISTORY_ROWS, history_html
from motia_nb.notebook.viewer.live import home_loop
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


# --------------------------------------------------------------------------- the open table follows its item
def wait_until(cond: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``cond`` (the viewer's loop thread changes the widgets) until true; fail after ``timeout``."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def live(sm: StateManager) -> Iterator[Viewer]:
    made = viewer("orders", manager=sm, debounce=0.02, poll_interval=0.2)
    yield made
    made.close()


def counting_history_reads(sm: StateManager) -> list[tuple[str, str | None]]:
    """Record each ``history()`` call the viewer makes through ``sm`` (group, key)."""
    calls: list[tuple[str, str | None]] = []
    real = sm.history

    async def history(group_id: str, key: str | None = None, **kw: object) -> list[dict[str, object]]:
        calls.append((group_id, key))
        return await real(group_id, key, **kw)  # type: ignore[arg-type]

    sm.history = history  # type: ignore[method-assign]
    return calls


def test_the_open_history_follows_its_item_and_only_its_item(sm: StateManager, live: Viewer) -> None:
    """Issue 16: a change of the item whose history is open adds its row (this kernel, the viewer,
    another process, a delete, a clear of the group); a change of another item reads no history."""
    sm.sync.set("orders", "o1", {"status": "pending"})
    sm.sync.set("orders", "o2", {"status": "pending"})
    wait_until(lambda: "o2" in [k for _, k in live.items.options], what="the items")
    live.select_item("o1")
    live.history.button.click()
    assert [r[2] for r in table_rows(live)] == ["created"]
    reads = counting_history_reads(sm)

    sm.sync.set("orders", "o1", {"status": "paid"})  # this kernel
    wait_until(lambda: len(table_rows(live)) == 2, what="the kernel's change in the open history")
    assert table_rows(live)[0][3].startswith("cell") and "(2 changes)" in live.history.heading.value

    n = len(reads)
    sm.sync.set("orders", "o2", {"status": "other item"})  # another item: its refresh reads no history
    wait_until(lambda: '"other item"' in live.items.options[1][0], what="o2's refresh")
    assert len(reads) == n, reads

    live.value_text.value = '{"status": "from the viewer"}'
    live.save_button.click()
    wait_until(lambda: table_rows(live)[0][3].startswith("viewer"), what="the viewer's own save in the history")

    code = (f"from motia_nb.state import StateManager\nm = StateManager({sm.url!r})\n"
            "m.sync.set('orders', 'o1', {'status': 'remote'})\nm.close()")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    wait_until(lambda: '"remote"' in table_rows(live)[0][4], what="another process's change in the open history")
    assert "(pid " in table_rows(live)[0][3] and f"(pid {os.getpid()})" not in table_rows(live)[0][3]

    sm.sync.clear("orders")  # a clear deletes the item shown
    wait_until(lambda: table_rows(live)[0][2] == "deleted", what="the clear in the open history")
    assert "History of orders / o1" in live.history.heading.value  # still the item it is about
    live.history.hide_button.click()
    n = len(reads)
    sm.sync.set("orders", "o1", {"status": "again"})
    wait_until(lambda: live.items.options and "again" in live.items.options[0][0], what="the refresh")
    assert len(reads) == n  # a hidden history is not read


def test_with_history_off_the_open_panel_says_nothing_is_recorded(sm: StateManager, live: Viewer) -> None:
    sm.sync.set("orders", "o1", {"status": "pending"})
    wait_until(lambda: live.items.options, what="the item")
    live.select_item("o1")
    live.history.button.click()
    assert "history is off" not in live.history.box_text
    with pytest.warns(UserWarning, match="history is off"):  # remote subscribers stop hearing: said once
        sm.history_keep = "off"  # as %config MotiaNB.history_keep = "off" sets it, while the panel is open
    wait_until(lambda: "history is off" in live.history.box_text, what="the panel to say history is off")
    assert "MotiaNB.history_keep" in live.history.box_text
    assert [r[2] for r in table_rows(live)] == ["created"]  # what was recorded before stays listed
    sm.sync.set("orders", "o1", {"status": "unrecorded"})
    live.history.button.click()
    assert "history is off" in live.history.box_text and len(table_rows(live)) == 1
    sm.history_keep = "all"
    wait_until(lambda: "history is off" not in live.history.box_text, what="the note to go")


def test_retention_pruning_while_the_panel_is_open_shows_what_is_kept(sm: StateManager, live: Viewer) -> None:
    for i in range(30):
        sm.sync.set("orders", "o1", {"i": i})
    wait_until(lambda: live.items.options, what="the item")
    live.select_item("o1")
    live.history.button.click()
    assert len(table_rows(live)) == 30
    sm.history_keep = "5"
    wait_until(lambda: len(table_rows(live)) == 5, what="the pruned history")
    assert "(5 changes)" in live.history.heading.value
    assert [r[4] for r in table_rows(live)] == [f'{{"i":{i}}}' for i in (29, 28, 27, 26, 25)]


def test_an_item_with_more_changes_than_the_table_shows_says_older_ones_are_left_out(
    sm: StateManager, v: Viewer
) -> None:
    for i in range(HISTORY_ROWS):
        sm.sync.set("orders", "hot", {"i": i})
    v.refresh()
    v.select_item("hot")
    v.history.button.click()
    assert f"({HISTORY_ROWS} changes)" in v.history.heading.value and "older" not in v.history.heading.value
    for i in range(HISTORY_ROWS, 10_000):
        sm.sync.set("orders", "hot", {"i": i})
    v.history.button.click()
    heading = html.unescape(re.sub(r"<[^>]+>", "", v.history.heading.value))
    assert f"the newest {HISTORY_ROWS} changes" in heading and "older ones" in heading, heading
    assert "state_manager.history('orders', 'hot'" in heading, heading
    rows = table_rows(v)
    assert len(rows) == HISTORY_ROWS and rows[0][4] == '{"i":9999}' and rows[-1][4] == f'{{"i":{10_000 - HISTORY_ROWS}}}'


def test_on_redis_the_open_history_follows_another_clients_writes(redis_url: str) -> None:
    """Redis: another client's change reaches the viewer by pub/sub and adds its row to the open history."""
    mine, other = StateManager(redis_url), StateManager(redis_url)
    v = viewer("orders", manager=mine, debounce=0.02, poll_interval=0.2)
    try:
        mine.sync.set("orders", "o1", {"status": "pending"})
        wait_until(lambda: v.items.options, what="the item")
        v.select_item("o1")
        v.history.button.click()
        assert len(table_rows(v)) == 1
        other.sync.set("orders", "o1", {"status": "from another client"})
        wait_until(lambda: len(table_rows(v)) == 2, what="the other client's change in the open history")
        assert table_rows(v)[0][4] == '{"status":"from another client"}'
        other.sync.delete("orders", "o1")
        wait_until(lambda: table_rows(v)[0][2] == "deleted", what="the other client's delete")
    finally:
        v.close()
        other.close()
        mine.close()


def test_the_history_of_an_item_with_big_values_is_read_off_the_loop(sm: StateManager) -> None:
    """50 changes of a 1 MB value are 100 MB of JSON to decode (half a second): the history is read
    off the loop that owns the widgets (SQLite reads on the caller's loop), as the viewer's scans are."""
    threads: list[str] = []
    real = sm.history

    async def history(group_id: str, key: str | None = None, **kw: object) -> list[dict[str, object]]:
        threads.append(threading.current_thread().name)  # where the read runs
        return await real(group_id, key, **kw)  # type: ignore[arg-type]

    sm.history = history  # type: ignore[method-assign]
    blob = "x" * 100_000
    for i in range(3):
        sm.sync.set("orders", "big", {"i": i, "blob": blob})
    v = viewer("orders", manager=sm, debounce=0.02, poll_interval=0.2)
    try:
        loop_thread: list[str] = []
        home = home_loop()
        home.call_soon_threadsafe(lambda: loop_thread.append(threading.current_thread().name))
        wait_until(lambda: loop_thread and v.items.options, what="the viewer's loop")
        v.select_item("big")
        v.history.button.click()
        sm.sync.set("orders", "big", {"i": 3, "blob": blob})  # followed: read again
        wait_until(lambda: len(table_rows(v)) == 4, what="the followed change")
        assert len(threads) >= 2 and loop_thread[0] not in threads, (loop_thread, threads)
    finally:
        v.close()


# --------------------------------------------------------------------------- other items' changes and the retention
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_rows_other_items_changes_push_out_of_the_retention_leave_the_open_history(
    sm: StateManager, backend: str, request: pytest.FixtureRequest
) -> None:
    """The retention keeps the newest N changes of the store (SQLite) or of the group (Redis): other
    items' changes push the open item's oldest rows out, and the table drops them at the refresh
    that follows (it listed them until the item changed or Refresh). Nothing pushed out, it reads
    no history (a change of another item)."""
    m = sm if backend == "sqlite" else StateManager(request.getfixturevalue("redis_url"))
    m.history_keep = "10"
    live = viewer("orders", manager=m, debounce=0.02, poll_interval=0.2)
    try:
        for i in range(3):
            m.sync.set("orders", "o1", {"i": i})
        wait_until(lambda: live.items.options, what="the item")
        live.select_item("o1")
        live.history.button.click()
        assert [r[4] for r in table_rows(live)] == ['{"i":2}', '{"i":1}', '{"i":0}']
        reads = counting_history_reads(m)
        for j in range(6):  # 9 changes kept: o1's are all still there
            m.sync.set("orders", "o2", {"j": j})
        wait_until(lambda: '5}' in str([o for o in live.items.options if "o2" in str(o)]), what="o2's refresh")
        assert reads == [] and len(table_rows(live)) == 3
        for j in range(6, 9):  # 12 changes: the newest 10 keep o1's last
            m.sync.set("orders", "o2", {"j": j})
        wait_until(lambda: len(table_rows(live)) == 1, what="o1's pushed-out rows to leave the open history")
        assert [r[4] for r in table_rows(live)] == ['{"i":2}'] and "(1 change)" in live.history.heading.value
        assert reads == [("orders", "o1")], reads
    finally:
        live.close()
        if m is not sm:
            m.sync.clear("orders")
            m.close()
