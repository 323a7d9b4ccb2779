"""SPEC §2 and §4 on every backend: each API row, each bad input, each event."""

from __future__ import annotations

import asyncio
import datetime
import json
import math

import pytest

from op_table import MISSING, TABLE, Err

from motia_nb.state import InvalidInputError, StateEvent, UpdateOpError
from motia_nb.state.backends.base import Write
from motia_nb.state.jsontext import encode_trusted

pytestmark = pytest.mark.usefixtures("sm")


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- SPEC §2 rows
def test_set_returns_new_and_old_value(sm):
    assert run(sm.set("orders", "o1", {"id": "o1", "total": 9.5})) == {
        "new_value": {"id": "o1", "total": 9.5},
        "old_value": None,
    }
    assert run(sm.set("orders", "o1", {"id": "o1", "total": 10})) == {
        "new_value": {"id": "o1", "total": 10},
        "old_value": {"id": "o1", "total": 9.5},
    }


def test_get_returns_value_or_none(sm):
    assert run(sm.get("orders", "nope")) is None
    run(sm.set("orders", "o1", [1, "two", None, True]))
    assert run(sm.get("orders", "o1")) == [1, "two", None, True]
    assert run(sm.get("other-group", "o1")) is None


@pytest.mark.parametrize("value", [None, 0, -3, 2**64 - 1, 1.5, "", "text", True, False, [], {}, {"a": {"b": [1, {}]}}])
def test_every_json_kind_round_trips(sm, value):
    run(sm.set("g", "k", value))
    got = run(sm.get("g", "k"))
    assert got == value and type(got) is type(value)


def test_list_keeps_insertion_order_overwrite_keeps_place_delete_keeps_others(sm):
    for k in ["c", "a", "b", "d"]:
        run(sm.set("g", k, {"k": k}))
    assert [v["k"] for v in run(sm.list("g"))] == ["c", "a", "b", "d"]
    run(sm.set("g", "a", {"k": "a2"}))  # overwrite keeps its place
    assert [v["k"] for v in run(sm.list("g"))] == ["c", "a2", "b", "d"]
    run(sm.delete("g", "b"))
    assert [v["k"] for v in run(sm.list("g"))] == ["c", "a2", "d"]
    run(sm.set("g", "b", {"k": "b-again"}))  # a re-created item goes last
    assert [v["k"] for v in run(sm.list("g"))] == ["c", "a2", "d", "b-again"]
    assert run(sm.list("empty")) == []


def test_items_lists_keys_with_values(sm):
    run(sm.set("g", "x", 1))
    run(sm.set("g", "y", {"a": 1}))
    assert run(sm.items("g")) == [("x", 1), ("y", {"a": 1})]
    assert run(sm.items("g", offset=1, limit=5)) == [("y", {"a": 1})]
    assert run(sm.count("g")) == 2


def test_delete_returns_deleted_value_or_none(sm):
    run(sm.set("g", "k", {"v": 1}))
    assert run(sm.delete("g", "k")) == {"v": 1}
    assert run(sm.delete("g", "k")) is None
    assert run(sm.get("g", "k")) is None


def test_clear_removes_every_item_even_without_id(sm):
    run(sm.set("g", "a", {"id": "a"}))
    run(sm.set("g", "b", {"no_id": True}))
    run(sm.set("g", "c", 42))
    run(sm.set("keep", "x", 1))
    assert run(sm.clear("g")) == 3
    assert run(sm.list("g")) == []
    assert run(sm.clear("g")) == 0
    assert run(sm.get("keep", "x")) == 1


def test_update_returns_new_and_old_and_missing_item_starts_empty(sm):
    res = run(sm.update("tasks", "t1", [{"type": "increment", "path": "completedSteps", "by": 1}]))
    assert res == {"new_value": {"completedSteps": 1}, "old_value": None}
    res = run(
        sm.update(
            "tasks",
            "t1",
            [
                {"type": "increment", "path": "completedSteps", "by": 2},
                {"type": "set", "path": ["shipping", "address", "city"], "value": "Lyon"},
                {"type": "set", "path": "shipping.zip", "value": "69001"},  # one literal field (SPEC §3)
            ],
        )
    )
    assert res["old_value"] == {"completedSteps": 1}
    assert res["new_value"] == {
        "completedSteps": 3,
        "shipping": {"address": {"city": "Lyon"}},
        "shipping.zip": "69001",
    }
    assert run(sm.get("tasks", "t1")) == res["new_value"]


