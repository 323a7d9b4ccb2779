"""The live state viewer: an ipywidgets panel over motia_nb's state.

``viewer()`` (and ``%state viewer [group]``) returns a :class:`Viewer`, a widget
that shows

- the groups with their item counts, and a box that filters them;
- the selected group's items, one page at a time: key and a short summary of
  the value, sorted by insertion order (either way) or by key (either way);
- the selected item's value as indented JSON, editable;
- actions: add an item, save an edited value (invalid JSON is refused and
  nothing is written), delete the item, clear the group (after a confirmation)
  and refresh.

Edits are ordinary writes through ``state_manager.sync``: they emit change events
and fire state triggers. They run inside the viewer's *Trigger output* area (an
``ipywidgets.Output``), so whatever the triggered steps print or log appears there.

Live refresh
------------
- ``state_manager.subscribe`` tells the viewer about every commit made by this
  process (a cell, a step, a magic). The callback only records that something
  changed; a background thread waits until writes have been quiet for
  ``debounce`` seconds (at most ``max_delay``) and then asks for one refresh.
- The same thread polls ``state_manager.change_token()`` every ``poll_interval``
  seconds, which catches commits made by other processes on the same database.
- In a kernel the refresh itself runs on the kernel's event loop (the thread that
  owns the widgets); without a running loop (plain Python, tests) it runs on the
  viewer's thread under the viewer's lock.
- A refresh keeps the selected group, page and item, and never overwrites a value
  the user is editing.

:meth:`Viewer.close` stops the thread, unsubscribes and closes every widget.

Sorting and paging never load a whole group: each page is one ``items`` query
with ``offset``/``limit`` and an ``order`` (``insertion``, ``-insertion``, ``key``,
``-key``), so a 100,000-item group shows its first page at once.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

if TYPE_CHECKING:
    from motia_nb.state.manager import StateManager

__all__ = ["Viewer", "viewer", "summarize", "parse_json_value", "close_all_viewers", "SORT_ORDERS"]

#: (label, order) pairs offered by the sort menu; the orders are the backends' ``items(order=)``.
SORT_ORDERS: list[tuple[str, str]] = [
    ("insertion order", "insertion"),
    ("newest first", "-insertion"),
    ("key A→Z", "key"),
    ("key Z→A", "-key"),
]
PAGE_SIZES: list[int] = [25, 50, 100, 200]
_KEY_COLUMN = 24  # keys are padded to this width in the item list (longer keys are shown whole)

_CSS = """
<style>
.motia-nb-viewer .motia-nb-mono select, .motia-nb-viewer .motia-nb-mono textarea {
  font-family: var(--jp-code-font-family, monospace); font-size: 12px; white-space: pre;
}
.motia-nb-viewer .motia-nb-heading { font-weight: 600; }
</style>
"""

_live_viewers: "weakref.WeakSet[Viewer]" = weakref.WeakSet()


# --------------------------------------------------------------------------- pure helpers
def summarize(value: Any, width: int = 72) -> str:
    """A one-line summary of a JSON value: compact JSON cut to ``width`` characters with ``…``."""
    if width < 2:
        raise ValueError(f"summarize: width must be at least 2, got {width!r}")
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON numbers must be finite)")


def parse_json_value(text: str) -> Any:
    """Parse the JSON text typed in the viewer; raise ``ValueError`` naming where it is wrong.

    Strict JSON: ``NaN``/``Infinity`` are refused, and so is empty text.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the value is empty; type a JSON value such as {}, [], \"text\", 1 or null")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _label(key: str, value: Any, key_width: int) -> str:
    return f"{key.ljust(key_width)}  {summarize(value, 80)}"


def _kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop that owns the widgets: the running loop of a kernel cell, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        from IPython import get_ipython

        ip = get_ipython()
        kernel = getattr(ip, "kernel", None)
        io_loop = getattr(kernel, "io_loop", None)
        loop = getattr(io_loop, "asyncio_loop", None)
        if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_running():
            return loop
    except Exception:  # pragma: no cover - no IPython, or an exotic kernel
        pass
    return None


