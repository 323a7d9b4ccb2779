"""The gathered-set fast paths give the same outcomes, events, errors and rows as the general ones.

- Distinct sets to one group (a gather filling or overwriting a group) skip the
  plan's overlay (``apply._set_steps``): checked by property against the point
  path (the general ``Plan``) and against the writes one at a time, rows and
  changelog rows included, with and without value copies.
- A set's ``new_value`` is a copy taken at submission (``values.encode_copy``)
  instead of its text decoded after commit: equal to ``json.loads(text)`` type for
  type, and untouched by later changes to the caller's value.
- A loop iteration's writes are one unit (``delivery.LoopBatch``): result-only
  and full (WriteResult) callers mixed in one gather each get their own shape; a
  bad write fails alone; writes buffered when the store closes are refused.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ops_properties import json_values
from test_sqlite_apply import _SMALL_VALUES, _outcome

from motia_nb.state.backends.base import Write, WriteResult
from motia_nb.state.backends.sqlite import SQLiteBackend
from motia_nb.state.backends.sqlite.apply import SMALL_BATCH, batch_steps
from motia_nb.state.backends.sqlite.buffers import INLINE_MAX
from motia_nb.state.backends.sqlite.changelog import COLUMNS, changes_of, insert_planned
from motia_nb.state.backends.sqlite.executors import drive
from motia_nb.state.backends.sqlite.isolate import isolated_steps
from motia_nb.state.backends.sqlite.schema import migrate
from motia_nb.state.errors import InvalidInputError, StateClosedError, StateError
from motia_nb.state.manager import StateManager
from motia_nb.state.requests import set_write, update_write
from motia_nb.state.values import NOT_COPIED, encode_copy, encode_value

_KEYS = [f"k{i}" for i in range(12)]


def _record(writes: list[Write], entries: list[Any]) -> Any:
    return insert_planned(writes, entries, at=1_500_000, pid=7, origin=7)


def _table(initial: list[tuple[str, str, Any]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, ":memory:")
    for g, k, v in initial:
        conn.execute(
            "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value",
            (g, k, encode_value(v, group_id=g, key=k)),
        )
    conn.execute("BEGIN IMMEDIATE")
    return conn


def _state(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
    rows = conn.execute("SELECT id, grp, key, value FROM items ORDER BY id").fetchall()
    changes = changes_of(conn.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq"))  # a batch's record as its changes
    return rows, changes


def _sets(keys: list[str], values: list[Any], copied: bool) -> list[Write]:
    if copied:
        return [set_write("g", k, v) for k, v in zip(keys, values)]
    return [Write("set", "g", k, encode_value(v, group_id="g", key=k)) for k, v in zip(keys, values)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(st.tuples(st.sampled_from(["g", "h"]), st.sampled_from(_KEYS), _SMALL_VALUES), max_size=10),
    keys=st.lists(st.sampled_from(_KEYS), min_size=1, max_size=12, unique=True),
    data=st.data(),
    copied=st.booleans(),
    events=st.booleans(),
)
def test_distinct_sets_to_one_group_equal_the_general_path(initial, keys, data, copied, events) -> None:
    values = data.draw(st.lists(_SMALL_VALUES, min_size=len(keys), max_size=len(keys)))
    fast, general, alone = _table(initial), _table(initial), _table(initial)
    try:
        writes = _sets(keys, values, copied)
        got_fast = drive(batch_steps(writes, set_based=True, record=_record), fast).outcomes(events=events)
        got_general = drive(batch_steps(writes, set_based=False, record=_record), general).outcomes(events=events)
        got_alone = [drive(batch_steps([w], set_based=False, record=_record), alone).outcomes(events=events)[0] for w in writes]
        norm = _outcome if events else (lambda o: o)
        assert [norm(o) for o in got_fast] == [norm(o) for o in got_general] == [norm(o) for o in got_alone]
        assert _state(fast) == _state(general) == _state(alone)
    finally:
        for c in (fast, general, alone):
            c.close()


def test_the_fast_path_is_taken_only_for_distinct_sets_to_one_group() -> None:
    n = SMALL_BATCH + 1
    sets = [Write("set", "g", f"k{i}", value_json=str(i)) for i in range(n)]
    fetch = next(batch_steps(sets))
    assert len(fetch) == 1 and "CROSS JOIN" in fetch[0][0]  # by key, in one group
    for other in (sets[:-1] + [Write("set", "g", "k0", value_json="9")],  # a key twice
                  sets[:-1] + [Write("set", "h", "k9", value_json="9")],  # two groups
                  sets[:-1] + [Write("delete", "g", "k9")]):  # not only sets
        assert "CROSS JOIN" not in next(batch_steps(other))[0][0]


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(json_values, st.tuples(st.integers(), st.text())))
def test_a_copy_equals_the_decoded_text_type_for_type(value: Any) -> None:
    try:
        text, copy = encode_copy(value, group_id="g", key="k")
    except InvalidInputError:
        with pytest.raises(InvalidInputError):
            encode_value(value, group_id="g", key="k")
        return
    assert text == encode_value(value, group_id="g", key="k")
    if copy is NOT_COPIED:
        return
    decoded = json.loads(text)
    assert copy == decoded
    assert type(copy) is type(decoded)
    if isinstance(decoded, (dict, list)):
        assert copy is not value
        items = list(copy.items()) if isinstance(copy, dict) else list(enumerate(copy))
        theirs = list(decoded.items()) if isinstance(decoded, dict) else list(enumerate(decoded))
        assert [(k, type(v)) for k, v in items] == [(k, type(v)) for k, v in theirs]


def test_a_copy_is_taken_at_submission_and_nested_values_are_decoded() -> None:
    flat = {"a": 1, "b": [1]}  # not flat: decoded from its text
    assert encode_copy(flat, group_id="g", key="k")[1] is NOT_COPIED
    value = {"a": 1, "b": 2.5, "c": None, "d": True, "e": "x"}
    w = set_write("g", "k", value)
    value["a"] = 99
    assert w.value == {"a": 1, "b": 2.5, "c": None, "d": True, "e": "x"}
    assert set_write("g", "k", (1, "x")).value == [1, "x"]
    with pytest.raises(InvalidInputError):
        set_write("g", "k", {"a": float("nan")})


def _drive_isolated(conn: sqlite3.Connection, writes: list[Write], events: bool) -> list[Any]:
    return drive(isolated_steps(writes, "test.db", events=events), conn)


def test_a_bad_write_in_a_gathered_batch_fails_alone() -> None:
    conn = _table([("g", "n", {"x": "text"})])
    try:
        writes = _sets(_KEYS[:6], list(range(6)), True) + [update_write("g", "n", [{"type": "increment", "path": "x", "by": 1}])]
        out = _drive_isolated(conn, writes, False)
        assert out[:6] == [{"new_value": i, "old_value": None} for i in range(6)]
        assert isinstance(out[6], StateError)
    finally:
        conn.close()


def test_mixed_callers_in_one_loop_iteration_get_their_own_shapes(tmp_path) -> None:
    b = SQLiteBackend(str(tmp_path / "s.db"))
    b.open()

    async def main() -> list[Any]:
        futs = []
        for i in range(10):
            w = set_write("g", f"k{i}", {"i": i})
            futs.append(b.submit_async(w, result_only=i % 3 != 0))
        futs.append(b.submit_async(set_write("g", "s", {"x": "text"}), result_only=True))
        futs.append(b.submit_async(update_write("g", "s", [{"type": "increment", "path": "x", "by": 1}]), result_only=True))
        return await asyncio.gather(*futs, return_exceptions=True)

    try:
        out = asyncio.run(main())
        for i in range(10):
            if i % 3 == 0:
                assert type(out[i]) is WriteResult and out[i].result == {"new_value": {"i": i}, "old_value": None}
                assert [e.item_id for e in out[i].events] == [f"k{i}"]
            else:
                assert out[i] == {"new_value": {"i": i}, "old_value": None}
        assert out[10] == {"new_value": {"x": "text"}, "old_value": None}
        assert isinstance(out[11], StateError)  # fails alone: the others stand
        assert b.count("g") == 11 and b.get("g", "s") == {"x": "text"}
    finally:
        b.close()


def test_writes_buffered_when_the_store_closes_are_refused_not_applied(tmp_path) -> None:
    b = SQLiteBackend(str(tmp_path / "s.db"))
    b.open()

    async def main() -> list[Any]:
        futs = [b.submit_async(set_write("g", f"k{i}", i), result_only=True) for i in range(5)]
        b._writes._closed = True  # closed between the submissions and their loop's flush
        try:
            return await asyncio.gather(*futs, return_exceptions=True)
        finally:
            b._writes._closed = False

    try:
        out = asyncio.run(main())
        assert all(isinstance(o, StateClosedError) for o in out)
        assert b.count("g") == 0
    finally:
        b.close()


def test_a_small_gather_commits_inline_a_bigger_one_on_the_driver(tmp_path: Any) -> None:
    """A loop iteration's batch of up to INLINE_MAX writes commits on the caller's thread when
    the lock is free (no aiosqlite round trip); a bigger one goes to the driver. Same answers,
    a bad write failing alone either way."""
    async def main() -> None:
        # history off: the recorder's first filing pass may hold the write lock just then, and a
        # batch that finds the lock taken is queued for the driver (correctly, but not what this shows)
        sm = StateManager(str(tmp_path / "s.db"), history_keep="off")
        try:
            await sm.set("g", "n", {"n": 1})
            path = sm.backend._writes  # type: ignore[attr-defined]
            ops = [{"type": "increment", "path": "n", "by": 1}]
            small = await asyncio.gather(
                sm.set("g", "a", [1]), sm.update("g", "n", ops), sm.update("g", "a", ops), sm.delete("g", "zz"),
                return_exceptions=True,
            )
            assert INLINE_MAX == 4 and path._aconn is None  # never went through aiosqlite
            assert small[:2] == [{"new_value": [1], "old_value": None}, {"new_value": {"n": 2}, "old_value": {"n": 1}}]
            assert isinstance(small[2], StateError) and small[3] is None
            big = await asyncio.gather(*(sm.set("g", f"k{i}", i) for i in range(INLINE_MAX + 1)))
            assert path._aconn is not None  # the driver's
            assert big == [{"new_value": i, "old_value": None} for i in range(INLINE_MAX + 1)]
            assert await sm.get("g", "n") == {"n": 2}
        finally:
            sm.close()

    asyncio.run(main())
