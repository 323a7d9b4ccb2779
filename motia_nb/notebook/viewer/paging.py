"""Which items a page shows, read by keyset, and key search (async, through the state API).

A page is read from a neighbour's keys, never by counting rows from the start:

- the first page: the first ``size`` items;
- the page shown, again (a live refresh): ``size`` items from its first key on;
- the next (previous) page: after its last key (before its first key, read backwards);
- the last page: the last items, read backwards from the end;
- the page holding a key (go to key): the key's rank gives the page number, then the
  items before it on that page (read backwards) and the rest from it on.

On SQLite each of these is an index range read of about ``size`` rows wherever the page
is (``items_after``); only a jump to an arbitrary page from code (``go_to_page(n)``),
or a page whose cursor item was deleted, reads by position (``OFFSET``). Positions
shown ("51–100 of 1,000,000") count from the page the user came from: items deleted
before it shift them until the next jump to the first or last page.

``heavy`` runs a read that may scan (a rank, a substring search, an ``OFFSET`` page)
off the loop that owns the widgets; see :func:`.data.off_loop`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import clamp_page, page_count

if TYPE_CHECKING:
    from motia_nb.state.backends.key_matches import KeySearch
    from motia_nb.state.manager import StateManager

__all__ = ["REVERSED", "Page", "Found", "Heavy", "read_page", "page_of_key", "find_keys", "find_rest"]

#: each order and the same order backwards
REVERSED = {"insertion": "-insertion", "-insertion": "insertion", "key": "-key", "-key": "key"}

Heavy = Callable[[Coroutine[Any, Any, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Page:
    """One page of a group as read: its 0-based number and its (key, value) rows."""

    group: str
    order: str
    size: int
    number: int
    rows: list[tuple[str, Any]] = field(default_factory=list)

    def continues(self, group: str, order: str, size: int) -> bool:
        """True when this page can be a cursor for a page of ``group`` in ``order``, ``size`` a page."""
        return bool(self.rows) and (self.group, self.order, self.size) == (group, order, size)


async def read_page(
    m: "StateManager", group: str, order: str, size: int, total: int, target: int, shown: Page | None, heavy: Heavy
) -> Page:
    """Page ``target`` (clamped to ``total``) of ``group``, read from ``shown``'s keys when it is a neighbour."""
    target = clamp_page(target, total, size)
    if total == 0:
        return Page(group, order, size, 0, [])
    last = page_count(total, size) - 1
    cur = shown if shown is not None and shown.continues(group, order, size) else None
    rows: list[tuple[str, Any]] = []
    if target == 0:
        rows = await m.items_after(group, None, size, order=order)
    elif cur is not None and target == cur.number:
        rows = await m.items_after(group, cur.rows[0][0], size, order=order, inclusive=True)
    elif cur is not None and target == cur.number + 1:
        rows = await m.items_after(group, cur.rows[-1][0], size, order=order)
    elif cur is not None and target == cur.number - 1:
        rows = (await m.items_after(group, cur.rows[0][0], size, order=REVERSED[order]))[::-1]
        if len(rows) < size:  # fewer items before it than the page numbers say: it is the first page
            target, rows = 0, await m.items_after(group, None, size, order=order)
    elif target == last:
        rows = (await m.items_after(group, None, total - last * size, order=REVERSED[order]))[::-1]
    if not rows:  # a jump to an arbitrary page, or the cursor item is gone: by position
        rows = await heavy(m.items(group, target * size, size, order=order))
    return Page(group, order, size, target, rows)


async def page_of_key(m: "StateManager", group: str, key: str, order: str, size: int, heavy: Heavy) -> Page | None:
    """The page that holds ``key`` in ``order`` (None when the group has no such item)."""
    rank = await heavy(m.rank(group, key, order=order))
    if rank is None:
        return None
    number, before = divmod(rank, size)
    rows = (await m.items_after(group, key, before, order=REVERSED[order]))[::-1] if before else []
    rows += await m.items_after(group, key, size - before, order=order, inclusive=True)
    return Page(group, order, size, number, rows)


@dataclass(frozen=True)
class Found:
    """The keys a search found: those starting with the text first, then those containing it."""

    text: str
    keys: list[str]
    more: bool  # more keys match than ``keys`` holds
    #: None: the answer is complete; else a partial one, every key up to this one searched
    #: (a big group scanned while its index is built): :func:`find_rest` completes it
    through: str | None = None
    starting: int = 0  # how many keys start with the text (all listed first)

    @property
    def complete(self) -> bool:
        return self.through is None


async def find_keys(
    m: "StateManager", group: str, text: str, limit: int, heavy: Heavy, *, budget: float | None = None
) -> Found:
    """Keys of ``group`` that start with ``text`` (an index range on SQLite), then the others
    that contain it (from the trigram index, or a scan stopped at ``limit``); at most ``limit``.
    With ``budget`` (seconds) the search for the others may stop early: a partial answer."""
    starting = await m.keys_with_prefix(group, text, limit + 1)
    keys = list(starting)
    if len(keys) > limit:
        return Found(text, keys[:limit], True, None, len(starting))
    found = await heavy(m.search_keys(group, text, limit + 1 + len(starting), budget=budget))
    return _merged(text, keys, found, limit, len(starting))


async def find_rest(
    m: "StateManager", group: str, found: Found, limit: int, heavy: Heavy, *,
    budget: float | None = None, wanted: Callable[[], bool] = lambda: True,
) -> Found:
    """``found`` completed: the keys containing its text after ``found.through`` (off the loop),
    in pieces of ``budget`` seconds each; it stops early, still partial, once ``wanted()`` is
    false (the user typed on: a stale search stops within one piece)."""
    while not found.complete and wanted():
        rest = await heavy(m.search_keys(group, found.text, limit + 1 + found.starting, after=found.through,
                                         budget=budget))
        found = _merged(found.text, found.keys, rest, limit, found.starting)
    return found


def _merged(text: str, keys: list[str], found: "KeySearch", limit: int, starting: int) -> Found:
    keys = keys + [k for k in found.keys if not k.startswith(text)]
    if len(keys) > limit:  # the first ``limit`` are the complete answer's, partial search or not
        return Found(text, keys[:limit], True, None, starting)
    return Found(text, keys, False, found.through, starting)
