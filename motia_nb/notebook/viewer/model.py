"""The viewer's state, as traitlets, and its paging arithmetic (pure: no widgets, no I/O).

:class:`ViewModel` holds what the user is looking at: the group, the page, the page
size, the sort order, the selected key and the group filter. The panel writes it
first and renders from it, so a widget echo (the panel setting a widget value and
the widget reporting it back) is recognised by comparing with the model, not by a
flag. ``generation`` is bumped by every change a user makes and by every render,
so a refresh that read the store before such a change knows its snapshot is stale.

The functions below are the paging arithmetic, on plain integers.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

from traitlets import Enum, HasTraits, Int, TraitError, Unicode, validate

from ..._frames import ShortTraceback
from ...state.errors import InvalidInputError
from ...state.numbers import as_int, as_number
from ...state.values import check_name
from ...steps.streams import is_stream_group

__all__ = [
    "ORDERS", "SORT_ORDERS", "PAGE_SIZES", "LAST_PAGE", "ViewModel", "page_count", "clamp_page",
    "page_offset", "page_span", "page_of_index", "page_after_add", "visible_groups", "viewer_options",
    "ViewerOptionError",
]

#: The orders ``state_manager.items(order=)`` accepts.
ORDERS: tuple[str, ...] = ("insertion", "-insertion", "key", "-key")

#: (label, order) pairs offered by the sort menu.
SORT_ORDERS: list[tuple[str, str]] = [
    ("insertion order", "insertion"),
    ("newest first", "-insertion"),
    ("key A→Z", "key"),
    ("key Z→A", "-key"),
]
PAGE_SIZES: list[int] = [25, 50, 100, 200]

#: A page number meaning "the last page" (clamped when the total is known).
LAST_PAGE = sys.maxsize


def page_count(total: int, size: int) -> int:
    """Number of pages for ``total`` items, ``size`` a page; at least 1 (an empty group has one empty page)."""
    _check(total, size)
    return max(1, math.ceil(total / size))


def clamp_page(page: int, total: int, size: int) -> int:
    """``page`` (0-based) moved into ``0 … page_count - 1``."""
    return max(0, min(int(page), page_count(total, size) - 1))


def page_offset(page: int, size: int) -> int:
    """The ``offset`` of a page's first item for ``items(offset, limit)``."""
    if page < 0 or size < 1:
        raise ValueError(f"page must be >= 0 and size >= 1, got page={page!r}, size={size!r}")
    return page * size


def page_span(page: int, total: int, size: int) -> tuple[int, int] | None:
    """1-based ``(first, last)`` item numbers shown on ``page`` (clamped), or None for an empty group."""
    if total == 0:
        _check(total, size)
        return None
    page = clamp_page(page, total, size)
    first = page * size + 1
    return first, min(total, first + size - 1)


def page_of_index(index: int, size: int) -> int:
    """The page (0-based) that shows the item at 0-based position ``index``."""
    if index < 0 or size < 1:
        raise ValueError(f"index must be >= 0 and size >= 1, got index={index!r}, size={size!r}")
    return index // size


def page_after_add(order: str, page: int, same_group: bool) -> int:
    """The page to show after adding an item (the newest one) to the group being shown.

    In insertion order it is the last page, newest first the first page; in key order
    the position depends on the key, so the current page stays (page 0 for another group).
    """
    if order == "insertion":
        return LAST_PAGE
    if order == "-insertion":
        return 0
    return page if same_group else 0


def visible_groups(counts: Mapping[str, int], needle: str) -> list[str]:
    """The group names the list shows: the groups that hold items and contain ``needle``
    (case-insensitive), sorted, state groups first, then the groups of streams
    (``<stream>::<group>``). An emptied group is not listed."""
    needle = needle.strip().lower()
    return sorted((g for g in counts if needle in g.lower()), key=lambda g: (is_stream_group(g), g))


def _check(total: int, size: int) -> None:
    if total < 0 or size < 1:
        raise ValueError(f"total must be >= 0 and size >= 1, got total={total!r}, size={size!r}")


class ViewModel(HasTraits):
    """What the viewer shows; the panel renders from it."""

    group = Unicode(None, allow_none=True, help="the selected group")
    key = Unicode(None, allow_none=True, help="the selected item's key")
    page = Int(0, help="0-based page of the selected group")
    page_size = Int(50, help="items per page")
    order = Enum(ORDERS, default_value="insertion", help="sort order of the items")
    filter = Unicode("", help="substring that filters the group list")
    total = Int(0, help="items in the selected group, as last read")
    generation = Int(0, help="bumped by each user change and each render")

    @validate("page_size")
    def _valid_size(self, proposal):  # noqa: ANN001, ANN202
        if proposal["value"] < 1:
            raise TraitError(f"page_size must be >= 1, got {proposal['value']!r}")
        return proposal["value"]

    @validate("page")
    def _valid_page(self, proposal):  # noqa: ANN001, ANN202
        return max(0, proposal["value"])

    @property
    def page_count(self) -> int:
        return page_count(self.total, self.page_size)

    def view(self) -> tuple[str | None, str | None, int, int, str]:
        """What a read depends on: (group, key, page, page_size, order)."""
        return self.group, self.key, self.page, self.page_size, self.order

    def bump(self) -> int:
        """Mark that the view changed (any snapshot read before is stale); returns the new generation."""
        self.generation += 1
        return self.generation

    def select_group(self, group: str | None) -> None:
        with self.hold_trait_notifications():
            self.group, self.key, self.page = group or None, None, 0
        self.bump()

    def go_to(self, page: int) -> None:
        page = clamp_page(page, self.total, self.page_size)
        if page != self.page:
            self.page, self.key = page, None
        self.bump()

    def reorder(self, order: str | None = None, page_size: int | None = None) -> None:
        with self.hold_trait_notifications():
            if order is not None:
                self.order = order
            if page_size is not None:
                self.page_size = page_size
            self.page, self.key = 0, None
        self.bump()


class ViewerOptionError(ShortTraceback, ValueError):
    """A bad ``viewer()`` option: shown as the cell's line and this one line."""


def viewer_options(group: "str | None", page_size: Any, poll_interval: Any, debounce: Any, max_delay: Any) -> tuple[int, float, float, float]:
    """``viewer()``'s options checked (numpy numbers too): ``(page_size, poll_interval, debounce,
    max_delay)``, or a one-line ``ValueError`` naming the one that is wrong."""
    if group is not None and (not isinstance(group, str) or not group):
        raise ViewerOptionError(f"viewer: group must be a non-empty str or None, got {group!r}")
    if group is not None:
        try:  # a name no group can have (a NUL, a lone surrogate): said now, not an empty view
            check_name(group, "group")
        except InvalidInputError as err:
            raise ViewerOptionError(f"viewer: {err}") from None
    size = as_int(page_size)
    if size is None or size < 1:
        raise ViewerOptionError(f"viewer: page_size must be a positive int, got {page_size!r}")
    seconds: list[float] = []
    for name, v in (("poll_interval", poll_interval), ("debounce", debounce), ("max_delay", max_delay)):
        n = as_number(v)
        if n is None or not math.isfinite(n) or n < 0:
            raise ViewerOptionError(f"viewer: {name} must be a non-negative number of seconds, got {v!r}")
        seconds.append(float(n))
    if seconds[0] <= 0:
        raise ViewerOptionError(f"viewer: poll_interval must be > 0 seconds, got {poll_interval!r}")
    return size, seconds[0], seconds[1], seconds[2]
