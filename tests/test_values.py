"""motia_nb.state.values: name checks, JSON validation with locations, encode/decode."""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import json
import math
import sys
import timeit
import uuid
from typing import Any

import pytest

from motia_nb.state.errors import InvalidInputError
from motia_nb.state.json_deep import _decode_iterative, _encode_iterative
from motia_nb.state.jsontext import decode_value, encode_trusted
from motia_nb.state.values import (
    MAX_DEPTH,
    check_name,
    encode_value,
    find_json_problem,
    format_location,
    json_depth,
)


def enc(value: Any) -> str:
    return encode_value(value, group_id="orders", key="o1")


def enc_error(value: Any) -> str:
    with pytest.raises(InvalidInputError) as info:
        enc(value)
    msg = str(info.value)
    assert msg.startswith("value for 'orders'/'o1' is not JSON: "), msg
    assert info.value.group_id == "orders" and info.value.key == "o1"
    return msg.removeprefix("value for 'orders'/'o1' is not JSON: ")


def nested_list(depth: int, leaf: Any = 0) -> Any:
    v = leaf
    for _ in range(depth):
        v = [v]
    return v


def nested_dict(depth: int, leaf: Any = 0) -> Any:
    v = leaf
    for _ in range(depth):
        v = {"k": v}
    return v


def call_at_stack_depth(extra_frames: int, fn: Any, *args: Any) -> Any:
    """Call ``fn(*args)`` with ``extra_frames`` more Python frames on the stack."""
    if extra_frames == 0:
        return fn(*args)
    return call_at_stack_depth(extra_frames - 1, fn, *args)


# ----------------------------------------------------------------- check_name


@pytest.mark.parametrize(
    "name",
    ["orders", "'; DROP TABLE x; --", "🧾 receipts", "a.b.c", "a/b\\c", " ", "ключ", "\x01soh", "x" * 10_000],
)
def test_check_name_accepts_any_unicode_text(name: str) -> None:
    assert check_name(name, "group_id") == name
    assert check_name(name, "key", group_id="orders") == name


def test_check_name_returns_plain_str_for_subclass() -> None:
    class Name(str):
        pass

    out = check_name(Name("abc"), "key", group_id="g")
    assert out == "abc" and type(out) is str


@pytest.mark.parametrize(
    ("bad", "got"),
    [
        (5, "got int 5"),
        ("", "got an empty string"),
        (None, "got None"),
        (b"orders", "got bytes b'orders'"),
        (["a"], "got list ['a']"),
        (1.5, "got float 1.5"),
    ],
)
def test_check_name_rejects_non_str_and_empty(bad: Any, got: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_name(bad, "group_id")
    assert str(info.value) == f"group_id must be a non-empty str, {got}"


def test_check_name_key_message_names_the_group() -> None:
    with pytest.raises(InvalidInputError) as info:
        check_name(7, "key", group_id="orders")
    assert str(info.value) == "key (in group 'orders') must be a non-empty str, got int 7"
    assert info.value.group_id == "orders"
    assert info.value.key == 7


def test_check_name_rejects_lone_surrogate() -> None:
    with pytest.raises(InvalidInputError, match=r"group_id .*lone surrogate '\\ud800' at index 2"):
        check_name("ab\ud800", "group_id")


@pytest.mark.parametrize("name", ["\x00", "a\x00b", "nul\x00", "ключ\x00", "\x00🧾"])
def test_check_name_rejects_nul(name: str) -> None:
    """Issue 12, 2.1: SQLite's JSON functions cut names at NUL, so a write to 'a\\x00b'
    would reach the item 'a'. Refused everywhere, for groups and keys alike."""
    at = name.index("\x00")
    with pytest.raises(InvalidInputError, match=rf"group_id .* contains the NUL character '.x00' at index {at}:") as info:
        check_name(name, "group_id")
    assert info.value.key is None
    with pytest.raises(InvalidInputError, match=r"key \(in group 'g'\) .* NUL character") as info:
        check_name(name, "key", group_id="g")
    assert info.value.group_id == "g" and info.value.key == name


def test_check_name_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        check_name("", "key", group_id="g")


# --------------------------------------------------------------- encode: valid


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-17, "-17"),
        (1.5, "1.5"),
        (-0.0, "-0.0"),
        (1e300, "1e+300"),
        ("", '""'),
        ("héllo 🧾", '"héllo 🧾"'),
        ('quote " and \\ and \n', '"quote \\" and \\\\ and \\n"'),
        ([], "[]"),
        ({}, "{}"),
        ((1, "a"), '[1,"a"]'),
        ({"a": 1, "b": [True, None], "c": {"d": "e"}}, '{"a":1,"b":[true,null],"c":{"d":"e"}}'),
        ({"id": "o1", "status": "pending", "total": 99.99}, '{"id":"o1","status":"pending","total":99.99}'),
    ],
)
def test_encode_valid_values_compact_text(value: Any, text: str) -> None:
    assert enc(value) == text
    assert find_json_problem(value) is None


