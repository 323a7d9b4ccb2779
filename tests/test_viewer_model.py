"""The viewer's model: paging arithmetic (exhaustively, with hypothesis) and the traitlets view state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from traitlets import TraitError

from motia_nb.notebook.viewer.model import (
    LAST_PAGE,
    ORDERS,
    ViewModel,
    clamp_page,
    page_after_add,
    page_count,
    page_of_index,
    page_offset,
    page_span,
    visible_groups,
)

totals = st.integers(min_value=0, max_value=5_000)
sizes = st.integers(min_value=1, max_value=300)
pages = st.integers(min_value=-10, max_value=10_000)


@given(totals, sizes)
def test_page_count_covers_every_item_with_no_empty_page(total: int, size: int) -> None:
    n = page_count(total, size)
    assert n >= 1
    assert n * size >= total
    if total:
        assert (n - 1) * size < total  # the last page holds at least one item
    else:
        assert n == 1  # an empty group has one empty page


@given(totals, sizes)
def test_the_pages_partition_the_items_in_order(total: int, size: int) -> None:
    shown: list[int] = []
    for p in range(page_count(total, size)):
        span = page_span(p, total, size)
        if total == 0:
            assert span is None
            continue
        assert span is not None
        first, last = span
        assert first == page_offset(p, size) + 1
        assert 1 <= last - first + 1 <= size
        shown.extend(range(first, last + 1))
    assert shown == list(range(1, total + 1))


@given(totals, sizes, pages)
def test_clamp_lands_on_an_existing_page_and_keeps_valid_ones(total: int, size: int, page: int) -> None:
    c = clamp_page(page, total, size)
    assert 0 <= c < page_count(total, size)
    assert clamp_page(c, total, size) == c
    if 0 <= page < page_count(total, size):
        assert c == page
    # a span asked for a page past the end is the last page's
    assert page_span(page, total, size) == page_span(c, total, size)


@given(st.integers(min_value=1, max_value=5_000), sizes, st.data())
def test_every_item_is_on_the_page_page_of_index_names(total: int, size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=total - 1))
    page = page_of_index(index, size)
    span = page_span(page, total, size)
    assert span is not None and span[0] <= index + 1 <= span[1]


@given(st.sampled_from(ORDERS), st.integers(min_value=0, max_value=500), st.booleans(), totals, sizes)
def test_after_an_add_the_page_shown_holds_the_newest_item(
    order: str, page: int, same_group: bool, total_before: int, size: int
) -> None:
    total = total_before + 1  # the new item
    shown = clamp_page(page_after_add(order, page, same_group), total, size)
    span = page_span(shown, total, size)
    assert span is not None
    if order == "insertion":  # the newest is the last item
        assert span[1] == total
    elif order == "-insertion":  # the newest is the first item
        assert span[0] == 1
    else:  # by key: wherever its key sorts; the page stays (another group starts at its first page)
        assert shown == (clamp_page(page, total, size) if same_group else 0)


def test_bad_paging_arguments_are_refused() -> None:
    for call in (lambda: page_count(-1, 10), lambda: page_count(10, 0), lambda: page_offset(-1, 10),
                 lambda: page_of_index(-1, 10), lambda: page_span(0, 0, 0)):
        with pytest.raises(ValueError, match=">="):
            call()
    assert page_after_add("insertion", 3, True) == LAST_PAGE


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(min_value=1, max_value=9), max_size=12),
       st.text(max_size=3))
def test_visible_groups_filter_case_insensitively(counts: dict[str, int], needle: str) -> None:
    names = visible_groups(counts, needle)
    n = needle.strip().lower()
    assert names == sorted(names)
    assert set(names) == {g for g in counts if n in g.lower()}


def test_visible_groups_examples() -> None:
    counts = {"cache": 1, "orders": 3, "users": 1}
    assert visible_groups(counts, "ER") == ["orders", "users"]
    assert visible_groups(counts, " ") == ["cache", "orders", "users"]
    assert visible_groups({}, "") == []


def test_the_view_model_resets_what_a_change_invalidates() -> None:
    m = ViewModel(group="orders", page_size=25)
    m.total = 130
    g0 = m.generation
    m.go_to(3)
    assert m.page == 3 and m.generation > g0
    m.key = "k"
    m.go_to(99)  # clamped to the last page, the selection is dropped with the page
    assert m.page == 5 and m.key is None
    m.key = "k"
    m.go_to(5)  # same page: the selection stays
    assert m.key == "k"
    m.reorder(order="-key")
    assert (m.order, m.page, m.key) == ("-key", 0, None)
    m.go_to(2)
    m.reorder(page_size=100)
    assert (m.page_size, m.page, m.page_count) == (100, 0, 2)
    m.select_group("users")
    assert (m.group, m.key, m.page) == ("users", None, 0)
    m.select_group(None)
    assert m.group is None and m.view() == (None, None, 0, 100, "-key")


def test_the_view_model_refuses_bad_values() -> None:
    m = ViewModel()
    with pytest.raises(TraitError, match="page_size"):
        m.page_size = 0
    with pytest.raises(TraitError):
        m.order = "random"
    m.page = -4
    assert m.page == 0


def test_each_change_bumps_the_generation_once_and_notifies_once() -> None:
    m = ViewModel(group="a")
    seen: list[tuple[str, object]] = []
    m.observe(lambda c: seen.append((c["name"], c["new"])), names=["group", "key", "page"])
    m.page, m.key = 2, "x"
    seen.clear()
    g = m.generation
    m.select_group("b")
    assert m.generation == g + 1
    assert sorted(seen, key=str) == sorted([("group", "b"), ("key", None), ("page", 0)], key=str)
