"""Finding an item by its key: key search and go to key (a mixin of :class:`~.panel.Viewer`).

The *find key* box answers from the database (:func:`.paging.find_keys`): the keys
that start with the text (an index range on SQLite), then those that contain it, at
most :data:`FOUND_LIMIT`, listed under the box. *Go* (or picking a found key) shows
the page that holds the key, with the item selected (:func:`.paging.page_of_key`).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from .paging import Heavy, Page, find_keys, page_of_key

if TYPE_CHECKING:
    import ipywidgets as widgets

    from motia_nb.state.manager import StateManager

    from .model import ViewModel

__all__ = ["FindActions", "FOUND_LIMIT"]

#: keys a search lists at most (more: the summary says so; type more of the key)
FOUND_LIMIT = 50


class FindActions:
    """Key search and go to key."""

    _picked: str | None = None  # the found key last picked (its echo in the box is no new search)

    if TYPE_CHECKING:  # provided by the panel and its layout
        manager: StateManager
        model: ViewModel
        goto_key: widgets.Text
        found: widgets.Select
        found_summary: widgets.HTML
        _heavy: Heavy
        _jump: Page | None
        _loaded_text: str | None
        _page_rows: dict[str, Any]
        group: str | None

        def _set_status(self, text: str, kind: str = "info") -> None: ...

        async def _refresh_async(self, force_value: bool = False, *, rescan: bool = False) -> None: ...

    async def _search(self, text: str) -> None:
        """List the keys of the selected group that start with, then contain, ``text``."""
        g = self.group
        if g is None or not text:
            self._show_found([], "" if not text else "select a group first")
            return
        if "\x00" in text:
            self._show_found([], "a key cannot contain the NUL character")
            return
        found = await find_keys(self.manager, g, text, FOUND_LIMIT, self._heavy)
        if self.goto_key.value != text:  # typed on meanwhile: that search follows
            return
        n = len(found.keys)
        if not n:
            note = f"no key of {html.escape(g)} contains <code>{html.escape(text)}</code>"
        else:
            more = f"first {n}; more match, type more of the key" if found.more else f"{n} found"
            note = f"{more} · pick one to go to it"
        self._show_found(found.keys, note)

    def _show_found(self, keys: list[str], note: str) -> None:
        with self.found.hold_sync():
            if self.found.value is not None:
                self.found.value = None
            self.found.options = keys
            self.found.layout.display = "flex" if keys else "none"
        self.found_summary.value = f"<small>{note}</small>" if note else ""

    async def _pick_found(self, key: str) -> None:
        self._picked = key
        self.goto_key.value = key
        await self._go_to_key()

    async def _go_to_key(self) -> None:
        """Show the page holding the key typed in the *find key* box, with the item selected."""
        g, k, m = self.group, self.goto_key.value, self.model
        if g is None:
            self._set_status("select a group first", "error")
            return
        if not k.strip():
            self._set_status("type the key of an item", "error")
            return
        page = None if "\x00" in k else await page_of_key(self.manager, g, k, m.order, m.page_size, self._heavy)
        if page is None:
            await self._search(k)
            self._set_status(f"no item {k!r} in {g}" + (" (see the keys found)" if self.found.options else ""),
                             "error")
            return
        with m.hold_trait_notifications():
            m.page, m.key = page.number, k
        m.bump()
        self._jump = page
        self._loaded_text = None
        await self._refresh_async(force_value=True)
        self._set_status(f"showing {g}/{k} (page {m.page + 1:,})", "ok")
