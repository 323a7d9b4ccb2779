"""The viewer on big groups: keyset pages, counts kept from events, key search, go to key, streams.

Pages are checked against the plain ``OFFSET`` answer while a counting manager records
which reads were made: a walk through the pages (next, previous, last, first, a live
refresh) reads by keyset and never by position, and a live refresh after a change
never reads the counts whole. Another process's change on a store that does not
publish it makes one whole read, off the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motia_nb.notebook.viewer import finding, viewer
from motia_nb.notebook.viewer.data import LiveData, apply_events, off_loop
from motia_nb.notebook.viewer.model import LAST_PAGE, ViewModel, visible_groups
from motia_nb.notebook.viewer.paging import find_keys, find_rest, page_of_key, read_page
from motia_nb.notebook.viewer.text import group_label
from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import searching
from motia_nb.state.events import CREATED, DELETED, UPDATED, StateEvent


class CountingManager(StateManager):
    """A real StateManager that records the reads made through its async API, and on which thread."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reads: list[str] = []
        self.threads: list[str] = []

    def _note(self, name: str) -> None:
        self.reads.append(name)
        self.threads.append(threading.current_thread().name)

    async def group_counts(self) -> Any:
        self._note("group_counts")  # where the read runs (the coroutine may be sent elsewhere)
        return await super().group_counts()

    async def count(self, group_id: str) -> Any:
        self._note("count")  # where the read runs (the coroutine may be sent elsewhere)
        return await super().count(group_id)

    async def items(self, *args: Any, **kw: Any) -> Any:
        self._note("items")  # where the read runs (the coroutine may be sent elsewhere)
        return await super().items(*args, **kw)

    async def items_after(self, *args: Any, **kw: Any) -> Any:
        self._note("items_after")  # where the read runs (the coroutine may be sent elsewhere)
        return await super().items_after(*args, **kw)

    async def rank(self, *args: Any, **kw: Any) -> Any:
        self._note("rank")  # where the read runs (the coroutine may be sent elsewhere)
        return await super().rank(*args, **kw)

    async def keys_containing(self, *args: Any, **kw: Any) -> Any:
        self._note("keys_containing")  # where the read runs (the coroutine may be sent elsewhere)
        return await super().keys_containing(*args, **kw)

    async def search_keys(self, *args: Any, **kw: Any) -> Any:
        self._note("search_keys")  # where the read runs (the coroutine may be sent elsewhere)
        return await super().search_keys(*args, **kw)


@pytest.fixture
def cm(db_path: str) -> Iterator[CountingManager]:
    m = CountingManager(db_path)
    yield m
    m.close()


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def keys_shown(v: Any) -> list[str]:
    return [value for _label, value in v.items.options]


def fill(m: StateManager, group: str, n: int, start: int = 0) -> None:
    async def go() -> None:
        await asyncio.gather(*(m.set(group, f"k{i:04d}", {"i": i}) for i in range(start, start + n)))

    asyncio.run(go())


# --------------------------------------------------------------------------- pure parts
def test_events_keep_the_counts() -> None:
    counts = {"a": 2}
    ev = lambda kind, g, k: StateEvent(kind, g, k, None, None)
    touched = apply_events(counts, [ev(CREATED, "b", "x"), ev(UPDATED, "a", "k"), ev(DELETED, "a", "k"),
                                    ev(CREATED, "b", "y"), ev(DELETED, "a", "j")])
    assert counts == {"b": 2} and touched == {"a", "b"}  # an emptied group leaves the counts
    apply_events(counts, [ev(DELETED, "zz", "k")])  # a delete of an unknown group never goes negative
    assert counts == {"b": 2}


def test_stream_groups_are_listed_after_the_state_groups_and_marked() -> None:
    counts = {"todo::inbox": 2, "orders": 3, "chat::room::1": 1, "users": 1, "::odd": 1}
    assert visible_groups(counts, "") == ["::odd", "orders", "users", "chat::room::1", "todo::inbox"]
    assert group_label("orders", 3) == "orders  (3)"
    assert group_label("todo::inbox", 1200) == "≋ todo::inbox  (1,200)"
    assert group_label("::odd", 1) == "::odd  (1)"  # not a stream's group (no stream name)


