"""Integers past the engine's 64 bits: refused on every write, on every backend; stored ones still read.

Motia's engine reads JSON with serde_json, built without ``arbitrary_precision``
(``engine/Cargo.toml``: ``serde_json = "1"``): an integer outside -2**63..2**64-1 becomes an
f64, so 2**64 + 1 is stored as 1.8446744073709552e+19, a float, silently. motia_nb refuses
such a value loudly (one line naming the group, the key, the place and the number) instead.
"""

from __future__ import annotations

import asyncio

import pytest

from motia_nb.state import InvalidInputError, UpdateOpError
from motia_nb.state.backends.base import Write
from motia_nb.state.jsontext import encode_trusted

BIG = 2**64 + 1  # the engine would answer 18446744073709551616.0


def one_line(err: BaseException) -> str:
    msg = str(err)
    assert "\n" not in msg, msg
    return msg


def test_set_refuses_an_integer_past_64_bits_naming_group_key_and_number(sm):
    with pytest.raises(InvalidInputError) as info:
        sm.sync.set("orders", "o1", {"id": "o1", "lines": [{"qty": BIG}]})
    msg = one_line(info.value)
    assert msg.startswith("value for 'orders'/'o1': $.lines[0].qty is 18446744073709551617, an integer outside")
    assert "1.8446744073709552e+19" in msg  # what the engine would have stored
    assert info.value.group_id == "orders" and info.value.key == "o1"
    assert sm.sync.get("orders", "o1") is None and sm.sync.list_groups() == []


def test_the_engines_own_range_is_stored_exactly(sm):
    for n in (2**64 - 1, 2**63, -(2**63)):
        sm.sync.set("g", "k", {"n": n})
        back = sm.sync.get("g", "k")["n"]
        assert back == n and type(back) is int


def test_a_gather_of_writes_refuses_only_the_big_one(sm):
    # concurrent sets travel in one batch (the hot path): the refused one fails alone
    async def main():
        return await asyncio.gather(
            sm.set("g", "a", {"n": 1}), sm.set("g", "b", {"n": -(2**63) - 1}), sm.set("g", "c", [2**70]),
            sm.set("g", "d", 2**64 - 1), return_exceptions=True,
        )

    a, b, c, d = asyncio.run(main())
    assert a["new_value"] == {"n": 1} and d["new_value"] == 2**64 - 1
    assert isinstance(b, InvalidInputError) and "'g'/'b': $.n is -9223372036854775809" in str(b)
    assert isinstance(c, InvalidInputError) and "'g'/'c': $[0] is 1180591620717411303424" in str(c)
    assert sorted(k for k, _ in sm.sync.items("g")) == ["a", "d"]


@pytest.mark.parametrize(
    "op, code",
    [
        ({"type": "set", "path": "n", "value": BIG}, "set.value.out_of_range"),
        ({"type": "merge", "value": {"m": {"deep": [BIG]}}}, "merge.value.out_of_range"),
        ({"type": "append", "path": "l", "value": -(2**63) - 1}, "append.value.out_of_range"),
    ],
)
def test_an_update_op_value_past_64_bits_refuses_the_whole_update(sm, op, code):
    sm.sync.set("g", "k", {"n": 1, "l": []})
    with pytest.raises(UpdateOpError) as info:
        sm.sync.update("g", "k", [{"type": "increment", "path": "n", "by": 1}, op])
    assert info.value.code == code and info.value.op_index == 1
    assert "outside the engine's 64-bit range" in one_line(info.value)
    assert sm.sync.get("g", "k") == {"n": 1, "l": []}


def test_an_increment_past_64_bits_is_the_engines_not_number(sm):
    # SPEC §3: integer results outside the engine's range are its not_number errors
    sm.sync.set("g", "k", {"n": 2**64 - 1, "m": -(2**63)})
    with pytest.raises(UpdateOpError) as info:
        sm.sync.update("g", "k", [{"type": "increment", "path": "n", "by": 1}])
    assert info.value.code == "increment.not_number"
    with pytest.raises(UpdateOpError) as info:
        sm.sync.update("g", "k", [{"type": "decrement", "path": "m", "by": 1}])
    assert info.value.code == "decrement.not_number"
    assert sm.sync.get("g", "k") == {"n": 2**64 - 1, "m": -(2**63)}


def test_a_big_integer_an_older_motia_nb_stored_still_reads_and_its_item_still_updates(sm):
    # written as an older motia_nb wrote it (straight to the store, no check): read back exactly
    sm.backend.write_all([Write("set", "old", "k", value_json=encode_trusted({"big": 2**70, "n": 1}))])
    assert sm.sync.get("old", "k") == {"big": 2**70, "n": 1}
    assert sm.sync.items("old") == [("k", {"big": 2**70, "n": 1})]
    out = sm.sync.update("old", "k", [{"type": "increment", "path": "n", "by": 1}])
    assert out["new_value"] == {"big": 2**70, "n": 2}  # the item is not held hostage by its old field
    with pytest.raises(UpdateOpError) as info:  # but the big field itself is no counter
        sm.sync.update("old", "k", [{"type": "increment", "path": "big", "by": 1}])
    assert info.value.code == "increment.not_number"
