"""Property tests: JSON round-trips, and apply_ops against an independent naive model.

The model below is deliberately written the plain way (deepcopy, recursion, in-place
mutation) and shares no code with motia_nb.state.ops; it follows SPEC §3: the whole op
list is checked structurally first (before any I/O), then ops apply in order, and
an op that cannot apply fails the whole update.
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
from motia_nb.state.values import MAX_DEPTH, decode_value, encode_value, json_depth

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
    st.integers(),
    st.integers(min_value=-(10**300), max_value=10**300),
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
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class Bad(Exception):
    pass


FIELDS = {
    "set": {"path", "value"},
    "merge": {"path", "value"},
    "increment": {"path", "by"},
    "decrement": {"path", "by"},
    "remove": {"path"},
    "append": {"path", "value"},
}


def model_is_json(v: Any) -> bool:
    if v is None or isinstance(v, (bool, str)):
        return True
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list):
        return all(model_is_json(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and model_is_json(x) for k, x in v.items())
    return False


def model_path(op: dict[str, Any]) -> list[str]:
    p = op.get("path")
    if p is None:
        if op["type"] in ("set", "merge"):
            return []
        raise Bad("path required")
    if isinstance(p, str):
        if p == "":
            return []
        parts = p.split(".")
    elif isinstance(p, list):
        parts = p
    else:
        raise Bad("bad path type")
    for part in parts:
        if not isinstance(part, str) or part == "":
            raise Bad("bad segment")
    return list(parts)


def model_check(op: Any) -> list[str]:
    if not isinstance(op, dict) or op.get("type") not in FIELDS:
        raise Bad("type")
    t = op["type"]
    for f in op:
        if f != "type" and f not in FIELDS[t]:
            raise Bad("extra field")
    if t in ("set", "merge", "append") and "value" not in op:
        raise Bad("value required")
    path = model_path(op)
    if t == "remove" and path == []:
        raise Bad("remove root")
    if "value" in op and not model_is_json(op["value"]):
        raise Bad("value not JSON")
    if t == "merge" and not isinstance(op["value"], dict):
        raise Bad("merge needs object")
    if t in ("increment", "decrement"):
        by = op.get("by", 1)
        if isinstance(by, bool) or not isinstance(by, (int, float)) or not math.isfinite(by):
            raise Bad("by")
    return path


def model_container(doc: Any, parents: list[str]) -> dict[str, Any]:
    """The dict that should hold the last path segment, created as needed."""
    if not isinstance(doc, dict):
        raise Bad("root not object")
    node = doc
    for seg in parents:
        if seg not in node:
            node[seg] = {}
        if not isinstance(node[seg], dict):
            raise Bad("through non-object")
        node = node[seg]
    return node


def model_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            model_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


def model_number(old: Any, by: Any, sign: int) -> Any:
    if isinstance(old, bool) or not isinstance(old, (int, float)):
        raise Bad("not a number")
    try:
        new = old + sign * by
    except OverflowError:
        raise Bad("overflow") from None
    if isinstance(new, float) and not math.isfinite(new):
        raise Bad("not finite")
    return new


def model_apply(current: Any, ops: list[Any]) -> Any:
    paths = []
    for i, op in enumerate(ops):
        try:
            paths.append(model_check(op))
        except Bad:
            raise ModelError(i) from None
    doc = {} if current is MISSING else copy.deepcopy(current)
    for i, (op, path) in enumerate(zip(ops, paths)):
        t = op["type"]
        try:
            if t == "set":
                if path:
                    model_container(doc, path[:-1])[path[-1]] = copy.deepcopy(op["value"])
                else:
                    doc = copy.deepcopy(op["value"])
            elif t == "merge":
                if path:
                    holder = model_container(doc, path[:-1])
                    holder.setdefault(path[-1], {})
                    target = holder[path[-1]]
                else:
                    target = doc
                if not isinstance(target, dict):
                    raise Bad("merge into non-object")
                model_merge(target, op["value"])
            elif t in ("increment", "decrement"):
                sign = 1 if t == "increment" else -1
                by = op.get("by", 1)
                if path:
                    holder = model_container(doc, path[:-1])
                    holder[path[-1]] = model_number(holder.get(path[-1], 0), by, sign)
                else:
                    doc = model_number(doc, by, sign)
            elif t == "remove":
                node = doc
                for seg in path[:-1]:
                    if not isinstance(node, dict):
                        raise Bad("through non-object")
                    if seg not in node:
                        break
                    node = node[seg]
                else:
                    if not isinstance(node, dict):
                        raise Bad("through non-object")
                    node.pop(path[-1], None)
            elif t == "append":
                if path:
                    holder = model_container(doc, path[:-1])
                    holder.setdefault(path[-1], [])
                    target = holder[path[-1]]
                else:
                    target = doc
                if not isinstance(target, list):
                    raise Bad("append to non-array")
                target.append(copy.deepcopy(op["value"]))
        except Bad:
            raise ModelError(i) from None
    return doc


# --------------------------------------------------------------- op strategies

KEYS = ["a", "b", "c.d"]
small_keys = st.sampled_from(KEYS + ["x"])
small_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(-10, 10), st.sampled_from(["s", "5", ""]), st.just(1e308)
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
    style = draw(st.sampled_from(["list", "tuple-like", "dots"]))
    if style == "dots" and not any("." in s for s in segs):
        return ".".join(segs)
    return list(segs)


@st.composite
def ops_strategy(draw: st.DrawFn) -> Any:
    t = draw(st.sampled_from(list(FIELDS)))
    op: dict[str, Any] = {"type": t}
    if t in ("set", "merge"):
        p = draw(st.one_of(paths(), st.none(), st.just("__absent__")))
        if p != "__absent__":
            op["path"] = p
        op["value"] = draw(st.dictionaries(small_keys, small_values, max_size=3)) if t == "merge" else draw(small_values)
    elif t in ("increment", "decrement"):
        op["path"] = draw(st.one_of(st.sampled_from(["a", "b", ["c.d"], "a.b", ["b", "a"]]), paths()))
        by = draw(st.one_of(st.just("__absent__"), st.integers(-5, 5), st.floats(-100, 100), st.just(1e308)))
        if by != "__absent__":
            op["by"] = by
    elif t == "remove":
        op["path"] = draw(paths())
    else:
        op["path"] = draw(paths())
        op["value"] = draw(small_values)
    # Occasionally break it, so structural errors are compared too.
    breakage = draw(st.sampled_from([None] * 40 + ["type", "extra", "drop", "path", "by", "merge", "nan"]))
    if breakage == "type":
        op["type"] = "inc"
    elif breakage == "extra":
        op["valeu"] = 1
    elif breakage == "drop":
        op.pop(draw(st.sampled_from(sorted(op))), None)
    elif breakage == "path":
        op["path"] = draw(st.sampled_from(["a..b", ["a", ""], 5, [1]]))
    elif breakage == "by" and t in ("increment", "decrement"):
        op["by"] = draw(st.sampled_from([True, "1", math.inf, math.nan, None]))
    elif breakage == "merge" and t == "merge":
        op["value"] = draw(st.sampled_from([[1], "x", 3]))
    elif breakage == "nan" and "value" in op:
        op["value"] = {"bad": [math.nan]}
    return op


numbers = st.one_of(st.integers(-3, 3), st.floats(-10, 10), st.just(1e308), st.just(True))
leaves = st.one_of(numbers, small_values)
# Items whose fields are exactly the keys paths use, so most ops meet an existing field.
objects = st.fixed_dictionaries(
    {"a": st.one_of(leaves, st.fixed_dictionaries({"a": leaves}, optional={"b": leaves})), "b": leaves},
    optional={"c.d": leaves},
)
currents = st.one_of(st.just(MISSING), objects, objects, small_values)


@SETTINGS
@given(currents, st.lists(ops_strategy(), max_size=6))
def test_apply_ops_matches_naive_model(current: Any, ops: list[dict[str, Any]]) -> None:
    current_before = copy.deepcopy(current)
    ops_before = copy.deepcopy(ops)
    try:
        expected = model_apply(current, ops)
        expected_error = None
    except ModelError as exc:
        expected_error = exc.index
    try:
        got = apply_ops(current, ops, group_id="g", key="k")
        got_error = None
    except UpdateOpError as exc:
        got_error = exc.index
        assert exc.group_id == "g" and exc.key == "k"
    # never mutates its inputs, whatever happened
    assert current is MISSING or same(current, current_before)
    assert repr(ops) == repr(ops_before)
    assert got_error == expected_error, f"model failed at {expected_error}, apply_ops at {got_error}"
    if expected_error is None:
        assert same(got, expected), f"{got!r} != {expected!r}"
        # the result is storable JSON and survives a round-trip
        assert same(decode_value(encode_value(got, group_id="g", key="k")), got)


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



KINDS: list[Any] = [True, False, None, "5", "", 0, -1, 2.5, -0.0, 1e308, 10**30, [], [1], {}, {"a": 1}, {"a": {"b": 2}}]
ONE_OPS: list[dict[str, Any]] = [
    {"type": "set", "value": {"n": 1}},
    {"type": "merge", "value": {"a": {"z": 1}, "n": [2]}},
    {"type": "increment"},
    {"type": "increment", "by": 2.5},
    {"type": "decrement", "by": 1e308},
    {"type": "remove"},
    {"type": "append", "value": {"v": 1}},
]
PATHS: list[Any] = ["a", "a.a", ["a"], ["a", "b"], "b", "", None, "a.a.a"]


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
                        expected = ("error", exc.index)
                    try:
                        got: Any = apply_ops(cur, [op], group_id="g", key="k")
                    except UpdateOpError as exc:
                        got = ("error", exc.index)
                    if not same(got, expected) or not (cur is MISSING or same(cur, before)):
                        mismatches.append((cur, op, expected, got))
    assert not mismatches, mismatches[:5]