def _default_manager() -> "StateManager":
    from motia_nb import state_manager

    return state_manager


# --------------------------------------------------------------------------- the widget
class Viewer(widgets.VBox):
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
        if group is not None and (not isinstance(group, str) or not group):
            raise ValueError(f"viewer: group must be a non-empty str or None, got {group!r}")
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise ValueError(f"viewer: page_size must be a positive int, got {page_size!r}")
        for name, v in (("poll_interval", poll_interval), ("debounce", debounce), ("max_delay", max_delay)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ValueError(f"viewer: {name} must be a non-negative number of seconds, got {v!r}")
        if poll_interval <= 0:
            raise ValueError(f"viewer: poll_interval must be > 0 seconds, got {poll_interval!r}")

        self.manager: "StateManager" = manager if manager is not None else _default_manager()
        self.poll_interval = float(poll_interval)
        self.debounce = float(debounce)
        self.max_delay = float(max(max_delay, debounce))

        # what is selected / shown
        self.group: str | None = group
        self.key: str | None = None
        self.page = 0
        self.total = 0
        self.refresh_count = 0  # how many refreshes completed (lets tests see debouncing)
        self._page_rows: dict[str, Any] = {}
        self._loaded_text: str | None = None  # the JSON text last loaded into the editor
        self._syncing = False  # True while the viewer itself sets widget values
        self._closed = False
        self._lock = threading.RLock()

        self._build(page_size)
        super().__init__(children=[self._css, self._header, self._body, self._output_box])
        self.add_class("motia-nb-viewer")

        # live machinery
        self._loop = _kernel_loop()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._flag_lock = threading.Lock()
        self._pending_local = False
        self._first_pending = 0.0
        self._last_local = 0.0
        self._refresh_queued = False
        self._unsubscribe: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

        if group is not None:
            self.new_group.value = group
        try:
            # read the token and subscribe *before* the first load, so no change falls in between
            start_token = self._token() if live else None
            if live:
                self._unsubscribe = self.manager.subscribe(self._on_event)
            self.refresh()
        except BaseException:
            self.close()  # no half-built panel left holding a subscription or comms
            raise
        if live:
            self._thread = threading.Thread(
                target=self._run, args=(start_token,), name=f"motia-nb-viewer-{id(self):x}", daemon=True
            )
            self._thread.start()
        _live_viewers.add(self)

    # ------------------------------------------------------------------ layout
    def _build(self, page_size: int) -> None:
        W = widgets
        self._css = W.HTML(_CSS)
        self.title = W.HTML()
        self.refresh_button = W.Button(description="Refresh", icon="refresh", tooltip="reload from the store",
                                       layout=W.Layout(width="auto"))
        self.status = W.HTML(layout=W.Layout(flex="1 1 auto"))
        self._header = W.HBox([self.title, self.status, self.refresh_button],
                              layout=W.Layout(align_items="center", justify_content="space-between"))

        # groups column
        self.group_filter = W.Text(placeholder="filter groups", layout=W.Layout(width="auto"))
        self.groups = W.Select(options=[], rows=16, layout=W.Layout(width="auto"))
        self.groups_summary = W.HTML()
        groups_col = W.VBox(
            [W.HTML("<span class='motia-nb-heading'>Groups</span>"), self.group_filter, self.groups,
             self.groups_summary],
            layout=W.Layout(width="21%", min_width="170px", padding="0 6px 0 0"),
        )

        # items column
        self.sort = W.Dropdown(options=SORT_ORDERS, value="insertion", description="sort",
                               layout=W.Layout(width="190px"), style={"description_width": "32px"})
        sizes = sorted(set(PAGE_SIZES) | {page_size})
        self.page_size = W.Dropdown(options=sizes, value=page_size, description="per page",
                                    layout=W.Layout(width="150px"), style={"description_width": "60px"})
        self.items = W.Select(options=[], rows=16, layout=W.Layout(width="auto"))
        self.items.add_class("motia-nb-mono")
        self.first_button = W.Button(icon="angle-double-left", tooltip="first page", layout=W.Layout(width="36px"))
        self.prev_button = W.Button(icon="angle-left", tooltip="previous page", layout=W.Layout(width="36px"))
        self.next_button = W.Button(icon="angle-right", tooltip="next page", layout=W.Layout(width="36px"))
        self.last_button = W.Button(icon="angle-double-right", tooltip="last page", layout=W.Layout(width="36px"))
        self.page_label = W.HTML()
        self.items_heading = W.HTML()
        items_col = W.VBox(
            [
                self.items_heading,
                W.HBox([self.sort, self.page_size]),
                self.items,
                W.HBox([self.first_button, self.prev_button, self.page_label, self.next_button, self.last_button],
                       layout=W.Layout(align_items="center")),
            ],
            layout=W.Layout(width="45%", min_width="280px", padding="0 6px 0 0"),
        )

        # value column
        self.key_label = W.HTML()
        self.value_text = W.Textarea(rows=14, layout=W.Layout(width="auto"),
                                     placeholder="select an item to see its value")
        self.value_text.add_class("motia-nb-mono")
        self.save_button = W.Button(description="Save", icon="save", button_style="primary",
                                    tooltip="write the edited value", layout=W.Layout(width="auto"))
        self.revert_button = W.Button(description="Revert", icon="undo", tooltip="reload the stored value",
                                      layout=W.Layout(width="auto"))
        self.delete_button = W.Button(description="Delete", icon="trash", button_style="warning",
                                      tooltip="delete this item", layout=W.Layout(width="auto"))
        self.new_group = W.Text(placeholder="group", layout=W.Layout(width="30%"))
        self.new_key = W.Text(placeholder="new key", layout=W.Layout(width="30%"))
        self.add_button = W.Button(description="Add", icon="plus", tooltip="add a new item",
                                   layout=W.Layout(width="auto"))
        self.new_value = W.Textarea(placeholder='value as JSON, e.g. {"status": "new"}', rows=3,
                                    layout=W.Layout(width="auto"))
        self.new_value.add_class("motia-nb-mono")
        self.clear_button = W.Button(description="Clear group…", icon="eraser", button_style="danger",
                                     tooltip="remove every item of the group", layout=W.Layout(width="auto"))
        self.confirm_label = W.HTML()
        self.confirm_clear_button = W.Button(description="Yes, clear", button_style="danger",
                                             layout=W.Layout(width="auto"))
        self.cancel_clear_button = W.Button(description="Cancel", layout=W.Layout(width="auto"))
        self.confirm_box = W.HBox([self.confirm_label, self.confirm_clear_button, self.cancel_clear_button],
                                  layout=W.Layout(display="none", align_items="center"))
        value_col = W.VBox(
            [
                self.key_label,
                self.value_text,
                W.HBox([self.save_button, self.revert_button, self.delete_button]),
                W.HTML("<span class='motia-nb-heading'>Add an item</span>"),
                W.HBox([self.new_group, self.new_key, self.add_button]),
                self.new_value,
                W.HBox([self.clear_button]),
                self.confirm_box,
            ],
            layout=W.Layout(width="33%", min_width="260px"),
        )
        self._body = W.HBox([groups_col, items_col, value_col], layout=W.Layout(width="100%"))

        # trigger output
        self.output = W.Output(layout=W.Layout(border="1px solid var(--jp-border-color2, #ccc)",
                                               max_height="220px", overflow="auto", padding="2px 6px"))
        self.clear_output_button = W.Button(description="clear", tooltip="clear the trigger output",
                                            layout=W.Layout(width="auto"))
        self._output_box = W.VBox([
            W.HBox([W.HTML("<span class='motia-nb-heading'>Trigger output</span> "
                           "<small>(what steps triggered by the viewer's edits print)</small>"),
                    self.clear_output_button], layout=W.Layout(align_items="center")),
            self.output,
        ])

        # stable class names: the browser test (and user CSS) can find each part
        for w, name in (
            (self.group_filter, "filter"), (self.groups, "groups"), (self.items, "items"), (self.sort, "sort"),
            (self.value_text, "value"), (self.save_button, "save"), (self.revert_button, "revert"),
            (self.delete_button, "delete"), (self.new_group, "new-group"), (self.new_key, "new-key"),
            (self.new_value, "new-value"), (self.add_button, "add"), (self.clear_button, "clear"),
            (self.confirm_clear_button, "confirm-clear"), (self.cancel_clear_button, "cancel-clear"),
            (self.refresh_button, "refresh"), (self.status, "status"), (self.output, "output"),
            (self.page_label, "page"), (self.next_button, "next"), (self.prev_button, "prev"),
        ):
            w.add_class(f"motia-nb-{name}")

        # wiring
        self.groups.observe(self._on_group_selected, names="value")
        self.items.observe(self._on_item_selected, names="value")
        self.group_filter.observe(lambda _c: self._guarded(self._render_groups), names="value")
        self.sort.observe(self._on_view_changed, names="value")
        self.page_size.observe(self._on_view_changed, names="value")
        self.first_button.on_click(lambda _b: self._guarded(lambda: self.go_to_page(0)))
        self.prev_button.on_click(lambda _b: self._guarded(lambda: self.go_to_page(self.page - 1)))
        self.next_button.on_click(lambda _b: self._guarded(lambda: self.go_to_page(self.page + 1)))
        self.last_button.on_click(lambda _b: self._guarded(lambda: self.go_to_page(self.page_count - 1)))
        self.refresh_button.on_click(lambda _b: self._guarded(self._manual_refresh))
        self.save_button.on_click(lambda _b: self._guarded(self._save))
        self.revert_button.on_click(lambda _b: self._guarded(self._revert))
        self.delete_button.on_click(lambda _b: self._guarded(self._delete))
        self.add_button.on_click(lambda _b: self._guarded(self._add))
        self.clear_button.on_click(lambda _b: self._guarded(self._ask_clear))
        self.confirm_clear_button.on_click(lambda _b: self._guarded(self._confirm_clear))
        self.cancel_clear_button.on_click(lambda _b: self._guarded(self._cancel_clear))
        self.clear_output_button.on_click(lambda _b: self.output.clear_output())

    # ------------------------------------------------------------------ public API
    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    @property
    def order(self) -> str:
        """The current sort order (``insertion``, ``-insertion``, ``key`` or ``-key``)."""
        return str(self.sort.value)

    @property
    def page_count(self) -> int:
        """Number of pages of the selected group (at least 1)."""
        return max(1, math.ceil(self.total / int(self.page_size.value)))

    @property
    def background_thread(self) -> threading.Thread | None:
        """The live-refresh thread (``None`` when ``live=False``)."""
        return self._thread

    @property
    def message(self) -> str:
        """The text of the status line (HTML tags removed)."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value))

    def refresh(self) -> None:
        """Reload groups, the current page and the selected value from the store."""
        with self._lock:
            if self._closed:
                return
            self._syncing = True
            try:
                self.title.value = (
                    f"<span class='motia-nb-heading'>motia_nb state</span> "
                    f"<code>{html.escape(str(self.manager.url))}</code>"
                )
                self._render_groups()
                self._render_items()
                self._render_value()
            finally:
                self._syncing = False
                self.refresh_count += 1  # counted once finished, so waiters see its results

    def select_group(self, group: str | None) -> None:
        """Show ``group`` (first page, no item selected)."""
        with self._lock:
            self._cancel_clear()
            self.group = group or None
            self.key = None
            self.page = 0
            if group:
                self.new_group.value = group
            self.refresh()

    def select_item(self, key: str | None) -> None:
        """Show the value of ``key`` in the selected group."""
        with self._lock:
            previous = self.key
            unsaved = self._loaded_text is not None and self.value_text.value != self._loaded_text
            self.key = key or None
            self._loaded_text = None
            self._syncing = True
            try:
                if self.items.value != self.key and self.key in self._page_rows:
                    self.items.value = self.key
                self._render_value(force=True)
            finally:
                self._syncing = False
            if unsaved and previous is not None and previous != self.key:
                self._set_status(f"your unsaved edit of {previous!r} was discarded (nothing was written)", "error")

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped) of the selected group."""
        with self._lock:
            page = max(0, min(int(page), self.page_count - 1))
            if page != self.page:
                self.page = page
                self.key = None
            self.refresh()

    def close(self) -> None:
        """Stop live refresh (thread, subscription) and close every widget of the panel. Idempotent."""
        if not hasattr(self, "_thread"):  # __init__ failed half-way (e.g. Widget.__del__ after a bad argument)
            self._closed = True
            super().close()
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        _live_viewers.discard(self)
        for w in _descendants(self):
            w.close()
        super().close()

    # ------------------------------------------------------------------ rendering
    def _set_status(self, text: str, kind: str = "info") -> None:
        color = {"error": "var(--jp-error-color1, #c62828)", "ok": "var(--jp-success-color1, #2e7d32)"}.get(
            kind, "var(--jp-ui-font-color2, #555)"
        )
        self.status.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _render_groups(self) -> None:
        counts = self.manager.sync.group_counts()
        needle = self.group_filter.value.strip().lower()
        names = [g for g in counts if needle in g.lower()]
        if self.group is not None and self.group not in counts and needle in self.group.lower():
            names.append(self.group)  # keep an emptied/new group selected
            names.sort()
        options = [(f"{g}  ({counts.get(g, 0):,})", g) for g in names]
        was = self._syncing
        self._syncing = True
        try:
            if list(self.groups.options) != options:
                self.groups.options = options
            want = self.group if self.group in names else None
            if self.groups.value != want:
                self.groups.value = want
        finally:
            self._syncing = was
        shown = f"{len(names)} of {len(counts)} groups" if needle else f"{len(counts)} groups"
        self.groups_summary.value = f"<small>{shown} · {sum(counts.values()):,} items</small>"

    def _fetch_page(self, group: str, offset: int, limit: int) -> list[tuple[str, Any]]:
        """One page of ``group`` in the current order, without loading the rest of the group."""
        return self.manager.sync.items(group, offset, limit, order=self.order)

    def _render_items(self) -> None:
        g = self.group
        size = int(self.page_size.value)
        if g is None:
            self.total, rows = 0, []
            self.items_heading.value = "<span class='motia-nb-heading'>Items</span> <small>select a group</small>"
        else:
            self.total = self.manager.sync.count(g)
            self.page = max(0, min(self.page, self.page_count - 1))
            rows = self._fetch_page(g, self.page * size, size) if self.total else []
            self.items_heading.value = (
                f"<span class='motia-nb-heading'>Items of <code>{html.escape(g)}</code></span> "
                f"<small>{self.total:,} items</small>"
            )
        self._page_rows = dict(rows)
        width = min(_KEY_COLUMN, max((len(k) for k, _ in rows), default=0))
        options = [(_label(k, v, width), k) for k, v in rows]
        was = self._syncing
        self._syncing = True
        try:
            if list(self.items.options) != options:
                self.items.options = options
            want = self.key if self.key in self._page_rows else None
            if self.items.value != want:
                self.items.value = want
        finally:
            self._syncing = was
        if self.total:
            first = self.page * size + 1
            last = min(self.total, first + size - 1)
            self.page_label.value = (
                f"&nbsp;{first:,}–{last:,} of {self.total:,} · page {self.page + 1:,}/{self.page_count:,}&nbsp;"
            )
        else:
            self.page_label.value = "&nbsp;no items&nbsp;"
        self.first_button.disabled = self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.last_button.disabled = self.page >= self.page_count - 1
        self.clear_button.disabled = not self.total

    def _render_value(self, force: bool = False) -> None:
        g, k = self.group, self.key
        if g is None or k is None:
            self.key_label.value = "<span class='motia-nb-heading'>Value</span> <small>select an item</small>"
            self._set_editor("", editable=False)
            return
        if k in self._page_rows:
            value, exists = self._page_rows[k], True
        else:  # selected, but no longer on this page (moved or deleted)
            exists = self.manager.sync.exists(g, k)
            value = self.manager.sync.get(g, k) if exists else None
        if not exists:
            self.key_label.value = (
                f"<span class='motia-nb-heading'>Value</span> <code>{html.escape(k)}</code> "
                f"<small>was deleted</small>"
            )
            self.key = None
            self._set_editor("", editable=False)
            return
        self.key_label.value = (
            f"<span class='motia-nb-heading'>Value of</span> <code>{html.escape(g)}</code> / "
            f"<code>{html.escape(k)}</code>"
        )
        text = _pretty(value)
        editing = self._loaded_text is not None and self.value_text.value != self._loaded_text
        if editing and not force:
            if text != self._loaded_text:
                self._set_status(f"{k!r} changed in the store while you were editing it: Save overwrites it, "
                                 "Revert loads the stored value")
            return
        self._set_editor(text, editable=True)

    def _set_editor(self, text: str, *, editable: bool) -> None:
        self._loaded_text = text if editable else None
        if self.value_text.value != text:
            self.value_text.value = text
        self.value_text.disabled = not editable
        self.save_button.disabled = self.revert_button.disabled = self.delete_button.disabled = not editable

    # ------------------------------------------------------------------ user actions
    def _guarded(self, fn: Callable[[], None]) -> None:
        """Run a click handler under the lock; any unexpected error goes to the status line."""
        with self._lock:
            if self._closed:
                return
            try:
                fn()
            except Exception as exc:  # shown, never raised into the front end's comm handler
                self._set_status(f"{type(exc).__name__}: {exc}", "error")

    def _on_group_selected(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._guarded(lambda: self.select_group(change["new"]))

    def _on_item_selected(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None:
            return
        self._guarded(lambda: self.select_item(change["new"]))

    def _on_view_changed(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return

        def apply() -> None:
            self.page = 0
            self.key = None
            self.refresh()

        self._guarded(apply)

    def _manual_refresh(self) -> None:
        self.refresh()
        self._set_status("refreshed")

    def _write(self, what: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run a write inside the trigger output area; report errors on the status line."""
        from motia_nb.state.errors import InvalidInputError, UpdateOpError

        # Catch inside the ``with``: in a kernel, Output.__exit__ swallows exceptions
        # (it shows the traceback in the widget), so nothing would reach an outer try.
        error: Exception | None = None
        result: Any = None
        with self.output:
            try:
                result = fn()
            except Exception as exc:
                error = exc
        if isinstance(error, (InvalidInputError, UpdateOpError)):
            self._set_status(f"{what} refused: {error}", "error")
            return False, None
        if error is not None:  # e.g. a triggered step failed after the write committed
            self._loaded_text = None  # show what the store holds now
            self.refresh()
            self._set_status(f"{what}: {type(error).__name__}: {error} (a write that committed stands)", "error")
            return False, None
        return True, result

    def _save(self) -> None:
        g, k = self.group, self.key
        if g is None or k is None:
            self._set_status("select an item first", "error")
            return
        try:
            value = parse_json_value(self.value_text.value)
        except ValueError as exc:
            self._set_status(f"not saved: {exc}; nothing was written", "error")
            return
        ok, _ = self._write(f"save {k!r}", lambda: self.manager.sync.set(g, k, value))
        if ok:
            self._loaded_text = None
            self.refresh()
            self._render_value(force=True)
            self._set_status(f"saved {g}/{k}", "ok")

    def _revert(self) -> None:
        self._loaded_text = None
        self.refresh()
        self._render_value(force=True)
        self._set_status("reloaded the stored value")

    def _delete(self) -> None:
        g, k = self.group, self.key
        if g is None or k is None:
            self._set_status("select an item first", "error")
            return
        ok, _ = self._write(f"delete {k!r}", lambda: self.manager.sync.delete(g, k))
        if ok:
            self.key = None
            self.refresh()
            self._set_status(f"deleted {g}/{k}", "ok")

    def _add(self) -> None:
        g = self.new_group.value.strip() or self.group
        k = self.new_key.value
        if not g:
            self._set_status("not added: type a group name", "error")
            return
        if not k.strip():
            self._set_status("not added: type a key", "error")
            return
        try:
            value = parse_json_value(self.new_value.value)
        except ValueError as exc:
            self._set_status(f"not added: {exc}; nothing was written", "error")
            return
        if self.manager.sync.exists(g, k):
            self._set_status(f"not added: {g}/{k} already exists; select it and Save to change it", "error")
            return
        ok, _ = self._write(f"add {k!r}", lambda: self.manager.sync.set(g, k, value))
        if ok:
            self.new_key.value = ""
            self.new_value.value = ""
            same_group = g == self.group
            self.group, self.key = g, k
            # show the page that holds the new item (it is the newest one)
            self.page = {"insertion": 10**12, "-insertion": 0}.get(self.order, self.page if same_group else 0)
            self.refresh()
            self._set_status(f"added {g}/{k}", "ok")

    def _ask_clear(self) -> None:
        if self.group is None:
            self._set_status("select a group first", "error")
            return
        n = self.manager.sync.count(self.group)
        self.confirm_label.value = (
            f"Remove all <b>{n:,}</b> items of <code>{html.escape(self.group)}</code>?&nbsp;"
        )
        self.confirm_box.layout.display = "flex"

    def _cancel_clear(self) -> None:
        self.confirm_box.layout.display = "none"

    def _confirm_clear(self) -> None:
        g = self.group
        self._cancel_clear()
        if g is None:
            return
        ok, removed = self._write(f"clear {g!r}", lambda: self.manager.sync.clear(g))
        if ok:
            self.key = None
            self.page = 0
            self.refresh()
            self._set_status(f"cleared {g}: {removed:,} items removed", "ok")

    # ------------------------------------------------------------------ live refresh
    @property
    def clear_pending(self) -> bool:
        """True while the clear confirmation is shown."""
        return self.confirm_box.layout.display != "none"

    def _on_event(self, _event: Any) -> None:
        """Subscriber (writer thread): note the change and wake the viewer's thread. Never blocks long."""
        now = time.monotonic()
        with self._flag_lock:
            if not self._pending_local:
                self._pending_local = True
                self._first_pending = now
            self._last_local = now
        self._wake.set()

    def _token(self) -> Any:
        if not getattr(self.manager, "is_open", True):
            return None  # never reopen a store somebody closed just to poll it
        try:
            return self.manager.change_token()
        except Exception:  # store closed or switched: the next refresh shows the error
            return None

    def _run(self, last_token: Any) -> None:
        """The viewer's thread: debounce local commits, poll for other processes' commits."""
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            while True:  # debounce: wait for `debounce` s of quiet, at most `max_delay` s
                with self._flag_lock:
                    pending, first, last = self._pending_local, self._first_pending, self._last_local
                if not pending:
                    break
                now = time.monotonic()
                wait = min(self.debounce - (now - last), self.max_delay - (now - first))
                if wait <= 0 or self._stop.wait(wait):
                    break
            with self._flag_lock:
                local = self._pending_local
                self._pending_local = False
            token = self._token()
            if local or token != last_token:
                last_token = token
                self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with self._flag_lock:
                if self._refresh_queued:
                    return
                self._refresh_queued = True
            try:
                loop.call_soon_threadsafe(self._live_refresh)
                return
            except RuntimeError:  # the loop was closed meanwhile: refresh from this thread
                self._loop = None
        self._live_refresh()

    def _live_refresh(self) -> None:
        with self._flag_lock:
            self._refresh_queued = False
        with self._lock:
            if self._closed:
                return
            try:
                self.refresh()
            except Exception as exc:
                self._set_status(f"live refresh failed: {type(exc).__name__}: {exc}", "error")

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("live" if self._thread is not None else "static")
        return f"<motia_nb Viewer {state} on {self.manager.url!r}, group={self.group!r}>"


def _descendants(w: widgets.Widget) -> list[widgets.Widget]:
    out: list[widgets.Widget] = []
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