def test_list_groups_sorted_and_only_non_empty(sm):
    assert run(sm.list_groups()) == []
    for g in ["zeta", "alpha", "Mid", "émoji🙂"]:
        run(sm.set(g, "k", 1))
    run(sm.delete("zeta", "k"))
    assert run(sm.list_groups()) == sorted(["alpha", "Mid", "émoji🙂"])
    assert run(sm.group_counts()) == {"Mid": 1, "alpha": 1, "émoji🙂": 1}


def test_sql_looking_and_unicode_names_are_plain_data(sm):
    evil = "orders'; DROP TABLE items; --"
    key = 'k" OR 1=1 --'
    run(sm.set(evil, key, {"ok": True}))
    run(sm.set("👀 grp.with.dots/slash", "ключ", "значение"))
    assert run(sm.get(evil, key)) == {"ok": True}
    assert run(sm.get("👀 grp.with.dots/slash", "ключ")) == "значение"
    assert evil in run(sm.list_groups())
    assert run(sm.get("orders", key)) is None  # no wildcard matching


def test_sync_form_matches_async(sm):
    s = sm.sync
    assert s.set("g", "a", {"n": 1}) == {"new_value": {"n": 1}, "old_value": None}
    assert s.update("g", "a", [{"type": "increment", "path": "n", "by": 1}])["new_value"] == {"n": 2}
    assert s.get("g", "a") == {"n": 2}
    assert s.list("g") == [{"n": 2}]
    assert s.items("g") == [("a", {"n": 2})]
    assert s.list_groups() == ["g"]
    assert s.count("g") == 1
    assert s.delete("g", "a") == {"n": 2}
    s.set("g", "b", 1)
    assert s.clear("g") == 1


# ---------------------------------------------------------------- DataFrames
def test_frame_has_key_column_and_flattens_nested_objects(sm):
    run(sm.set("orders", "o1", {"status": "paid", "total": 10, "shipping": {"city": "Lyon"}}))
    run(sm.set("orders", "o2", {"status": "pending", "total": 5.5, "shipping": {"city": "Oslo"}}))
    df = run(sm.frame("orders"))
    assert list(df.columns) == ["key", "status", "total", "shipping.city"]
    assert df["key"].tolist() == ["o1", "o2"]
    assert df["shipping.city"].tolist() == ["Lyon", "Oslo"]
    assert df.groupby("status")["total"].sum().to_dict() == {"paid": 10, "pending": 5.5}
    flat = sm.sync.frame("orders", flatten=False)
    assert list(flat.columns) == ["key", "status", "total", "shipping"]


def test_frame_of_scalars_empty_groups_and_key_fields(sm):
    run(sm.set("s", "a", 1))
    run(sm.set("s", "b", {"key": "inner", "x": 2}))
    df = run(sm.frame("s"))
    assert df["key"].tolist() == ["a", "b"]
    assert df["value"].tolist()[0] == 1
    assert df["value.key"].tolist()[1] == "inner"
    empty = run(sm.frame("nothing"))
    assert list(empty.columns) == ["key"] and len(empty) == 0


# ---------------------------------------------------------------- SPEC §4 events
def test_events_for_create_update_delete_clear(sm, events):
    run(sm.set("g", "a", 1))
    run(sm.set("g", "a", 1))  # identical value still fires updated
    run(sm.update("g", "b", [{"type": "set", "path": "x", "value": 1}]))
    run(sm.delete("g", "a"))
    run(sm.delete("g", "a"))  # nothing removed: no event
    run(sm.set("g", "c", 3))
    run(sm.clear("g"))
    got = [(e.event_type, e.item_id, e.old_value, e.new_value) for e in events]
    assert got == [
        ("state:created", "a", None, 1),
        ("state:updated", "a", 1, 1),
        ("state:created", "b", None, {"x": 1}),
        ("state:deleted", "a", 1, None),
        ("state:created", "c", None, 3),
        ("state:deleted", "b", {"x": 1}, None),
        ("state:deleted", "c", 3, None),
    ]


def test_event_supports_item_and_attribute_access(sm, events):
    run(sm.set("tasks", "t", {"completedSteps": 1}))
    ev = events[0]
    assert isinstance(ev, StateEvent)
    assert ev["type"] == ev.type == "state"
    assert ev["group_id"] == ev.group_id == ev["scope"] == ev.scope == "tasks"
    assert ev["item_id"] == ev.item_id == ev["key"] == ev.key == "t"
    assert ev["new_value"] == ev.new_value == {"completedSteps": 1}
    assert isinstance(ev, dict)  # SPEC §4: an event is a dict, with the engine's keys and the seed's names
    assert ev == {
        "type": "state",
        "event_type": "state:created",
        "scope": "tasks",
        "key": "t",
        "group_id": "tasks",
        "item_id": "t",
        "old_value": None,
        "new_value": {"completedSteps": 1},
    }
    assert json.loads(json.dumps(ev)) == ev


