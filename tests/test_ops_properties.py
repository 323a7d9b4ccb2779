"""Property tests: JSON round-trips, and apply_ops against an independent naive model.

The model below is deliberately written the plain way (deepcopy, recursion, in-place
mutation) and shares no code with motia_nb.state.ops; it follows SPEC §3, the iii
engine's rules (string paths are one literal field, list paths nest, shallow merge,
integer ``by`` within 64 bits, append concatenates strings, the missing default):
the whole op list is checked structurally first (before any I/O), then ops apply in
order, and an op that cannot apply fails the whole update with the engine's code.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia_nb.state.errors import UpdateOpError
from motia_nb.state.ops import MISSING, apply_ops
from motia_nb.state.jsontext import decode_value, encode_trusted
from motia_nb.state.values import MAX_DEPTH, encode_value, json_depth

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------- strict equality


def same(a: Any, b: Any) -> bool:
    """Equal *and* same JSON types: 1 != 1.0, True != 1, -0.0 != 0.0, key order matters."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, dict):
        if list(a) != list(b):
            return False
        for k in a:
            if not same(a[k], b[k]):
                return False
        return True
    if isinstance(a, list):
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            if not same(x, y):
                return False
        return True
    return a == b


# ------------------------------------------------------------ JSON strategies

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # astral chars, no surrogates
astral = st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)), min_size=1, max_size=4)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # the engine's integers: no other is stored
    st.sampled_from([-(2**63), 2**63 - 1, 2**63, 2**64 - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, 2**53 + 1, -(2**63)]),
    text,
    astral,
)
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.one_of(text, astral), kids, max_size=5)),
    max_leaves=30,
)


@st.composite
def deep_values(draw: st.DrawFn) -> Any:
    """A value nested 0..MAX_DEPTH levels deep, mixing arrays and objects."""
    depth = draw(st.integers(min_value=0, max_value=MAX_DEPTH))
    rnd = random.Random(draw(st.integers(min_value=0, max_value=2**32)))
    value: Any = draw(scalars)
    level = 0
    while level < depth:
        kind = rnd.randrange(3) if depth - level >= 2 else rnd.randrange(2)
        if kind == 0:
            value = [value]
        elif kind == 1:
            value = {rnd.choice(["k", "é", "🧾", "a.b"]): value}
        else:
            value = [1, {"x": value, "y": None}]  # two levels
            level += 1
        level += 1
    assert json_depth(value) == depth
    return value


@SETTINGS
@given(json_values)
def test_encode_decode_round_trip(value: Any) -> None:
    text_ = encode_value(value, group_id="g", key="k")
    assert same(decode_value(text_), value)
    assert encode_value(decode_value(text_), group_id="g", key="k") == text_


@settings(max_examples=60, deadline=None)
@given(deep_values())
def test_deep_values_round_trip(value: Any) -> None:
    assert same(decode_value(encode_value(value, group_id="g", key="k")), value)


# ------------------------------------------------------------------ the model


class ModelError(Exception):
    def __init__(self, index: int, code: str) -> None:
        super().__init__(index, code)
        self.index = index
        self.code = code


