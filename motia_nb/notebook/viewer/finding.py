"""Finding an item by its key: key search and go to key (a mixin of :class:`~.panel.Viewer`).

The *find key* box answers from the database (:func:`.paging.find_keys`): the keys
that start with the text (an index range on SQLite), then those that contain it, at
most :data:`FOUND_LIMIT`, listed under the box. *Go* (or picking a found key) shows
the page that holds the key, with the item selected (:func:`.paging.page_of_key`).

A search never keeps the user waiting: it is given :data:`SEARCH_BUDGET` seconds. A big
SQLite group whose trigram index is still being built (in the background, from its first
search) is scanned meanwhile; when the budget runs out first, the keys found so far are
listed, labelled *searching…*, and the rest of the scan follows in a task of its own (the
viewer's actions are not held up by it), in pieces of :data:`REST_BUDGET` seconds, which
lists the complete answer unless the box or the group changed meanwhile (then it stops).
"""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING, Any

from .paging import Found, Heavy, Page, find_keys, find_rest, page_of_key
from .text import name_html

if TYPE_CHECKING:
    import ipywidgets as widgets

    from motia_nb.state.manager import StateManager

    from .model import ViewModel

__all__ = ["FindActions", "FOUND_LIMIT", "SEARCH_BUDGET", "REST_BUDGET"]

#: keys a search lists at most (more: the summary says so; type more of the key)
FOUND_LIMIT = 50
#: seconds a search may scan before the keys found so far are shown (the rest follows)
SEARCH_BUDGET = 0.04
#: seconds of each piece of the rest (between two, a search no longer wanted stops)
REST_BUDGET = 0.1


class FindActions:
    """Key search and go to key."""

    _picked: str | None = None  # the found key last picked (its echo in the box is no new search)
    _rest: "asyncio.Task[None] | None" = None  # completing a partial answer (see the module docstring)

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
        _closed: bool
        group: str | None

        def _set_status(self, text: str, kind: str = "info") -> None: ...

        async def _refresh_async(self, force_value: bool = False, *, rescan: bool = False) -> None: ...

    async def _search(self, text: str) -> None:
        """List the keys of the selected group that start with, then contain, ``text``."""
        if self._rest is not None:  # a newer search: the older one's rest is not wanted
            self._rest.cancel()
            self._rest = None
        g = self.group
        if g is None or not text:
            self._show_found([], "" if not text else "select a group first")
            return
        if "\x00" in text:
            self._show_found([], "a key cannot contain the NUL character")
            return
        found = await find_keys(self.manager, g, text, FOUND_LIMIT, self._heavy, budget=SEARCH_BUDGET)
        if self.goto_key.value != text:  # typed on meanwhile: that search follows
            return
        self._show_answer(g, found)
        if not found.complete:
            self._rest = asyncio.ensure_future(self._search_rest(g, found))

    async def _search_rest(self, g: str, found: Found) -> None:
        """Complete a partial answer (in pieces: a stale one stops), then list it if it is still wanted."""

        def wanted() -> bool:
            return self.goto_key.value == found.text and self.group == g and not self._closed

        try:
            found = await find_rest(self.manager, g, found, FOUND_LIMIT, self._heavy, budget=REST_BUDGET, wanted=wanted)
        except Exception as exc:
            if wanted():
                self._set_status(f"{type(exc).__name__}: {exc}", "error")
            return
        if wanted() and found.complete:
            self._show_answer(g, found)

    def _show_answer(self, g: str, found: Found) -> None:
        n = len(found.keys)
        if not found.complete:
            note = (f"{n} found so far · searching the rest of {name_html(g)} (keys after "
                    f"<code>{html.escape(found.through or '')}</code>)…")
        elif not n:
            note = f"no key of {name_html(g)} contains <code>{name_html(found.text)}</code>"
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
