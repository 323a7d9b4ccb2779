"""The engine endpoint's function surface against the iii engine's own rules, with real clients.

A bare iii-sdk 0.25 client (``.venv-iii``) and a Node client on npm's iii-sdk call the
endpoint; each answer is compared with what the engine (``iii-hq/iii``) answers:

- input structs are read by serde through the ``#[function]`` macro
  (``engine/function-macros/src/lib.rs``): a refusal is ``deserialization_error``,
  ``Failed to deserialize input for <id>: <serde's words>``, nothing written;
- ``StateSetInput.value`` has the alias ``data`` (``workers/state/structs.rs``): both given is
  serde's ``duplicate field `value```; ``StateListGroupsInput {}`` takes an object or ``[]``,
  not null;
- an op serde cannot read (``iii_helpers::stream::UpdateOp``: an unknown ``type``, a missing
  ``path``, a ``by`` that is not an i64) rejects the whole ``state::update`` request;
- an unknown function is ``function_not_found``, ``Function <id> not found in namespace
  default.`` (``Engine::resolve_function``);
- a call to a worker that disconnects before answering is ``invocation_stopped``
  (``InvocationHandler::halt_invocation``, run by ``Engine::cleanup_worker``);
- ``enqueue`` reads ``QueueInput {topic, data}`` (``workers/queue/queue.rs``);
- a stream a worker implements (``stream::get(<name>)``…) answers ``stream::*`` for it, and
  ``stream::send`` / ``stream::list_all`` are served (``workers/stream/stream.rs``);
- ``engine::functions::list`` rows are ``FunctionSummary`` (``workers/engine_fn/mod.rs``);
- a call over the frame limit is answered at once (motia_nb's refusal; the engine drops the
  connection and the caller waits for its own timeout).
"""

from __future__ import annotations

import os
import uuid

import pytest
from engine_helpers import NODE_DIR, WORKERS, Proc, any_client, calls, client, iii_python, node, notebook_steps, wait_for  # noqa: F401 (fixtures)

from motia_nb import engine
from motia_nb.state import state_manager

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    previous = state_manager.url
    state_manager.use(str(tmp_path_factory.mktemp("engine") / "state.db"))
    server = engine.serve(worker_timeout=60)
    try:
        yield server
    finally:
        server.close()
        state_manager.use(previous)


def scope() -> str:
    return f"fid-{uuid.uuid4().hex[:8]}"


def refused(answer: dict, code: str, words: str) -> bool:
    return "error" in answer and code in answer["error"] and words in answer["error"]


def test_value_and_its_alias_data_together_are_serdes_duplicate_field(any_client):
    s = scope()
    out = any_client(["state::set", {"scope": s, "key": "k", "value": 1, "data": 2}], ["state::get", {"scope": s, "key": "k"}])
    # was: stored 1 (the engine refuses the request, nothing stored)
    assert refused(out[0], "deserialization_error", "Failed to deserialize input for state::set: duplicate field `value`"), out
    assert out[1] == {"ok": None}


def test_list_groups_without_a_payload_is_refused_as_serde_refuses_null(any_client):
    out = any_client(["state::list_groups", None], ["state::list_groups", {}], ["state::list_groups", []])
    # was: answered {"groups": [...]} (the engine: invalid type: null, expected struct StateListGroupsInput)
    assert refused(out[0], "deserialization_error", "invalid type: null, expected struct StateListGroupsInput"), out
    assert "groups" in out[1]["ok"] and "groups" in out[2]["ok"]


def test_bad_fields_carry_the_engines_words(any_client):
    out = any_client(
        ["state::get", {"scope": "a"}],
        ["stream::set", {"stream_name": "s", "group_id": 5, "item_id": "i", "data": 1}],
        ["state::get", "orders"],
    )
    assert refused(out[0], "deserialization_error", "Failed to deserialize input for state::get: missing field `key`"), out
    assert refused(out[1], "deserialization_error", "invalid type: integer `5`, expected a string"), out
    assert refused(out[2], "deserialization_error", 'invalid type: string "orders", expected struct StateGetInput'), out


def test_an_unknown_function_is_function_not_found_in_the_engines_words(any_client):
    out = any_client(["nope::missing", {}])
    # was: "Function 'nope::missing' not found"
    assert refused(out[0], "function_not_found", "Function nope::missing not found in namespace default."), out