class Bad(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


FIELDS = {
    "set": {"path", "value"},
    "merge": {"path", "value"},
    "increment": {"path", "by"},
    "decrement": {"path", "by"},
    "remove": {"path"},
    "append": {"path", "value"},
}
SINKS = ("__proto__", "constructor", "prototype")
LOW, HIGH = -(2**63), 2**64 - 1  # the engine's integers: i64, or u64 above i64::MAX


def model_ints_fit(v: Any) -> bool:
    """Every integer in ``v`` is one the engine holds (i64, or u64 above i64::MAX)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return LOW <= v <= HIGH
    if isinstance(v, list):
        return all(model_ints_fit(x) for x in v)
    if isinstance(v, dict):
        return all(model_ints_fit(x) for x in v.values())
    return True


def model_is_json(v: Any) -> bool:
    if v is None or isinstance(v, (bool, str, int)):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list):
        return all(model_is_json(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and model_is_json(x) for k, x in v.items())
    return False


def model_depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max([model_depth(x) for x in v.values()] or [0])
    if isinstance(v, list):
        return 1 + max([model_depth(x) for x in v] or [0])
    return 0


def model_path(op: dict[str, Any]) -> list[str]:
    t = op["type"]
    p = op.get("path")
    if p is None:
        if t in ("merge", "append"):
            return []
        raise Bad(f"{t}.path.missing")
    if isinstance(p, str):
        parts = [p] if p else []  # a string is ONE literal field
    elif isinstance(p, list) and all(isinstance(x, str) for x in p):
        parts = list(p)
    else:
        raise Bad(f"{t}.path.invalid")
    if len(parts) > 32:
        raise Bad(f"{t}.path.too_deep")
    for part in parts:
        if part == "":
            raise Bad(f"{t}.path.empty_segment")
        if len(part.encode()) > 256:
            raise Bad(f"{t}.path.segment_too_long")
        if part in SINKS:
            raise Bad(f"{t}.path.proto_polluted")
    return parts


def model_check(op: Any) -> Any:
    """The op's path segments, or a :class:`Bad` the engine would record for the op
    (a path or merge-value error); raises :class:`Bad` for a request it cannot read."""
    if not isinstance(op, dict):
        raise Bad("op.not_an_object")
    if op.get("type") not in FIELDS:
        raise Bad("op.unknown_type")
    t = op["type"]
    for f in op:
        if f != "type" and f not in FIELDS[t]:
            raise Bad("op.unknown_field")
    recorded = None
    try:
        path = model_path(op)
    except Bad as exc:
        if not _recorded(exc.code):
            raise
        recorded, path = exc, []
    if t in ("increment", "decrement"):
        if "by" not in op:
            raise Bad(f"{t}.by.missing")
        by = op["by"]
        if isinstance(by, bool) or not isinstance(by, int):
            raise Bad(f"{t}.by.not_integer")
        if not -(2**63) <= by < 2**63:
            raise Bad(f"{t}.by.out_of_range")
    if t in ("merge", "append") and "value" not in op:
        raise Bad(f"{t}.value.missing")
    if "value" in op and not model_is_json(op["value"]):
        raise Bad(f"{t}.value.not_json")
    if "value" in op and not model_ints_fit(op["value"]):
        raise Bad(f"{t}.value.out_of_range")  # the engine would read it as a float
    if t == "merge" and recorded is None:
        v = op["value"]
        if not isinstance(v, dict):
            recorded = Bad("merge.value.not_an_object")
        elif len(v) > 1024:
            recorded = Bad("merge.value.too_many_keys")
        elif any(k in SINKS for k in v):
            recorded = Bad("merge.value.proto_polluted")
        elif model_depth(v) > 16:
            recorded = Bad("merge.value.too_deep")
    return recorded if recorded is not None else path


def model_walk(node: dict[str, Any], segs: list[str]) -> dict[str, Any]:
    """Down ``segs``, turning missing or non-object members into {} (RFC 7396)."""
    for seg in segs:
        if not isinstance(node.get(seg), dict):
            node[seg] = {}
        node = node[seg]
    return node


def model_number(old: Any, by: int, t: str) -> Any:
    sign = 1 if t == "increment" else -1
    if isinstance(old, float):
        new = old + sign * float(by)
        if math.isinf(new) or math.isnan(new):
            raise Bad(f"{t}.not_number")
        return new
    if isinstance(old, int) and not isinstance(old, bool) and LOW <= old <= HIGH and LOW <= old + sign * by <= HIGH:
        return old + sign * by
    raise Bad(f"{t}.not_number")


def model_append(target: Any, value: Any) -> Any:
    if isinstance(target, list):
        return target + [value]
    if isinstance(target, str) and isinstance(value, str):
        return target + value
    if target is None:
        return value if isinstance(value, str) else [value]
    raise Bad("append.type_mismatch")


def _recorded(code: str) -> bool:
    """An error the engine records for its op (not a request it cannot read)."""
    return code.rsplit(".", 1)[1] in {"too_deep", "empty_segment", "segment_too_long", "proto_polluted"} and (
        ".path." in code or code.startswith("merge.value.")
    ) or code in ("merge.value.not_an_object", "merge.value.too_many_keys")


def model_apply(current: Any, ops: list[Any]) -> Any:
    # The engine rejects a request it cannot read (before any op); it records a path or
    # merge-value error for its op and goes on, so such an error ranks in op order with
    # the errors ops meet on the value.
    paths: list[Any] = []
    for i, op in enumerate(ops):
        try:
            paths.append(model_check(op))
        except Bad as exc:
            raise ModelError(i, exc.code) from None
    missing = current is MISSING
    doc = {} if missing else copy.deepcopy(current)
    for i, (op, path) in enumerate(zip(ops, paths)):
        if isinstance(path, Bad):
            raise ModelError(i, path.code)
        t = op["type"]
        value = copy.deepcopy(op.get("value"))
        try:
            if path and t != "merge" and not isinstance(doc, dict):
                raise Bad(f"{t}.target_not_object")
            if t == "set":
                if path:
                    model_walk(doc, path[:-1])[path[-1]] = value
                else:
                    doc = value
            elif t == "merge":
                if path:
                    if not isinstance(doc, dict):
                        doc = {}
                    model_walk(doc, path).update(value)
                elif isinstance(doc, dict):
                    doc.update(value)
                else:
                    raise Bad("merge.target_not_object")
            elif t in ("increment", "decrement"):
                by = op["by"]
                if not path:
                    doc = (by if t == "increment" else -by) if missing else model_number(doc, by, t)
                else:
                    holder = model_walk(doc, path[:-1])
                    if path[-1] in holder:
                        holder[path[-1]] = model_number(holder[path[-1]], by, t)
                    else:
                        holder[path[-1]] = by if t == "increment" else -by
            elif t == "remove":
                if not path:
                    doc = None
                else:
                    node = doc
                    for seg in path[:-1]:
                        node = node.get(seg) if isinstance(node, dict) else None
                    if isinstance(node, dict):
                        node.pop(path[-1], None)
            elif t == "append":
                if not path:
                    doc = model_append(None if missing else doc, value)
                else:
                    holder = model_walk(doc, path[:-1])
                    if path[-1] in holder:
                        holder[path[-1]] = model_append(holder[path[-1]], value)
                    elif len(path) == 1:
                        holder[path[-1]] = model_append(None, value)
                    else:
                        holder[path[-1]] = [value]
        except Bad as exc:
            raise ModelError(i, exc.code) from None
        missing = False
    return doc


# --------------------------------------------------------------- op strategies

KEYS = ["a", "b", "c.d"]
small_keys = st.sampled_from(KEYS + ["x"])
small_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(-10, 10), st.sampled_from(["s", "5", ""]),
    st.just(1e308), st.sampled_from([2**63 - 1, 2**64 - 1, -(2**63), 10**30]),
)
small_values = st.recursive(
    small_scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(small_keys, kids, max_size=3)),
    max_leaves=6,
)
seg_lists = st.one_of(  # mostly short paths, so ops collide with each other and with `current`
    st.lists(st.sampled_from(KEYS), min_size=1, max_size=2),
    st.lists(st.sampled_from(KEYS), min_size=0, max_size=3),
)


@st.composite
def paths(draw: st.DrawFn) -> Any:
    segs = draw(seg_lists)
    style = draw(st.sampled_from(["list", "string", "dots"]))
    if style == "string" and len(segs) <= 1:
        return segs[0] if segs else ""
    if style == "dots":
        return ".".join(segs)  # one literal field named "a.b"
    return list(segs)


@st.composite
def ops_strategy(draw: st.DrawFn) -> Any:
    t = draw(st.sampled_from(list(FIELDS)))
    op: dict[str, Any] = {"type": t}
    if t in ("merge", "append"):
        p = draw(st.one_of(paths(), st.none(), st.just("__absent__"), st.sampled_from([["a", "b"], ["a", "x"], ["x", "y"]])))
        if p != "__absent__":
            op["path"] = p
    else:
        op["path"] = draw(st.one_of(st.sampled_from(["a", "b", ["c.d"], "a.b", ["b", "a"], ""]), paths()))
    if t == "merge":
        op["value"] = draw(st.dictionaries(small_keys, small_values, max_size=3))
    elif t in ("set", "append"):
        if t == "append" or draw(st.integers(0, 9)):
            op["value"] = draw(st.one_of(small_values, st.sampled_from(["s", "", "tail"]), st.sampled_from(["s", "tail"])))
    else:
        op["by"] = draw(st.one_of(st.integers(-5, 5), st.sampled_from([2**63 - 1, -(2**63)])))
    # Occasionally break it, so structural errors are compared too.
    breakage = draw(st.sampled_from([None] * 100 + ["type", "extra", "drop", "path", "by", "merge", "nan", "proto"]))
    if breakage == "type":
        op["type"] = "inc"
    elif breakage == "extra":
        op["valeu"] = 1
    elif breakage == "drop":
        op.pop(draw(st.sampled_from(sorted(op))), None)
    elif breakage == "path":
        op["path"] = draw(st.sampled_from([["a", ""], 5, [1], ["k"] * 33, "x" * 257]))
    elif breakage == "by" and t in ("increment", "decrement"):
        op["by"] = draw(st.sampled_from([True, "1", 1.0, 0.5, None, 2**63]))
    elif breakage == "merge" and t == "merge":
        op["value"] = draw(st.sampled_from([[1], "x", 3, {"__proto__": 1}, {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": 1}}}}}}}}}}}}}}}}}]))
    elif breakage == "nan" and "value" in op:
        op["value"] = {"bad": [math.nan]}
    elif breakage == "proto":
        op["path"] = draw(st.sampled_from(["__proto__", ["a", "constructor"], ["prototype"]]))
    return op


numbers = st.one_of(
    st.integers(-3, 3), st.floats(-10, 10), st.just(1e308), st.just(True),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, -(2**63), 10**30, -0.0]),
)
leaves = st.one_of(numbers, small_values)
# Items whose fields are exactly the keys paths use, so most ops meet an existing field.
objects = st.fixed_dictionaries(
    {"a": st.one_of(leaves, st.fixed_dictionaries({"a": leaves}, optional={"b": leaves})), "b": leaves},
    optional={"c.d": leaves},
)
currents = st.one_of(st.just(MISSING), objects, objects, small_values)


@settings(SETTINGS, max_examples=600)
@given(currents, st.lists(ops_strategy(), max_size=6))
def test_apply_ops_matches_naive_model(current: Any, ops: list[dict[str, Any]]) -> None:
    current_before = copy.deepcopy(current)
    ops_before = copy.deepcopy(ops)
    try:
        expected = model_apply(current, ops)
        expected_error = None
    except ModelError as exc:
        expected_error = (exc.index, exc.code)
    try:
        got = apply_ops(current, ops, group_id="g", key="k")
        got_error = None
    except UpdateOpError as exc:
        got_error = (exc.op_index, exc.code)
        assert exc.group_id == "g" and exc.key == "k"
    # never mutates its inputs, whatever happened
    assert current is MISSING or same(current, current_before)
    assert repr(ops) == repr(ops_before)
    assert got_error == expected_error, f"model failed at {expected_error}, apply_ops at {got_error}"
    if expected_error is None:
        assert same(got, expected), f"{got!r} != {expected!r}"
        # the result is storable JSON and survives a round-trip (as the backends store it: an
        # integer past 64 bits stored by an older motia_nb stays in the item, exactly)
        assert same(decode_value(encode_trusted(got)), got)


@SETTINGS
@given(currents, st.lists(ops_strategy(), max_size=6))
def test_apply_twice_gives_same_result(current: Any, ops: list[dict[str, Any]]) -> None:
    """Pure: same input, same output (no hidden state, no reuse of mutated op values)."""
    try:
        first = apply_ops(current, ops, group_id="g", key="k")
    except UpdateOpError as exc:
        try:
            apply_ops(current, ops, group_id="g", key="k")
        except UpdateOpError as again:
            assert again.index == exc.index and again.reason == exc.reason
        else:
            raise AssertionError("second call did not raise") from None
        return
    second = apply_ops(current, ops, group_id="g", key="k")
    assert same(first, second)



KINDS: list[Any] = [
    True, False, None, "5", "", 0, -1, 2.5, -0.0, 1e308, 10**30, 2**63 - 1, 2**64 - 1, -(2**63),
    [], [1], {}, {"a": 1}, {"a": {"b": 2}},
]
ONE_OPS: list[dict[str, Any]] = [
    {"type": "set", "value": {"n": 1}},
    {"type": "set"},
    {"type": "merge", "value": {"a": {"z": 1}, "n": [2]}},
    {"type": "increment"},
    {"type": "increment", "by": 1},
    {"type": "increment", "by": 2**63 - 1},
    {"type": "decrement", "by": -(2**63)},
    {"type": "decrement", "by": 2.5},
    {"type": "remove"},
    {"type": "append", "value": {"v": 1}},
    {"type": "append", "value": "tail"},
]
PATHS: list[Any] = ["a", "a.a", ["a"], ["a", "b"], ["a", "a", "a"], "b", "", [], None, "a.a.a", "__proto__"]


def test_every_op_on_a_field_of_every_kind_matches_model() -> None:
    """Exhaustive: each op type x each path x an existing field of each JSON kind."""
    mismatches = []
    for leaf in KINDS:
        for template in ONE_OPS:
            for path in PATHS:
                op = dict(template)
                if path is not None:
                    op["path"] = path
                current = {"a": leaf, "b": 1}
                for cur in (current, leaf, MISSING):
                    before = copy.deepcopy(cur)
                    try:
                        expected: Any = model_apply(cur, [op])
                    except ModelError as exc:
                        expected = ("error", exc.index, exc.code)
                    try:
                        got: Any = apply_ops(cur, [op], group_id="g", key="k")
                    except UpdateOpError as exc:
                        got = ("error", exc.op_index, exc.code)
                    if not same(got, expected) or not (cur is MISSING or same(cur, before)):
                        mismatches.append((cur, op, expected, got))
    assert not mismatches, mismatches[:5]
