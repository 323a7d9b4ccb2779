"""SQLite's two statement shapes agree, by property.

A batch planned with point statements (one per item) and the same batch planned
set-based (a constant number of statements) must give identical results,
identical events (in order), identical errors and identical rows in identical
insertion order, for any starting table and any batch of set/update/delete/clear
writes; and both executors (the caller's thread, aiosqlite) run the same plan.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ops_properties import json_values, ops_strategy

from motia_nb.state.backends.base import Write, WriteResult
from motia_nb.state.backends.sqlite.apply import SMALL_BATCH, batch_steps
from motia_nb.state.backends.sqlite.executors import drive
from motia_nb.state.backends.sqlite.schema import migrate
from motia_nb.state.errors import StateError
from motia_nb.state.ops import normalize_ops
from motia_nb.state.values import encode_value

_GROUPS = st.sampled_from(["g", "h"])
_KEYS = st.sampled_from(["a", "b", "c", "d"])
_SMALL_VALUES = st.one_of(json_values, st.dictionaries(st.sampled_from(["a", "b", "n"]), st.integers(-3, 3), max_size=3))


class Raw(str):
    """A text another tool stored as an item's value (stored as it is, never encoded)."""


#: texts another tool stored that motia_nb does not read as JSON: a set, delete or clear over one
#: gives its text as the old value, an update over one is its StoredValueError
FOREIGN = [Raw("9" * 5000), Raw("1,2"), Raw('a,]"é€😀 [x'), Raw('"x],['), Raw("NaN"), Raw("1e400")]
_INITIAL_VALUES = st.one_of(_SMALL_VALUES, st.sampled_from(FOREIGN))

_WRITE = st.one_of(
    st.tuples(st.just("set"), _GROUPS, _KEYS, _SMALL_VALUES),
    st.tuples(st.just("update"), _GROUPS, _KEYS, st.lists(ops_strategy(), min_size=1, max_size=3)),
    st.tuples(st.just("delete"), _GROUPS, _KEYS),
    st.tuples(st.just("clear"), _GROUPS, st.none()),
)


def _write(spec: tuple[Any, ...]) -> Write | None:
    kind, g, k = spec[0], spec[1], spec[2]
    if kind == "set":
        return Write("set", g, k, value_json=encode_value(spec[3], group_id=g, key=k))
    if kind == "update":
        try:
            return Write("update", g, k, ops=normalize_ops(spec[3], group_id=g, key=k))
        except StateError:  # structurally invalid: the facade would refuse it before any backend
            return None
    if kind == "clear":
        return Write("clear", g)
    return Write("delete", g, k)


def _table(initial: list[tuple[str, str, Any]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, ":memory:")
    for g, k, v in initial:
        conn.execute(
            "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value",
            (g, k, str(v) if isinstance(v, Raw) else encode_value(v, group_id=g, key=k)),
        )
    conn.execute("BEGIN IMMEDIATE")
    return conn


def _outcome(out: WriteResult | StateError) -> Any:
    if isinstance(out, WriteResult):
        return ("ok", out.result, [dict(e) for e in out.events])
    return ("error", type(out).__name__, str(out))


def _rows(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return conn.execute("SELECT grp, key, value FROM items ORDER BY id").fetchall()


def apply(conn: sqlite3.Connection, writes: list[Write], *, set_based: bool | None = None, events: bool = True) -> list[Any]:
    return drive(batch_steps(writes, set_based=set_based), conn).outcomes(events=events)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(st.tuples(_GROUPS, _KEYS, _INITIAL_VALUES), max_size=6),
    specs=st.lists(_WRITE, min_size=1, max_size=16),
)
def test_point_and_set_based_statements_give_identical_results_events_and_rows(
    initial: list[tuple[str, str, Any]], specs: list[tuple[Any, ...]]
) -> None:
    writes = [w for w in map(_write, specs) if w is not None]
    each, batched = _table(initial), _table(initial)
    try:
        got_each = [_outcome(o) for o in apply(each, writes, set_based=False)]
        got_batched = [_outcome(o) for o in apply(batched, writes, set_based=True)]
        assert got_batched == got_each
        assert _rows(batched) == _rows(each)
    finally:
        each.close()
        batched.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(st.tuples(_GROUPS, _KEYS, _INITIAL_VALUES), max_size=6),
    specs=st.lists(_WRITE, min_size=1, max_size=10),
)
def test_a_batch_equals_its_writes_one_at_a_time(initial: list[tuple[str, str, Any]], specs: list[tuple[Any, ...]]) -> None:
    """The reference: each write alone, in order, in the same transaction."""
    writes = [w for w in map(_write, specs) if w is not None]
    alone, batched = _table(initial), _table(initial)
    try:
        got_alone = [_outcome(apply(alone, [w])[0]) for w in writes]
        got_batched = [_outcome(o) for o in apply(batched, writes)]
        assert got_batched == got_alone
        assert _rows(batched) == _rows(alone)
    finally:
        alone.close()
        batched.close()


def test_statement_shape_by_size_and_events_only_when_asked() -> None:
    """Small batches use point statements, larger ones a constant number; results are
    the same with or without events."""
    writes = [Write("set", "g", f"k{i}", value_json=str(i)) for i in range(SMALL_BATCH + 1)]
    small = batch_steps(writes[:SMALL_BATCH])
    assert len(next(small)) == SMALL_BATCH  # one SELECT per item
    big = batch_steps(writes)
    assert len(next(big)) == 1  # one json_each fetch
    conn = _table([("g", "x", 1)])
    try:
        out = apply(conn, writes + [Write("delete", "g", "x"), Write("clear", "g")], events=False)
        assert out == [{"new_value": i, "old_value": None} for i in range(SMALL_BATCH + 1)] + [1, SMALL_BATCH + 1]
        assert _rows(conn) == []
        out = apply(conn, writes + [Write("clear", "g")])
        assert [e.item_id for e in out[-1].events] == [f"k{i}" for i in range(SMALL_BATCH + 1)]
        apply(conn, writes)
        assert _rows(conn) == [("g", f"k{i}", str(i)) for i in range(SMALL_BATCH + 1)]
    finally:
        conn.close()
