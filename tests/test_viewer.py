"""The state viewer widget, headless: driven through its widgets' own values and clicks.

Every test uses a real SQLite file through a real StateManager; "another process"
is a real subprocess writing to the same file. No browser here (see
tests/test_viewer_browser.py for JupyterLab + Chromium).
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from motia_nb.notebook.viewer import (
    Viewer,
    close_all_viewers,
    parse_json_value,
    summarize,
    viewer,
)
from motia_nb.state import StateManager
from motia_nb.testing import fixtures as shared


def wait_until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> float:
    """Poll ``cond`` until true; return the seconds it took, fail after ``timeout``."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - t0


def viewer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("motia-nb-viewer-")]


sm = shared.sqlite_manager  # a StateManager on this test's db_path, closed after


@pytest.fixture
def seeded(sm: StateManager) -> StateManager:
    sm.sync.set("orders", "o1", {"id": "o1", "status": "pending", "total": 10})
    sm.sync.set("orders", "o2", {"id": "o2", "status": "paid", "total": 25.5})
    sm.sync.set("orders", "o3", {"id": "o3", "status": "shipped", "total": 7})
    sm.sync.set("users", "alice", {"name": "Alice"})
    sm.sync.set("cache", "hits", 42)
    return sm


@pytest.fixture
def make_viewer(sm: StateManager) -> Iterator[Callable[..., Viewer]]:
    made: list[Viewer] = []

    def make(group: str | None = None, **kw: object) -> Viewer:
        v = viewer(group, manager=sm, **kw)
        made.append(v)
        return v

    yield make
    for v in made:
        v.close()


def keys_shown(v: Viewer) -> list[str]:
    return [value for _label, value in v.items.options]


def groups_shown(v: Viewer) -> list[str]:
    return [value for _label, value in v.groups.options]


