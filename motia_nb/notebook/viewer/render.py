"""Rendering a :class:`~.live.Snapshot` into the viewer's widgets.

:meth:`Rendering._apply` renders a snapshot only if the model's ``generation`` is
the one the snapshot was read at (otherwise the caller reads again). Selects get
new options and a value without passing through another value, and widget
messages are batched with ``hold_sync``; a widget echo therefore equals the model
and the panel's observers ignore it.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ...steps.streams import split_stream_group
from .data import Snapshot
from .model import page_span, visible_groups
from .text import (
    KEY_COLUMN,
    STREAM_MARK,
    display_url,
    group_label,
    item_label,
    name_html,
    pretty,
)

if TYPE_CHECKING:
    import ipywidgets as widgets

    from .model import ViewModel

__all__ = ["Rendering"]

_HEADING = "<span class='motia-nb-heading'>{}</span>"


class Rendering:
    """Mixin of :class:`~.panel.Viewer`: turn what was read into widget values."""

    if TYPE_CHECKING:  # provided by the panel and its layout
        model: ViewModel
        refresh_count: int
        _closed: bool
        _counts: dict[str, int]
        _page_rows: dict[str, Any]
        _loaded_text: str | None
        title: widgets.HTML
        status: widgets.HTML
        groups: widgets.Select
        groups_summary: widgets.HTML
        items: widgets.Select
        items_heading: widgets.HTML
        page_label: widgets.HTML
        first_button: widgets.Button
        prev_button: widgets.Button
        next_button: widgets.Button
        last_button: widgets.Button
        clear_button: widgets.Button
        key_label: widgets.HTML
        value_text: widgets.Textarea
        save_button: widgets.Button
        revert_button: widgets.Button
        delete_button: widgets.Button

    def _apply(self, snap: Snapshot, force_value: bool = False) -> bool:
        m = self.model
        if self._closed:
            return True
        if snap.generation != m.generation:
            return False  # the user changed the view while this was read: read again
        with m.hold_trait_notifications():
            m.page, m.total = snap.page, snap.total
        self._counts = snap.counts
        self.title.value = f"{_HEADING.format('motia_nb state')} <code>{html.escape(display_url(snap.url))}</code>"
        self._render_groups()
        self._render_items(snap.rows)
        self._render_value(snap.selected, force_value)
        m.bump()
        self.refresh_count += 1  # counted once rendered, so waiters see its results
        return True

    def _set_status(self, text: str, kind: str = "info") -> None:
        color = {"error": "var(--jp-error-color1, #c62828)", "ok": "var(--jp-success-color1, #2e7d32)"}.get(
            kind, "var(--jp-ui-font-color2, #555)"
        )
        text = html.escape(text)
        self.status.value = f"<span style='color:{color}' title='{text}'>{text}</span>" if text else ""

    def _render_groups(self) -> None:
        counts, m = self._counts, self.model
        names = visible_groups(counts, m.filter)
        options = [(group_label(g, counts.get(g, 0)), g) for g in names]
        _show(self.groups, options, m.group if m.group in names else None)
        shown = f"{len(names)} of {len(counts)} groups" if m.filter.strip() else f"{len(counts)} groups"
        streams = sum(1 for g in counts if split_stream_group(g))
        of_streams = f", {STREAM_MARK}{streams} of streams" if streams else ""
        self.groups_summary.value = f"<small>{shown}{of_streams} · {sum(counts.values()):,} items</small>"

    def _render_items(self, rows: list[tuple[str, Any]]) -> None:
        m = self.model
        if m.group is None:
            self.items_heading.value = f"{_HEADING.format('Items')} <small>select a group</small>"
        else:
            self.items_heading.value = f"{_HEADING.format(_items_of(m.group))} <small>{m.total:,} items</small>"
        self._page_rows = dict(rows)
        width = min(KEY_COLUMN, max((len(k) for k, _ in rows), default=0))
        options = [(item_label(k, v, width), k) for k, v in rows]
        _show(self.items, options, m.key if m.key in self._page_rows else None)
        span = page_span(m.page, m.total, m.page_size)
        if span is not None:
            self.page_label.value = (
                f"&nbsp;{span[0]:,}–{span[1]:,} of {m.total:,} · page {m.page + 1:,}/{m.page_count:,}&nbsp;"
            )
        else:
            self.page_label.value = "&nbsp;no items&nbsp;"
        self.first_button.disabled = self.prev_button.disabled = m.page == 0
        self.next_button.disabled = self.last_button.disabled = m.page >= m.page_count - 1
        self.clear_button.disabled = not m.total

    def _render_value(self, selected: tuple[bool, Any] | None, force: bool = False) -> None:
        m = self.model
        g, k = m.group, m.key
        if g is None or k is None:
            self.key_label.value = f"{_HEADING.format('Value')} <small>select an item</small>"
            self._set_editor("", editable=False)
            return
        if k in self._page_rows:
            exists, value = True, self._page_rows[k]
        else:  # selected, but not on this page (moved or deleted)
            exists, value = selected if selected is not None else (False, None)
        if not exists:
            self.key_label.value = f"{_HEADING.format('Value')} <code>{name_html(k)}</code> <small>was deleted</small>"
            m.key = None
            self._set_editor("", editable=False)
            return
        self.key_label.value = (
            f"{_HEADING.format('Value of')} <code>{name_html(g)}</code> / <code>{name_html(k)}</code>"
        )
        text = pretty(value)
        if self._editing and not force:
            if text != self._loaded_text:
                self._set_status(f"{k!r} changed in the store while you were editing it: Save overwrites it, "
                                 "Revert loads the stored value")
            return
        self._set_editor(text, editable=True)

    @property
    def _editing(self) -> bool:
        return self._loaded_text is not None and self.value_text.value != self._loaded_text

    def _set_editor(self, text: str, *, editable: bool) -> None:
        self._loaded_text = text if editable else None
        with self.value_text.hold_sync():
            if self.value_text.value != text:
                self.value_text.value = text
            self.value_text.disabled = not editable
        self.save_button.disabled = self.revert_button.disabled = self.delete_button.disabled = not editable


def _items_of(group: str) -> str:
    stream = split_stream_group(group)
    if stream is None:
        return f"Items of <code>{name_html(group)}</code>"
    name, sub = (name_html(x) for x in stream)
    return (f"Items of stream <code>{name}</code>, group <code>{sub}</code> "
            "<span class='motia-nb-badge' title='writes here fire stream triggers'>stream</span>")


def _show(select: Any, options: list[tuple[str, str]], value: str | None) -> None:
    """Give a Select new options and a value in one message, without passing through another value.

    (A Select with a selection picks its first option when its options change: the
    value is cleared first, which observers ignore.)
    """
    with select.hold_sync():
        if list(select.options) != options:
            if select.value is not None:
                select.value = None
            select.options = options
        if select.value != value:
            select.value = value
