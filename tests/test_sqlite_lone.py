"""The straight-line lone write (lone.py) does exactly what the batch path does for one write.

For any starting table (stored texts another tool wrote included: an integer over
Python's digit limit, text that is not JSON, ``NaN``, ``1e400``: a set or delete over
one gives its text as the old value, an update over one is refused) and any sequence of set / update /
delete writes (values over SQLite's length limit included), each committed alone:
:func:`commit_lone` and the general path (``isolated_steps`` over ``batch_steps``)
give the same outcomes (results, events, errors), the same rows in the same
insertion order and the same changelog rows.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ops_properties import ops_strategy
from test_sqlite_apply import (
    _GROUPS,
    _KEYS,
    _SMALL_VALUES,
    FOREIGN,
    Raw,
    _outcome,
    _write,
)

from motia_nb.state.backends.base import Write, WriteResult
from motia_nb.state.backends.sqlite.changelog import insert_planned
from motia_nb.state.backends.sqlite.executors import drive
from motia_nb.state.backends.sqlite.isolate import isolated_steps
from motia_nb.state.backends.sqlite.lone import LONE_KINDS, commit_lone
from motia_nb.state.backends.sqlite.schema import migrate
from motia_nb.state.values import encode_value

URL = "test.db"
#: SQLite's length limit here: a value over it fails its own write (SQLITE_TOOBIG)
LIMIT = 6000
BIG = {"blob": "x" * LIMIT}
UNREADABLE = "9" * 5000  # a stored integer over Python's int digit limit: it cannot be decoded


_LONE_WRITE = st.one_of(
    st.tuples(st.just("set"), _GROUPS, _KEYS, st.one_of(_SMALL_VALUES, st.just(BIG))),
    st.tuples(st.just("update"), _GROUPS, _KEYS, st.lists(ops_strategy(), min_size=1, max_size=3)),
    st.tuples(st.just("delete"), _GROUPS, _KEYS),
)
_INITIAL = st.lists(st.tuples(_GROUPS, _KEYS, st.one_of(_SMALL_VALUES, st.sampled_from(FOREIGN))), max_size=6)


def _record(writes: list[Write], entries: list[Any]) -> Any:
    return insert_planned(writes, entries, at=1_500_000, pid=7, origin=7)


def _lone_record(w: Write, g: str, k: str, old_text: Any, new_text: Any) -> Any:
    """The row :func:`_record` gives a batch of this one write (the recorder's lone_row is its lean twin)."""
    got = _record([w], [(w.kind, g, k, old_text, None, new_text)])
    return None if got is None else (got[0], got[1][0])


def _table(initial: list[tuple[str, str, Any]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, ":memory:")
    for g, k, v in initial:
        text = str(v) if isinstance(v, Raw) else encode_value(v, group_id=g, key=k)
        conn.execute(
            "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value",
            (g, k, text),
        )
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMIT)
    return conn


def _lone(conn: sqlite3.Connection, w: Write, events: bool, record: Any) -> Any:
    return commit_lone(conn, w, URL, events=events, record=None if record is None else _lone_record)


def _batch(conn: sqlite3.Connection, w: Write, events: bool, record: Any) -> Any:
    return drive(isolated_steps([w], URL, events=events, record=record), conn)


def _commit_each(conn: sqlite3.Connection, writes: list[Write], run: Any, events: bool, record: Any) -> list[Any]:
    out = []
    for w in writes:
        conn.execute("BEGIN IMMEDIATE")
        try:
            (o,) = run(conn, w, events, record)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        out.append(_outcome(o) if isinstance(o, (WriteResult, BaseException)) else ("result", o))
    return out


def _state(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
    rows = conn.execute("SELECT id, grp, key, value FROM items ORDER BY id").fetchall()
    changes = conn.execute(
        "SELECT seq, at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin FROM changes ORDER BY seq"
    ).fetchall()
    return rows, changes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=_INITIAL,
    specs=st.lists(_LONE_WRITE, min_size=1, max_size=12),
    events=st.booleans(),
    history=st.booleans(),
)
def test_a_lone_write_straight_line_equals_the_batch_path(initial, specs, events, history) -> None:
    writes = [w for w in map(_write, specs) if w is not None]
    record = _record if history else None
    lone, batch = _table(initial), _table(initial)
    try:
        got_lone = _commit_each(lone, writes, _lone, events, record)
        got_batch = _commit_each(batch, writes, _batch, events, record)
        assert got_lone == got_batch
        assert _state(lone) == _state(batch)
    finally:
        lone.close()
        batch.close()


def test_the_failure_cases_are_exercised() -> None:
    """The property above meets each per-write failure (not only the happy path)."""
    conn = _table([("g", "bad", Raw(UNREADABLE))])
    try:
        big = Write("set", "g", "a", value_json=encode_value(BIG, group_id="g", key="a"))
        over = Write("update", "g", "bad", ops=[{"type": "set", "path": ["n"], "value": 1}])
        bad_op = Write("update", "g", "a", ops=[{"type": "increment", "path": ["n"], "by": 1}])
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO items (grp, key, value) VALUES ('g', 'a', '\"text\"')")
        conn.execute("COMMIT")
        for w, why in [(big, "size limit"), (over, "'g'/'bad' cannot be read"), (bad_op, "")]:
            for run in (_lone, _batch):
                conn.execute("BEGIN IMMEDIATE")
                (o,) = run(conn, w, True, _record)
                conn.execute("COMMIT")
                assert not hasattr(o, "result") and why in str(o), (run.__name__, o)
        assert _state(conn)[1] == []  # nothing was recorded: nothing was written
        assert conn.execute("SELECT value FROM items WHERE key = 'a'").fetchone() == ('"text"',)
        assert conn.execute("SELECT value FROM items WHERE key = 'bad'").fetchone() == (UNREADABLE,)
    finally:
        conn.close()


@pytest.mark.parametrize("text", FOREIGN, ids=["bigint", "pair", "tricky", "quoted", "nan", "huge"])
@pytest.mark.parametrize("kind", ["set", "delete"])
def test_a_set_or_delete_over_a_foreign_text_gives_that_text_on_both_paths(text, kind) -> None:
    """A set or delete over another tool's text stands on both paths, its old value that text
    (as Redis hands it back), recorded as it was."""
    got = []
    for run in (_lone, _batch):
        conn = _table([("g", "a", 1), ("g", "bad", text), ("g", "b", 2)])
        try:
            w = Write("set", "g", "bad", value_json="3") if kind == "set" else Write("delete", "g", "bad")
            conn.execute("BEGIN IMMEDIATE")
            (o,) = run(conn, w, True, _record)
            conn.execute("COMMIT")
            got.append((_outcome(o), _state(conn)))
        finally:
            conn.close()
    assert got[0] == got[1]
    (_, result, events), (_rows, changes) = got[0]
    assert result == ({"new_value": 3, "old_value": str(text)} if kind == "set" else str(text))
    assert [e["old_value"] for e in events] == [str(text)]
    assert [c[4] for c in changes] == [str(text)]  # the changelog holds the text as it was


def test_only_sets_updates_and_deletes_take_the_straight_line() -> None:
    assert LONE_KINDS == {"set", "update", "delete"}
    conn = _table([])
    try:
        conn.execute("BEGIN IMMEDIATE")
        (o,) = commit_lone(conn, Write("clear", "g"), URL, events=True, record=None)
        conn.execute("COMMIT")
        assert "unknown write kind" in str(o)
    finally:
        conn.close()


@pytest.mark.parametrize("kind", sorted(LONE_KINDS))
def test_a_database_error_is_raised_for_the_caller_to_roll_back(kind) -> None:
    conn = _table([("g", "a", 1)])
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP TABLE items")
        w = {"set": Write("set", "g", "a", value_json="2"), "delete": Write("delete", "g", "a"),
             "update": Write("update", "g", "a", ops=[{"type": "set", "path": [], "value": 3}])}[kind]  # fmt: skip
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            commit_lone(conn, w, URL, events=False, record=None)
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT value FROM items").fetchall() == [("1",)]
    finally:
        conn.close()
