"""The selected item's history in the viewer: every recorded change, with the step that made it.

*History* (next to Save / Revert / Delete) reads ``state_manager.history(group, key)``
(SPEC §9) and shows one row per change, newest first: its sequence number, when,
what happened (created / updated / deleted), the cause (a step's name, ``cell``,
``magic``, ``viewer``, ``worker:<name>``) with its process, and the value it left.
The table is about the item named in its heading, whatever is selected since;
*Hide* closes it.

While it is open it follows its item (SPEC §9, issue 16): a change event of that item
(this kernel, a step, the viewer, another process: the events the viewer subscribes to),
a new ``history_keep`` (retention pruning, history turned off or on) or a whole re-read of
the store (Refresh; another process's commit no event tells of) marks it stale, and the
refresh that follows reads its history again. A change of any other item reads none, but asks
the store (one cheap query, while the retention prunes) for the first change it keeps: when the
oldest change read is older, other items' changes pushed it out of the retention (SQLite keeps
the newest N changes of the store, Redis of the group; or it aged past the kept age) and the
history is read again, so the table lists what the retention keeps.
With history off the box says so (what was recorded before stays listed). It lists the
newest :data:`HISTORY_ROWS` changes and says when older ones are left out.

Known limit: a row that ages past the kept age while nothing changes in the store stays listed
until the next change (of any item), ``history_keep`` is set, or Refresh.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ...state.history import DEFAULT_KEEP
from .text import name_html

if TYPE_CHECKING:
    from motia_nb.state.manager import StateManager

    from .paging import Heavy

__all__ = ["HistoryWidgets", "HistoryActions", "history_html", "HISTORY_ROWS"]

#: Changes shown (the newest ones).
HISTORY_ROWS = 50
_VALUE_CHARS = 80

_WHAT = {"state:created": "created", "state:updated": "updated", "state:deleted": "deleted"}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def history_html(rows: Sequence[dict[str, Any]]) -> str:
    """Change dicts (oldest first, as ``history()`` returns them) as an HTML table, newest first."""
    if not rows:
        return "<i>no recorded change</i>"
    out = ["<table class='motia-nb-history-table'><tr><th>#</th><th>when (UTC)</th><th>change</th>"
           "<th>by</th><th>value after</th></tr>"]  # fmt: skip
    for r in reversed(rows):
        what = _WHAT.get(r["event_type"], r["event_type"])
        after = "—" if r["event_type"] == "state:deleted" else _short(r["new_value"])
        when = str(r["at"]).replace("T", " ")[:19]
        by = f"{html.escape(str(r['cause']))} <small>(pid {r['pid']})</small>"
        out.append(
            f"<tr><td>{r['seq']}</td><td>{html.escape(when)}</td><td>{what}</td>"
            f"<td>{by}</td>"
            f"<td><code>{html.escape(after)}</code></td></tr>"
        )
    out.append("</table>")
    return "".join(out)


class HistoryWidgets:
    """The widgets: the *History* button and the box showing the table (hidden until asked)."""

    def __init__(self) -> None:
        W = widgets
        self.button = W.Button(description="History", icon="history", tooltip="every recorded change of this item",
                               layout=W.Layout(width="auto"))  # fmt: skip
        self.heading = W.HTML()
        self.hide_button = W.Button(description="Hide", layout=W.Layout(width="auto", flex="0 0 auto"))  # never "H…"
        self.note = W.HTML()  # history off: said here, above the changes recorded before
        self.table = W.HTML(layout=W.Layout(max_height="240px", overflow="auto"))
        self.box = W.VBox([W.HBox([self.heading, self.hide_button], layout=W.Layout(align_items="center")),
                           self.note, self.table], layout=W.Layout(display="none"))  # fmt: skip
        for w, name in ((self.button, "history"), (self.box, "history-box"), (self.table, "history-table"),
                        (self.hide_button, "hide-history"), (self.note, "history-note")):  # fmt: skip
            w.add_class(f"motia-nb-{name}")

    @property
    def box_text(self) -> str:
        """The heading and the note as text (tags removed)."""
        return html.unescape(re.sub(r"<[^>]+>", "", f"{self.heading.value} {self.note.value}"))


class HistoryActions:
    """Mixin of :class:`~.panel.Viewer`: show and hide the selected item's history, and keep it current."""

    if TYPE_CHECKING:  # provided by the panel and its layout
        manager: StateManager
        history: HistoryWidgets
        group: str | None
        key: str | None
        live: Any
        _loop: Any
        _closed: bool
        _heavy: Heavy

        def _set_status(self, text: str, kind: str = "info") -> None: ...

    #: the item whose history the box shows (None while hidden)
    _history_item: tuple[str, str] | None = None
    #: a change of that item, or of the retention, since its history was read (set on any thread)
    _history_stale = False
    #: a change of another item since the history was read or checked (set on any thread)
    _history_others = False
    #: the seq of the oldest change read (None: none), checked against the retention's first kept
    _history_oldest: int | None = None

    @property
    def history_shown(self) -> bool:
        """True while the history box is shown."""
        return self.history.box.layout.display != "none"

    def _watch_history_settings(self) -> None:
        """Be told of a new ``history_keep`` (pruning, off, on) and a switched store (held weakly)."""
        watch = getattr(self.manager, "_watch_settings", None)
        if watch is not None:
            watch(self._history_setting)

    def _history_event(self, event: Any) -> None:
        """A change event (a writer's or a subscriber's thread): is it of the item shown?"""
        item = self._history_item
        if item is None:
            return
        if event.get("group_id") == item[0] and event.get("key") == item[1]:
            self._history_stale = True
        else:  # it may push the item's oldest changes out of the retention
            self._history_others = True

    def _history_setting(self, name: str, _value: Any) -> None:
        """A setting the manager took (any thread): the retention or the store changed what is kept."""
        if name not in ("history_keep", "database") or self._history_item is None or self._closed:
            return
        self._history_stale = True
        live = self.live
        if live is not None:
            try:
                self._loop.call_soon_threadsafe(live.notify)
            except RuntimeError:  # the home loop is closed
                pass

    async def _follow_history(self, whole: bool) -> None:
        """After a refresh: read the open history again if its item (or the retention) changed,
        or the store was read whole (``whole``: a change no event told of)."""
        item = self._history_item
        if item is None or self._closed:
            return
        if not (self._history_stale or whole or await self._history_pushed_out(item[0])):
            return
        if self._history_item == item:
            await self._read_history(*item)

    async def _history_pushed_out(self, g: str) -> bool:
        """After other items' changes: is the oldest change read past the retention now?"""
        if not self._history_others:
            return False
        self._history_others = False  # (a change from now on sets it again)
        oldest, first_kept = self._history_oldest, getattr(self.manager, "_history_first_kept", None)
        if oldest is None or first_kept is None:
            return False
        try:
            return oldest < await first_kept(g)
        except Exception:  # noqa: BLE001 - a closed or switched store: the refresh says so; the table stays
            return False

    async def _show_history(self) -> None:
        g, k = self.group, self.key
        if g is None or k is None:
            self._set_status("select an item first", "error")
            return
        await self._read_history(g, k)
        if self._history_item == (g, k):
            self.history.box.layout.display = "flex"

    async def _read_history(self, g: str, k: str) -> None:
        self._history_item, self._history_stale, self._history_others = (g, k), False, False  # a change from now on marks it again
        # one more: are older ones left out? Off the loop: 51 changes of a big value take long to decode
        rows = await self._heavy(self.manager.history(g, k, limit=HISTORY_ROWS + 1))
        if self._history_item != (g, k):
            return  # hidden, or another item's shown, while this was read
        self._history_oldest = rows[0]["seq"] if rows else None
        more = len(rows) > HISTORY_ROWS
        rows = rows[-HISTORY_ROWS:]
        if more:
            count = (f"the newest {HISTORY_ROWS} changes; older ones: "
                     f"<code>await state_manager.history({html.escape(repr(g))}, {html.escape(repr(k))}, limit=1000)</code>")  # fmt: skip
        else:
            count = f"{len(rows)} change{'' if len(rows) == 1 else 's'}"
        self.history.heading.value = (
            f"<span class='motia-nb-heading'>History of {name_html(g)} / {name_html(k)}</span> <small>({count})</small>"
        )
        off = str(getattr(self.manager, "history_keep", "")) == "off"
        self.history.note.value = (
            "<small><b>history is off</b> (<code>MotiaNB.history_keep = \"off\"</code>): changes made now are not "
            f"recorded; below, those recorded before. <code>%config MotiaNB.history_keep = \"{DEFAULT_KEEP}\"</code> "
            "(the default) records them again.</small>" if off else ""
        )  # fmt: skip
        self.history.table.value = history_html(rows)

    async def _hide_history(self) -> None:
        self.history.box.layout.display = "none"
        self._history_item, self._history_oldest = None, None