@pytest.mark.parametrize(
    "op, detail",
    [
        ({"type": "bogus", "path": "n"}, "op.unknown_type"),
        ({"type": "increment", "path": "n", "by": 1.5}, "increment.by.not_integer"),
        ({"type": "increment", "path": "n"}, "increment.by.missing"),
        ({"type": "set", "value": 1}, "set.path.missing"),
        ({"type": "decrement", "path": "n", "by": 2**63}, "decrement.by.out_of_range"),
    ],
)
def test_an_op_serde_cannot_read_rejects_the_request_as_deserialization_error(calls, op, detail):
    s = scope()
    out = calls(
        ["state::set", {"scope": s, "key": "k", "value": {"n": 1}}],
        ["state::update", {"scope": s, "key": "k", "ops": [{"type": "set", "path": "m", "value": 2}, op]}],
        ["state::get", {"scope": s, "key": "k"}],
    )
    # was: the op's own code (e.g. increment.by.missing); the engine's serde rejects the request
    assert refused(out[1], "deserialization_error", "Failed to deserialize input for state::update"), out
    assert detail in out[1]["error"]  # motia_nb's detail still names the op
    assert out[2] == {"ok": {"n": 1}}  # nothing applied


def test_an_op_error_the_engine_records_keeps_the_engines_op_code(calls):
    s = scope()
    out = calls(
        ["state::set", {"scope": s, "key": "k", "value": {"n": "x"}}],
        ["state::update", {"scope": s, "key": "k", "ops": [{"type": "increment", "path": "n", "by": 1}]}],
    )
    assert refused(out[1], "increment.not_number", "increment.not_number"), out
    assert "deserialization_error" not in out[1]["error"]


def test_an_integer_past_the_engines_64_bits_is_refused_from_a_worker(calls):
    # the engine's serde_json (no arbitrary_precision) would read 2**64 + 1 as the f64 2**64:
    # the worker would read back a float, not its number. Refused, naming the number; nothing stored
    s = scope()
    big = 2**64 + 1
    out = calls(
        ["state::set", {"scope": s, "key": "k", "value": {"n": big}}],
        ["stream::set", {"stream_name": s, "group_id": "g", "item_id": "i", "data": [big]}],
        ["state::set", {"scope": s, "key": "ok", "value": {"n": 2**64 - 1}}],
        ["state::update", {"scope": s, "key": "ok", "ops": [{"type": "set", "path": "m", "value": -(2**63) - 1}]}],
        ["state::get", {"scope": s, "key": "k"}],
        ["stream::get", {"stream_name": s, "group_id": "g", "item_id": "i"}],
        ["state::get", {"scope": s, "key": "ok"}],
    )
    assert refused(out[0], "invalid_input", f"$.n is {big}, an integer outside the engine's 64-bit range"), out
    assert refused(out[1], "invalid_input", f"$[0] is {big}"), out
    assert refused(out[3], "set.value.out_of_range", "-9223372036854775809"), out
    assert out[4] == {"ok": None} and out[5] == {"ok": None}
    assert out[6] == {"ok": {"n": 2**64 - 1}}  # the largest the engine holds, exactly


def test_a_call_to_a_worker_that_disconnects_mid_invocation_is_invocation_stopped(served, calls, tmp_path):
    name = f"dies{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = Proc([iii_python(), WORKERS / "iii_dies.py", served.url, name], env, WORKERS, tmp_path / "dies.log")
    try:
        wait_for(lambda: any(f"{name}::die" in w["functions"] for w in served.workers) or proc.p.poll() is not None,
                 what="the dying worker to register")
        assert proc.p.poll() is None, proc.output()
        (out,) = calls([f"{name}::die", {}])
        # was: worker_disconnected (motia_nb's own code); the engine halts the call: invocation_stopped
        assert refused(out, "invocation_stopped", "Invocation stopped"), out
        assert proc.p.wait(30) == 3
        wait_for(lambda: not any(f"{name}::die" in w["functions"] for w in served.workers), what="its functions to go")
        (after,) = calls([f"{name}::die", {}])
        assert refused(after, "function_not_found", f"Function {name}::die not found"), after
    finally:
        proc.kill()


