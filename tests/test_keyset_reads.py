"""Keyset paging, rank and key search in the backend contract (``items_after``, ``rank``,
``keys_containing``): every backend and the base class's defaults against a brute-force
answer; on a real 1,000,000-item SQLite group, the query plans use the indexes and the
work of a keyset page follows the rows returned, not where the page is."""

from __future__ import annotations

from test_backend_contract import DictBackend
from test_key_prefix import vm_steps

from motia_nb.state import StateManager
from motia_nb.state.backends.base import KeySearch, Order, Write
from motia_nb.state.backends.sqlite.reads import keyset_sql
from motia_nb.state.backends.sqlite.searching import scan_sql
from motia_nb.testing import BIG_ITEMS

KEYS = ["m", "b", "order-10", "a*", "z", "order-2", "é", "a", "order-1", "ab", "x[1]", "ba"]
ORDERS = list(Order)


def ordered(keys: list[str], order: Order) -> list[str]:
    if order is Order.INSERTION:
        return list(keys)
    if order is Order.NEG_INSERTION:
        return keys[::-1]
    return sorted(keys, reverse=order.descending)


def brute_after(keys: list[str], after: str | None, limit: int, order: Order, inclusive: bool) -> list[str]:
    seq = ordered(keys, order)
    if after is None:
        return seq[:limit]
    if order.by_key:
        if order.descending:
            rest = [k for k in seq if k < after or (inclusive and k == after)]
        else:
            rest = [k for k in seq if k > after or (inclusive and k == after)]
        return rest[:limit]
    if after not in seq:
        return []
    i = seq.index(after)
    return seq[i if inclusive else i + 1 :][:limit]


def check_backend(b, keys: list[str]) -> None:
    cursors = [None, *keys, "missing", "", "zz", "order-"]
    for order in ORDERS:
        for after in cursors:
            for limit in (0, 1, 3, 100):
                for inclusive in (False, True):
                    got = b.items_after("g", after, limit, order=order, inclusive=inclusive)
                    want = brute_after(keys, after, limit, order, inclusive)
                    assert [k for k, _ in got] == want, (order, after, limit, inclusive)
                    assert all(v == {"k": k} for k, v in got)
        seq = ordered(keys, order)
        for k in keys:
            assert b.rank("g", k, order=order) == seq.index(k), (order, k)
        assert b.rank("g", "missing", order=order) is None
    for needle in ("", "a", "order-1", "*", "[1", "1]", "]", "?", "a?", "é", "nope"):
        for limit in (0, 2, 100):
            want = sorted(k for k in keys if needle in k)[:limit]
            assert b.keys_containing("g", needle, limit) == want
            assert b.search_keys("g", needle, limit, budget=1.0) == KeySearch(want)  # small: never in part
            for after in ("", "a", "order-", "zz"):
                assert b.search_keys("g", needle, limit, after=after).keys == [
                    k for k in sorted(keys) if needle in k and k > after][:limit], (needle, limit, after)
    assert b.items_after("nogroup", "a", 5) == [] and b.rank("nogroup", "a") is None
    # the arguments are handled once, by Backend.items_after, for every backend
    for order in ORDERS:
        assert b.items_after("g", "a", 2, order=order.value) == b.items_after("g", "a", 2, order=order)
        assert b.items_after("g", None, -1, order=order.value) == []
    assert b.keys_containing("nogroup", "a", 5) == []


def test_every_backend_matches_a_brute_force_answer(sm) -> None:
    for k in KEYS:
        sm.sync.set("g", k, {"k": k})
    sm.sync.set("other", "aa", 1)  # another group never leaks in
    sm.sync.set("g", "m", {"k": "m"})  # an update keeps its place in insertion order
    check_backend(sm.backend, KEYS)


def test_the_base_class_defaults_match_too() -> None:
    b = DictBackend()
    for k in KEYS:
        b.submit(Write("set", "g", k, value_json=f'{{"k": "{k}"}}')).result()
    check_backend(b, KEYS)


# ----------------------------------------------------------------------------- 1,000,000 items
N = BIG_ITEMS  # the big_db fixture's group 'big' (motia_nb.testing.fixtures)


def test_keyset_pages_search_the_indexes_and_cost_a_page_wherever_they_are(big_db) -> None:
    sm = StateManager(big_db)
    try:
        b, conn = sm.backend, sm.backend._rconn
        for order in ORDERS:
            sql = keyset_sql(order, False)
            params = ("big", "big", "item-0500000", 50) if not order.by_key else ("big", "item-0500000", 50)
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "SEARCH items USING INDEX" in plan and "SCAN" not in plan, (order, plan)

        near, near_steps = vm_steps(conn, lambda: b.items_after("big", "item-0000100", 50, order=Order.INSERTION))
        far, far_steps = vm_steps(conn, lambda: b.items_after("big", "item-0900000", 50, order=Order.INSERTION))
        assert [k for k, _ in far] == [f"item-{i:07d}" for i in range(900_001, 900_051)]
        assert [k for k, _ in near][0] == "item-0000101"
        back, back_steps = vm_steps(conn, lambda: b.items_after("big", "item-0900000", 50, order=Order.NEG_KEY))
        assert [k for k, _ in back][-1] == "item-0899950"
        # a page 900,000 items in costs what a page at the start costs (OFFSET would walk 900,000 rows)
        assert far_steps < 2 * near_steps + 200 and back_steps < 2 * near_steps + 200, (near_steps, far_steps)
        _, offset_steps = vm_steps(conn, lambda: b.items("big", 900_000, 50))
        assert offset_steps > 900_000

        assert b.rank("big", "item-0123456", order=Order.KEY) == 123_456
        assert b.rank("big", "item-0123456", order=Order.NEG_INSERTION) == N - 1 - 123_456

        for sql, params in ((scan_sql(False, True), ("big", "item-1", "x", 5)),
                            (scan_sql(True, True), ("big", "item-1", "item-2", "x", 5)),
                            (scan_sql(True, False), ("big", "item-1", "x", 5))):
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan, plan  # the key index only, in its order
        assert b.keys_containing("big", "99999", 3) == ["item-0099999", "item-0199999", "item-0299999"]
    finally:
        sm.close()
