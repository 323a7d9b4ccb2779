"""motia_nb.state.ops: the iii engine's op semantics (SPEC §3), as a table, plus the rest.

The TABLE below is the contract test: each row is (initial value, ops, expected value
or expected engine error code + op index). Rows are derived from the engine's rules in
``iii-hq/iii`` ``engine/src/update_ops.rs`` and the behaviour its own tests pin down
(each row's comment names the rule). Where the engine records an error and goes on,
motia_nb refuses the whole list with that error's code and index; rows marked
"motia_nb refuses" are where the engine drops an op silently or rejects the request.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import dataclass
from typing import Any

import pytest

from motia_nb.state.errors import UpdateOpError
from motia_nb.state.ops import (
    MAX_MERGE_DEPTH,
    MAX_MERGE_KEYS,
    MAX_PATH_SEGMENTS,
    MAX_SEGMENT_BYTES,
    MISSING,
    OP_TYPES,
    NormalizedOp,
    apply_ops,
    format_path,
    normalize_ops,
)
from motia_nb.state.values import MAX_DEPTH

G, K = "orders", "o1"
I64_MAX, I64_MIN, U64_MAX = 2**63 - 1, -(2**63), 2**64 - 1


@dataclass(frozen=True)
class Err:
    code: str
    index: int | None


def st(path: Any, value: Any = ...) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "set", "path": path}
    if value is not ...:
        op["value"] = value
    return op


def mg(value: Any, path: Any = ...) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "merge", "value": value}
    if path is not ...:
        op["path"] = path
    return op


def inc(path: Any, by: Any) -> dict[str, Any]:
    return {"type": "increment", "path": path, "by": by}


def dec(path: Any, by: Any) -> dict[str, Any]:
    return {"type": "decrement", "path": path, "by": by}


def rm(path: Any) -> dict[str, Any]:
    return {"type": "remove", "path": path}


def ap(value: Any, path: Any = ...) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "append", "value": value}
    if path is not ...:
        op["path"] = path
    return op


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def deep_keys(n: int) -> Any:
    """{"k": {"k": ... {}}} with n levels of "k"."""
    value: Any = {}
    for _ in range(n):
        value = {"k": value}
    return value


TABLE: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    # ---- set: a string path is one top-level field; "" is the whole value
    ("set.field", {"a": 1}, [st("b", 2)], {"a": 1, "b": 2}),
    ("set.dotted_is_literal", {"shipping": {"city": "Oslo"}}, [st("shipping.city", "Lyon")],  # "dots are not separators"
     {"shipping": {"city": "Oslo"}, "shipping.city": "Lyon"}),
    ("set.missing_item", MISSING, [st("status", "paid")], {"status": "paid"}),  # missing default is {}
    ("set.root_replaces", {"a": 1}, [st("", [1, 2])], [1, 2]),
    ("set.root_missing_value_is_null", {"": "empty-field", "keep": True}, [st("")], None),  # set_empty_path_replaces_root_even_with_null_value
    ("set.missing_value_is_null", {"a": 1}, [st("a")], {"a": None}),  # value: Option<Value>, None -> null
    ("set.null_value", {"a": 1}, [st("a", None)], {"a": None}),
    ("set.on_non_object_root", [1], [st("a", 1)], Err("set.target_not_object", 0)),
    ("set.on_null_root", None, [st("a", 1)], Err("set.target_not_object", 0)),
    ("set.proto_path", {}, [st("__proto__", True)], Err("set.path.proto_polluted", 0)),  # validates_set_path_segments_with_op_specific_error_code
    ("set.constructor_path", {}, [st("constructor", True)], Err("set.path.proto_polluted", 0)),
    ("set.long_segment", {}, [st("x" * 257, 1)], Err("set.path.segment_too_long", 0)),  # > 256 bytes
    ("set.256_bytes_ok", {}, [st("é" * 128, 1)], {"é" * 128: 1}),  # 256 UTF-8 bytes is the limit
    ("set.257_utf8_bytes", {}, [st("é" * 128 + "x", 1)], Err("set.path.segment_too_long", 0)),
    ("set.no_path", {}, [{"type": "set", "value": 1}], Err("set.path.missing", 0)),  # path: String is required
    # motia_nb extension: a list path nests for set too, walking parents as merge does
    ("set.list_path_nests", {"shipping": {"name": "Ann"}}, [st(["shipping", "city"], "Oslo")],
     {"shipping": {"name": "Ann", "city": "Oslo"}}),
    ("set.list_path_one_segment", {}, [st(["a.b"], 1)], {"a.b": 1}),
    ("set.list_path_creates", MISSING, [st(["a", "b", "c"], 1)], {"a": {"b": {"c": 1}}}),
    ("set.list_path_replaces_non_object", {"a": 5}, [st(["a", "b"], 1)], {"a": {"b": 1}}),
    ("set.list_path_root_not_object", "s", [st(["a", "b"], 1)], Err("set.target_not_object", 0)),
    ("set.empty_list_is_root", {"a": 1}, [st([], 7)], 7),

    # ---- merge: shallow, root or at a path (RFC 7396 walk)
    ("merge.root_shallow", {"a": 1, "b": {"x": 1, "y": 2}}, [mg({"b": {"y": 3}, "c": 4})],
     {"a": 1, "b": {"y": 3}, "c": 4}),  # shallow: b is replaced, x is gone
    ("merge.root_none_path", {"a": 1}, [mg({"b": 2}, None)], {"a": 1, "b": 2}),  # root_level_merge_unchanged_for_none_empty_string_and_empty_array
    ("merge.root_empty_string", {"a": 1}, [mg({"b": 2}, "")], {"a": 1, "b": 2}),
    ("merge.root_empty_list", {"a": 1}, [mg({"b": 2}, [])], {"a": 1, "b": 2}),
    ("merge.missing_item", MISSING, [mg({"x": 1})], {"x": 1}),
    ("merge.first_level_existing", {"session-1": {"ts1": "a"}}, [mg({"ts2": "b"}, "session-1")],  # merges_into_existing_first_level_object_field
     {"session-1": {"ts1": "a", "ts2": "b"}}),
    ("merge.first_level_missing", {}, [mg({"author": "alice"}, "session-1")], {"session-1": {"author": "alice"}}),
    ("merge.string_equals_one_segment", {}, [mg({"x": 1}, ["foo"])], {"foo": {"x": 1}}),  # single_string_path_equivalent_to_single_segment_array
    ("merge.dotted_segment_literal", {"a": {"b": {"preserved": True}}}, [mg({"x": 1}, ["a.b"])],  # literal_dotted_segment_treated_as_one_key
     {"a": {"b": {"preserved": True}}, "a.b": {"x": 1}}),
    ("merge.dotted_string_literal", {"a": {"b": {"k": 1}}}, [mg({"x": 1}, "a.b")],
     {"a": {"b": {"k": 1}}, "a.b": {"x": 1}}),
    ("merge.nested_creates", {}, [mg({"x": 1}, ["a", "b", "c"])], {"a": {"b": {"c": {"x": 1}}}}),  # merges_at_nested_path_creating_missing_intermediates
    ("merge.nested_replaces_non_object", {"sessions": {"abc": "garbage"}}, [mg({"author": "alice"}, ["sessions", "abc"])],  # ..._replacing_non_object_intermediate
     {"sessions": {"abc": {"author": "alice"}}}),
    ("merge.nested_shallow_at_target", {"s": {"abc": {"author": "old", "topic": "kept"}}}, [mg({"author": "new"}, ["s", "abc"])],
     {"s": {"abc": {"author": "new", "topic": "kept"}}}),  # merges_at_nested_target_shallowly_overwrites_keys
    ("merge.path_on_non_object_root", [1, 2], [mg({"x": 1}, "a")], {"a": {"x": 1}}),  # walk_or_create replaces a non-object root
    ("merge.path_on_null_root", None, [mg({"x": 1}, ["a", "b"])], {"a": {"b": {"x": 1}}}),
    ("merge.empty_value", {"a": 1}, [mg({}, "b")], {"a": 1, "b": {}}),
    ("merge.root_on_non_object", "leaf", [mg({"a": 1})], Err("merge.target_not_object", 0)),  # engine: silent no-op; motia_nb refuses
    ("merge.root_on_null", None, [mg({"a": 1})], Err("merge.target_not_object", 0)),
    ("merge.value_not_object", {"a": 1}, [mg("not-an-object", "foo")], Err("merge.value.not_an_object", 0)),  # merge_with_non_object_value_returns_error_and_no_ops
    ("merge.value_list", {}, [mg([1])], Err("merge.value.not_an_object", 0)),
    ("merge.value_proto_key", {}, [mg({"__proto__": {"polluted": True}}, "foo")], Err("merge.value.proto_polluted", 0)),
    ("merge.value_nested_proto_ok", {}, [mg({"a": {"__proto__": 1}})], {"a": {"__proto__": 1}}),  # only top-level keys are checked
    ("merge.value_too_deep", {}, [mg(nested(MAX_MERGE_DEPTH + 1), "foo")], Err("merge.value.too_deep", 0)),  # rejects_value_too_deep
    ("merge.value_depth_16_ok", {}, [mg(nested(MAX_MERGE_DEPTH))], nested(MAX_MERGE_DEPTH)),
    ("merge.value_too_many_keys", {}, [mg({f"k{i}": i for i in range(MAX_MERGE_KEYS + 1)})], Err("merge.value.too_many_keys", 0)),
    ("merge.path_too_deep", {}, [mg({"x": 1}, [f"k{i}" for i in range(MAX_PATH_SEGMENTS + 1)])], Err("merge.path.too_deep", 0)),  # rejects_path_too_deep
    ("merge.path_32_ok", {}, [mg({}, ["k"] * MAX_PATH_SEGMENTS)], deep_keys(MAX_PATH_SEGMENTS)),  # 32 segments is the limit
    ("merge.long_segment", {}, [mg({"x": 1}, ["a" * (MAX_SEGMENT_BYTES + 1)])], Err("merge.path.segment_too_long", 0)),  # rejects_oversized_segment
    ("merge.empty_segment", {}, [mg({"x": 1}, ["a", ""])], Err("merge.path.empty_segment", 0)),  # rejects_empty_segment
    ("merge.proto_segment", {}, [mg({"x": 1}, ["prototype"])], Err("merge.path.proto_polluted", 0)),  # rejects_proto_polluted_path_segment
    ("merge.value_missing", {}, [{"type": "merge", "path": "a"}], Err("merge.value.missing", 0)),  # value: Value is required

    # ---- increment / decrement: by is an i64; missing field -> by / -by
    ("inc.existing_and_missing", {"count": 2}, [inc("count", 3), inc("missing", 3)], {"count": 5, "missing": 3}),  # increments_existing_number_and_missing_fields
    ("dec.existing_and_missing", {"count": 5}, [dec("count", 3), dec("missing", 3)], {"count": 2, "missing": -3}),
    ("inc.order", {"count": 10}, [inc("count", 5), dec("count", 3)], {"count": 12}),  # preserves_order_across_multiple_numeric_ops
    ("inc.float_stays_float", {"count": 1.5}, [inc("count", 2), dec("count", 1)], {"count": 2.5}),  # numeric_ops_accept_json_float_fields
    ("inc.float_whole", {"n": 2.0}, [inc("n", 1)], {"n": 3.0}),
    ("inc.dotted_is_literal", {"a": {"b": 1}}, [inc("a.b", 1)], {"a": {"b": 1}, "a.b": 1}),
    ("inc.missing_item", MISSING, [inc("home", 1)], {"home": 1}),
    ("inc.string", {"bad": "value"}, [inc("bad", 3)], Err("increment.not_number", 0)),  # increment_rejects_existing_non_number
    ("dec.string", {"bad": "value"}, [dec("count", 3), dec("bad", 3)], Err("decrement.not_number", 1)),
    ("inc.null_is_not_missing", {"inc": None}, [inc("inc", 1)], Err("increment.not_number", 0)),  # numeric_ops_reject_null_fields_instead_of_treating_them_as_missing
    ("dec.null_is_not_missing", {"dec": None}, [dec("dec", 1)], Err("decrement.not_number", 0)),
    ("inc.zero_still_checks_type", {"bad": "value"}, [inc("bad", 0)], Err("increment.not_number", 0)),  # numeric_ops_with_zero_still_validate_existing_type
    ("inc.bool", {"flag": True}, [inc("flag", 1)], Err("increment.not_number", 0)),  # a JSON bool is not a number
    ("inc.object", {"o": {}}, [inc("o", 1)], Err("increment.not_number", 0)),
    ("inc.i64_overflow_to_u64", {"count": I64_MAX}, [inc("count", 1)], {"count": I64_MAX + 1}),  # numeric_overflow_promotes_to_exact_unsigned_integer
    ("inc.large_unsigned", {"inc": I64_MAX + 10, "dec": I64_MAX + 10}, [inc("inc", 1), dec("dec", 1)],  # numeric_ops_preserve_large_unsigned_integer_precision
     {"inc": I64_MAX + 11, "dec": I64_MAX + 9}),
    ("dec.missing_by_i64_min", {}, [dec("count", I64_MIN)], {"count": 2**63}),  # missing_decrement_by_i64_min_initializes_exact_unsigned_value
    ("inc.past_u64", {"n": U64_MAX}, [inc("n", 1)], Err("increment.not_number", 0)),  # checked_add fails: no number
    ("dec.below_i64", {"n": I64_MIN}, [dec("n", 1)], Err("decrement.not_number", 0)),
    ("dec.u64_below_zero_ok", {"n": I64_MAX + 1}, [dec("n", I64_MAX)], {"n": 1}),
    ("inc.big_int_outside_engine", {"n": 10**30}, [inc("n", 1)], Err("increment.not_number", 0)),  # motia_nb refuses: the engine holds no such integer
    ("inc.float_overflow", {"x": 1.7976931348623157e308}, [inc("x", I64_MAX)], {"x": 1.7976931348623157e308}),  # rounding: still finite
    ("inc.root", 2, [inc("", 3)], 5),  # empty_path_numeric_ops_target_root_value
    ("dec.root", 5, [dec("", 3)], 2),
    ("inc.root_missing_item", MISSING, [inc("", 3)], 3),  # missing default: the first root op starts it
    ("dec.root_missing_item", MISSING, [dec("", 3)], -3),
    ("inc.root_missing_then_again", MISSING, [inc("", 3), inc("", 1)], 4),
    ("inc.root_existing_empty_object", {}, [inc("", 3)], Err("increment.not_number", 0)),  # an existing {} is no number
    ("inc.root_after_set", MISSING, [st("a", 1), inc("", 1)], Err("increment.not_number", 1)),  # missing default only for the first op
    ("inc.on_non_object_root", [1], [inc("n", 1)], Err("increment.target_not_object", 0)),
    ("dec.on_non_object_root", "s", [dec("n", 1)], Err("decrement.target_not_object", 0)),
    ("inc.proto_path", {}, [inc("__proto__", 1)], Err("increment.path.proto_polluted", 0)),  # rejects_all_proto_pollution_sinks_for_each_non_merge_op
    ("dec.proto_path", {}, [dec("prototype", 1)], Err("decrement.path.proto_polluted", 0)),
    ("inc.by_missing", {}, [{"type": "increment", "path": "n"}], Err("increment.by.missing", 0)),  # by: i64 is required
    ("inc.by_float", {}, [inc("n", 1.5)], Err("increment.by.not_integer", 0)),  # an i64 does not take a float
    ("inc.by_whole_float", {}, [inc("n", 2.0)], Err("increment.by.not_integer", 0)),
    ("dec.by_bool", {}, [dec("n", True)], Err("decrement.by.not_integer", 0)),
    ("inc.by_string", {}, [inc("n", "1")], Err("increment.by.not_integer", 0)),
    ("inc.by_too_big", {}, [inc("n", 2**63)], Err("increment.by.out_of_range", 0)),
    ("inc.by_i64_min_ok", {"n": 0}, [inc("n", I64_MIN)], {"n": I64_MIN}),
    ("inc.no_path", {}, [{"type": "increment", "by": 1}], Err("increment.path.missing", 0)),
    # motia_nb extension: list paths for increment
    ("inc.list_path", {"stats": {"views": 1}}, [inc(["stats", "views"], 2)], {"stats": {"views": 3}}),
    ("inc.list_path_creates", {}, [inc(["stats", "views"], 2)], {"stats": {"views": 2}}),

    # ---- remove: a top-level field; missing is fine; "" sets null
    ("remove.field", {"a": 1, "b": 2}, [rm("a")], {"b": 2}),
    ("remove.missing_field", {"a": 1}, [rm("x")], {"a": 1}),
    ("remove.missing_item", MISSING, [rm("a")], {}),
    ("remove.dotted_is_literal", {"a": {"b": 1}, "a.b": 2}, [rm("a.b")], {"a": {"b": 1}}),
    ("remove.root_sets_null", {"": "empty-field", "keep": True}, [rm("")], None),  # empty_path_remove_clears_root_value
    ("remove.on_non_object_root", 5, [rm("a")], Err("remove.target_not_object", 0)),
    ("remove.proto_path", {}, [rm("constructor")], Err("remove.path.proto_polluted", 0)),
    ("remove.no_path", {}, [{"type": "remove"}], Err("remove.path.missing", 0)),
    # motia_nb extension: list paths for remove; a missing or non-object parent is nothing to remove
    ("remove.list_path", {"a": {"b": 1, "c": 2}}, [rm(["a", "b"])], {"a": {"c": 2}}),
    ("remove.list_path_missing_parent", {"a": 1}, [rm(["x", "y"])], {"a": 1}),
    ("remove.list_path_non_object_parent", {"a": 1}, [rm(["a", "y"])], {"a": 1}),

    # ---- append: arrays push, strings concatenate, missing/null fields start by value kind
    ("append.array", {"events": [{"kind": "start"}]}, [ap({"kind": "chunk"}, "events")],  # appends_to_array_field_as_single_element
     {"events": [{"kind": "start"}, {"kind": "chunk"}]}),
    ("append.string_concat", {"transcript": "hello"}, [ap(" world", "transcript")], {"transcript": "hello world"}),  # concatenates_string_fields
    ("append.missing_by_kind", {}, [ap("hello", "transcript"), ap({"kind": "chunk"}, "events")],  # initializes_missing_fields_by_value_kind
     {"transcript": "hello", "events": [{"kind": "chunk"}]}),
    ("append.root_missing_string", MISSING, [ap("hello", "")], "hello"),  # initializes_missing_root_by_value_kind
    ("append.root_missing_object", MISSING, [ap({"kind": "chunk"})], [{"kind": "chunk"}]),
    ("append.root_array", [1], [ap(2, [])], [1, 2]),
    ("append.root_existing_object", {"a": 1}, [ap(2)], Err("append.type_mismatch", 0)),
    ("append.root_null", None, [ap("x")], "x"),
    ("append.string_non_string", {"transcript": "hello"}, [ap({"not": "string"}, "transcript")], Err("append.type_mismatch", 0)),  # skips_incompatible_string_append_value
    ("append.object_target", {"events": {}}, [ap("chunk", "events")], Err("append.type_mismatch", 0)),  # skips_incompatible_object_append_target
    ("append.number_target", {"n": 1}, [ap(2, "n")], Err("append.type_mismatch", 0)),
    ("append.order", {"events": []}, [ap("first", "events"), ap("second", "events")], {"events": ["first", "second"]}),  # preserves_order_across_multiple_append_ops
    ("append.array_value_single_element", {"events": []}, [ap(["nested", "array"], "events")], {"events": [["nested", "array"]]}),
    ("append.null_field_by_kind", {"string": None, "array": None}, [ap("chunk", "string"), ap({"kind": "chunk"}, "array")],  # append_to_null_field_initializes_by_value_kind
     {"string": "chunk", "array": [{"kind": "chunk"}]}),
    ("append.dotted_is_literal", {"user.name": ["A"], "user": {"name": ["B"]}}, [ap("C", "user.name")],  # dotted_paths_are_first_level_fields
     {"user.name": ["A", "C"], "user": {"name": ["B"]}}),
    ("append.dotted_missing_literal", {"entityId": {"buffer": ["nested"]}}, [ap("flat", "entityId.buffer")],  # append_dotted_string_path_keeps_literal_segment_semantics
     {"entityId": {"buffer": ["nested"]}, "entityId.buffer": "flat"}),
    ("append.nested_existing", {"entityId": {"buffer": ["a"]}}, [ap("b", ["entityId", "buffer"])],  # append_segments_path_walks_and_pushes_to_existing_array
     {"entityId": {"buffer": ["a", "b"]}}),
    ("append.nested_creates", {}, [ap("a", ["entityId", "buffer"])], {"entityId": {"buffer": ["a"]}}),  # append_segments_path_creates_intermediate_object
    ("append.nested_missing_leaf_string_is_array", {"entityId": {}}, [ap("x", ["entityId", "buffer"])],  # append_segments_missing_leaf_string_value_becomes_array
     {"entityId": {"buffer": ["x"]}}),
    ("append.one_segment_list_is_single", {}, [ap("x", ["buffer"])], {"buffer": "x"}),  # Single("foo") == Segments(["foo"])
    ("append.nested_null_leaf_by_kind", {"e": {"b": None}}, [ap("x", ["e", "b"])], {"e": {"b": "x"}}),
    ("append.nested_object_leaf", {"entityId": {"buffer": {"x": "y"}}}, [ap("z", ["entityId", "buffer"])],  # append_segments_path_object_leaf_returns_type_mismatch
     Err("append.type_mismatch", 0)),
    ("append.nested_non_object_root", [1, 2, 3], [ap("x", ["a", "b"])], Err("append.target_not_object", 0)),  # ..._non_object_root_returns_target_not_object
    ("append.single_non_object_root", "s", [ap("x", "a")], Err("append.target_not_object", 0)),
    ("append.nested_replaces_non_object_parent", {"e": 5}, [ap("x", ["e", "b"])], {"e": {"b": ["x"]}}),
    ("append.proto_root_segment", {}, [ap("x", ["__proto__"])], Err("append.path.proto_polluted", 0)),  # append_proto_polluted_at_root_segment_rejected
    ("append.proto_intermediate", {}, [ap("x", ["a", "constructor", "b"])], Err("append.path.proto_polluted", 0)),
    ("append.proto_leaf", {"safe": {}}, [ap("x", ["safe", "prototype"])], Err("append.path.proto_polluted", 0)),
    ("append.long_segment", {}, [ap("x", "a" * 257)], Err("append.path.segment_too_long", 0)),  # validates_append_path_segments_with_op_specific_error_code
    ("append.value_missing", {}, [{"type": "append", "path": "a"}], Err("append.value.missing", 0)),

    # ---- lists: the engine applies the others and records errors; motia_nb refuses the whole list
    ("list.failed_ops_index", {"bad": "value", "events": {}},  # failed_ops_continue_and_preserve_error_indexes
     [inc("bad", 1), st("__proto__", True), ap("chunk", "events"), st("ok", True)], Err("set.path.proto_polluted", 1)),
    ("list.partial_failure", {"buffer": []},  # multi_op_partial_failure_retains_prior_successes
     [ap("first", "buffer"), ap(True, ["__proto__", "polluted"]), ap("third", "buffer")], Err("append.path.proto_polluted", 1)),
    ("list.seed_example", {"completedSteps": 2, "status": "pending", "retries": 3},
     [inc("completedSteps", 1), st("status", "shipped"), dec("retries", 1)],
     {"completedSteps": 3, "status": "shipped", "retries": 2}),
    ("list.ops_see_each_other", MISSING,
     [st("a", {"n": 1}), inc(["a", "n"], 2), mg({"m": [1]}, "a"), ap(2, ["a", "m"]), rm(["a", "n"]), st("b", 1)],
     {"a": {"m": [1, 2]}, "b": 1}),
    ("list.empty_on_existing", {"a": 1}, [], {"a": 1}),
    ("list.empty_on_missing", MISSING, [], {}),
    ("list.dynamic_error_later", {"count": 1, "name": "x"}, [inc("count", 1), st("ok", True), inc("name", 1)],
     Err("increment.not_number", 2)),
]
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
    ops = [{"type": "set", "path": "fine", "value": 1}, op]
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
