"""The engine endpoint as a new user's real iii-sdk client meets it (found by trying it).

A bare iii-sdk 0.25 worker (``.venv-iii``) calls ``state::*`` with inputs the engine
(iii-hq/iii ``engine/src/workers/state/structs.rs``, read by serde) accepts: the
same result, or a loud refusal the README documents.
"""

from __future__ import annotations

import uuid

import pytest
from engine_helpers import any_client, calls  # noqa: F401 (fixtures)

from motia_nb import engine
from motia_nb.state import state_manager

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    previous = state_manager.url
    state_manager.use(str(tmp_path_factory.mktemp("engine") / "state.db"))
    server = engine.serve()
    try:
        yield server
    finally:
        server.close()
        state_manager.use(previous)


def test_a_payload_given_as_an_array_of_the_fields_is_read_as_serde_reads_the_engines_structs(calls):
    # serde reads a struct from an array of its fields in order: the engine answers these
    # (was: deserialization_error "the payload must be an object, got list")
    assert calls(
        ["state::set", ["arr", "k", {"n": 1}]],
        ["state::get", ["arr", "k"]],
        ["state::update", ["arr", "k", [{"type": "increment", "path": "n", "by": 2}]]],
        ["state::list", ["arr"]],
        ["state::list_groups", []],
        ["stream::set", ["todo", "inbox", "t1", {"done": False}]],
        ["stream::get", ["todo", "inbox", "t1"]],
        ["state::delete", ["arr", "k"]],
    ) == [
        {"ok": {"old_value": None, "new_value": {"n": 1}}},
        {"ok": {"n": 1}},
        {"ok": {"old_value": {"n": 1}, "new_value": {"n": 3}}},
        {"ok": [{"n": 3}]},
        {"ok": {"groups": ["arr"]}},
        {"ok": {"old_value": None, "new_value": {"done": False}}},
        {"ok": {"done": False}},
        {"ok": {"n": 3}},
    ]
    # too few or too many fields: serde's invalid length, nothing written
    refused = calls(["state::set", ["arr", "k"]], ["state::get", ["arr", "k", "x"]], ["state::list", ["arr"]])
    assert all("deserialization_error" in r["error"] and "invalid length" in r["error"] for r in refused[:2]), refused
    assert refused[2] == {"ok": []}


def test_edge_values_and_names_the_engine_accepts(any_client):
    edge = f"edge-{uuid.uuid4().hex[:8]}"  # one scope per client (the store is shared)
    uni = f"ünïcode 🚀 {edge}"
    assert any_client(
        ["state::set", {"scope": edge, "key": "null", "value": None}],  # an explicit null is a value
        ["state::get", {"scope": edge, "key": "null"}],
        ["state::set", {"scope": edge, "key": "extra", "value": 1, "unknown": "ignored"}],  # serde ignores it
        ["state::set", {"scope": edge, "key": "alias", "data": 2}],  # `data` is `value`'s alias
        ["state::set", {"scope": uni, "key": "ключ", "value": {"é": "🚀"}}],
        ["state::get", {"scope": uni, "key": "ключ"}],
        ["state::delete", {"scope": edge, "key": "fresh"}],
        ["state::update", {"scope": edge, "key": "fresh", "ops": []}],  # a missing item starts as {}
        ["state::delete", {"scope": edge, "key": "nothing"}],
    ) == [
        {"ok": {"old_value": None, "new_value": None}}, {"ok": None},
        {"ok": {"old_value": None, "new_value": 1}},
        {"ok": {"old_value": None, "new_value": 2}},
        {"ok": {"old_value": None, "new_value": {"é": "🚀"}}}, {"ok": {"é": "🚀"}},
        {"ok": None}, {"ok": {"old_value": None, "new_value": {}}},
        {"ok": None},
    ]


def test_a_big_integer_from_a_python_client_is_refused_as_the_engine_would_lose_it(calls):
    """The engine (serde_json without arbitrary_precision) would store 12345678901234567890123 as
    the float 1.2345678901234568e+22, silently: refused in one line, nothing stored (was: stored
    exactly, a result the engine never gives). Integers within 64 bits are stored exactly."""
    out = calls(
        ["state::set", {"scope": "edge", "key": "big", "value": 12345678901234567890123}],
        ["state::get", {"scope": "edge", "key": "big"}],
        ["state::set", {"scope": "edge", "key": "u64", "value": 2**64 - 1}],
        ["state::get", {"scope": "edge", "key": "u64"}],
    )
    assert out[0] == {"error": (
        "InvocationError: invalid_input: state::set: value for 'edge'/'big': $ is 12345678901234567890123, an integer "
        "outside the engine's 64-bit range (-2**63 to 2**64-1): Motia's engine would store it as the float "
        "1.2345678901234568e+22, not this number (store it as a str, or as a float, to say which)"
    )}
    assert out[1:] == [{"ok": None}, {"ok": {"old_value": None, "new_value": 2**64 - 1}}, {"ok": 2**64 - 1}]


def test_names_the_engine_stores_but_motia_nb_refuses_are_refused_loudly(any_client):
    # README "Where motia_nb differs from Motia": empty names, NUL, and `::` (streams' groups)
    out = any_client(
        ["state::set", {"scope": "edge", "key": "", "value": 1}],
        ["state::set", {"scope": "", "key": "k", "value": 1}],
        ["state::set", {"scope": "a\u0000b", "key": "k", "value": 1}],
        ["state::set", {"scope": "a::b", "key": "k", "value": 1}],
    )
    assert all("invalid_input" in r.get("error", "") for r in out), out
    assert "must be a non-empty str" in out[0]["error"] and "NUL" in out[2]["error"] and "streams" in out[3]["error"]