# ---------------------------------------------------------------- bad input
class Custom:
    pass


BAD_VALUES = [
    (math.nan, "NaN"),
    (math.inf, "Infinity"),
    (-math.inf, "Infinity"),
    (datetime.datetime(2026, 1, 1), "datetime"),
    ({1, 2}, "set"),
    (b"raw", "bytes"),
    (Custom(), "Custom"),
    ({1: "x"}, "non-string key"),
    ({"nested": [{"deep": math.nan}]}, "NaN"),
]


@pytest.mark.parametrize("value,words", BAD_VALUES, ids=[w for _, w in BAD_VALUES])
def test_non_json_values_are_refused_and_nothing_stored(sm, events, value, words):
    run(sm.set("g", "k", {"before": True}))
    events.clear()
    with pytest.raises(InvalidInputError) as ei:
        run(sm.set("g", "k", value))
    msg = str(ei.value)
    assert "'g'" in msg and "'k'" in msg, msg
    assert words.lower().split()[0] in msg.lower(), msg
    assert run(sm.get("g", "k")) == {"before": True}
    with pytest.raises(InvalidInputError):
        sm.sync.set("g", "new", value)
    assert run(sm.get("g", "new")) is None
    assert events == []


@pytest.mark.parametrize("group,key", [(None, "k"), ("", "k"), (5, "k"), ("g", ""), ("g", None), ("g", 3.0), (["g"], "k")])
def test_bad_group_or_key_is_refused_everywhere(sm, events, group, key):
    calls = [
        lambda: sm.set(group, key, 1),
        lambda: sm.get(group, key),
        lambda: sm.delete(group, key),
        lambda: sm.update(group, key, [{"type": "set", "path": "a", "value": 1}]),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError) as ei:
            run(call())
        assert "group_id" in str(ei.value) or "key" in str(ei.value)
    if not (isinstance(group, str) and group):
        for call in (lambda: sm.list(group), lambda: sm.clear(group), lambda: sm.frame(group)):
            with pytest.raises(InvalidInputError):
                run(call())
    assert run(sm.list_groups()) == []
    assert events == []


FAILING_OPS = [  # (ops, op_index, the engine's code, words in the message)
    ([{"type": "increment", "path": "name", "by": 1}], 0, "increment.not_number", "name"),  # increment of a str
    ([{"type": "increment", "path": "flag", "by": 1}], 0, "increment.not_number", "flag"),  # bool is not a number
    ([{"type": "set", "path": "", "value": 5}, {"type": "merge", "value": {"a": 1}}], 1, "merge.target_not_object", "merge"),
    ([{"type": "append", "path": "name", "value": 1}], 0, "append.type_mismatch", "name"),
    ([{"type": "set", "path": "__proto__", "value": "x"}], 0, "set.path.proto_polluted", "__proto__"),
    ([{"type": "set", "path": "a", "value": 1}, {"type": "explode", "path": "a"}], 1, "op.unknown_type", "explode"),
    ([{"type": "set", "value": 1}], 0, "set.path.missing", "path"),  # field missing
    ([{"type": "increment", "path": "n", "by": "2"}], 0, "increment.by.not_integer", "by"),
    ([{"type": "increment", "path": "n", "by": 0.5}], 0, "increment.by.not_integer", "by"),
    ([{"type": "increment", "path": "n", "by": 2**63 - 1}] * 3, 2, "increment.not_number", "64-bit"),  # 1 + 3 * i64::MAX > u64::MAX
    ("not a list", None, "ops.not_a_list", "list"),
    ([{"type": "set", "path": "a", "value": math.nan}], 0, "set.value.not_json", "NaN"),
]