def test_encode_keeps_key_order() -> None:
    value = {"z": 1, "a": 2, "m": 3}
    assert enc(value) == '{"z":1,"a":2,"m":3}'
    assert list(decode_value(enc(value))) == ["z", "a", "m"]


@pytest.mark.parametrize("n", [2**63 - 1, 2**63, 2**64 - 1, -(2**63)])
def test_ints_the_engine_holds_round_trip_exactly(n: int) -> None:
    back = decode_value(enc({"n": n}))["n"]
    assert back == n and type(back) is int
    long = [*range(10), 1e300, -1e300, n]  # floats past the int range are no integers: stored
    assert decode_value(enc({"l": long}))["l"] == long


BIG_INTS = [2**64, 2**64 + 1, -(2**63) - 1, 2**70, 10**100, -(10**4000), 2**1000 + 1]
BIG_IDS = ["2**64", "2**64+1", "-2**63-1", "2**70", "10**100", "-10**4000", "2**1000+1"]


@pytest.mark.parametrize("n", BIG_INTS, ids=BIG_IDS)
@pytest.mark.parametrize(
    "shape", ["scalar", "flat", "list", "nested", "tuple", "intenum", "long_numbers", "long_mixed", "nested_long"]
)
def test_ints_past_the_engines_64_bits_are_refused(n: int, shape: str) -> None:
    # the engine (serde_json without arbitrary_precision) reads them as f64: 2**64 + 1 would come
    # back as 2**64, a float; every shape of value, on every encoding path
    from motia_nb.state.values import encode_copy

    value: Any = {
        "scalar": n, "flat": {"id": "a", "n": n}, "list": [1, "x", n], "nested": {"a": [{"b": n}]},
        "tuple": (n,), "intenum": {"n": enum.IntEnum("Big", {"X": n}).X},
        # arrays past 8 items take the C-speed check (map/min/max): numbers only, or mixed
        "long_numbers": [*range(10), 1.5, True, n], "long_mixed": ["s", None, *range(10), n], "nested_long": {"a": [[*range(12), n]]},
    }[shape]
    where = {"scalar": "$", "flat": "$.n", "list": "$[2]", "nested": "$.a[0].b", "tuple": "$[0]", "intenum": "$.n",
             "long_numbers": "$[12]", "long_mixed": "$[12]", "nested_long": "$.a[0][12]"}[shape]  # fmt: skip
    for encode in (encode_value, encode_copy):
        with pytest.raises(InvalidInputError) as info:
            encode(value, group_id="orders", key="o1")
        msg = str(info.value)
        assert msg.startswith(f"value for 'orders'/'o1': {where} is "), msg
        assert "outside the engine's 64-bit range (-2**63 to 2**64-1)" in msg and "\n" not in msg
        assert info.value.group_id == "orders" and info.value.key == "o1"


def test_stored_big_ints_still_read_exactly() -> None:
    # text an older motia_nb stored: read back as it was, never refused on the way out
    for n in BIG_INTS:
        back = decode_value(encode_trusted({"n": n}))["n"]
        assert back == n and type(back) is int


def test_int_beyond_python_text_limit_is_rejected_clearly() -> None:
    limit = sys.get_int_max_str_digits()
    if limit == 0:
        pytest.skip("int/str conversion limit disabled in this interpreter")
    msg = enc_error({"n": 10 ** (limit + 10)})
    assert msg.startswith("$.n is an int with more digits")


def test_subclasses_of_json_types_are_stored_as_plain_json() -> None:
    class Color(enum.IntEnum):
        RED = 1

    class Name(str):
        pass

    value = collections.OrderedDict(c=Color.RED, n=Name("x"), d=collections.defaultdict(list))
    assert enc(value) == '{"c":1,"n":"x","d":{}}'


