"""motia_nb.state.ops: the iii engine's op semantics (SPEC §3), as a table, plus the rest.

The TABLE (tests/op_table.py) is the contract test: each row is (initial value, ops,
expected value or expected engine error code + op index), derived from the engine's
rules in ``iii-hq/iii`` ``engine/src/update_ops.rs``; test_state_contract.py runs the
same rows through both backends.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest

from motia_nb.state.errors import UpdateOpError
from op_table import TABLE, Err, ap, dec, inc, mg, rm, st

from motia_nb.state.ops import MISSING, OP_TYPES, NormalizedOp, apply_ops, format_path, normalize_ops
from motia_nb.state.values import MAX_DEPTH

G, K = "orders", "o1"


@pytest.mark.parametrize(("initial", "ops", "expected"), [r[1:] for r in TABLE], ids=[r[0] for r in TABLE])
def test_engine_semantics_table(initial: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    before = copy.deepcopy(initial)
    if isinstance(expected, Err):
        with pytest.raises(UpdateOpError) as info:
            apply_ops(initial, ops, group_id=G, key=K)
        err = info.value
        assert (err.code, err.op_index) == (expected.code, expected.index), str(err)
        assert err.index == err.op_index and err.group_id == G and err.key == K
        assert f"({expected.code})" in str(err) and str(err).endswith("the item was left unchanged")
    else:
        got = apply_ops(initial, ops, group_id=G, key=K)
        assert got == expected
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)  # 1 vs 1.0 vs True
    assert initial is MISSING or initial == before  # never mutates its input


def test_table_covers_every_op_type_and_every_engine_code() -> None:
    codes = {exp.code for _, _, _, exp in TABLE if isinstance(exp, Err)}
    engine_codes = {  # every code update_ops.rs can record
        "merge.path.too_deep", "merge.path.segment_too_long", "merge.path.empty_segment",
        "merge.path.proto_polluted", "merge.value.too_deep", "merge.value.too_many_keys",
        "merge.value.proto_polluted", "merge.value.not_an_object", "set.target_not_object",
        "append.target_not_object", "append.type_mismatch", "increment.target_not_object",
        "increment.not_number", "decrement.target_not_object", "decrement.not_number",
        "remove.target_not_object",
    }
    assert engine_codes <= codes, engine_codes - codes
    assert {op["type"] for _, _, ops, _ in TABLE for op in ops} == set(OP_TYPES)


# ------------------------------------------------------------- structure


@pytest.mark.parametrize(
    ("ops", "code", "reason"),
    [
        ("set", "ops.not_a_list", "ops must be a list of op dicts, got a str ('set')"),
        (None, "ops.not_a_list", "ops must be a list of op dicts, got None (null)"),
        ({"type": "set", "path": "a", "value": 1}, "ops.not_a_list",
         "ops must be a list of op dicts, got a single dict; wrap it in a list: [op]"),
    ],
)
def test_ops_must_be_a_list(ops: Any, code: str, reason: str) -> None:
    with pytest.raises(UpdateOpError) as info:
        apply_ops({}, ops, group_id=G, key=K)
    assert (info.value.code, info.value.op_index, info.value.reason) == (code, None, reason)
    assert "failed at the op list" in str(info.value)


@pytest.mark.parametrize(
    ("op", "code", "reason"),
    [
        ("set", "op.not_an_object", "an op must be a dict with a 'type', got a str ('set')"),
        ({"path": "a", "value": 1}, "op.unknown_type", "the op has no 'type' (one of set, merge, increment, decrement, remove, append)"),
        ({"type": "incremnt", "path": "a"}, "op.unknown_type",
         "unknown op type 'incremnt' (expected one of set, merge, increment, decrement, remove, append); did you mean 'increment'?"),
        ({"type": 3}, "op.unknown_type", "unknown op type 3 (expected one of set, merge, increment, decrement, remove, append)"),
        ({"type": "set", "path": "a", "valeu": 1}, "op.unknown_field",
         "unknown field 'valeu' for a 'set' op (allowed: type, path, value); did you mean 'value'?"),
        ({"type": "increment", "path": "a", "by": 1, "value": 1}, "op.unknown_field",
         "unknown field 'value' for an 'increment' op (allowed: type, by, path)"),
        ({"type": "set", "value": 1}, "set.path.missing", "a 'set' op needs a 'path' (a field name, or \"\" for the whole value)"),
        ({"type": "increment", "path": "n"}, "increment.by.missing", "an 'increment' op needs a 'by' (an integer)"),
        ({"type": "decrement", "path": "n", "by": 0.5}, "decrement.by.not_integer", "'by' must be an integer, got a float (0.5)"),
        ({"type": "increment", "path": "n", "by": -(2**63) - 1}, "increment.by.out_of_range",
         "'by' is -9223372036854775809, outside the engine's 64-bit integer range (-2**63 to 2**63-1)"),
        ({"type": "set", "path": ["a", 0], "value": 1}, "set.path.invalid",
         "path segment 1 is an int (0); segments must be str (paths go through objects only, not array indices)"),
        ({"type": "set", "path": 5, "value": 1}, "set.path.invalid",
         "path must be a str (one top-level field) or a list of str segments, got an int (5)"),
        ({"type": "set", "path": "a\ud800", "value": 1}, "set.path.invalid",
         "path segment 'a\\ud800' contains a lone surrogate '\\ud800' at index 1 (not valid Unicode text)"),
        ({"type": "remove", "path": ["a", ""]}, "remove.path.empty_segment", "path segment 1 is an empty string"),
        ({"type": "set", "path": ["k"] * 33, "value": 1}, "set.path.too_deep", "path has 33 segments; the engine allows at most 32"),
        ({"type": "set", "path": "a", "value": {"items": [1, {"p": float("nan")}]}}, "set.value.not_json",
         "'value' is not JSON: $.items[1].p is NaN"),
        ({"type": "append", "path": "a", "value": {1, 2}}, "append.value.not_json", "'value' is not JSON: $ is a set; use a list"),
        ({"type": "merge", "value": {"k": {3: 1}}}, "merge.value.not_json",
         "'value' is not JSON: $.k has a non-string key 3 (int); JSON object keys must be str"),
        ({"type": "merge", "value": ["DHL"]}, "merge.value.not_an_object", "a 'merge' value must be an object (dict), got a list (['DHL'])"),
    ],
)
def test_malformed_ops_are_refused_before_io(op: Any, code: str, reason: str) -> None:
    ops = [{"type": "set", "path": "", "value": {"fine": 1}}, op]  # op 0 cannot fail on any value
    for call in (lambda: normalize_ops(ops, group_id=G, key=K), lambda: apply_ops({}, ops, group_id=G, key=K)):
        with pytest.raises(UpdateOpError) as info:
            call()
        err = info.value
        assert (err.code, err.op_index, err.reason) == (code, 1, reason)
        assert err.op is op


def test_error_message_format_and_pickling() -> None:
    with pytest.raises(UpdateOpError) as info:
        apply_ops({"count": "5"}, [inc("count", 1)], group_id=G, key=K)
    err = info.value
    assert str(err) == (
        "update on 'orders'/'o1' failed at op 0 (increment.not_number): cannot increment 'count': "
        "it is a str ('5'), not a number; the item was left unchanged"
    )
    again = pickle.loads(pickle.dumps(err))
    assert (again.code, again.op_index, again.group_id, again.key, str(again)) == (err.code, 0, G, K, str(err))
    located = UpdateOpError("r", code="x.y").located("g", "k")
    assert (located.code, located.group_id, located.key) == ("x.y", "g", "k")


def test_value_plus_path_deeper_than_max_depth_is_refused() -> None:
    deep: Any = 0
    for _ in range(MAX_DEPTH - 2):
        deep = [deep]
    with pytest.raises(UpdateOpError) as info:
        normalize_ops([st(["p"] * 3, deep)], group_id=G, key=K)
    assert info.value.code == "set.value.too_deep"
    assert normalize_ops([st(["p"] * 2, deep)], group_id=G, key=K)


# ------------------------------------------------------------- normalize_ops


def test_normalize_output() -> None:
    raw = [
        st("a.b", (1, 2)),
        st(""),
        mg({}, ["k.1", "z"]),
        mg({"x": 1}),
        inc("n", 1),
        dec("n", -2),
        rm(("r",)),
        ap(None, "l"),
        ap("s"),
    ]
    frozen = copy.deepcopy(raw)
    norm = normalize_ops(raw, group_id=G, key=K)
    assert raw == frozen  # input untouched
    assert norm == [
        {"type": "set", "path": ["a.b"], "value": [1, 2]},
        {"type": "set", "path": [], "value": None},
        {"type": "merge", "path": ["k.1", "z"], "value": {}},
        {"type": "merge", "path": [], "value": {"x": 1}},
        {"type": "increment", "path": ["n"], "by": 1},
        {"type": "decrement", "path": ["n"], "by": -2},
        {"type": "remove", "path": ["r"]},
        {"type": "append", "path": ["l"], "value": None},
        {"type": "append", "path": [], "value": "s"},
    ]
    assert all(type(op) is NormalizedOp for op in norm)
    assert norm[0]["value"] is not raw[0]["value"]
    # normalised ops are accepted as-is, and give the same result as raw ops
    got = apply_ops({"n": 1}, norm[2:8], group_id=G, key=K)
    assert got == apply_ops({"n": 1}, raw[2:8], group_id=G, key=K)
    assert got == {"n": 4, "k.1": {"z": {}}, "x": 1, "l": [None]}
    assert normalize_ops(norm, group_id=G, key=K) == norm  # idempotent
    assert pickle.loads(pickle.dumps(norm)) == norm
    assert normalize_ops((), group_id=G, key=K) == []


def test_normalized_ops_are_reusable_across_retries() -> None:
    """A backend may retry apply_ops with the same normalised ops (the Redis compare-and-set)."""
    norm = normalize_ops([
        st("a", {"x": {"y": 1}}),
        mg({"z": 2}, ["a", "x"]),
        ap({"q": 1}, "l"),
        st("l2", [1]),
        ap(2, "l2"),
        ap("b", "s"),
        ap("c", "s"),
    ], group_id=G, key=K)
    snapshot = copy.deepcopy(norm)
    first = apply_ops(MISSING, norm, group_id=G, key=K)
    second = apply_ops(MISSING, norm, group_id=G, key=K)
    assert first == second == {"a": {"x": {"y": 1, "z": 2}}, "l": [{"q": 1}], "l2": [1, 2], "s": "bc"}
    assert norm == snapshot


def test_missing_sentinel_and_format_path() -> None:
    assert repr(MISSING) == "MISSING" and not MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert type(MISSING)() is MISSING
    assert OP_TYPES == ("set", "merge", "increment", "decrement", "remove", "append")
    assert format_path([]) == "the root"
    assert format_path(["a.b"]) == "'a.b'"
    assert format_path(["a.b", "c"]) == "['a.b', 'c']"


# ------------------------------------------------------------ copy-on-write


def test_copy_on_write_copies_only_touched_path() -> None:
    big = {"k%d" % i: {"v": list(range(10))} for i in range(100)}
    cur = {"big": big, "touch": {"deep": {"n": 1}}}
    new = apply_ops(cur, [inc(["touch", "deep", "n"], 1)], group_id=G, key=K)
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
        cur = apply_ops(cur, [inc("n", 1)], group_id=G, key=K)
    assert cur["n"] == 200
    assert cur["rows"] is rows


def test_shallow_merge_does_not_mutate_current() -> None:
    cur = {"a": {"b": {"c": 1}}, "other": {"big": list(range(5))}}
    new = apply_ops(cur, [mg({"b": {"d": 2}}, "a")], group_id=G, key=K)
    assert new == {"a": {"b": {"d": 2}}, "other": {"big": [0, 1, 2, 3, 4]}}
    assert cur == {"a": {"b": {"c": 1}}, "other": {"big": [0, 1, 2, 3, 4]}}
    assert new["other"] is cur["other"]


def test_deep_values_apply_without_recursion_error() -> None:
    deep: Any = {"leaf": 1}
    for _ in range(MAX_DEPTH - 2):
        deep = {"n": deep}
    new = apply_ops(deep, [st("added", True), ap(1, "list")], group_id=G, key=K)
    assert new["added"] is True and new["list"] == [1] and new["n"] is deep["n"]


def test_an_op_error_the_engine_records_ranks_in_op_order_with_errors_on_the_value() -> None:
    # The engine records a forbidden path for its op and goes on; an earlier op that fails
    # on the stored value is its first error. Whether one does is known only with the value:
    # normalize_ops refuses before I/O only when no earlier op can fail on any value.
    ops = [inc("count", 1), st("__proto__", True)]
    normalized = normalize_ops(ops, group_id=G, key=K)  # deferred: op 0 may fail
    with pytest.raises(UpdateOpError) as info:
        apply_ops({"count": "5"}, normalized, group_id=G, key=K)
    assert (info.value.code, info.value.op_index) == ("increment.not_number", 0)
    with pytest.raises(UpdateOpError) as info:
        apply_ops({"count": 5}, normalized, group_id=G, key=K)
    assert (info.value.code, info.value.op_index, info.value.op) == ("set.path.proto_polluted", 1, ops[1])
    for never_fails in (st("", {}), rm(""), mg({"a": 1}, "x")):
        with pytest.raises(UpdateOpError, match=r"failed at op 1 \(set.path.proto_polluted\)"):
            normalize_ops([never_fails, ops[1]], group_id=G, key=K)
    # a request the engine cannot read is refused whole, before I/O, whatever comes before it
    with pytest.raises(UpdateOpError) as info:
        normalize_ops([inc("count", 1), st("__proto__", True), inc("n", 1.5)], group_id=G, key=K)
    assert (info.value.code, info.value.op_index) == ("increment.by.not_integer", 2)
