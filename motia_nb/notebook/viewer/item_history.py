"""The selected item's history in the viewer: every recorded change, with the step that made it.

*History* (next to Save / Revert / Delete) reads ``state_manager.history(group, key)``
(SPEC §9) and shows one row per change, newest first: its sequence number, when,
what happened (created / updated / deleted), the cause (a step's name, ``cell``,
``magic``, ``viewer``, ``worker:<name>``) with its process, and the value it left.
The table is about the item named in its heading, whatever is selected since;
*Hide* closes it. With history off, the status line says so.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .text import name_html

if TYPE_CHECKING:
    from motia_nb.state.manager import StateManager

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
        self.hide_button = W.Button(description="Hide", layout=W.Layout(width="auto"))
        self.table = W.HTML(layout=W.Layout(max_height="240px", overflow="auto"))
        self.box = W.VBox([W.HBox([self.heading, self.hide_button], layout=W.Layout(align_items="center")),
                           self.table], layout=W.Layout(display="none"))  # fmt: skip
        for w, name in ((self.button, "history"), (self.box, "history-box"), (self.table, "history-table"),
                        (self.hide_button, "hide-history")):  # fmt: skip
            w.add_class(f"motia-nb-{name}")


class HistoryActions:
    """Mixin of :class:`~.panel.Viewer`: show and hide the selected item's history."""

    if TYPE_CHECKING:  # provided by the panel and its layout
        manager: StateManager
        history: HistoryWidgets
        group: str | None
        key: str | None

        def _set_status(self, text: str, kind: str = "info") -> None: ...

    @property
    def history_shown(self) -> bool:
        """True while the history box is shown."""
        return self.history.box.layout.display != "none"

    async def _show_history(self) -> None:
        g, k = self.group, self.key
        if g is None or k is None:
            self._set_status("select an item first", "error")
            return
        rows = await self.manager.history(g, k, limit=HISTORY_ROWS)
        self.history.heading.value = (
            f"<span class='motia-nb-heading'>History of {name_html(g)} / {name_html(k)}</span> "
            f"<small>({len(rows)} change{'' if len(rows) == 1 else 's'}{' shown' if len(rows) == HISTORY_ROWS else ''})</small>"
        )
        self.history.table.value = history_html(rows)
        self.history.box.layout.display = "flex"

    async def _hide_history(self) -> None:
        self.history.box.layout.display = "none"
