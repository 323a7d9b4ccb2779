"""``keys_with_prefix``: the keys of a group starting with a prefix, from an index, not a scan.

The contract on every backend (against a brute-force answer), the base class's default,
and, on a real 1,000,000-item SQLite group, the mechanism: the query plan searches the
(grp, key) index and the number of SQLite VM steps follows the rows returned, not the
group's size. Completion (``%state get big item-0999<Tab>``) goes through it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import warnings

import pytest
from motia_nb.testing import BIG_ITEMS, get_shell
from IPython.core.completer import provisionalcompleter
from test_backend_contract import DictBackend

from motia_nb import state_manager
from motia_nb.notebook.completion import MORE_KEYS
from motia_nb.state import InvalidInputError, StateManager
from motia_nb.state.backends.base import Order, Write
from motia_nb.state.backends.sqlite.reads import PREFIX_SQL, prefix_upper_bound

KEYS = [
    "a", "ab", "abc", "abd", "ac", "b", "a*b", "a*", "a?", "a[1]", "a\\x", "é", "éa", "z",
    "\U0010ffff", "\U0010ffffa", "\ud7ff\ud7ff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "\ud7ffz", "\ue000", "order-1", "order-10", "order-2", "Order-3",
]  # fmt: skip
PREFIXES = ["", "a", "ab", "a*", "a?", "a[", "a\\", "é", "\U0010ffff", "\ud7ff", "order-1", "order-", "o", "nope"]


def brute(prefix: str, limit: int) -> list[str]:
    return sorted(k for k in set(KEYS) if k.startswith(prefix))[:limit]


def test_keys_with_prefix_on_every_backend_matches_a_brute_force_answer(sm):
    for k in KEYS:
        sm.sync.set("g", k, 1)
    sm.sync.set("other", "abz", 1)  # another group never leaks in
    for prefix in PREFIXES:
        for limit in (0, 1, 2, 100):
            assert sm.sync.keys_with_prefix("g", prefix, limit) == brute(prefix, limit), (prefix, limit)
    assert asyncio.run(sm.keys_with_prefix("g", "ab", 10)) == ["ab", "abc", "abd"]
    assert sm.sync.keys_with_prefix("missing", "a", 5) == []


def test_bad_arguments_are_refused_in_one_line(sm):
    for prefix, limit in ((1, 5), ("a", -1), ("a", True), ("\x00", 5), ("\ud800", 5)):
        with pytest.raises(InvalidInputError):
            sm.sync.keys_with_prefix("g", prefix, limit)


def test_the_default_pages_in_key_order_and_stops_past_the_prefix():
    b = DictBackend()
    for i in range(2500):
        b.submit(Write("set", "g", f"k{i:04d}", value_json="1")).result()
    b.submit(Write("set", "g", "a", value_json="1")).result()
    b.reads.clear()
    assert b.keys_with_prefix("g", "k00", 1000) == [f"k{i:04d}" for i in range(100)]
    assert b.reads == [("items", Order.KEY)]  # one page: the first key past "k00" ends the read
    assert b.keys_with_prefix("g", "k", 3) == ["k0000", "k0001", "k0002"]
    assert b.keys_with_prefix("g", "k2", 1000) == [f"k{i:04d}" for i in range(2000, 2500)]
    assert b.keys_with_prefix("g", "", 2) == ["a", "k0000"]


def test_upper_bound_skips_surrogates_and_the_last_code_point():
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("") is None and prefix_upper_bound("\U0010ffff") is None
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\ud7ff") == "\ue000"


# ----------------------------------------------------------------------------- 1,000,000 items
N = BIG_ITEMS  # the big_db fixture's group 'big' (motia_nb.testing.fixtures)


def vm_steps(conn: sqlite3.Connection, fn):
    """Run ``fn()``; return its result and how many SQLite VM steps ``conn`` executed."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        return fn(), steps[0]
    finally:
        conn.set_progress_handler(None, 1)


def test_a_prefix_query_reads_the_index_range_not_the_group(big_db):
    sm = StateManager(big_db)
    try:
        assert sm.sync.count("big") == N
        conn = sm.backend._rconn  # the read connection the query runs on
        plan = conn.execute("EXPLAIN QUERY PLAN " + PREFIX_SQL, ("big", "item-0999", "item-099:", 10)).fetchall()
        (detail,) = [row[3] for row in plan]
        assert detail.startswith("SEARCH items USING COVERING INDEX") and "(grp=? AND key>? AND key<?)" in detail

        found, steps = vm_steps(conn, lambda: sm.sync.keys_with_prefix("big", "item-0999", 101))
        assert found == [f"item-{i:07d}" for i in range(999_000, 999_101)]
        few, few_steps = vm_steps(conn, lambda: sm.sync.keys_with_prefix("big", "item-0999", 11))
        assert len(few) == 11
        last, last_steps = vm_steps(conn, lambda: sm.sync.keys_with_prefix("big", "item-0999999", 101))
        assert last == ["item-0999999"]
        # the work follows the rows returned: 90 more rows cost < 20 steps each, one row a handful
        assert steps - few_steps < 90 * 20 and last_steps < 100
        # and the counter does see a scan: reading the whole group costs millions of steps
        _, scan_steps = vm_steps(conn, lambda: conn.execute("SELECT count(*) FROM items WHERE grp = 'big' AND value = 'x'").fetchall())
        assert scan_steps > N
    finally:
        sm.close()


def test_completion_finds_any_key_of_the_big_group_and_says_when_more_match(big_db):
    ip = get_shell()
    previous = state_manager.url
    ip.run_line_magic("state", f"use {big_db}")
    try:
        def complete(code: str):
            with provisionalcompleter():
                return [(c.text, c.type) for c in ip.Completer.completions(code, len(code))]

        cap = ip.run_line_magic("config", "MotiaNB.completion_max_keys")
        assert complete("%state get big item-0999999") == [("item-0999999", "key")]
        got = complete("%state get big item-09999")
        assert sorted(got) == [(f"item-{i:07d}", "key") for i in range(999_900, 1_000_000)]  # 100 < cap: no hint
        many = complete("%state get big item-099")  # 10,000 keys match
        keys = [t for t, kind in many if kind == "key"]
        assert cap < 500 and keys == [f"item-{i:07d}" for i in range(990_000, 990_000 + cap)]  # IPython shows <= 500
        assert ("item-099", MORE_KEYS) in many and len(many) == cap + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            assert ip.complete("", "%state get big item-0123456", len("%state get big item-0123456"))[1] == ["item-0123456"]
    finally:
        ip.run_line_magic("state", f'use "{previous}"')