# --------------------------------------------------------------------------- keyset pages
ORDERS = ["insertion", "-insertion", "key", "-key"]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 40), size=st.integers(1, 7), order=st.sampled_from(ORDERS),
    moves=st.lists(st.sampled_from(["next", "prev", "first", "last", "same"]), max_size=12),
)
def test_a_walk_through_the_pages_reads_by_keyset_and_matches_offset(
    tmp_path_factory: pytest.TempPathFactory, n: int, size: int, order: str, moves: list[str]
) -> None:
    m = CountingManager(str(tmp_path_factory.mktemp("walk") / "s.db"))
    try:
        keys = [f"k{(i * 7919) % 1000:03d}" for i in range(n)]  # insertion order differs from key order
        for k in keys:
            m.sync.set("g", k, {"k": k})

        async def walk() -> None:
            heavy = off_loop(m)
            shown = await read_page(m, "g", order, size, n, 0, None, heavy)
            for move in moves:
                target = {"next": shown.number + 1, "prev": shown.number - 1, "first": 0,
                          "last": LAST_PAGE, "same": shown.number}[move]
                m.reads.clear()
                shown = await read_page(m, "g", order, size, n, max(0, target), shown, heavy)
                assert "items" not in m.reads, (move, m.reads)  # never by position
                want = await m.items("g", shown.number * size, size, order=order)
                assert shown.rows == want, (move, shown.number)

        asyncio.run(walk())
    finally:
        m.close()


def test_a_jump_reads_by_position_off_the_loop_and_a_gone_cursor_falls_back(cm: CountingManager) -> None:
    fill(cm, "g", 100)

    async def go() -> None:
        heavy = off_loop(cm)
        here = threading.current_thread().name
        cm.reads.clear(), cm.threads.clear()
        page = await read_page(cm, "g", "insertion", 10, 100, 6, None, heavy)
        assert [k for k, _ in page.rows] == [f"k{i:04d}" for i in range(60, 70)]
        assert cm.reads == ["items"] and cm.threads[0] != here  # an OFFSET read may scan: not on this loop
        await cm.delete("g", "k0060")  # the page's cursor item goes
        cm.reads.clear()
        again = await read_page(cm, "g", "insertion", 10, 99, 6, page, heavy)
        assert [k for k, _ in again.rows] == [f"k{i:04d}" for i in range(61, 71)]
        assert cm.reads == ["items_after", "items"]  # keyset first, by position when its cursor is gone

    asyncio.run(go())


def test_page_of_key_is_the_page_that_holds_it_in_every_order(cm: CountingManager) -> None:
    fill(cm, "g", 53)

    async def go() -> None:
        heavy = off_loop(cm)
        for order in ORDERS:
            all_keys = [k for k, _ in await cm.items("g", order=order)]
            for key in ("k0000", "k0009", "k0010", "k0031", "k0052"):
                page = await page_of_key(cm, "g", key, order, 10, heavy)
                assert page is not None
                assert page.number == all_keys.index(key) // 10
                assert [k for k, _ in page.rows] == all_keys[page.number * 10 : page.number * 10 + 10]
            assert await page_of_key(cm, "g", "nope", order, 10, heavy) is None

    asyncio.run(go())


def test_find_keys_lists_the_prefix_matches_first_then_the_others(cm: CountingManager) -> None:
    for k in ("order-1", "order-10", "order-2", "my-order-1", "reorder-1", "x-order", "other"):
        cm.sync.set("g", k, 1)

    async def go() -> None:
        heavy = off_loop(cm)
        found = await find_keys(cm, "g", "order", 10, heavy)
        assert found.keys == ["order-1", "order-10", "order-2", "my-order-1", "reorder-1", "x-order"]
        assert not found.more
        few = await find_keys(cm, "g", "order", 4, heavy)
        assert few.keys == ["order-1", "order-10", "order-2", "my-order-1"] and few.more
        cm.reads.clear()
        prefix_only = await find_keys(cm, "g", "order", 2, heavy)
        assert prefix_only.keys == ["order-1", "order-10"] and prefix_only.more
        assert "search_keys" not in cm.reads  # enough keys start with it: no pass over the index
        await find_keys(cm, "g", "order", 10, heavy)
        assert cm.reads[-1] == "search_keys" and cm.threads[-1].startswith("motia-nb-io")  # off the loop
        assert (await find_keys(cm, "g", "zzz", 5, heavy)).keys == []

    asyncio.run(go())