def test_shared_subobjects_are_not_circular() -> None:
    shared = {"x": 1}
    assert enc([shared, shared, {"a": shared}]) == '[{"x":1},{"x":1},{"a":{"x":1}}]'


def test_tuple_is_stored_as_array() -> None:
    assert decode_value(enc({"t": (1, (2, 3))})) == {"t": [1, [2, 3]]}


# ------------------------------------------------------------- encode: errors


class Thing:
    def __repr__(self) -> str:
        return "<Thing>"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"items": [{"price": 1}, {"price": 2}, {"price": float("nan")}]}, "$.items[2].price is NaN"),
        (float("nan"), "$ is NaN"),
        ({"x": math.inf}, "$.x is Infinity"),
        ([-math.inf], "$[0] is -Infinity"),
        ({"when": datetime.datetime(2024, 1, 2)}, "$.when is a datetime.datetime; store v.isoformat() instead"),
        ({"d": datetime.date(2024, 1, 2)}, "$.d is a datetime.date; store v.isoformat() instead"),
        ({1: "a"}, "$ has a non-string key 1 (int); JSON object keys must be str"),
        ({"a": {None: 1}}, "$.a has a non-string key None (NoneType); JSON object keys must be str"),
        ({"a": {(1, 2): 1}}, "$.a has a non-string key (1, 2) (tuple); JSON object keys must be str"),
        ({"a": {True: 1}}, "$.a has a non-string key True (bool); JSON object keys must be str"),
        ({"tags": {"x"}}, "$.tags is a set; use a list"),
        ({"tags": frozenset()}, "$.tags is a frozenset; use a list"),
        (b"raw", "$ is a bytes object (b'raw'); decode it to str (or base64) first"),
        ({"b": bytearray(b"x")}, "$.b is a bytearray object (bytearray(b'x')); decode it to str (or base64) first"),
        ({"t": Thing()}, "$.t is a test_values.Thing instance (<Thing>), not a JSON type"),
        ({"t": BadRepr()}, "$.t is a test_values.BadRepr instance (<BadRepr object>), not a JSON type"),
        ({"d": decimal.Decimal("1.5")}, "$.d is a decimal.Decimal; convert it with str() or float()"),
        ({"z": 1j}, "$.z is a complex number (1j)"),
        ({"u": uuid.UUID(int=1)}, "$.u is a uuid.UUID instance (UUID('00000000-0000-0000-0000-000000000001')), not a JSON type"),
        ({"f": print}, "$.f is a builtin_function_or_method instance (<built-in function print>), not a JSON type"),
        ({"s": "ok\udc80"}, "$.s contains a lone surrogate '\\udc80' at index 2 (not valid Unicode text)"),
        ({"k\ud800": 1}, "a key of $ contains a lone surrogate '\\ud800' at index 1 (not valid Unicode text)"),
        ({"a.b": {"c d": [0, {"é": float("nan")}]}}, '$["a.b"]["c d"][1]["é"] is NaN'),
        ({"cls": int}, "$.cls is a type instance (<class 'int'>), not a JSON type"),
    ],
)
def test_encode_rejects_with_location(value: Any, expected: str) -> None:
    assert enc_error(value) == expected
    assert find_json_problem(value) == expected


def test_first_problem_in_document_order_is_reported() -> None:
    assert enc_error({"a": [1, float("nan")], "b": {1: 2}}) == "$.a[1] is NaN"
    assert enc_error([{"x": set()}, b"y"]) == "$[0].x is a set; use a list"


def test_numpy_scalars_and_arrays_are_rejected_with_a_hint() -> None:
    np = pytest.importorskip("numpy")
    msg = enc_error({"mean": np.float64(1.5)})  # a float subclass: json.dumps would accept it
    assert msg.startswith("$.mean is a numpy.float64 (") and "numpy scalar, not JSON" in msg
    assert ".item()" in msg
    assert enc_error([np.int64(3)]).startswith("$[0] is a numpy.int64 (")
    assert enc_error(np.bool_(True)).startswith("$ is a numpy.bool")
    assert enc_error({"a": np.arange(3)}) == "$.a is a numpy.ndarray (not JSON; convert it with .tolist())"


