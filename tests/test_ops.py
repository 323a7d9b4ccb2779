"""motia_nb.state.ops: every row of SPEC §3, every error, and copy-on-write."""

from __future__ import annotations

import copy
import math
import pickle
from typing import Any

import pytest

from motia_nb.state.errors import UpdateOpError
from motia_nb.state.ops import MISSING, OP_TYPES, NormalizedOp, apply_ops, format_path, normalize_ops
from motia_nb.state.values import MAX_DEPTH

G, K = "orders", "o1"


def apply(current: Any, ops: Any) -> Any:
    """apply_ops, also checking that ``current`` is left exactly as it was."""
    before = copy.deepcopy(current)
    new = apply_ops(current, ops, group_id=G, key=K)
    assert current == before
    assert_same_types(current, before)
    return new


def assert_same_types(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same_types(a[k], b[k])
    elif isinstance(a, list):
        for x, y in zip(a, b, strict=True):
            assert_same_types(x, y)


def fails(current: Any, ops: Any, index: int | None, reason: str) -> UpdateOpError:
    """Assert apply_ops raises for op ``index`` with exactly ``reason``; current untouched."""
    before = copy.deepcopy(current)
    with pytest.raises(UpdateOpError) as info:
        apply_ops(current, ops, group_id=G, key=K)
    err = info.value
    assert current == before
    assert err.reason == reason
    assert err.index == index
    assert err.group_id == G and err.key == K
    msg = str(err)
    assert f"{G!r}/{K!r}" in msg and reason in msg
    assert (f"op {index}" in msg) if index is not None else ("the op list" in msg)
    assert msg.endswith("the item was left unchanged")
    return err


# ------------------------------------------------------------------------ set


def test_set_field_on_missing_item_starts_from_empty_object() -> None:
    assert apply(MISSING, [{"type": "set", "path": "status", "value": "paid"}]) == {"status": "paid"}


def test_set_field_keeps_others_and_order() -> None:
    new = apply({"a": 1, "b": 2}, [{"type": "set", "path": "a", "value": {"x": [1]}}])
    assert new == {"a": {"x": [1]}, "b": 2}
    assert list(new) == ["a", "b"]


def test_set_nested_creates_missing_parents() -> None:
    cur = {"shipping": {"name": "Ann"}}
    new = apply(cur, [{"type": "set", "path": "shipping.address.city", "value": "Oslo"}])
    assert new == {"shipping": {"name": "Ann", "address": {"city": "Oslo"}}}


@pytest.mark.parametrize("path", [None, "", [], ()])
def test_set_root_replaces_whole_value(path: Any) -> None:
    op: dict[str, Any] = {"type": "set", "value": [1, 2]}
    if path is not None:
        op["path"] = path
    assert apply({"a": 1}, [op]) == [1, 2]
    assert apply({"a": 1}, [{"type": "set", "path": path, "value": None}]) is None


def test_set_without_path_field_replaces_root() -> None:
    assert apply({"a": 1}, [{"type": "set", "value": "x"}]) == "x"


def test_set_list_path_allows_keys_with_dots() -> None:
    new = apply({}, [{"type": "set", "path": ["a.b", "c"], "value": 1}])
    assert new == {"a.b": {"c": 1}}
    new = apply(new, [{"type": "set", "path": ("a.b", "d"), "value": 2}])
    assert new == {"a.b": {"c": 1, "d": 2}}


def test_set_through_non_object_is_an_error() -> None:
    fails({"a": 5}, [{"type": "set", "path": "a.b", "value": 1}], 0,
          "path 'a.b' goes through 'a', which is an int (5), not an object")
    fails({"a": [1]}, [{"type": "set", "path": "a.b.c", "value": 1}], 0,
          "path 'a.b.c' goes through 'a', which is a list ([1]), not an object")
    fails({"a": {"b": "s"}}, [{"type": "set", "path": ["a", "b", "x.y"], "value": 1}], 0,
          "path ['a', 'b', 'x.y'] goes through ['a', 'b'], which is a str ('s'), not an object")
    fails({"a": None}, [{"type": "set", "path": "a.b", "value": 1}], 0,
          "path 'a.b' goes through 'a', which is None (null), not an object")


@pytest.mark.parametrize("root", [5, "text", [1, 2], None, True])
def test_non_object_root_with_path_is_an_error(root: Any) -> None:
    from motia_nb.state.values import describe

    fails(root, [{"type": "set", "path": "x", "value": 1}], 0,
          f"path 'x' goes into the root, which is {describe(root)}, not an object")


def test_set_value_is_copied_not_aliased() -> None:
    value = {"inner": [1]}
    new = apply({}, [{"type": "set", "path": "v", "value": value}])
    value["inner"].append(2)
    assert new == {"v": {"inner": [1]}}


def test_tuple_value_is_stored_as_list() -> None:
    assert apply({}, [{"type": "set", "path": "t", "value": (1, (2,))}]) == {"t": [1, [2]]}


# ---------------------------------------------------------------------- merge


def test_merge_into_root() -> None:
    cur = {"a": 1, "b": {"x": 1, "y": 2}, "arr": [1, 2]}
    new = apply(cur, [{"type": "merge", "value": {"b": {"y": 3, "z": 4}, "arr": [9], "c": 5}}])
    assert new == {"a": 1, "b": {"x": 1, "y": 3, "z": 4}, "arr": [9], "c": 5}


def test_merge_nested_objects_recursively_arrays_and_scalars_replace() -> None:
    cur = {"p": {"q": {"r": 1, "s": [1]}, "t": "keep"}}
    new = apply(cur, [{"type": "merge", "path": "p", "value": {"q": {"s": [2], "u": {"v": 1}}, "t": {"now": "obj"}}}])
    assert new == {"p": {"q": {"r": 1, "s": [2], "u": {"v": 1}}, "t": {"now": "obj"}}}


def test_merge_object_replaces_scalar_inside_target() -> None:
    assert apply({"a": {"b": 1}}, [{"type": "merge", "path": "a", "value": {"b": {"c": 2}}}]) == {"a": {"b": {"c": 2}}}


def test_merge_creates_missing_target_and_parents() -> None:
    assert apply(MISSING, [{"type": "merge", "path": "a.b", "value": {"x": 1}}]) == {"a": {"b": {"x": 1}}}
    assert apply(MISSING, [{"type": "merge", "value": {"x": 1}}]) == {"x": 1}


def test_merge_empty_object_changes_nothing_but_creates_target() -> None:
    assert apply({"a": 1}, [{"type": "merge", "value": {}}]) == {"a": 1}
    assert apply({"a": 1}, [{"type": "merge", "path": "b", "value": {}}]) == {"a": 1, "b": {}}


def test_merge_into_non_object_is_an_error() -> None:
    fails({"a": 5}, [{"type": "merge", "path": "a", "value": {"x": 1}}], 0,
          "cannot merge into 'a': it is an int (5), not an object")
    fails({"a": [1]}, [{"type": "merge", "path": "a", "value": {}}], 0,
          "cannot merge into 'a': it is a list ([1]), not an object")
    fails([1], [{"type": "merge", "value": {"x": 1}}], 0,
          "cannot merge into the root: it is a list ([1]), not an object")
    fails("s", [{"type": "merge", "path": None, "value": {"x": 1}}], 0,
          "cannot merge into the root: it is a str ('s'), not an object")


@pytest.mark.parametrize("value", [[1], "x", 5, None, True])
def test_merge_value_must_be_an_object(value: Any) -> None:
    from motia_nb.state.values import describe

    fails({}, [{"type": "merge", "value": value}], 0,
          f"a 'merge' value must be an object (dict), got {describe(value)}")


def test_merge_does_not_mutate_nested_current() -> None:
    cur = {"a": {"b": {"c": 1}}, "other": {"big": list(range(5))}}
    new = apply(cur, [{"type": "merge", "path": "a", "value": {"b": {"d": 2}}}])
    assert new["a"]["b"] == {"c": 1, "d": 2}
    assert new["other"] is cur["other"]  # untouched parts are shared, not copied


# ------------------------------------------------------- increment / decrement


def test_increment_default_by_one_and_missing_counts_as_zero() -> None:
    assert apply(MISSING, [{"type": "increment", "path": "count"}]) == {"count": 1}
    assert apply({"count": 41}, [{"type": "increment", "path": "count"}]) == {"count": 42}
    assert apply({}, [{"type": "decrement", "path": "retries"}]) == {"retries": -1}


def test_increment_by_values_and_types() -> None:
    new = apply({"i": 1, "f": 0.5}, [
        {"type": "increment", "path": "i", "by": 2},
        {"type": "increment", "path": "f", "by": 0.25},
        {"type": "decrement", "path": "j", "by": 1.5},
        {"type": "increment", "path": "big", "by": 10**30},
    ])
    assert new == {"i": 3, "f": 0.75, "j": -1.5, "big": 10**30}
    assert type(new["i"]) is int and type(new["big"]) is int and type(new["f"]) is float


def test_int_plus_int_stays_int_and_int_plus_float_is_float() -> None:
    new = apply({"n": 2}, [{"type": "increment", "path": "n", "by": 1}])
    assert type(new["n"]) is int
    new = apply({"n": 2}, [{"type": "increment", "path": "n", "by": 1.0}])
    assert new["n"] == 3.0 and type(new["n"]) is float


def test_increment_nested_creates_parents() -> None:
    assert apply({}, [{"type": "increment", "path": "stats.views.total", "by": 5}]) == {"stats": {"views": {"total": 5}}}


def test_increment_root() -> None:
    assert apply(5, [{"type": "increment", "path": "", "by": 2}]) == 7
    assert apply(1.5, [{"type": "decrement", "path": []}]) == 0.5
    fails(MISSING, [{"type": "increment", "path": ""}], 0, "cannot increment the root: it is a dict ({}), not a number")


@pytest.mark.parametrize(
    ("old", "desc"),
    [("5", "a str ('5')"), (True, "a bool (True)"), (None, "None (null)"), ([1], "a list ([1])"), ({"a": 1}, "a dict ({'a': 1})")],
)
def test_increment_non_number_is_an_error(old: Any, desc: str) -> None:
    fails({"count": old}, [{"type": "increment", "path": "count"}], 0,
          f"cannot increment 'count': it is {desc}, not a number")
    fails({"count": old}, [{"type": "decrement", "path": "count", "by": 2}], 0,
          f"cannot decrement 'count': it is {desc}, not a number")


def test_increment_overflow_to_infinity_is_an_error() -> None:
    fails({"x": 1e308}, [{"type": "increment", "path": "x", "by": 1e308}], 0,
          "increment of 'x' (1e+308 by 1e+308) gives inf, not a finite number")
    fails({"x": -1e308}, [{"type": "decrement", "path": "x", "by": 1e308}], 0,
          "decrement of 'x' (-1e+308 by 1e+308) gives -inf, not a finite number")
    with pytest.raises(UpdateOpError, match="gives inf, not a finite number") as info:  # int too big for float
        apply_ops({"x": 10**400}, [{"type": "increment", "path": "x", "by": 1.5}], group_id=G, key=K)
    assert info.value.index == 0


@pytest.mark.parametrize(
    ("by", "desc"),
    [(True, "a bool (True)"), ("1", "a str ('1')"), (None, "None (null)"), ([1], "a list ([1])")],
)
def test_by_must_be_int_or_float(by: Any, desc: str) -> None:
    fails({}, [{"type": "increment", "path": "n", "by": by}], 0, f"'by' must be an int or float, got {desc}")


@pytest.mark.parametrize(("by", "word"), [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")])
def test_by_must_be_finite(by: float, word: str) -> None:
    fails({}, [{"type": "decrement", "path": "n", "by": by}], 0, f"'by' is {word}")


def test_increment_needs_a_path() -> None:
    fails({}, [{"type": "increment"}], 0, "an 'increment' op needs a 'path' field")
    fails({}, [{"type": "decrement", "path": None}], 0, "a 'decrement' op needs a 'path' field")


# --------------------------------------------------------------------- remove


def test_remove_field() -> None:
    assert apply({"a": 1, "b": 2}, [{"type": "remove", "path": "a"}]) == {"b": 2}
    assert apply({"a": {"b": 1, "c": 2}}, [{"type": "remove", "path": "a.b"}]) == {"a": {"c": 2}}
    assert apply({"a.b": 1}, [{"type": "remove", "path": ["a.b"]}]) == {}


def test_remove_missing_field_or_parent_is_no_change() -> None:
    cur = {"a": {"b": 1}}
    assert apply(cur, [{"type": "remove", "path": "x"}]) == cur
    assert apply(cur, [{"type": "remove", "path": "x.y.z"}]) == cur
    assert apply(cur, [{"type": "remove", "path": "a.c"}]) == cur
    assert apply(MISSING, [{"type": "remove", "path": "a"}]) == {}


def test_remove_through_non_object_is_an_error() -> None:
    fails({"a": 5}, [{"type": "remove", "path": "a.b"}], 0,
          "path 'a.b' goes through 'a', which is an int (5), not an object")
    fails([1], [{"type": "remove", "path": "a"}], 0,
          "path 'a' goes into the root, which is a list ([1]), not an object")


@pytest.mark.parametrize("path", ["", [], None])
def test_remove_root_is_an_error(path: Any) -> None:
    reason = ("cannot remove the root (an empty path); use delete() to remove the item"
              if path is not None else "a 'remove' op needs a 'path' field")
    fails({"a": 1}, [{"type": "remove", "path": path}], 0, reason)


def test_remove_needs_a_path() -> None:
    fails({"a": 1}, [{"type": "remove"}], 0, "a 'remove' op needs a 'path' field")


# --------------------------------------------------------------------- append


def test_append_creates_array_and_appends() -> None:
    new = apply(MISSING, [{"type": "append", "path": "tags", "value": "a"}, {"type": "append", "path": "tags", "value": {"b": 1}}])
    assert new == {"tags": ["a", {"b": 1}]}


def test_append_to_existing_array_nested() -> None:
    cur = {"o": {"items": [1]}}
    assert apply(cur, [{"type": "append", "path": "o.items", "value": [2]}]) == {"o": {"items": [1, [2]]}}


def test_append_root() -> None:
    assert apply([1], [{"type": "append", "path": "", "value": 2}]) == [1, 2]
    fails({"a": 1}, [{"type": "append", "path": [], "value": 2}], 0,
          "cannot append to the root: it is a dict ({'a': 1}), not an array")


def test_append_to_non_array_is_an_error() -> None:
    fails({"tags": "x"}, [{"type": "append", "path": "tags", "value": 1}], 0,
          "cannot append to 'tags': it is a str ('x'), not an array")
    fails({"tags": {}}, [{"type": "append", "path": "tags", "value": 1}], 0,
          "cannot append to 'tags': it is a dict ({}), not an array")


def test_append_needs_path_and_value() -> None:
    fails({}, [{"type": "append", "value": 1}], 0, "an 'append' op needs a 'path' field")
    fails({}, [{"type": "append", "path": "x"}], 0, "an 'append' op needs a 'value' field")


# ------------------------------------------------------------ op-list structure


def test_seed_example_from_motias_guide() -> None:
    cur = {"completedSteps": 2, "status": "pending", "retries": 3}
    new = apply(cur, [
        {"type": "increment", "path": "completedSteps", "by": 1},
        {"type": "set", "path": "status", "value": "shipped"},
        {"type": "decrement", "path": "retries", "by": 1},
    ])
    assert new == {"completedSteps": 3, "status": "shipped", "retries": 2}


def test_ops_apply_in_order_and_see_each_other() -> None:
    new = apply(MISSING, [
        {"type": "set", "path": "a", "value": {"n": 1}},
        {"type": "increment", "path": "a.n", "by": 2},
        {"type": "merge", "path": "a", "value": {"m": [1]}},
        {"type": "append", "path": "a.m", "value": 2},
        {"type": "remove", "path": "a.n"},
        {"type": "set", "path": "b", "value": 1},
    ])
    assert new == {"a": {"m": [1, 2]}, "b": 1}


def test_empty_op_list_returns_current_or_empty_object() -> None:
    assert apply({"a": 1}, []) == {"a": 1}
    assert apply(MISSING, []) == {}


def test_all_or_nothing_error_on_later_op_reports_its_index() -> None:
    cur = {"count": 1, "name": "x"}
    fails(cur, [
        {"type": "increment", "path": "count"},
        {"type": "set", "path": "ok", "value": True},
        {"type": "increment", "path": "name"},
    ], 2, "cannot increment 'name': it is a str ('x'), not a number")


@pytest.mark.parametrize(
    ("ops", "reason"),
    [
        ("set", "ops must be a list of op dicts, got a str ('set')"),
        (None, "ops must be a list of op dicts, got None (null)"),
        ({"type": "set", "value": 1}, "ops must be a list of op dicts, got a single dict; wrap it in a list: [op]"),
    ],
)
def test_ops_must_be_a_list(ops: Any, reason: str) -> None:
    fails({}, ops, None, reason)


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        ("set", "an op must be a dict with a 'type', got a str ('set')"),
        ({"path": "a", "value": 1}, "the op has no 'type' (one of set, merge, increment, decrement, remove, append)"),
        ({"type": "inc", "path": "a"}, "unknown op type 'inc' (expected one of set, merge, increment, decrement, remove, append)"),
        ({"type": "incremnt", "path": "a"}, "unknown op type 'incremnt' (expected one of set, merge, increment, decrement, remove, append); did you mean 'increment'?"),
        ({"type": 3}, "unknown op type 3 (expected one of set, merge, increment, decrement, remove, append)"),
        ({"type": "SET", "value": 1}, "unknown op type 'SET' (expected one of set, merge, increment, decrement, remove, append)"),
        ({"type": "set", "path": "a", "valeu": 1}, "unknown field 'valeu' for a 'set' op (allowed: type, path, value); did you mean 'value'?"),
        ({"type": "increment", "path": "a", "value": 1}, "unknown field 'value' for an 'increment' op (allowed: type, by, path)"),
        ({"type": "remove", "path": "a", "value": 1}, "unknown field 'value' for a 'remove' op (allowed: type, path)"),
        ({"type": "set", "path": "a"}, "a 'set' op needs a 'value' field"),
        ({"type": "merge", "path": "a"}, "a 'merge' op needs a 'value' field"),
        ({"type": "set", "path": "a..b", "value": 1}, "path 'a..b' has an empty segment; for keys that contain dots give the path as a list of segments, e.g. ['a.b', 'c']"),
        ({"type": "set", "path": ".a", "value": 1}, "path '.a' has an empty segment; for keys that contain dots give the path as a list of segments, e.g. ['a.b', 'c']"),
        ({"type": "set", "path": "a.", "value": 1}, "path 'a.' has an empty segment; for keys that contain dots give the path as a list of segments, e.g. ['a.b', 'c']"),
        ({"type": "set", "path": ["a", ""], "value": 1}, "path segment 1 is an empty string"),
        ({"type": "set", "path": ["a", 0], "value": 1}, "path segment 1 is an int (0); segments must be non-empty str (paths go through objects only, not array indices)"),
        ({"type": "set", "path": 5, "value": 1}, "path must be a dot string like 'a.b' or a list of str segments, got an int (5)"),
        ({"type": "set", "path": {"a": 1}, "value": 1}, "path must be a dot string like 'a.b' or a list of str segments, got a dict ({'a': 1})"),
        ({"type": "set", "path": "a\ud800", "value": 1}, "path segment 'a\\ud800' contains a lone surrogate '\\ud800' at index 1 (not valid Unicode text)"),
        ({"type": "set", "path": "a", "value": {"items": [1, {"p": math.nan}]}}, "'value' is not JSON: $.items[1].p is NaN"),
        ({"type": "append", "path": "a", "value": {1, 2}}, "'value' is not JSON: $ is a set; use a list"),
        ({"type": "merge", "value": {"k": {3: 1}}}, "'value' is not JSON: $.k has a non-string key 3 (int); JSON object keys must be str"),
    ],
)
def test_malformed_ops_are_rejected_before_io(op: Any, reason: str) -> None:
    ops = [{"type": "set", "path": "fine", "value": 1}, op]
    fails({}, ops, 1, reason)
    with pytest.raises(UpdateOpError) as info:
        normalize_ops(ops, group_id=G, key=K)
    assert info.value.reason == reason and info.value.index == 1 and info.value.op is op


def test_error_message_format() -> None:
    err = fails({"count": "5"}, [{"type": "increment", "path": "count"}], 0,
                "cannot increment 'count': it is a str ('5'), not a number")
    assert str(err) == (
        "update on 'orders'/'o1' failed at op 0 ('increment'): cannot increment 'count': "
        "it is a str ('5'), not a number; the item was left unchanged"
    )


def test_too_deep_path_plus_value_is_rejected() -> None:
    deep: Any = 0
    for _ in range(MAX_DEPTH - 2):
        deep = [deep]
    path = ["p"] * 3
    with pytest.raises(UpdateOpError, match=f"nest deeper than {MAX_DEPTH} levels"):
        normalize_ops([{"type": "set", "path": path, "value": deep}], group_id=G, key=K)
    assert normalize_ops([{"type": "set", "path": ["p"] * 2, "value": deep}], group_id=G, key=K)
    with pytest.raises(UpdateOpError, match="path has"):
        normalize_ops([{"type": "remove", "path": ["p"] * MAX_DEPTH}], group_id=G, key=K)


# ------------------------------------------------------------- normalize_ops


def test_normalize_output() -> None:
    raw = [
        {"type": "set", "path": "a.b", "value": (1, 2)},
        {"type": "set", "value": {"x": 1}},
        {"type": "merge", "path": ["k.1", "z"], "value": {}},
        {"type": "increment", "path": "n"},
        {"type": "decrement", "path": "n", "by": 2.5},
        {"type": "remove", "path": ("r",)},
        {"type": "append", "path": "l", "value": None},
    ]
    frozen = copy.deepcopy(raw)
    norm = normalize_ops(raw, group_id=G, key=K)
    assert raw == frozen  # input untouched
    assert norm == [
        {"type": "set", "path": ["a", "b"], "value": [1, 2]},
        {"type": "set", "path": [], "value": {"x": 1}},
        {"type": "merge", "path": ["k.1", "z"], "value": {}},
        {"type": "increment", "path": ["n"], "by": 1},
        {"type": "decrement", "path": ["n"], "by": 2.5},
        {"type": "remove", "path": ["r"]},
        {"type": "append", "path": ["l"], "value": None},
    ]
    assert all(type(op) is NormalizedOp for op in norm)
    assert norm[1]["value"] is not raw[1]["value"]
    # normalised ops are accepted as-is, and give the same result as raw ops
    assert apply({"n": 1}, norm) == apply({"n": 1}, raw)
    assert normalize_ops(norm, group_id=G, key=K) == norm  # idempotent
    assert pickle.loads(pickle.dumps(norm)) == norm
    assert normalize_ops((), group_id=G, key=K) == []


def test_normalized_ops_are_reusable_across_retries() -> None:
    """A backend may retry apply_ops with the same normalised ops (e.g. Redis WATCH)."""
    norm = normalize_ops([
        {"type": "set", "path": "a", "value": {"x": {"y": 1}}},
        {"type": "merge", "path": "a", "value": {"x": {"z": 2}}},
        {"type": "append", "path": "l", "value": {"q": 1}},
        {"type": "set", "path": "l2", "value": [1]},
        {"type": "append", "path": "l2", "value": 2},
    ], group_id=G, key=K)
    snapshot = copy.deepcopy(norm)
    first = apply(MISSING, norm)
    second = apply(MISSING, norm)
    assert first == second == {"a": {"x": {"y": 1, "z": 2}}, "l": [{"q": 1}], "l2": [1, 2]}
    assert norm == snapshot


def test_missing_sentinel() -> None:
    assert repr(MISSING) == "MISSING" and not MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert type(MISSING)() is MISSING


def test_op_types_and_format_path() -> None:
    assert OP_TYPES == ("set", "merge", "increment", "decrement", "remove", "append")
    assert format_path([]) == "the root"
    assert format_path(["a", "b"]) == "'a.b'"
    assert format_path(["a.b", "c"]) == "['a.b', 'c']"


# ------------------------------------------------------------ copy-on-write


def test_copy_on_write_copies_only_touched_path() -> None:
    big = {"k%d" % i: {"v": list(range(10))} for i in range(100)}
    cur = {"big": big, "touch": {"deep": {"n": 1}}}
    new = apply(cur, [{"type": "increment", "path": "touch.deep.n"}])
    assert new["touch"]["deep"]["n"] == 2
    assert cur["touch"]["deep"]["n"] == 1
    assert new["big"] is big  # shared, not deep-copied
    assert new is not cur and new["touch"] is not cur["touch"]


def test_large_values_are_never_copied_whole() -> None:
    """Ops on a large value copy only the path they touch: the 20,000-row list is
    the very same object after 200 increments (that is what keeps them cheap)."""
    rows = [{"i": i, "s": "x" * 20} for i in range(20_000)]
    cur = {"rows": rows, "n": 0}
    for _ in range(200):
        cur = apply_ops(cur, [{"type": "increment", "path": "n"}], group_id=G, key=K)
    assert cur["n"] == 200
    assert cur["rows"] is rows


def test_deep_values_apply_without_recursion_error() -> None:
    deep_cur: Any = {"leaf": 1}
    deep_val: Any = {"leaf": 2, "new": True}
    for _ in range(MAX_DEPTH - 2):
        deep_cur = {"n": deep_cur}
        deep_val = {"n": deep_val}
    new = apply_ops(deep_cur, [{"type": "merge", "value": deep_val}], group_id=G, key=K)
    node = new
    for _ in range(MAX_DEPTH - 2):
        node = node["n"]
    assert node == {"leaf": 2, "new": True}
    node = deep_cur
    for _ in range(MAX_DEPTH - 2):
        node = node["n"]
    assert node == {"leaf": 1}
