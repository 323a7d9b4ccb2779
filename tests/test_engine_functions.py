"""EngineFunctions: the engine's function surface in-process, with the engine's shapes and error codes."""

from __future__ import annotations

import asyncio

import pytest

from motia_nb.engine import EngineFunctionError, EngineFunctions
from motia_nb.state import StateManager
from motia_nb.steps import queue
from motia_nb.session import all_steps


@pytest.fixture
def fns(tmp_path):
    m = StateManager(str(tmp_path / "s.db"))
    yield EngineFunctions(m)
    m.close()


def call(fns, fid, payload):
    return asyncio.run(fns.call(fid, payload))


def test_state_functions_answer_with_the_engines_shapes(fns):
    assert call(fns, "state::set", {"scope": "orders", "key": "o1", "value": {"n": 1}}) == {"old_value": None, "new_value": {"n": 1}}
    assert call(fns, "state::set", {"scope": "orders", "key": "o1", "data": {"n": 2}}) == {"old_value": {"n": 1}, "new_value": {"n": 2}}
    assert call(fns, "state::get", {"scope": "orders", "key": "o1"}) == {"n": 2}
    assert call(fns, "state::get", {"scope": "orders", "key": "nope"}) is None
    r = call(fns, "state::update", {"scope": "orders", "key": "o1", "ops": [{"type": "increment", "path": "n", "by": 3}]})
    assert r == {"old_value": {"n": 2}, "new_value": {"n": 5}}
    call(fns, "state::set", {"scope": "users", "key": "u", "value": 1})
    assert call(fns, "state::list", {"scope": "orders"}) == [{"n": 5}]
    assert call(fns, "state::list_groups", {}) == {"groups": ["orders", "users"]}
    assert call(fns, "state::delete", {"scope": "orders", "key": "o1"}) == {"n": 5}
    assert call(fns, "state::delete", {"scope": "orders", "key": "o1"}) is None
    call(fns, "state::set", {"scope": "users", "key": "v", "value": {"no": "id"}})
    assert call(fns, "state::clear", {"scope": "users"}) == {"removed": 2}  # every item, with or without `id`
    assert call(fns, "state::list_groups", {}) == {"groups": []}


def test_stream_functions_live_in_groups_stream_group_and_stay_out_of_state(fns):
    p = {"stream_name": "todo", "group_id": "inbox", "item_id": "t1"}
    assert call(fns, "stream::set", {**p, "data": {"done": False}}) == {"old_value": None, "new_value": {"done": False}}
    r = call(fns, "stream::update", {**p, "ops": [{"type": "set", "path": "done", "value": True}]})
    assert r == {"old_value": {"done": False}, "new_value": {"done": True}}
    assert call(fns, "stream::get", p) == {"done": True}
    call(fns, "stream::set", {**p, "group_id": "archive", "data": 1})
    assert call(fns, "stream::list", {"stream_name": "todo", "group_id": "inbox"}) == [{"done": True}]
    assert call(fns, "stream::list_groups", {"stream_name": "todo"}) == ["archive", "inbox"]
    assert asyncio.run(fns.manager.list_groups()) == ["todo::archive", "todo::inbox"]  # visible to %state
    assert call(fns, "state::list_groups", {}) == {"groups": []}  # the engine's two stores never mix
    assert call(fns, "stream::delete", p) == {"old_value": {"done": True}}
    assert call(fns, "stream::delete", p) == {"old_value": None}


@pytest.mark.parametrize(
    "fid, payload, code",
    [
        ("state::nope", {}, "function_not_found"),
        ("state::get", {"scope": "a"}, "deserialization_error"),
        ("state::get", ["a"], "deserialization_error"),  # an array must hold every field (serde)
        ("state::set", {"scope": 1, "key": "k", "value": 1}, "deserialization_error"),
        ("state::update", {"scope": "a", "key": "k"}, "deserialization_error"),
        ("state::set", {"scope": "a::b", "key": "k", "value": 1}, "invalid_input"),
        ("state::set", {"scope": "", "key": "k", "value": 1}, "invalid_input"),
        ("stream::set", {"stream_name": "a::b", "group_id": "g", "item_id": "i", "data": 1}, "invalid_input"),
        ("stream::set", {"stream_name": "s", "group_id": "g", "item_id": "i"}, "deserialization_error"),
        ("enqueue", {"topic": "", "data": 1}, "topic_not_set"),
        ("enqueue", {"topic": "t"}, "deserialization_error"),  # QueueInput's data: Value is required
        ("enqueue", {"topic": None, "data": 1}, "deserialization_error"),  # topic: String
        ("enqueue", {"topic": "t", "data": float("nan")}, "invalid_input"),
    ],
)
def test_bad_calls_raise_engine_errors_and_write_nothing(fns, fid, payload, code):
    with pytest.raises(EngineFunctionError) as exc:
        call(fns, fid, payload)
    assert exc.value.code == code and exc.value.to_body()["code"] == code
    assert asyncio.run(fns.manager.list_groups()) == []


def test_update_op_errors_keep_the_item(fns):
    call(fns, "state::set", {"scope": "a", "key": "k", "value": {"n": "x"}})
    with pytest.raises(EngineFunctionError):
        call(fns, "state::update", {"scope": "a", "key": "k", "ops": [{"type": "increment", "path": "n", "by": 1}]})
    assert call(fns, "state::get", {"scope": "a", "key": "k"}) == {"n": "x"}


def test_enqueue_runs_the_queue_steps_before_returning(fns):
    got = []
    fns.session.registry.register({"name": "Q", "triggers": [queue("t")]}, got.append)  # the functions' own session
    assert call(fns, "enqueue", {"topic": "t", "data": {"a": 1}}) is None
    assert call(fns, "iii::durable::publish", {"topic": "t", "data": 2}) is None
    assert got == [{"a": 1}, 2]
    assert "Q" not in {s.name for s in all_steps()}  # the default session has no such step


def test_names_lists_every_function(fns):
    assert {"state::get", "state::set", "state::update", "state::delete", "state::list", "state::list_groups",
            "stream::get", "stream::set", "stream::update", "stream::delete", "stream::list", "stream::list_groups",
            "enqueue"} <= set(fns.names())
