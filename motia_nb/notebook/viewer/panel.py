"""The viewer's behaviour: render a :class:`~.live.Snapshot` into the widgets, and the user's actions.

Who runs what
-------------
- **Actions** (clicks, selections, typing in the filter) are coroutines reading and
  writing through the async state API.

  * An event from the browser (the kernel is handling a ``comm_msg``) queues its
    action as a task on the kernel's loop, after the previous one: a slow remote
    store never blocks the kernel, and the task keeps the message's context, so a
    triggered step's prints land in the *Trigger output* area.
  * Anything else (``v.save_button.click()`` in a cell, ``v.items.value = …``, plain
    Python) runs the action to completion with :func:`motia_nb._threads.run_sync`: a
    click from code behaves like a function call.
  Kernel › Interrupt cancels a running action's task (ipykernel only interrupts
  cells), and the status line says so; see :func:`motia_nb._interrupts.cancel_on_interrupt`.
- **Live refreshes** run on the loop that owns the widgets (the kernel's loop; in
  plain Python motia_nb's loop thread), started by the :class:`~.live.Debouncer`.
- Both end in :meth:`~.render.Rendering._apply`, which renders a snapshot only if
  the model did not change since the snapshot was read (otherwise it reads again):
  no lock, no echo flag. Widget echoes (the panel setting a value, the widget
  reporting it) equal the model and are ignored; messages are batched with ``hold_sync``.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..._interrupts import cancel_on_interrupt
from ..._threads import in_loop_thread, run_sync
from ...session import default_session
from .data import LiveData, off_loop
from .refresh import LiveRefresh
from .paging import Page
from .edits import EditActions
from .finding import FindActions
from .item_history import HistoryActions
from .layout import ViewerLayout
from .live import Debouncer, LoopClock, home_loop, runs_on
from .model import LAST_PAGE, ViewModel, viewer_options
from .render import Rendering
from .text import display_url

if TYPE_CHECKING:
    from motia_nb.state.manager import StateManager

__all__ = ["Viewer", "viewer", "close_all_viewers"]

_live_viewers: "weakref.WeakSet[Viewer]" = weakref.WeakSet()


def _default_manager() -> "StateManager":
    return default_session().manager


class Viewer(LiveRefresh, FindActions, EditActions, HistoryActions, Rendering, ViewerLayout):
    """A live panel over the state of ``manager`` (``motia_nb.state_manager`` by default).

    Parameters
    ----------
    group:
        Group to select at start (it need not exist yet: adding an item creates it).
    manager:
        The :class:`~motia_nb.state.manager.StateManager` to show.
    page_size:
        Items per page (one of 25, 50, 100, 200 appears in the menu; any positive int works).
    live:
        Refresh on changes (local commits and other processes). ``False``: only on clicks.
    poll_interval:
        Seconds between two ``change_token()`` polls (changes made by other processes).
    debounce:
        Quiet time, in seconds, after a local commit before the refresh.
    max_delay:
        A refresh happens at most this long after the first of a burst of local commits.
    """

    def __init__(
        self,
        group: str | None = None,
        *,
        manager: "StateManager | None" = None,
        page_size: int = 50,
        live: bool = True,
        poll_interval: float = 0.5,
        debounce: float = 0.15,
        max_delay: float = 1.0,
    ) -> None:
        page_size, poll_interval, debounce, max_delay = viewer_options(group, page_size, poll_interval, debounce, max_delay)

        self.manager: "StateManager" = manager if manager is not None else _default_manager()
        self.model = ViewModel(group=group, page_size=page_size)
        self.refresh_count = 0  # refreshes rendered (lets tests see debouncing)
        self.live: Debouncer | None = None  # the live refresh (None when live=False or closed before)
        self._counts: dict[str, int] = {}
        self._page_rows: dict[str, Any] = {}
        self._data = LiveData()  # counts kept from events; the page shown (the next read's cursor)
        self._heavy = off_loop(self.manager)
        self._events_mark = 0  # events seen when the change token was last read
        self._missed_mark = 0  # the backend's missed_changes() when the counts were last trusted
        self._rescan_at = -math.inf  # time.monotonic() of the last whole read of the counts
        self._live_events = live
        self._jump: Page | None = None  # a page read by go to key, for the next refresh to show
        self._loaded_text: str | None = None  # the JSON text last loaded into the editor
        self._closed = False
        super().__init__(page_size)
        self._unsubscribe: Callable[[], None] | None = None
        self._last_action: asyncio.Task[None] | None = None  # the latest action from the front end
        self._loop = home_loop()
        self._wire()
        if group is not None:
            self.new_group.value = group
        try:
            # read the token and subscribe *before* the first load, so no change falls in between
            start_token = self._token() if live else None
            self._missed_mark = self._missed_changes()
            if live:
                # remote on any store: the subscription outlives `%state use` (':memory:' refuses
                # a user's remote=True; a stand-in manager has only subscribe)
                subscribe = getattr(self.manager, "_subscribe", None)
                if subscribe is not None:
                    self._unsubscribe = subscribe(self._on_event, remote=True)
                else:
                    self._unsubscribe = self.manager.subscribe(self._on_event, remote=True)
                self._watch_history_settings()  # a new history_keep re-reads the open history
            self.refresh()
        except BaseException:
            self.close()  # no half-built panel left holding a subscription or comms
            raise
        if live:
            loop = self._loop
            self.live = Debouncer(
                self._refresh_async, clock=LoopClock(loop), spawn=loop.create_task, token=self._token,
                initial_token=start_token, debounce=float(debounce), max_delay=float(max_delay),
                poll_interval=float(poll_interval), on_error=self._live_failed,
                on_token_change=self._token_changed,
            )
            self._on_home(self.live.start)
        _live_viewers.add(self)

    # ------------------------------------------------------------------ public API
    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    group = property(lambda self: self.model.group, doc="The selected group (or None).")
    key = property(lambda self: self.model.key, doc="The selected item's key (or None).")
    page = property(lambda self: self.model.page, doc="The page shown (0-based).")
    total = property(lambda self: self.model.total, doc="Items in the selected group, as last read.")
    order = property(lambda self: self.model.order, doc="The sort order (insertion, -insertion, key, -key).")
    page_count = property(lambda self: self.model.page_count, doc="Pages of the selected group (at least 1).")

    @property
    def message(self) -> str:
        """The text of the status line (HTML tags removed)."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value))

    @property
    def clear_pending(self) -> bool:
        """True while the clear confirmation is shown."""
        return self.confirm_box.layout.display != "none"

    @property
    def delete_pending(self) -> bool:
        """True while the delete confirmation is shown."""
        return self.delete_box.layout.display != "none"

    def refresh(self) -> None:
        """Reload groups, the current page and the selected value; returns once they are shown."""
        self._run(self._refresh_async())

    def select_group(self, group: str | None) -> None:
        """Show ``group`` (first page, no item selected)."""
        self._run(self._select_group(group))

    def select_item(self, key: str | None) -> None:
        """Show the value of ``key`` in the selected group."""
        self._run(self._select_item(key))

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped) of the selected group."""
        self._run(self._go_to(page))

    def close(self) -> None:
        """Stop live refresh (timers, subscription) and close every widget of the panel. Idempotent."""
        if not hasattr(self, "_unsubscribe"):  # __init__ failed half-way (Widget.__del__ after a bad argument)
            self._closed = True
            super().close()
            return
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.live is not None:
            self._on_home(self.live.close)
        _live_viewers.discard(self)
        for w in _descendants(self):
            w.close()
        super().close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("live" if self.live is not None else "static")
        return f"<motia_nb Viewer {state} on {display_url(self.manager.url)!r}, group={self.group!r}>"

    # ------------------------------------------------------------------ running things
    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run an action (see the module docstring): queued on the home loop for an event from
        the front end, else to completion; from motia_nb's own loop, as a task there."""
        if in_loop_thread():  # from an async step on motia_nb's loop: waiting here would deadlock
            return asyncio.ensure_future(coro)
        if runs_on(self._loop) and _from_front_end():
            prev = self._last_action

            async def in_turn() -> None:  # actions run one after another, in the order they came
                if prev is not None and not prev.done():
                    await asyncio.wait([prev])
                with cancel_on_interrupt() as watch:  # Kernel › Interrupt cancels it, as it would a cell
                    try:
                        await coro
                    except asyncio.CancelledError:
                        if watch is None or not watch.interrupted:
                            raise
                        interrupted = True
                    else:
                        interrupted = False
                if interrupted:
                    await self._interrupted()

            self._last_action = self._loop.create_task(in_turn())
            return self._last_action
        return run_sync(coro)

    def _on_home(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the home loop (the live part lives there) and wait for it."""
        loop = self._loop
        if runs_on(loop) or loop.is_closed() or not loop.is_running():
            fn()
            return

        async def call() -> None:
            fn()

        try:
            asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=5)
        except Exception:  # the home loop is busy waiting for this thread: do it here
            fn()

    def _wire(self) -> None:
        m = self.model

        def act(make: Callable[[], Awaitable[None]]) -> Callable[..., None]:
            def handler(*_args: Any) -> None:
                if not self._closed:
                    self._run(self._reported(make()))

            return handler

        def on_change(attr: str, make: Callable[[Any], Awaitable[None]]) -> Callable[[dict[str, Any]], None]:
            def observer(change: dict[str, Any]) -> None:
                new = change["new"]
                if new is None or new == getattr(m, attr) or self._closed:
                    return  # an echo of what the panel rendered (or a selection lost to new options)
                self._run(self._reported(make(new)))

            return observer

        self.groups.observe(on_change("group", self._select_group), names="value")
        self.items.observe(on_change("key", self._select_item), names="value")
        self.group_filter.observe(on_change("filter", self._filter), names="value")
        self.sort.observe(on_change("order", lambda o: self._reorder(order=o)), names="value")
        self.page_size.observe(on_change("page_size", lambda s: self._reorder(page_size=int(s))), names="value")
        self.first_button.on_click(act(lambda: self._go_to(0)))
        self.prev_button.on_click(act(lambda: self._go_by(-1)))
        self.next_button.on_click(act(lambda: self._go_by(+1)))
        self.last_button.on_click(act(lambda: self._go_to(LAST_PAGE)))
        self.refresh_button.on_click(act(self._manual_refresh))
        self.save_button.on_click(act(self._save))
        self.revert_button.on_click(act(self._revert))
        self.delete_button.on_click(act(self._ask_delete))
        self.confirm_delete_button.on_click(act(self._confirm_delete))
        self.cancel_delete_button.on_click(act(self._cancel_delete))
        self.goto_button.on_click(act(self._go_to_key))
        self.goto_key.observe(lambda ch: None if self._closed or ch["new"] == self._picked
                              else self._run(self._reported(self._search(ch["new"]))), names="value")
        self.found.observe(on_change("key", self._pick_found), names="value")
        self.add_button.on_click(act(self._add))
        self.clear_button.on_click(act(self._ask_clear))
        self.confirm_clear_button.on_click(act(self._confirm_clear))
        self.cancel_clear_button.on_click(act(self._cancel_clear))
        self.clear_output_button.on_click(lambda _b: self.output.clear_output())
        self.history.button.on_click(act(self._show_history))
        self.history.hide_button.on_click(act(self._hide_history))

    async def _reported(self, action: Awaitable[None]) -> None:
        """Run an action; an unexpected error goes to the status line, never into the comm handler.
        The status line is cleared first: a message is about the action that wrote it."""
        self._set_status("")
        try:
            await action
        except Exception as exc:
            self._set_status(f"{type(exc).__name__}: {exc}", "error")

    async def _interrupted(self) -> None:
        """After Kernel › Interrupt cancelled an action outside a write's steps: show the store as it is."""
        self._loaded_text = None
        self.model.bump()
        try:
            await self._refresh_async()
        finally:
            self._set_status("interrupted: the action was cancelled (a write it made stands); showing the stored state", "error")

    # ------------------------------------------------------------------ actions
    async def _select_group(self, group: str | None) -> None:
        await self._cancel_clear()
        await self._cancel_delete()
        self.model.select_group(group)
        if group:
            self.new_group.value = group
        await self._refresh_async()

    async def _select_item(self, key: str | None) -> None:
        m = self.model
        previous, unsaved = m.key, self._editing
        if key != previous:
            await self._cancel_delete()
        m.key = key or None
        m.bump()
        self._loaded_text = None
        if m.key in self._page_rows:
            if self.items.value != m.key:
                self.items.value = m.key
            self._render_value(None, force=True)
        else:
            await self._refresh_async(force_value=True)
        if unsaved and previous is not None and previous != m.key:
            self._set_status(f"your unsaved edit of {previous!r} was discarded (nothing was written)", "error")

    async def _filter(self, needle: str) -> None:
        self.model.filter = needle
        self._render_groups()  # from the counts last read: no I/O

    async def _go_to(self, page: int) -> None:
        self.model.go_to(page)
        await self._refresh_async()

    async def _go_by(self, pages: int) -> None:
        # relative to the page shown when the action runs (a queued click follows the one before)
        await self._go_to(self.model.page + pages)

    async def _reorder(self, order: str | None = None, page_size: int | None = None) -> None:
        self.model.reorder(order, page_size)
        await self._refresh_async()

    async def _manual_refresh(self) -> None:
        await self._refresh_async(rescan=True)
        self._set_status("refreshed")


def _from_front_end() -> bool:
    """True while the kernel handles a message from the widgets in the browser (a click, a selection)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)
    parent = get_parent() if get_parent is not None else None
    return isinstance(parent, dict) and parent.get("header", {}).get("msg_type") == "comm_msg"


def _descendants(w: Any) -> list[Any]:
    out: list[Any] = []
    for child in getattr(w, "children", ()):
        out.append(child)
        out.extend(_descendants(child))
    return out


def viewer(group: str | None = None, *, manager: "StateManager | None" = None, **options: Any) -> Viewer:
    """Open the live state viewer (display it as a cell's last expression or with ``display``).

    ``group`` selects a group at start; ``manager`` defaults to ``motia_nb.state_manager``;
    ``options`` go to :class:`Viewer` (``page_size``, ``live``, ``poll_interval``, ``debounce``).
    """
    return Viewer(group, manager=manager, **options)


def close_all_viewers() -> int:
    """Close every open viewer of this process; returns how many were closed."""
    open_ = [v for v in list(_live_viewers) if not v.closed]
    for v in open_:
        v.close()
    return len(open_)