# --------------------------------------------------------------------------- pure helpers
def test_summarize_is_compact_json_cut_with_an_ellipsis() -> None:
    assert summarize({"a": 1, "b": [1, 2]}) == '{"a": 1, "b": [1, 2]}'
    assert summarize("é") == '"é"'
    long = summarize({"text": "x" * 500}, width=30)
    assert len(long) == 30 and long.endswith("…") and long.startswith('{"text": "xxx')
    with pytest.raises(ValueError, match="width"):
        summarize(1, width=1)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("{'a': 1}", "line 1, column 2"),
        ('{"a": 1', "line 1, column 8"),
        ('{\n  "a": 1,\n}', "line 3, column 1"),
        ("NaN", "NaN is not a JSON value"),
        ('{"x": Infinity}', "Infinity is not a JSON value"),
        ("[1] [2]", "Extra data"),
    ],
)
def test_parse_json_value_refuses_bad_text_and_says_where(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_json_value(text)


def test_parse_json_value_accepts_every_json_kind() -> None:
    for v in ({"a": [1, 2.5, None, True]}, [], "text", 0, -3.5, None, False):
        assert parse_json_value(json.dumps(v)) == v


def test_bad_viewer_arguments_are_named(sm: StateManager) -> None:
    with pytest.raises(ValueError, match="page_size"):
        Viewer(manager=sm, page_size=0)
    with pytest.raises(ValueError, match="group"):
        Viewer(3, manager=sm)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll_interval"):
        Viewer(manager=sm, poll_interval=math.nan)
    assert viewer_threads() == []  # nothing was started for a refused viewer


# --------------------------------------------------------------------------- browsing
def test_groups_with_counts_and_the_filter_box(seeded: StateManager, make_viewer) -> None:
    v = make_viewer(live=False)
    assert v.groups.options == (("cache  (1)", "cache"), ("orders  (3)", "orders"), ("users  (1)", "users"))
    assert "3 groups · 5 items" in v.groups_summary.value
    v.group_filter.value = "ER"  # case-insensitive substring
    assert groups_shown(v) == ["orders", "users"]
    assert "2 of 3 groups" in v.groups_summary.value
    v.group_filter.value = "nothing-matches"
    assert groups_shown(v) == []
    v.group_filter.value = ""
    assert groups_shown(v) == ["cache", "orders", "users"]


def test_selecting_a_group_and_an_item_shows_its_json(seeded: StateManager, make_viewer) -> None:
    v = make_viewer(live=False)
    assert v.items.options == () and v.value_text.disabled
    v.groups.value = "orders"
    assert v.group == "orders"
    assert keys_shown(v) == ["o1", "o2", "o3"]
    label = v.items.options[1][0]
    assert label.startswith("o2  ") and '"status": "paid"' in label
    v.items.value = "o2"
    assert v.key == "o2"
    assert json.loads(v.value_text.value) == {"id": "o2", "status": "paid", "total": 25.5}
    assert v.value_text.value.startswith("{\n  ")  # indented, readable
    assert not v.value_text.disabled and not v.save_button.disabled
    # the filter keeps the selected group selected
    v.group_filter.value = "ord"
    assert v.groups.value == "orders" and v.key == "o2"


def test_viewer_opens_on_the_requested_group(seeded: StateManager, make_viewer) -> None:
    v = make_viewer("users", live=False)
    assert v.groups.value == "users" and keys_shown(v) == ["alice"]
    assert v.new_group.value == "users"  # "Add an item" targets the shown group


def test_pagination_and_sorting(sm: StateManager, make_viewer) -> None:
    for i in range(130):
        sm.sync.set("g", f"k{(i * 37) % 130:03d}", i)  # insertion order differs from key order
    inserted = [k for k, _ in sm.sync.items("g")]
    v = make_viewer("g", page_size=25, live=False)
    assert keys_shown(v) == inserted[:25]
    assert "1–25 of 130" in v.page_label.value and "page 1/6" in v.page_label.value
    assert v.prev_button.disabled and v.first_button.disabled and not v.next_button.disabled
    v.next_button.click()
    assert keys_shown(v) == inserted[25:50] and "page 2/6" in v.page_label.value
    v.last_button.click()
    assert keys_shown(v) == inserted[125:] and "126–130 of 130" in v.page_label.value
    assert v.next_button.disabled
    v.prev_button.click()
    assert keys_shown(v) == inserted[100:125]
    v.first_button.click()
    assert keys_shown(v) == inserted[:25]

    v.sort.value = "key"
    assert keys_shown(v) == [f"k{i:03d}" for i in range(25)]
    v.next_button.click()
    assert keys_shown(v) == [f"k{i:03d}" for i in range(25, 50)]
    v.sort.value = "-key"  # changing the order goes back to page 1
    assert v.page == 0 and keys_shown(v) == [f"k{i:03d}" for i in range(129, 104, -1)]
    v.sort.value = "-insertion"
    assert keys_shown(v) == inserted[::-1][:25]
    v.page_size.value = 100
    assert keys_shown(v) == inserted[::-1][:100] and "page 1/2" in v.page_label.value


def _fill_big_group(sm: StateManager, n: int) -> None:
    """Write n items straight into the SQLite file (the facade's one-write-at-a-time path
    takes ~8 s for 100,000 on this machine); the viewer then reads them through the facade."""
    sm.sync.set("big", "first", {"n": -1})  # creates the schema through the facade
    con = sqlite3.connect(sm.url)
    try:
        con.executemany(
            "INSERT INTO items (grp, key, value) VALUES ('big', ?, ?)",
            ((f"item-{i:06d}", json.dumps({"i": i, "name": f"name {i}", "tags": ["a", "b"]})) for i in range(n - 1)),
        )
        con.commit()
    finally:
        con.close()
    assert sm.sync.count("big") == n


def test_a_100k_group_is_browsed_one_page_query_at_a_time(
    sm: StateManager, make_viewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 100,000-item group stays responsive because the viewer never loads the
    group: opening, paging, sorting and refreshing each read one page (50 rows)."""
    _fill_big_group(sm, 100_000)
    backend = sm.backend
    reads: list[tuple[str, int | None, int]] = []
    real_items = backend.items

    def counting_items(group, offset=0, limit=None, **kw):  # noqa: ANN001, ANN202
        rows = real_items(group, offset, limit, **kw)
        reads.append((kw.get("order", "insertion"), limit, len(rows)))
        return rows

    def no_full_scan(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the viewer read a whole group")

    real_read_async = backend.read_async

    async def counting_read_async(name, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name in ("rows_json", "frame_rows", "values_json", "keys", "values"):
            no_full_scan()
        if name != "items":
            return await real_read_async(name, *args, **kw)
        group, offset, limit = (*args, 0, None)[:3]
        rows = await real_read_async(name, group, offset, limit, **kw)
        reads.append((kw.get("order", "insertion"), limit, len(rows)))
        return rows

    monkeypatch.setattr(backend, "items", counting_items)
    monkeypatch.setattr(backend, "read_async", counting_read_async)  # long reads awaited from a loop
    for name in ("rows_json", "frame_rows", "values_json", "keys"):
        monkeypatch.setattr(backend, name, no_full_scan)

    v = make_viewer("big", live=False)
    assert len(v.items.options) == 50 and keys_shown(v)[:2] == ["first", "item-000000"]
    assert "of 100,000" in v.page_label.value and "page 1/2,000" in v.page_label.value
    for action, expect in (
        (lambda: v.last_button.click(), "item-099998"),
        (lambda: setattr(v.sort, "value", "-key"), "item-099998"),
        (lambda: setattr(v.sort, "value", "key"), "first"),
        (lambda: setattr(v.sort, "value", "-insertion"), "item-099998"),
        (v.refresh, "item-099998"),
    ):
        action()
        assert expect in keys_shown(v)
    assert reads, "the viewer never read a page"
    assert all(limit == 50 and n <= 50 for _, limit, n in reads), reads
    assert {order for order, _, _ in reads} >= {"insertion", "key", "-key", "-insertion"}


# --------------------------------------------------------------------------- actions
def test_add_edit_delete_through_the_widgets(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    v = make_viewer("orders", live=False)
    # add
    v.new_key.value = "o4"
    v.new_value.value = '{"id": "o4", "status": "new"}'
    v.add_button.click()
    assert sm.sync.get("orders", "o4") == {"id": "o4", "status": "new"}
    assert "added orders/o4" in v.message
    assert v.key == "o4" and v.items.value == "o4" and "o4" in keys_shown(v)
    assert v.groups.options[1] == ("orders  (4)", "orders")
    assert v.new_key.value == "" and v.new_value.value == ""
    # add into a new group typed in the group box
    v.new_group.value = "fresh"
    v.new_key.value = "x"
    v.new_value.value = "[1, 2]"
    v.add_button.click()
    assert sm.sync.get("fresh", "x") == [1, 2] and v.group == "fresh" and v.groups.value == "fresh"
    # edit
    v.groups.value = "orders"
    v.items.value = "o1"
    v.value_text.value = '{"id": "o1", "status": "paid", "total": 10}'
    v.save_button.click()
    assert sm.sync.get("orders", "o1") == {"id": "o1", "status": "paid", "total": 10}
    assert "saved orders/o1" in v.message and v.key == "o1"
    assert '"status": "paid"' in dict((k, lbl) for lbl, k in v.items.options)["o1"]
    # delete (after a confirmation)
    v.items.value = "o2"
    v.delete_button.click()
    assert v.delete_pending and "Delete <code>orders</code> / <code>o2</code>?" in v.delete_label.value
    assert sm.sync.get("orders", "o2") is not None  # asking changes nothing
    v.confirm_delete_button.click()
    assert not v.delete_pending and sm.sync.get("orders", "o2") is None
    assert "o2" not in keys_shown(v) and v.key is None and v.value_text.value == "" and v.save_button.disabled


def test_invalid_json_is_refused_with_a_message_and_nothing_is_written(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    seen: list = []
    unsubscribe = sm.subscribe(seen.append)
    try:
        v = make_viewer("orders", live=False)
        v.items.value = "o1"
        before = sm.sync.get("orders", "o1")
        for bad, why in (('{"status": "paid",}', "not valid JSON: Expecting property name enclosed in double quotes (line 1"), ("NaN", "NaN is not a JSON value"), ("", "empty")):
            v.value_text.value = bad
            v.save_button.click()
            assert "not saved" in v.message and why in v.message and "nothing was written" in v.message
            assert v.value_text.value == bad  # the user's text is kept for fixing
        assert sm.sync.get("orders", "o1") == before
        v.new_key.value = "o9"
        v.new_value.value = "{oops}"
        v.add_button.click()
        assert "not added" in v.message and "line 1, column 2" in v.message
        assert sm.sync.get("orders", "o9") is None
        time.sleep(0.05)
        assert seen == []  # no event: nothing happened
    finally:
        unsubscribe()


def test_add_refuses_an_existing_key_and_a_missing_key(seeded: StateManager, make_viewer) -> None:
    v = make_viewer("orders", live=False)
    v.new_key.value = "o1"
    v.new_value.value = "1"
    v.add_button.click()
    assert "already exists" in v.message and seeded.sync.get("orders", "o1")["status"] == "pending"
    v.new_key.value = "  "
    v.add_button.click()
    assert "type a key" in v.message


def test_clear_needs_a_confirmation(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    v = make_viewer("orders", live=False)
    v.clear_button.click()
    assert v.clear_pending and "all <b>3</b> items of <code>orders</code>" in v.confirm_label.value
    assert sm.sync.count("orders") == 3  # asking changes nothing
    v.cancel_clear_button.click()
    assert not v.clear_pending and sm.sync.count("orders") == 3
    v.clear_button.click()
    v.confirm_clear_button.click()
    assert sm.sync.count("orders") == 0 and not v.clear_pending
    assert "3 items removed" in v.message
    assert keys_shown(v) == [] and v.clear_button.disabled
    assert v.group is None and groups_shown(v) == ["cache", "users"]  # the emptied group leaves the list
    assert sm.sync.count("users") == 1


def test_edits_are_normal_writes_with_events_and_triggers(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    events: list = []
    dispatched: list = []
    unsubscribe = sm.subscribe(events.append)
    sm.set_dispatcher(lambda evs: dispatched.extend(evs))  # the steps runtime's inline hook
    try:
        v = make_viewer("orders", live=False)
        v.items.value = "o3"
        v.value_text.value = '{"id": "o3", "status": "delivered"}'
        v.save_button.click()
        v.delete_button.click()
        v.confirm_delete_button.click()
        v.clear_button.click()
        v.confirm_clear_button.click()
        wait_until(lambda: len(events) == 4, what="4 events")
    finally:
        sm.set_dispatcher(None)
        unsubscribe()
    assert [(e.event_type, e.item_id) for e in events] == [
        ("state:updated", "o3"), ("state:deleted", "o3"), ("state:deleted", "o1"), ("state:deleted", "o2"),
    ]
    assert events[0].old_value["status"] == "shipped" and events[0].new_value["status"] == "delivered"
    assert [(e.event_type, e.item_id) for e in dispatched] == [(e.event_type, e.item_id) for e in events]


def test_a_state_trigger_step_runs_on_a_viewer_edit(db_path: str) -> None:
    """The real steps runtime (bound to the process-wide state_manager) sees a viewer Save."""
    from motia_nb import state_manager
    from motia_nb.steps import state
    from motia_nb.session import remove_step, step

    previous = state_manager.url
    state_manager.use(db_path)
    seen: list = []
    try:
        state_manager.sync.set("orders", "o1", {"status": "pending"})

        @step({"name": "viewer-test-audit", "triggers": [state(condition=lambda e: e.group_id == "orders")]})
        def audit(event):  # noqa: ANN001
            seen.append((event.item_id, event.new_value))

        v = viewer("orders")
        try:
            v.items.value = "o1"
            v.value_text.value = '{"status": "shipped"}'
            v.save_button.click()
            assert seen == [("o1", {"status": "shipped"})]  # inline: done when the click returns
            assert "saved orders/o1" in v.message
        finally:
            v.close()
    finally:
        remove_step("viewer-test-audit")
        state_manager.use(previous)


@pytest.mark.parametrize("with_shell", [False, True], ids=["no shell", "an IPython shell"])
def test_a_failing_trigger_is_reported_and_the_write_stands(seeded: StateManager, make_viewer, with_shell: bool) -> None:
    """In a kernel, ipywidgets' Output.__exit__ swallows exceptions; the viewer must still report."""
    if with_shell:
        from IPython.core.interactiveshell import InteractiveShell

        InteractiveShell.instance()  # what a kernel (or an earlier test) has
    sm = seeded
    status = "refunded" if with_shell else "cancelled"

    def boom(events):  # noqa: ANN001
        raise RuntimeError(f"handler exploded ({status})")

    sm.set_dispatcher(boom)
    try:
        v = make_viewer("orders", live=False)
        v.items.value = "o1"
        v.value_text.value = json.dumps({"id": "o1", "status": status})
        v.save_button.click()
    finally:
        sm.set_dispatcher(None)
    assert f"handler exploded ({status})" in v.message
    assert sm.sync.get("orders", "o1") == {"id": "o1", "status": status}
    assert f'"{status}"' in dict((k, lbl) for lbl, k in v.items.options)["o1"]


def test_without_live_only_the_refresh_button_shows_changes(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    v = make_viewer("orders", live=False)
    assert v.live is None and viewer_threads() == []
    v.items.value = "o1"
    sm.sync.set("orders", "o7", 7)
    sm.sync.set("orders", "o1", {"id": "o1", "status": "seen after refresh"})
    time.sleep(0.3)
    assert "o7" not in keys_shown(v) and "seen after refresh" not in v.value_text.value
    v.refresh_button.click()
    assert "o7" in keys_shown(v) and "seen after refresh" in v.value_text.value
    assert v.items.value == "o1" and v.message == "refreshed"


# --------------------------------------------------------------------------- live refresh
def test_a_write_in_this_process_shows_up_without_a_click_keeping_the_selection(
    seeded: StateManager, make_viewer
) -> None:
    sm = seeded
    v = make_viewer("orders", debounce=0.05, poll_interval=5.0)  # polling too slow to be the cause
    v.items.value = "o2"
    sm.sync.set("orders", "o5", {"id": "o5"})
    wait_until(lambda: "o5" in keys_shown(v), timeout=5, what="the new item")  # debounce 0.05 s, no poll
    assert v.group == "orders" and v.items.value == "o2" and v.key == "o2"
    assert v.groups.options[1] == ("orders  (4)", "orders")
    sm.sync.update("orders", "o2", [{"type": "set", "path": "status", "value": "refunded"}])
    wait_until(lambda: '"refunded"' in v.value_text.value, what="the selected value to update")
    assert v.items.value == "o2"


def test_a_live_refresh_never_overwrites_a_value_being_edited(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    v = make_viewer("orders", debounce=0.02, poll_interval=5.0)
    v.items.value = "o1"
    v.value_text.value = '{"draft": true}'
    n = v.refresh_count
    sm.sync.set("orders", "o1", {"id": "o1", "status": "changed elsewhere"})
    wait_until(lambda: v.refresh_count > n, what="a refresh")
    assert v.value_text.value == '{"draft": true}'
    assert "changed in the store while you were editing" in v.message
    v.revert_button.click()
    assert json.loads(v.value_text.value)["status"] == "changed elsewhere"


def test_a_burst_of_writes_is_debounced_into_few_refreshes(sm: StateManager, make_viewer) -> None:
    v = make_viewer(debounce=0.3, max_delay=2.0, poll_interval=5.0)
    n = v.refresh_count
    for i in range(40):
        sm.sync.set("burst", f"k{i}", i)
    wait_until(lambda: ("burst  (40)", "burst") in v.groups.options, what="the burst to show")
    time.sleep(0.5)
    assert 1 <= v.refresh_count - n <= 3


def test_a_write_from_another_process_shows_up_within_about_a_second(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    v = make_viewer("orders", poll_interval=0.5)
    v.items.value = "o1"
    code = textwrap.dedent(
        f"""
        from motia_nb.state import StateManager
        m = StateManager({sm.url!r})
        m.sync.set("orders", "from-elsewhere", {{"by": "another process"}})
        m.sync.update("orders", "o1", [{{"type": "set", "path": "status", "value": "remote"}}])
        m.close()
        print("written")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "written" in proc.stdout, proc.stderr
    # found by the 0.5 s change-token poll (no click, no local event)
    wait_until(lambda: "from-elsewhere" in keys_shown(v), timeout=5, what="the other process's write")
    wait_until(lambda: '"remote"' in v.value_text.value, timeout=2, what="the selected value")
    assert v.items.value == "o1" and v.key == "o1"


def test_close_stops_every_background_activity(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    before = set(viewer_threads())
    v = make_viewer("orders", poll_interval=0.05, debounce=0.01)
    live = v.live
    assert live is not None and live.active
    assert set(viewer_threads()) == before  # live refresh is timers on a loop, not a thread
    assert subscribers(sm) == 1
    v.close()
    assert v.closed and not live.active and not live.running and not live.pending
    assert set(viewer_threads()) == before
    assert subscribers(sm) == 0
    n = v.refresh_count
    sm.sync.set("orders", "after-close", 1)
    time.sleep(0.3)
    assert v.refresh_count == n  # nothing refreshes a closed viewer
    assert v.comm is None and v.items.comm is None and v.output.comm is None  # widgets closed
    v.close()  # idempotent


def test_close_all_viewers(sm: StateManager) -> None:
    a, b = viewer(manager=sm), viewer(manager=sm)
    assert close_all_viewers() >= 2
    assert a.closed and b.closed and viewer_threads() == []


def subscribers(sm: StateManager) -> int:
    """How many live subscriptions the manager holds (the facade keeps them in a list)."""
    return len(sm._subscribers)


def test_a_store_that_cannot_open_fails_the_viewer_cleanly(tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    m = StateManager(str(blocker / "state.db"))
    try:
        with pytest.raises(Exception, match="not-a-dir"):
            viewer(manager=m)
        assert subscribers(m) == 0 and viewer_threads() == []
    finally:
        m.close()


@pytest.mark.redis
def test_the_viewer_on_redis_browses_edits_and_sees_other_clients(redis_url: str) -> None:
    m = StateManager(redis_url)
    other = StateManager(redis_url)  # a second client with its own connection and origin
    try:
        for i in range(30):
            m.sync.set("orders", f"o{i:02d}", {"n": i})
        v = viewer("orders", manager=m, page_size=25, poll_interval=0.2, debounce=0.05)
        try:
            assert keys_shown(v) == [f"o{i:02d}" for i in range(25)] and "page 1/2" in v.page_label.value
            v.sort.value = "-key"
            assert keys_shown(v)[:2] == ["o29", "o28"]
            v.items.value = "o28"
            v.value_text.value = '{"n": 28, "edited": true}'
            v.save_button.click()
            assert m.sync.get("orders", "o28") == {"n": 28, "edited": True}
            other.sync.set("orders", "o99", {"n": 99})
            wait_until(lambda: "o99" in keys_shown(v), timeout=5, what="the other client's write")
            assert v.items.value == "o28"
        finally:
            v.close()
    finally:
        other.close()
        m.close()


def test_leaving_an_unsaved_edit_says_it_was_discarded(seeded: StateManager, make_viewer) -> None:
    v = make_viewer("orders", live=False)
    v.items.value = "o1"
    v.value_text.value = '{"draft": true}'
    v.items.value = "o2"
    assert "unsaved edit of 'o1' was discarded" in v.message
    assert seeded.sync.get("orders", "o1")["status"] == "pending"  # nothing written
    v.items.value = "o3"  # no edit of o2: no new warning
    assert "'o2'" not in v.message


def test_a_store_under_the_working_directory_is_named_without_a_machine_path(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    m = StateManager(".motia/state.db")
    try:
        m.sync.set("g", "k", 1)
        v = viewer(manager=m, live=False)
        try:
            assert "'.motia/state.db'" in repr(v) and str(tmp_path) not in repr(v)
            assert "<code>.motia/state.db</code>" in v.title.value
        finally:
            v.close()
    finally:
        m.close()
    elsewhere = StateManager(str(tmp_path.parent / "other.db"))
    v = viewer(manager=elsewhere, live=False)
    try:
        assert str(tmp_path.parent / "other.db") in repr(v)  # outside the working directory: the whole path
    finally:
        v.close()
        elsewhere.close()


def test_delete_waits_for_a_confirmation_and_cancel_keeps_the_item(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    v = make_viewer("orders", live=False)
    v.items.value = "o1"
    v.delete_button.click()
    assert v.delete_pending
    v.cancel_delete_button.click()
    assert not v.delete_pending and sm.sync.get("orders", "o1") is not None and v.key == "o1"
    v.delete_button.click()
    v.items.value = "o2"  # choosing another item withdraws the question
    assert not v.delete_pending
    v.confirm_delete_button.click()  # (a stale click on a hidden button deletes what is selected now)
    assert sm.sync.get("orders", "o2") is None and sm.sync.get("orders", "o1") is not None
    assert "deleted orders/o2" in v.message


def test_a_group_cleared_elsewhere_leaves_the_list(seeded: StateManager, make_viewer) -> None:
    sm = seeded
    v = make_viewer("orders", debounce=0.02, poll_interval=5.0)
    sm.sync.clear("orders")
    wait_until(lambda: "orders" not in groups_shown(v), what="the emptied group to leave the list")
    assert v.group == "orders" and keys_shown(v) == [] and "0 items" in v.items_heading.value


def test_go_to_key_shows_the_page_holding_the_item(sm: StateManager, make_viewer) -> None:
    for i in range(120):
        sm.sync.set("big", f"item-{i:03d}", {"i": i})
    v = make_viewer("big", page_size=25, live=False)
    v.goto_key.value = "item-100"
    v.goto_button.click()
    assert v.key == "item-100" and json.loads(v.value_text.value) == {"i": 100}
    assert "showing big/item-100 (page 5)" in v.message and not v.save_button.disabled
    assert v.page == 4 and keys_shown(v) == [f"item-{i:03d}" for i in range(100, 120)]
    assert v.items.value == "item-100"
    v.value_text.value = '{"i": 100, "seen": true}'
    v.save_button.click()  # an item reached by key is edited like any other
    assert sm.sync.get("big", "item-100") == {"i": 100, "seen": True}
    v.goto_key.value = "item-999"
    v.goto_button.click()
    assert "no item 'item-999' in big" in v.message and v.key == "item-100"
    v.goto_key.value = "item-003"
    v.goto_button.click()
    assert v.items.value == "item-003" and "showing big/item-003" in v.message and "not on" not in v.message


def test_a_message_is_cleared_by_the_next_action(seeded: StateManager, make_viewer) -> None:
    v = make_viewer("orders", live=False)
    v.items.value = "o1"
    v.value_text.value = "{broken"
    v.save_button.click()
    assert "not saved" in v.message
    assert "title='not saved: the value is not valid JSON" in v.status.value  # one line on screen, the whole text on hover
    v.next_button.click()  # (a page button that does nothing still is an action)
    assert v.message == "" and v.status.value == ""


def test_a_live_viewer_on_memory_keeps_hearing_other_processes_after_use(tmp_path) -> None:
    # ':memory:' refuses a user's subscribe(fn, remote=True); the viewer's own remote subscription
    # is still taken there (it outlives `%state use`), so after a switch to a shared file the
    # viewer hears the other manager's commit by event (its follower), not only by the token poll
    m = StateManager(":memory:")
    try:
        v = viewer("orders", manager=m, poll_interval=3600)  # no token poll within the test
        try:
            m.use(str(tmp_path / "shared.db"))
            assert m.backend._follower is not None  # type: ignore[attr-defined]  # the viewer's remote listener
            other = StateManager(str(tmp_path / "shared.db"))
            other.sync.set("orders", "from-elsewhere", 1)
            other.close()
            wait_until(lambda: "from-elsewhere" in keys_shown(v), timeout=5, what="the other manager's write")
        finally:
            v.close()
    finally:
        m.close()