def test_a_custom_stream_a_worker_implements_answers_the_stream_functions(served, calls, tmp_path, notebook_steps):
    # iii-sdk's create_stream registers stream::get(NAME)…; the engine's stream::* delegate to them
    # for that stream (workers/stream/stream.rs) and still fire the stream's triggers after a write.
    # Was: answered from the notebook's store, the worker's implementation never called.
    from motia_nb import step
    from motia_nb.steps.triggers import stream

    name = f"mem{uuid.uuid4().hex[:6]}"
    seen: list = []

    @step({"name": f"On {name}", "triggers": [stream(name)]})
    def on_change(event):
        seen.append((event["event"]["type"], event["groupId"], event["id"], event["event"]["data"]))

    notebook_steps.append(f"On {name}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = Proc([iii_python(), WORKERS / "iii_custom_stream.py", served.url, name], env, WORKERS, tmp_path / "custom.log")
    try:
        wait_for(lambda: any(f"stream::list_groups({name})" in w["functions"] for w in served.workers)
                 or proc.p.poll() is not None, what="the custom stream's worker to register")
        assert proc.p.poll() is None, proc.output()
        p = {"stream_name": name, "group_id": "g", "item_id": "i1"}
        kept = {"kept_by": name, "data": {"n": 1}}
        assert calls(
            ["stream::set", {**p, "data": {"n": 1}}],
            ["stream::get", p],
            ["stream::list", {"stream_name": name, "group_id": "g"}],
            ["stream::list_groups", {"stream_name": name}],
            ["stream::delete", p],
            ["stream::delete", p],
            ["stream::get", p],
        ) == [
            {"ok": {"old_value": None, "new_value": kept}},
            {"ok": kept},
            {"ok": [kept]},
            {"ok": ["g"]},
            {"ok": {"old_value": kept}},
            {"ok": {"old_value": None}},
            {"ok": None},
        ]
        assert not any(g.startswith(f"{name}::") for g in state_manager.sync.list_groups())  # nothing in the store
        # the engine fires the stream's triggers after the worker's write (a delete only when something went)
        assert seen == [("create", "g", "i1", kept), ("delete", "g", "i1", kept)]
        proc.kill()
        wait_for(lambda: not any(f"stream::get({name})" in w["functions"] for w in served.workers), what="the worker to go")
        assert calls(["stream::set", {**p, "data": 2}], ["stream::get", p]) == [
            {"ok": {"old_value": None, "new_value": 2}}, {"ok": 2}]  # the store answers again
    finally:
        proc.kill()


def test_stream_send_and_list_all_are_served_as_the_engine_registers_them(any_client, notebook_steps):
    # the engine's stream worker registers stream::send (a custom event to the stream's triggers and
    # subscribers, nothing stored, answers null) and stream::list_all ({"stream": [{id, groups}], "count"},
    # sorted); was: function_not_found for both
    from motia_nb import step
    from motia_nb.steps.triggers import stream

    name = f"chat{uuid.uuid4().hex[:6]}"
    seen: list = []

    @step({"name": f"On {name}", "triggers": [stream(name, group_id="room")]})
    def on_event(event):
        seen.append((event["event"]["type"], event["event"].get("event"), event["groupId"], event["id"]))

    notebook_steps.append(f"On {name}")
    out = any_client(
        ["stream::send", {"stream_name": name, "group_id": "room", "type": "typing", "data": {"who": "ana"}}],
        ["stream::send", {"stream_name": name, "group_id": "room", "id": "m1", "type": "read", "data": 1}],
        ["stream::send", {"stream_name": name, "group_id": "other", "type": "typing", "data": 2}],
        ["stream::send", {"stream_name": name, "group_id": "room", "type": "typing"}],
        ["stream::set", {"stream_name": name, "group_id": "room", "item_id": "m1", "data": {"text": "hi"}}],
        ["stream::list_all", {}],
    )
    assert out[:3] == [{"ok": None}] * 3, out
    assert refused(out[3], "deserialization_error", "missing field `data`"), out
    assert seen == [
        ("event", {"type": "typing", "data": {"who": "ana"}}, "room", None),
        ("event", {"type": "read", "data": 1}, "room", "m1"),
        ("create", None, "room", "m1"),  # a write's event, as before
    ]
    listed = out[5]["ok"]
    assert {"id": name, "groups": ["room"]} in listed["stream"] and listed["count"] == len(listed["stream"])
    assert [s["id"] for s in listed["stream"]] == sorted(s["id"] for s in listed["stream"])
    assert state_manager.sync.list(f"{name}::room") == [{"text": "hi"}]  # the sends stored nothing


def test_a_call_too_big_to_serve_is_answered_at_once_and_a_big_one_within_the_limit_round_trips(served):
    # beyond the frame limit (below twice it) an invokefunction was answered with an `error` frame the
    # SDKs ignore: the caller waited for its own timeout (30 s, "TIMEOUT: invocation timed out"); the
    # engine drops the connection (axum's 64 MiB limit). Now the call itself is refused, at once.
    import time

    small = engine.serve(max_frame_bytes=1_000_000)
    try:
        calls = client([str(iii_python()), str(WORKERS / "iii_calls.py")], str(WORKERS), small.url)
        s = scope()
        t0 = time.monotonic()
        out = calls(
            ["state::set", {"scope": s, "key": "big", "value": "x" * 1_500_000}],
            ["state::set", {"scope": s, "key": "fits", "value": "y" * 900_000}],
            ["state::get", {"scope": s, "key": "big"}],
            ["state::get", {"scope": s, "key": "fits"}],
        )
        assert time.monotonic() - t0 < 20, out  # not the SDK's 30 s timeout
        assert refused(out[0], "frame_too_large", "exceeds the limit of 1000000 bytes"), out[0]
        assert out[1] == {"ok": {"old_value": None, "new_value": "y" * 900_000}}
        assert out[2] == {"ok": None} and out[3] == {"ok": "y" * 900_000}
    finally:
        small.close()


def test_enqueue_reads_the_queue_workers_input_as_serde_does(any_client):
    # QueueInput {topic: String, data: Value} (workers/queue/queue.rs): serde first, then an
    # empty topic is topic_not_set. Was: a missing or null topic was topic_not_set, a missing
    # data enqueued null.
    out = any_client(
        ["enqueue", {"topic": "fid.nobody"}],
        ["enqueue", {"data": 1}],
        ["enqueue", {"topic": None, "data": 1}],
        ["enqueue", {"topic": "", "data": 1}],
        ["enqueue", {"topic": "fid.nobody", "data": None}],
    )
    assert refused(out[0], "deserialization_error", "Failed to deserialize input for enqueue: missing field `data`"), out
    assert refused(out[1], "deserialization_error", "missing field `topic`"), out
    assert refused(out[2], "deserialization_error", "invalid type: null, expected a string"), out
    assert refused(out[3], "topic_not_set", "Topic is not set"), out
    assert out[4] == {"ok": None}


def test_functions_list_rows_are_the_engines_function_summaries(served, calls, tmp_path):
    # engine::functions::list answers FunctionSummary rows (workers/engine_fn/mod.rs): function_id,
    # namespace, worker_name (the owner's name; a builtin's first id segment), description, metadata;
    # filtered by prefix / worker. Was: {"function_id"} alone (iii-sdk's list_functions() saw no
    # description) and no filter.
    name = f"lister{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = Proc([iii_python(), WORKERS / "iii_dies.py", served.url, name], env, WORKERS, tmp_path / "lister.log")
    try:
        wait_for(lambda: any(f"{name}::die" in w["functions"] for w in served.workers) or proc.p.poll() is not None,
                 what="the worker to register")
        assert proc.p.poll() is None, proc.output()
        everything, states, mine = calls(
            ["engine::functions::list", {}],
            ["engine::functions::list", {"prefix": "state::"}],
            ["engine::functions::list", {"worker": name}],
        )
        rows = {r["function_id"]: r for r in everything["ok"]["functions"]}
        assert rows["state::get"] == {"function_id": "state::get", "namespace": "default", "worker_name": "state",
                                      "description": "Get a value from state"}
        assert rows["stream::set"]["worker_name"] == "stream"
        assert rows[f"{name}::die"] == {"function_id": f"{name}::die", "namespace": "default", "worker_name": name,
                                        "description": "exits at once, never answering"}
        assert list(rows) == sorted(rows)
        assert {r["function_id"] for r in states["ok"]["functions"]} >= {"state::get", "state::set", "state::list_groups"}
        assert all(r["function_id"].startswith("state::") for r in states["ok"]["functions"])
        assert [r["function_id"] for r in mine["ok"]["functions"]] == [f"{name}::die"]
    finally:
        proc.kill()