@pytest.mark.parametrize("ops,index,code,words", FAILING_OPS, ids=[c for *_, c, _ in FAILING_OPS])
def test_failing_op_list_leaves_item_exactly_as_it_was(sm, events, ops, index, code, words):
    before = {"name": "Ada", "flag": True, "n": 1, "list": [1]}
    run(sm.set("people", "p1", before))
    events.clear()
    with pytest.raises(UpdateOpError) as ei:
        run(sm.update("people", "p1", ops))
    err = ei.value
    assert err.group_id == "people" and err.key == "p1"
    assert err.index == err.op_index == index
    assert err.code == code
    msg = str(err)
    assert "'people'" in msg and "'p1'" in msg and words in msg, msg
    if index is not None:
        assert f"op {index}" in msg
    assert run(sm.get("people", "p1")) == before
    with pytest.raises(UpdateOpError):
        sm.sync.update("people", "p1", ops)
    assert run(sm.get("people", "p1")) == before
    assert events == []


def test_engine_op_table_on_every_backend(sm, events):
    """SPEC §3: every row of the engine-semantics table (tests/op_table.py), through
    this backend: same stored value (exact JSON types), same refusals, one event per
    applied update and none per refused one."""
    mismatches = []
    for rid, initial, ops, expected in TABLE:
        existed = initial is not MISSING
        if existed:
            try:
                run(sm.set("table", rid, initial))
            except InvalidInputError:  # an integer past the engine's 64 bits: stored as an older motia_nb did
                sm.backend.write_all([Write("set", "table", rid, value_json=encode_trusted(initial))])
        events.clear()
        try:
            res = run(sm.update("table", rid, ops))
            got: object = ("ok", json.dumps(res["new_value"], sort_keys=True))
        except UpdateOpError as err:
            got = ("error", err.code, err.op_index)
        if isinstance(expected, Err):
            want: object = ("error", expected.code, expected.index)
            stored_ok = run(sm.get("table", rid)) == (initial if existed else None) and events == []
        else:
            want = ("ok", json.dumps(expected, sort_keys=True))
            stored = json.dumps(run(sm.get("table", rid)), sort_keys=True)
            kind = "state:updated" if existed else "state:created"
            stored_ok = stored == want[1] and [(e["event_type"], e["key"]) for e in events] == [(kind, rid)]
        if got != want or not stored_ok:
            mismatches.append((rid, want, got, stored_ok))
    assert not mismatches, mismatches[:5]


def test_failing_update_on_missing_item_creates_nothing(sm, events):
    with pytest.raises(UpdateOpError):
        run(sm.update("g", "new", [{"type": "set", "path": "a", "value": 1}, {"type": "append", "path": "a", "value": 2}]))
    assert run(sm.get("g", "new")) is None
    assert run(sm.list_groups()) == []
    assert events == []


def test_a_failing_write_does_not_affect_concurrent_ones(sm):
    async def main():
        good = [sm.update("c", "n", [{"type": "increment", "path": "x", "by": 1}]) for _ in range(50)]
        bad = [sm.update("c", "n", [{"type": "append", "path": "x", "value": 1}]) for _ in range(10)]
        return await asyncio.gather(*good, *bad, return_exceptions=True)

    results = run(main())
    assert sum(isinstance(r, UpdateOpError) for r in results) == 10
    assert run(sm.get("c", "n")) == {"x": 50}


# ---------------------------------------------------------------- concurrency
def test_2000_concurrent_increments_add_exactly_2000(sm):
    async def main():
        await asyncio.gather(*(sm.update("ctr", "k", [{"type": "increment", "path": "n", "by": 1}]) for _ in range(2000)))

    run(main())
    assert run(sm.get("ctr", "k")) == {"n": 2000}


def test_increments_from_threads_are_atomic(sm):
    import threading

    def worker():
        for _ in range(100):
            sm.sync.update("ctr", "t", [{"type": "increment", "path": "n", "by": 1}])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sm.sync.get("ctr", "t") == {"n": 800}


def test_exists_tells_a_stored_null_from_a_missing_item(sm):
    run(sm.set("g", "null", None))
    assert run(sm.get("g", "null")) is None and run(sm.get("g", "missing")) is None
    assert run(sm.exists("g", "null")) is True
    assert run(sm.exists("g", "missing")) is False
    assert sm.sync.exists("g", "null") and not sm.sync.exists("g", "missing")


def test_items_pages_in_every_order(sm):
    for k in ["b", "c", "a"]:
        run(sm.set("g", k, k.upper()))
    assert [k for k, _ in run(sm.items("g", order="-insertion"))] == ["a", "c", "b"]
    assert [k for k, _ in sm.sync.items("g", order="key")] == ["a", "b", "c"]
    assert sm.sync.items("g", 1, 1, order="-key") == [("b", "B")]
    with pytest.raises(InvalidInputError, match="order must be one of"):
        sm.sync.items("g", order="random")
