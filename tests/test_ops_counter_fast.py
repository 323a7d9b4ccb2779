"""The counter fast paths of ops.py give what the general code gives.

``normalize_ops`` takes ONE plain increment/decrement op without the general checks
(``op_counters.plain_incdec``), and ``apply_ops`` applies such an op to a top-level field of an
object at once (``op_counters.counted``): both are checked here against the general code, over
every kind of op and stored value they could meet, errors included.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from motia_nb.state.errors import UpdateOpError
from motia_nb.state.op_semantics import APPLY, I64_MAX, I64_MIN, U64_MAX, Cow, OpFailure
from motia_nb.state.ops import _normalize_one, apply_ops, normalize_ops

_ints = st.sampled_from([0, 1, -1, 7, I64_MAX, I64_MIN, I64_MAX + 1, U64_MAX, U64_MAX + 1, I64_MIN - 1, 2**70])
_fields = st.sampled_from(["n", "m", "", "a.b", "__proto__", "constructor", "é", "x" * 256, "x" * 257, "\x00"])
_stored = st.one_of(_ints, st.floats(allow_nan=False), st.booleans(), st.none(), st.text(max_size=2), st.lists(st.integers(), max_size=2))


@st.composite
def _ops(draw: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"type": draw(st.sampled_from(["increment", "decrement", "set", "Increment"]))}
    if draw(st.integers(0, 9)):
        op["path"] = draw(st.one_of(_fields, st.lists(_fields, max_size=2), st.integers()))
    if draw(st.integers(0, 9)):
        op["by"] = draw(st.one_of(_ints, st.booleans(), st.floats(allow_nan=False), st.just("1")))
    if not draw(st.integers(0, 9)):
        op["extra"] = 1
    return op


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("ok", fn(*args, **kwargs))
    except UpdateOpError as exc:
        return ("err", exc.code, exc.reason, exc.index)


def _general(current: Any, ops: list[Any]) -> Any:
    cow = Cow(current, missing=False)
    for op in ops:
        try:
            APPLY[op["type"]](cow, op)
        except OpFailure as f:
            return ("err", f.code, f.reason, 0)
    return ("ok", cow.root)


@settings(max_examples=600, deadline=None)
@given(op=_ops())
def test_one_counter_op_is_normalized_as_the_general_checks_do(op: dict[str, Any]) -> None:
    fast = _outcome(normalize_ops, [op], group_id="g", key="k")
    general = _outcome(lambda: [_normalize_one(op, 0, "g", "k")])
    if general[0] == "ok" and "failure" in general[1][0]:
        return  # a recorded failure: normalize_ops raises it (no earlier op); the fast path never takes one
    assert fast == general
    if fast[0] == "ok":
        assert type(fast[1][0]) is type(general[1][0])


@settings(max_examples=600, deadline=None)
@given(
    kind=st.sampled_from(["increment", "decrement"]),
    leaf=st.sampled_from(["n", "m"]),
    by=st.sampled_from([0, 1, -1, 5, I64_MAX, I64_MIN]),
    stored=st.dictionaries(st.sampled_from(["n", "m", "z"]), _stored, max_size=3),
)
def test_one_counter_op_applies_as_the_general_code_does(kind: str, leaf: str, by: int, stored: dict[str, Any]) -> None:
    ops = normalize_ops([{"type": kind, "path": leaf, "by": by}], group_id="g", key="k")
    fast = _outcome(apply_ops, stored, ops, group_id="g", key="k")
    general = _general(stored, ops)
    assert fast == general
    if fast[0] == "ok":
        assert list(fast[1]) == list(general[1])  # same key order
        assert fast[1] is not stored  # never the stored object itself
        for k, v in fast[1].items():
            assert type(v) is type(general[1][k])
