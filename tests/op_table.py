"""The iii engine's update-op semantics as a table (SPEC §3), shared by the op tests.

Each row is (id, initial value, ops, expected value or ``Err(code, op_index)``). Rows
are derived from the engine's rules in ``iii-hq/iii`` ``engine/src/update_ops.rs`` and
the behaviour its own tests pin down (each row's comment names the rule or that test).
Where the engine records an error and goes on, motia_nb refuses the whole list with
that error's code and index; rows marked "motia_nb refuses" are where the engine drops
an op silently or rejects the request. ``MISSING`` as the initial value means the item
does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from motia_nb.state.ops import MAX_MERGE_DEPTH, MAX_MERGE_KEYS, MAX_PATH_SEGMENTS, MAX_SEGMENT_BYTES, MISSING

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


def wrapped(leaf: Any, n: int) -> Any:
    """{"n": {"n": ... leaf}} with n objects around leaf."""
    for _ in range(n):
        leaf = {"n": leaf}
    return leaf


def listed(leaf: Any, n: int) -> Any:
    """[[... leaf]] with n arrays around leaf."""
    for _ in range(n):
        leaf = [leaf]
    return leaf


def at_path(segments: list[str], value: Any) -> Any:
    for seg in reversed(segments):
        value = {seg: value}
    return value


KV_APPEND_INITIAL = {"events": [{"kind": "start"}], "transcript": "hello", "object": {"nested": True},
                     "user.name": ["A"], "user": {"name": ["B"]}}  # fmt: skip
KV_APPEND_OPS = [ap({"kind": "chunk"}, "events"), ap(" world", "transcript"), ap("created", "missing_string"),
                 ap({"kind": "created"}, "missing_array"), ap("ignored", "object"), ap("C", "user.name")]  # fmt: skip


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

    # ---- more of update_ops.rs, case by case: the missing default after each op, a stored
    # null, the root of every kind, 64-bit edges, the order the engine checks an op in
    ("set.root_on_missing_item", MISSING, [st("", 5)], 5),
    ("set.root_no_value_on_missing_item", MISSING, [st("")], None),
    ("set.root_then_field", MISSING, [st("", {"a": 1}), st("b", 2)], {"a": 1, "b": 2}),
    ("set.field_after_scalar_root", MISSING, [st("", 5), st("b", 2)], Err("set.target_not_object", 1)),
    ("set.list_path_empty_segment", {}, [st(["a", ""], 1)], Err("set.path.empty_segment", 0)),
    ("merge.root_empty_list_on_non_object", 5, [mg({"a": 1}, [])], Err("merge.target_not_object", 0)),
    ("merge.root_after_root_increment", MISSING, [inc("", 1), mg({"a": 1})], Err("merge.target_not_object", 1)),
    ("merge.path_after_root_increment", MISSING, [inc("", 1), mg({"a": 1}, "x")], {"x": {"a": 1}}),  # walk_or_create
    ("merge.empty_value_on_missing_item", MISSING, [mg({})], {}),
    ("merge.value_null", {}, [mg(None)], Err("merge.value.not_an_object", 0)),
    ("merge.value_constructor_key", {}, [mg({"constructor": 1})], Err("merge.value.proto_polluted", 0)),
    ("merge.value_1024_keys_ok", {}, [mg({f"k{i}": i for i in range(MAX_MERGE_KEYS)})], {f"k{i}": i for i in range(MAX_MERGE_KEYS)}),
    ("merge.path_checked_before_value", {}, [mg("x", ["__proto__"])], Err("merge.path.proto_polluted", 0)),
    ("merge.keys_checked_before_depth", {}, [mg({"prototype": nested(MAX_MERGE_DEPTH + 1)})], Err("merge.value.proto_polluted", 0)),
    ("inc.root_on_stored_null", None, [inc("", 1)], Err("increment.not_number", 0)),  # null is not the missing default
    ("inc.root_float", 1.5, [inc("", 1)], 2.5),
    ("inc.root_string", "5", [inc("", 1)], Err("increment.not_number", 0)),
    ("dec.root_on_existing_object", {"a": 1}, [dec("", 1)], Err("decrement.not_number", 0)),
    ("inc.root_then_field", MISSING, [inc("", 1), inc("a", 1)], Err("increment.target_not_object", 1)),
    ("dec.root_missing_by_i64_min", MISSING, [dec("", I64_MIN)], 2**63),  # missing_decrement_value
    ("dec.field_by_i64_min", {"n": 0}, [dec("n", I64_MIN)], {"n": 2**63}),  # i64 overflows: the u64 branch
    ("inc.below_i64_by_negative", {"n": I64_MIN}, [inc("n", -1)], Err("increment.not_number", 0)),
    ("dec.u64_max_ok", {"n": U64_MAX}, [dec("n", 1)], {"n": U64_MAX - 1}),
    ("inc.u64_max_by_negative", {"n": U64_MAX}, [inc("n", -5)], {"n": U64_MAX - 5}),
    ("dec.float_goes_negative", {"x": 0.5}, [dec("x", 1)], {"x": -0.5}),
    ("inc.by_zero_on_missing_field", {}, [inc("n", 0)], {"n": 0}),
    ("dec.by_zero_on_missing_field", {}, [dec("n", 0)], {"n": 0}),
    ("remove.root_on_missing_item", MISSING, [rm("")], None),
    ("remove.root_then_set_field", {"a": 1}, [rm(""), st("a", 1)], Err("set.target_not_object", 1)),
    ("remove.root_then_append_root", {"a": 1}, [rm(""), ap("x")], "x"),  # a null root starts by value kind
    ("remove.root_then_merge_path", {"a": 1}, [rm(""), mg({"b": 1}, "a")], {"a": {"b": 1}}),
    ("remove.long_segment", {}, [rm("x" * 257)], Err("remove.path.segment_too_long", 0)),
    ("append.root_missing_twice_strings", MISSING, [ap("a"), ap("b")], "ab"),
    ("append.root_missing_twice_values", MISSING, [ap(1), ap(2)], [1, 2]),
    ("append.root_missing_string_then_number", MISSING, [ap("a"), ap(1)], Err("append.type_mismatch", 1)),
    ("append.root_empty_list_path_missing_item", MISSING, [ap("s", [])], "s"),
    ("append.root_string", "ab", [ap("c")], "abc"),
    ("append.root_number", 5, [ap(1)], Err("append.type_mismatch", 0)),
    ("append.root_bool", False, [ap("x")], Err("append.type_mismatch", 0)),
    ("append.null_value_to_array", {"e": []}, [ap(None, "e")], {"e": [None]}),
    ("append.null_value_to_missing_field", {}, [ap(None, "e")], {"e": [None]}),
    ("append.null_value_to_string", {"s": "a"}, [ap(None, "s")], Err("append.type_mismatch", 0)),
    ("append.list_value_to_missing_field", {}, [ap([1, 2], "e")], {"e": [[1, 2]]}),
    ("append.empty_string_to_missing_field", {}, [ap("", "s")], {"s": ""}),
    ("append.empty_segment", {}, [ap("x", ["a", ""])], Err("append.path.empty_segment", 0)),
    ("append.path_too_deep", {}, [ap("x", ["k"] * (MAX_PATH_SEGMENTS + 1))], Err("append.path.too_deep", 0)),
    ("append.nested_after_scalar_root", MISSING, [inc("", 1), ap("x", ["a", "b"])], Err("append.target_not_object", 1)),

    # ---- lists: the engine applies the others and records errors; motia_nb refuses the whole list
    # failed_ops_continue_and_preserve_error_indexes: the engine's errors are ops 0, 1 and 2;
    # motia_nb names the first, in op order (a path error is no earlier than a type error)
    ("list.failed_ops_index", {"bad": "value", "events": {}},
     [inc("bad", 1), st("__proto__", True), ap("chunk", "events"), st("ok", True)], Err("increment.not_number", 0)),
    ("list.path_error_first_when_earlier_ops_apply", {"bad": "value"},
     [inc("n", 1), st("__proto__", True), inc("bad", 1)], Err("set.path.proto_polluted", 1)),
    ("list.merge_value_error_after_type_error", {"s": "x"},
     [ap(1, "s"), mg([1], "a")], Err("append.type_mismatch", 0)),
    # a request the engine cannot read at all (a `by` that is no integer) is refused whole,
    # before any op applies: its error wins over an op error earlier in the list
    ("list.unreadable_request_beats_op_errors", {"bad": "value"},
     [inc("bad", 1), st("__proto__", True), inc("n", "1")], Err("increment.by.not_integer", 2)),
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

    # ---- re-read against update_ops.rs (iii-hq/iii bacffa0d, 2026-08-21) and its tests: the cases
    # its own tests pin that the rows above did not spell out, and edges of its number and path rules
    ("append.root_missing_object_empty_string_path", MISSING, [ap({"kind": "chunk"}, "")],  # initializes_missing_root_by_value_kind
     [{"kind": "chunk"}]),
    ("dec.zero_on_number_unchanged", {"bad": "value", "count": 2}, [dec("count", 0)],  # numeric_ops_with_zero_still_validate_existing_type
     {"bad": "value", "count": 2}),
    ("list.kv_multiple_ops_in_single_call", {"name": "A", "counter": 0},  # kv.rs test_builtin_kv_store_update_multiple_ops_in_single_call
     [st("name", "Z"), inc("counter", 10), st("status", "active")], {"name": "Z", "counter": 10, "status": "active"}),
    # kv.rs test_builtin_kv_store_update_append_operations: the engine records op 4's error (an
    # object is no append target) and applies the others; motia_nb refuses the list at op 4
    ("list.kv_append_operations", KV_APPEND_INITIAL, KV_APPEND_OPS, Err("append.type_mismatch", 4)),
    ("list.kv_append_operations_but_the_object", KV_APPEND_INITIAL, KV_APPEND_OPS[:4] + KV_APPEND_OPS[5:],
     {"events": [{"kind": "start"}, {"kind": "chunk"}], "transcript": "hello world", "missing_string": "created",
      "missing_array": [{"kind": "created"}], "object": {"nested": True}, "user.name": ["A", "C"], "user": {"name": ["B"]}}),
    # paths: only "" (a string) and [] are the root; Segments([""]) is an empty segment (merge_path_segments)
    ("merge.one_empty_segment_list", {}, [mg({"x": 1}, [""])], Err("merge.path.empty_segment", 0)),
    ("append.one_empty_segment_list", {}, [ap("x", [""])], Err("append.path.empty_segment", 0)),
    ("append.null_path_is_root", [1], [ap("x", None)], [1, "x"]),  # #[serde(default)] Option<MergePath>: null is None
    ("set.null_path", {}, [st(None, 1)], Err("set.path.missing", 0)),  # path: String takes no null: the request is rejected
    ("remove.null_path", {}, [rm(None)], Err("remove.path.missing", 0)),
    ("set.space_and_dot_are_fields", {}, [st(" ", 1), st(".", 2)], {" ": 1, ".": 2}),
    # the forbidden segments are matched exactly (PROTO_POLLUTION_KEYS.contains): a dotted string
    # holding one is one literal field, and case or spaces make another name
    ("set.proto_inside_dotted_field", {}, [st("__proto__.polluted", 1)], {"__proto__.polluted": 1}),
    ("list.proto_lookalikes", {}, [st("__PROTO__", 1), inc("Prototype", 1), ap("x", " constructor"), mg({"a": 1}, "constructor ")],
     {"__PROTO__": 1, "Prototype": 1, " constructor": "x", "constructor ": {"a": 1}}),
    ("merge.value_nested_sinks_ok", {}, [mg({"a": {"constructor": 1, "prototype": 2}}, "x")],
     {"x": {"a": {"constructor": 1, "prototype": 2}}}),  # validate_merge_value checks top-level keys only
    # unicode: a segment's limit is 256 UTF-8 bytes (seg.len()), not characters
    ("set.unicode_field", {"ключ": 1}, [st("ключ", 2), st("😀", 3)], {"ключ": 2, "😀": 3}),
    ("set.emoji_256_bytes_ok", {}, [st("😀" * 64, 1)], {"😀" * 64: 1}),
    ("set.emoji_260_bytes", {}, [st("😀" * 65, 1)], Err("set.path.segment_too_long", 0)),
    ("merge.emoji_segment_too_long", {}, [mg({}, ["a", "😀" * 65])], Err("merge.path.segment_too_long", 0)),
    ("append.unicode_concat", {"s": "héllo"}, [ap(" wörld 😀", "s")], {"s": "héllo wörld 😀"}),
    # the missing default ends with the first op that applies, even one that changes nothing
    ("inc.root_after_remove_of_nothing", MISSING, [rm("a"), inc("", 1)], Err("increment.not_number", 1)),
    ("append.root_after_empty_merge", MISSING, [mg({}), ap("x")], Err("append.type_mismatch", 1)),
    # numbers (increment_number / decrement_number): a float stays a float, by as f64
    ("inc.negative_zero_float", {"x": -0.0}, [inc("x", 0)], {"x": 0.0}),  # -0.0 + 0.0
    ("dec.negative_zero_float_stays", {"x": -0.0}, [dec("x", 0)], {"x": -0.0}),  # -0.0 - 0.0
    ("dec.whole_float_to_zero_stays_float", {"x": 1.0}, [dec("x", 1)], {"x": 0.0}),  # as_i64 of an f64 is None
    ("inc.root_whole_float", 3.0, [inc("", 1)], 4.0),
    ("inc.float_by_i64_min", {"x": 0.5}, [inc("x", I64_MIN)], {"x": 0.5 + float(I64_MIN)}),
    ("inc.int_past_2_53_exact", {"x": 2**53}, [inc("x", 1)], {"x": 2**53 + 1}),  # i64: exact
    ("inc.float_past_2_53_rounds", {"x": 2.0**53}, [inc("x", 1)], {"x": 2.0**53}),  # f64: rounds
    ("dec.i64_min_field_by_i64_min", {"n": I64_MIN}, [dec("n", I64_MIN)], {"n": 0}),
    ("inc.by_negative_zero_float", {}, [inc("x", -0.0)], Err("increment.by.not_integer", 0)),  # an i64 takes no float
    ("dec.by_whole_float", {"x": 5}, [dec("x", 1.0)], Err("decrement.by.not_integer", 0)),  # JSON 1.0 is no i64
    # merge limits: the value's depth alone (scalars count 0, arrays 1), not the path's
    ("merge.depth_16_scalar_leaf_ok", {}, [mg(wrapped(1, 16))], wrapped(1, 16)),
    ("merge.depth_17_scalar_leaf", {}, [mg(wrapped(1, 17))], Err("merge.value.too_deep", 0)),
    ("merge.depth_16_arrays_ok", {}, [mg({"a": listed(1, 15)})], {"a": listed(1, 15)}),
    ("merge.depth_17_arrays", {}, [mg({"a": listed(1, 16)})], Err("merge.value.too_deep", 0)),
    ("merge.path_32_and_value_depth_16", {}, [mg(wrapped(1, 16), ["k"] * MAX_PATH_SEGMENTS)],
     at_path(["k"] * MAX_PATH_SEGMENTS, wrapped(1, 16))),
    ("merge.into_stored_deeper_than_16", {"a": wrapped(1, 20)}, [mg({"x": 1}, ["a"])], {"a": {**wrapped(1, 20), "x": 1}}),
    ("merge.replaces_list_intermediate", {"a": [1]}, [mg({"x": 1}, ["a", "b"])], {"a": {"b": {"x": 1}}}),
    # remove / append edges
    ("remove.on_null_root", None, [rm("a")], Err("remove.target_not_object", 0)),
    ("remove.root_on_scalar", 5, [rm("")], None),
    ("append.empty_string_to_string", {"s": "a"}, [ap("", "s")], {"s": "a"}),
    ("append.number_to_missing_field", {}, [ap(1, "s")], {"s": [1]}),
    ("append.string_to_array_pushes", {"e": ["a"]}, [ap("b", "e")], {"e": ["a", "b"]}),
    ("append.nested_replaces_null_parent", {"a": None}, [ap(1, ["a", "b"])], {"a": {"b": [1]}}),
]

# rejects_all_proto_pollution_sinks_for_each_non_merge_op and rejects_proto_polluted_path_segment:
# every sink, for every op, as a string path (a list for merge), is the op's proto_polluted error
TABLE += [
    (f"proto.{name}.{sink}", {}, [make(sink)], Err(f"{name}.path.proto_polluted", 0))
    for sink in ("__proto__", "constructor", "prototype")
    for name, make in (
        ("set", lambda s: st(s, True)),
        ("append", lambda s: ap("chunk", s)),
        ("increment", lambda s: inc(s, 1)),
        ("decrement", lambda s: dec(s, 1)),
        ("remove", rm),
        ("merge", lambda s: mg({"x": 1}, [s])),
    )
]