# --------------------------------------------------------------------------- the viewer, live
def test_a_live_refresh_reads_one_page_and_never_the_counts_whole(cm: CountingManager) -> None:
    fill(cm, "big", 500)
    v = viewer("big", manager=cm, page_size=25, debounce=0.02, poll_interval=0.05)
    try:
        assert cm.reads.count("group_counts") == 1 and v.total == 500
        v.go_to_page(3)
        cm.reads.clear()
        n = v.refresh_count
        fill(cm, "big", 10, start=500)  # ten new items (and a new group) from this process
        cm.sync.set("other", "x", 1)
        cm.sync.delete("big", "k0000")
        wait_until(lambda: v.total == 509 and "other" in [g for _, g in v.groups.options], what="the counts")
        assert v.refresh_count > n
        assert "group_counts" not in cm.reads and "count" not in cm.reads and "items" not in cm.reads, cm.reads
        assert v.page == 3 and keys_shown(v) == [f"k{i:04d}" for i in range(75, 100)]  # the same items, by keyset
        cm.reads.clear()
        n = v.refresh_count
        cm.sync.set("elsewhere", "y", 1)  # a change in another group: the page shown is not read again
        wait_until(lambda: v.refresh_count > n and "elsewhere" in [g for _, g in v.groups.options],
                   what="the other group to be listed")
        assert cm.reads == [], cm.reads
        v.next_button.click()
        assert keys_shown(v) == [f"k{i:04d}" for i in range(100, 125)] and "items" not in cm.reads
        v.last_button.click()
        assert keys_shown(v)[-1] == "k0509" and "items" not in cm.reads
    finally:
        v.close()


def test_another_process_change_without_events_makes_one_whole_read_off_the_loop(
    cm: CountingManager, db_path: str
) -> None:
    cm.history_keep = "off"  # no changelog, so no follower: other processes' commits are not events here
    fill(cm, "g", 30)
    other = StateManager(db_path)
    loop_thread = threading.current_thread().name
    v = viewer("g", manager=cm, page_size=10, debounce=0.02, poll_interval=0.05)
    try:
        assert not cm.backend.publishes_remote
        cm.reads.clear(), cm.threads.clear()
        other.sync.set("g", "zz-elsewhere", 1)
        wait_until(lambda: v.total == 31, what="the other process's item to be counted")
        assert cm.reads.count("group_counts") == 1
        i = cm.reads.index("group_counts")
        assert cm.threads[i] != loop_thread  # the whole read ran off the viewer's loop
        assert v._data.rescans == 2
    finally:
        v.close()
        other.close()