def test_circular_references_are_reported_not_recursion_error() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert enc_error(loop) == "$[1] refers back to $ (a circular reference)"
    d: dict[str, Any] = {"a": {"b": {}}}
    d["a"]["b"]["c"] = d["a"]
    assert enc_error(d) == "$.a.b.c refers back to $.a (a circular reference)"


def test_error_message_repr_of_group_and_key() -> None:
    with pytest.raises(InvalidInputError) as info:
        encode_value({"x": set()}, group_id="g'1", key="k/ü")
    assert str(info.value) == "value for \"g'1\"/'k/ü' is not JSON: $.x is a set; use a list"


# ----------------------------------------------------------------- nesting


@pytest.mark.parametrize("make", [nested_list, nested_dict])
def test_depth_500_and_max_depth_round_trip(make: Any) -> None:
    for depth in (500, MAX_DEPTH):
        value = make(depth)
        text = enc(value)
        assert json_depth(value) == depth
        assert json.loads(text) == value
        assert decode_value(text) == value


@pytest.mark.parametrize("make", [nested_list, nested_dict])
def test_deeper_than_max_depth_is_a_clear_error(make: Any) -> None:
    msg = enc_error(make(MAX_DEPTH + 1))
    assert f"nests deeper than {MAX_DEPTH} levels" in msg
    assert "more)…" in msg  # the long location is shortened


def test_very_deep_values_do_not_raise_recursion_error() -> None:
    msg = enc_error(nested_list(50_000))
    assert "nests deeper than" in msg


def test_encode_and_decode_work_from_a_deep_call_stack() -> None:
    """Near the recursion limit the C json code would raise; the fallbacks must not."""
    value = nested_dict(MAX_DEPTH - 2, leaf=[1.5, "é", None, True, {"z": -3}])
    text = enc(value)
    here = 0
    frame = sys._getframe()
    while frame is not None:
        here, frame = here + 1, frame.f_back
    # leave json room for about half the value's depth (plus a margin for our own calls)
    frames = sys.getrecursionlimit() - here - MAX_DEPTH // 2 - 20
    with pytest.raises(RecursionError):  # proves the stack really is too deep for json
        call_at_stack_depth(frames, json.loads, text)
    assert call_at_stack_depth(frames, decode_value, text) == value
    assert call_at_stack_depth(frames, enc, value) == text
    assert call_at_stack_depth(frames, encode_trusted, value) == text


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -5,
        10**40,
        1.25,
        -0.0,
        1e-310,
        "",
        "a\"b\\c\n\t\x00é🧾",
        [],
        {},
        [1, [2, [3, []]], {}],
        {"a": {"b": [1, 2, {"c": None}]}, "": "empty key", "ü": [True, False]},
        (1, 2),
    ],
)
def test_iterative_encoder_and_decoder_match_json(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert _encode_iterative(value) == text
    assert _decode_iterative(text) == json.loads(text)
    pretty = json.dumps(value, ensure_ascii=False, indent=2)
    assert _decode_iterative(pretty) == json.loads(text)


@pytest.mark.parametrize("bad", ["", "[1,", "[1 2]", '{"a" 1}', '{"a":1,}', "[1]x", "{1:2}", "tru", '"abc'])
def test_iterative_decoder_rejects_invalid_text(bad: str) -> None:
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        _decode_iterative(bad)


def test_decode_value_accepts_bytes() -> None:
    assert decode_value(b'{"a":[1,"\xc3\xa9"]}') == {"a": [1, "é"]}


def test_format_location() -> None:
    assert format_location([]) == "$"
    assert format_location(["items", 2, "price"]) == "$.items[2].price"
    assert format_location(["a.b", "", "x y", "_ok1"]) == '$["a.b"][""]["x y"]._ok1'


# -------------------------------------------------------------- performance


def test_common_case_is_fast() -> None:
    """A 5-field dict of scalars: measured ~2 µs here; fail only on a gross regression."""
    value = {"id": "order-123", "status": "pending", "total": 99.99, "items": 3, "paid": False}
    n = 2000
    best = min(timeit.repeat(lambda: encode_value(value, group_id="g", key="k"), number=n, repeat=3)) / n
    assert best < 30e-6, f"encode_value took {best * 1e6:.1f} µs per call"