def test_with_remote_events_another_process_change_is_applied_without_a_whole_read(
    cm: CountingManager, db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend that publishes other processes' changes (here SQLite's changelog follower): its
    events keep the counts, and the moving change token makes no whole read."""
    fill(cm, "g", 30)
    assert cm.backend.publishes_remote
    v = viewer("g", manager=cm, page_size=10, debounce=0.02, poll_interval=0.05)
    try:
        other = StateManager(db_path)  # another backend on the file: the follower reads its rows
        try:
            cm.reads.clear()
            other.sync.set("g", "from-elsewhere", 1)
            wait_until(lambda: v.total == 31, what="the remote event to be counted")
            time.sleep(0.2)  # several token polls see the moved token (not an assertion on time)
            assert "group_counts" not in cm.reads, cm.reads
        finally:
            other.close()
    finally:
        v.close()


def test_key_search_and_go_to_key_in_the_panel(cm: CountingManager) -> None:
    fill(cm, "big", 300)
    cm.sync.set("big", "special-k0150", {"special": True})
    v = viewer("big", manager=cm, page_size=25, live=False)
    try:
        v.goto_key.value = "k015"  # Enter in the box: the keys found are listed under it
        assert list(v.found.options)[:3] == ["k0150", "k0151", "k0152"] and "special-k0150" in v.found.options
        assert v.found.layout.display == "flex" and "11 found" in v.found_summary.value
        v.found.value = "special-k0150"  # picking one goes to its page
        assert v.key == "special-k0150" and v.page == 300 // 25 and v.items.value == "special-k0150"
        assert "showing big/special-k0150 (page 13)" in v.message
        v.goto_key.value = "k0042"
        v.goto_button.click()
        assert v.page == 1 and v.items.value == "k0042"
        v.goto_key.value = "nothing-like-it"
        assert v.found.layout.display == "none" and "no key of big contains" in v.found_summary.value
        v.goto_button.click()
        assert "no item 'nothing-like-it' in big" in v.message and v.key == "k0042"
    finally:
        v.close()


def test_a_search_out_of_time_lists_what_it_found_then_completes_by_itself(cm: CountingManager, monkeypatch) -> None:
    """A scan stopped by the budget (as while a big group's index is built) lists its keys,
    labelled, and the rest follows without anything asked; a newer search supersedes it."""
    monkeypatch.setattr(finding, "SEARCH_BUDGET", 0.0)
    monkeypatch.setattr(searching, "SCAN_CHUNK", 20)
    fill(cm, "big", 300)
    for k in ("a-k0150", "special-k0150", "zz-k015"):
        cm.sync.set("big", k, 1)
    v = viewer("big", manager=cm, page_size=25, live=False)
    notes: list[str] = []
    v.found_summary.observe(lambda ch: notes.append(ch["new"]), names="value")
    try:
        v.goto_key.value = "k015"
        wait_until(lambda: "found" in notes[-1] and "so far" not in notes[-1], what="the complete answer")
        # the 10 starting with it, and "a-k0150" among the first 20 keys in key order (a-k0150, k0000…k0018)
        assert "11 found so far · searching the rest of big (keys after <code>k0018</code>)…" in notes[0], notes
        assert list(v.found.options) == [f"k015{i}" for i in range(10)] + ["a-k0150", "special-k0150", "zz-k015"]
        assert "13 found · pick one" in notes[-1], notes
        notes.clear()
        v.goto_key.value = "k02"  # more than 50 start with it: complete at once
        assert notes == ["<small>first 50; more match, type more of the key · pick one to go to it</small>"]
        v.goto_key.value = "nothing-like-it"  # partial (0 so far), then none at all
        wait_until(lambda: "no key of big contains" in notes[-1], what="the complete answer")
        assert "0 found so far" in notes[-2] and v.found.layout.display == "none"
        v.goto_key.value = "k0299"
        v.goto_key.value = "k0001"  # typed on: the first search's rest must not show
        wait_until(lambda: "1 found · pick" in notes[-1], what="the last search")
        time.sleep(0.3)
        assert list(v.found.options) == ["k0001"] and "1 found · pick" in notes[-1]
    finally:
        v.close()


def test_find_rest_completes_in_pieces_and_a_stale_search_stops(cm: CountingManager, monkeypatch) -> None:
    monkeypatch.setattr(searching, "SCAN_CHUNK", 10)
    fill(cm, "g", 200)
    for k in ("a-k019", "m-k019", "zz-k019"):
        cm.sync.set("g", k, 1)
    keys = cm.sync.keys_with_prefix("g", "", 1000)
    want_all = [k for k in keys if k.startswith("k019")] + [k for k in keys if "k019" in k and not k.startswith("k019")]

    async def go() -> None:
        heavy = off_loop(cm)
        first = await find_keys(cm, "g", "k019", 50, heavy, budget=0)
        # the 10 starting with it, and a-k019 among the first 10 keys in key order (a-k019, k0000…k0008)
        assert not first.complete and first.starting == 10 and first.keys == want_all[:11], first
        cm.reads.clear()
        done = await find_rest(cm, "g", first, 50, heavy, budget=0)
        assert done.complete and done.keys == want_all and not done.more
        assert cm.reads.count("search_keys") > 5  # one piece per chunk of 10 keys
        cm.reads.clear()
        asked = iter([True, True, False])
        stale = await find_rest(cm, "g", first, 50, heavy, budget=0, wanted=lambda: next(asked))
        assert cm.reads.count("search_keys") == 2 and not stale.complete  # stopped, still partial
        assert stale.keys == [k for k in want_all if k <= stale.through or k.startswith("k019")]
        few = await find_rest(cm, "g", await find_keys(cm, "g", "k019", 11, heavy, budget=0), 11, heavy, budget=0)
        assert few.complete and few.more and few.keys == want_all[:11]  # 11 listed, more exist

    asyncio.run(go())


def test_stream_groups_are_shown_with_their_badge(cm: CountingManager) -> None:
    cm.sync.set("orders", "o1", 1)
    cm.sync.set("chat::room-1", "m1", {"text": "hi"})
    v = viewer(manager=cm, live=False)
    try:
        assert [label for label, _ in v.groups.options] == ["orders  (1)", "≋ chat::room-1  (1)"]
        assert "2 groups, ≋ 1 of streams · 2 items" in v.groups_summary.value
        v.select_group("chat::room-1")
        assert "stream <code>chat</code>, group <code>room-1</code>" in v.items_heading.value
        assert "motia-nb-badge" in v.items_heading.value and keys_shown(v) == ["m1"]
    finally:
        v.close()


def test_load_keeps_counts_from_events_between_whole_reads(cm: CountingManager) -> None:
    fill(cm, "g", 5)
    data, model = LiveData(), ViewModel(group="g", page_size=10)
    cm.subscribe(data.on_event)
    snap = asyncio.run(data.load(cm, model, off_loop(cm)))
    assert snap.total == 5 and data.rescans == 1
    cm.sync.set("g", "new", 1)
    cm.sync.delete("g", "k0000")
    cm.sync.set("h", "x", 1)
    snap = asyncio.run(data.load(cm, model, off_loop(cm)))
    assert snap.counts == {"g": 5, "h": 1} and data.rescans == 1
    assert snap.counts == cm.sync.group_counts()


@pytest.mark.redis
def test_on_redis_other_clients_changes_arrive_as_events_and_keep_the_counts(redis_url: str) -> None:
    m, other = CountingManager(redis_url), StateManager(redis_url)
    try:
        fill(m, "g", 40)
        v = viewer("g", manager=m, page_size=10, debounce=0.02, poll_interval=0.05)
        try:
            assert m.backend.publishes_remote
            v.go_to_page(2)
            m.reads.clear()
            fill(m, "g", 5, start=40)  # ours: local events (our own pub/sub echo is not counted twice)
            fill(other, "g", 5, start=45)  # another client's: remote events
            other.sync.delete("g", "k0000")
            wait_until(lambda: v.total == 49, what="the counts to follow both clients")
            time.sleep(0.3)  # more refreshes and polls may run (not an assertion on time)
            assert v.total == 49 and "group_counts" not in m.reads, m.reads
            assert v._data.rescans == 1 and keys_shown(v) == [f"k{i:04d}" for i in range(20, 30)]
            v.last_button.click()
            assert keys_shown(v) == [f"k{i:04d}" for i in range(41, 50)]
        finally:
            v.close()
    finally:
        m.close()
        other.close()


def test_a_moved_token_makes_a_whole_read_only_when_no_event_explains_it(cm: CountingManager) -> None:
    cm.history_keep = "off"  # a store that does not publish other processes' changes
    cm.sync.set("g", "a", 1)
    v = viewer("g", manager=cm, debounce=0.02, poll_interval=60)  # the test moves the token by hand
    try:
        data = v._data
        assert not data.rescan
        data.on_event(StateEvent(CREATED, "g", "b", None, 1))  # one of ours came with the change
        v._token_changed()
        assert not data.rescan  # explained by our event (and the counts were read whole just now)
        v._token_changed()  # moved again with no event since: another process committed
        assert data.rescan
        data.rescan = False
        v._rescan_at -= 60  # a while since the last whole read
        data.on_event(StateEvent(CREATED, "g", "c", None, 1))
        v._token_changed()
        assert data.rescan  # ours and maybe another's mixed: read whole now and then
    finally:
        v.close()


def test_a_scan_cancelled_before_its_io_thread_began_it_is_closed_not_left_unawaited(monkeypatch) -> None:
    """A newer search cancels the one waiting for the I/O pool: its read's coroutine, never begun,
    went unawaited, and Python printed "coroutine ... was never awaited" when it was collected
    (seen in a whole-suite run of the out-of-time search test). It is closed now."""
    import warnings

    from motia_nb.notebook.viewer import data

    async def cancelled_before_it_ran(fn, *args):
        raise asyncio.CancelledError

    monkeypatch.setattr(data, "reads_on_the_loop", lambda m: True)
    monkeypatch.setattr(data, "run_io", cancelled_before_it_ran)

    async def read() -> int:
        return 1

    coro = read()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(off_loop(object())(coro))
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
