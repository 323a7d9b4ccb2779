"""The engine endpoint's protocol, driven by raw WebSocket clients (the ``websockets`` library).

Real SDK workers are in test_engine_workers.py; here each frame is written by
hand, so malformed, oversized and never-answered frames can be sent on purpose.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from engine_helpers import frames, wait_for
from motia_nb import engine, enqueue, flow_diagram, run_cron, state_manager, step, steps_frame, trace_frame
from motia_nb.notebook.viewer import viewer
from motia_nb.session import default_session
from motia_nb.session import get_step, reset_steps
from motia_nb.steps.errors import StepNotFoundError


@pytest.fixture
def server():
    s = engine.serve(worker_timeout=10)
    yield s
    s.close()
    reset_steps()


@pytest.fixture
def group():
    return f"g-{uuid.uuid4().hex[:8]}"


def client(server):
    ws = connect(server.url, max_size=None).__enter__()  # websockets 13-17: a connection, not a context
    hello = frames(ws)[0]
    assert hello["type"] == "workerregistered" and hello["worker_id"] and hello["reattach_token"]
    return ws, hello


def send(ws, **frame):
    ws.send(json.dumps(frame))


def registered(server, name):
    try:
        get_step(name)
        return True
    except StepNotFoundError:
        return False


def in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_connect_ping_pong_and_one_entry_per_worker(server):
    ws, hello = client(server)
    assert server.workers == []  # nothing said yet: could be a telemetry connection
    send(ws, type="ping")
    assert frames(ws) == [{"type": "pong"}]
    assert [w["id"] for w in server.workers] == [hello["worker_id"]]
    ws.close()
    wait_for(lambda: server.workers == [], what="the worker to leave")


def test_binary_telemetry_frames_are_accepted_ignored_and_not_a_worker(server):
    tele, _ = client(server)
    for prefix in (b"OTLP", b"LOGS", b"MTRC"):
        tele.send(prefix + b'{"resourceSpans": []}')
    wait_for(lambda: server.binary_frames == 3, what="the binary frames")
    assert server.workers == []
    ws, hello = client(server)
    send(ws, type="ping")
    frames(ws)
    assert [w["id"] for w in server.workers] == [hello["worker_id"]]
    tele.close()
    ws.close()


@pytest.mark.parametrize(
    "raw, code",
    [
        ("not json at all", "malformed_frame"),
        ("[1, 2, 3]", "malformed_frame"),
        ('{"type": 5}', "malformed_frame"),
        ('{"no": "type"}', "malformed_frame"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "registerfunction"}', "invalid_frame"),
        ('{"type": "invokefunction", "function_id": ""}', "invalid_frame"),
        ('{"type": "registertrigger", "id": "t", "trigger_type": "state"}', "invalid_frame"),
    ],
)
def test_a_malformed_frame_gets_an_error_reply_and_the_connection_stays(server, raw, code):
    ws, _ = client(server)
    ws.send(raw)
    reply = frames(ws)[0]
    assert reply["type"] == "error" and reply["error"]["code"] == code and reply["error"]["message"]
    send(ws, type="ping")
    assert frames(ws) == [{"type": "pong"}]
    ws.close()


def test_an_oversized_frame_gets_an_error_reply_a_huge_one_closes_only_its_connection():
    s = engine.serve(max_frame_bytes=4096)
    try:
        ws, _ = client(s)
        send(ws, type="invokefunction", function_id="state::get", data={"pad": "x" * 5000})
        reply = frames(ws)[0]
        assert reply["type"] == "error" and reply["error"]["code"] == "frame_too_large"
        assert "4096" in reply["error"]["message"]
        send(ws, type="ping")
        assert frames(ws) == [{"type": "pong"}]
        ws.send("y" * 20_000)  # beyond twice the limit: the library closes it (1009, message too big)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        other, _ = client(s)  # the endpoint itself serves on
        send(other, type="ping")
        assert frames(other) == [{"type": "pong"}]
        other.close()
    finally:
        s.close()


def test_a_workers_write_shows_live_in_the_viewer(server, group):
    """One world: a worker's state write reaches an open live viewer like a cell's write does."""
    state_manager.sync.set(group, "seed", 1)
    v = viewer(group)  # live
    ws, _ = client(server)
    try:
        wait_for(lambda: [k for _, k in v.items.options] == ["seed"], what="the viewer's first refresh")
        send(ws, type="invokefunction", invocation_id="w1", function_id="state::set",
             data={"scope": group, "key": "from-worker", "value": {"n": 1}})
        assert frames(ws)[0]["result"] == {"old_value": None, "new_value": {"n": 1}}
        wait_for(lambda: [k for _, k in v.items.options] == ["seed", "from-worker"], what="the worker's write in the viewer")
    finally:
        ws.close()
        v.close()


def test_worker_calls_are_answered_by_the_engine_functions(server, group):
    ws, _ = client(server)
    send(ws, type="invokefunction", invocation_id="i1", function_id="state::set", data={"scope": group, "key": "a", "value": {"n": 1}})
    r = frames(ws)[0]
    assert r == {"type": "invocationresult", "invocation_id": "i1", "function_id": "state::set", "result": {"old_value": None, "new_value": {"n": 1}}}
    assert state_manager.sync.get(group, "a") == {"n": 1}
    send(ws, type="invokefunction", invocation_id="i2", function_id="state::list_groups", data={})
    assert group in frames(ws)[0]["result"]["groups"]
    send(ws, type="invokefunction", invocation_id="i3", function_id="no::such::fn", data={})
    r = frames(ws)[0]
    assert r["invocation_id"] == "i3" and r["error"]["code"] == "function_not_found" and "result" not in r
    # a void call (no invocation_id) runs and is not answered: the next frame is the pong
    send(ws, type="invokefunction", function_id="state::set", data={"scope": group, "key": "b", "value": 2}, action={"type": "void"})
    send(ws, type="ping")
    assert frames(ws) == [{"type": "pong"}]
    wait_for(lambda: state_manager.sync.get(group, "b") == 2, what="the void write")
    ws.close()


def test_a_state_trigger_with_scope_and_a_condition_on_the_worker(server, group):
    ws, hello = client(server)
    send(ws, type="registerfunction", id="raw::on_change")
    send(ws, type="registerfunction", id="raw::cond")
    send(ws, type="registertrigger", id="t1", trigger_type="state", function_id="raw::on_change",
         config={"scope": group, "condition_function_id": "raw::cond"})
    ack = frames(ws)[0]
    assert ack["type"] == "triggerregistrationresult" and ack["id"] == "t1" and "error" not in ack
    name = "raw::on_change"
    assert get_step(name).source == f"worker:worker-{hello['worker_id'][:8]}"

    state_manager.sync.set(group + "-other", "k", 1)  # another scope: filtered by config, no call
    t, out = in_thread(lambda: state_manager.sync.set(group, "k", {"v": 1}))
    call = frames(ws)[0]
    assert call["type"] == "invokefunction" and call["function_id"] == "raw::cond"
    assert call["data"] == {"type": "state", "event_type": "state:created", "scope": group, "key": "k",
                            "old_value": None, "new_value": {"v": 1}}
    send(ws, type="invocationresult", invocation_id=call["invocation_id"], function_id="raw::cond", result=False)
    t.join(30)
    assert out == {"value": {"new_value": {"v": 1}, "old_value": None}}  # condition false: no handler call

    t, out = in_thread(lambda: state_manager.sync.set(group, "k", {"v": 2}))
    call = frames(ws)[0]
    send(ws, type="invocationresult", invocation_id=call["invocation_id"], function_id="raw::cond", result=True)
    run = frames(ws)[0]
    assert run["function_id"] == "raw::on_change" and run["data"]["event_type"] == "state:updated"
    assert run["data"]["old_value"] == {"v": 1} and run["data"]["new_value"] == {"v": 2}
    assert t.is_alive()  # the write waits for the worker step (inline)
    send(ws, type="invocationresult", invocation_id=run["invocation_id"], function_id="raw::on_change", result={"ok": True})
    t.join(30)
    assert "error" not in out
    ws.close()
    wait_for(lambda: not registered(server, name), what="the worker's step to go")


def test_a_worker_that_never_answers_times_out_and_the_cell_says_so(server, capsys):
    server.worker_timeout = 0.5
    ws, _ = client(server)
    topic = f"slow-{uuid.uuid4().hex[:6]}"
    send(ws, type="registerfunction", id="raw::slow")
    send(ws, type="registertrigger", id="t", trigger_type="queue", function_id="raw::slow", config={"topic": topic})
    frames(ws)
    enqueue.sync({"topic": topic, "data": {"n": 1}})  # returns: the timeout ends the wait
    call = frames(ws)[0]
    assert call["function_id"] == "raw::slow" and call["data"] == {"n": 1}
    err = capsys.readouterr().err
    assert "✖ worker step 'raw::slow' on worker-" in err and "timed out" in err
    assert "did not answer 'raw::slow' within 0.5 s" in err
    row = trace_frame(step="raw::slow").iloc[-1]
    assert row["status"] == "error" and "timed out" in row["error"]
    # the late answer is ignored, and the connection goes on
    send(ws, type="invocationresult", invocation_id=call["invocation_id"], function_id="raw::slow", result=None)
    send(ws, type="ping")
    assert frames(ws) == [{"type": "pong"}]
    ws.close()


def test_a_worker_error_is_one_line_in_the_cell_and_an_error_in_the_trace(server, capsys):
    ws, _ = client(server)
    topic = f"bad-{uuid.uuid4().hex[:6]}"
    send(ws, type="registerfunction", id="raw::bad")
    send(ws, type="registertrigger", id="t", trigger_type="queue", function_id="raw::bad", config={"topic": topic})
    frames(ws)
    t, out = in_thread(lambda: enqueue.sync({"topic": topic, "data": 1}))
    call = frames(ws)[0]
    send(ws, type="invocationresult", invocation_id=call["invocation_id"], function_id="raw::bad",
         error={"code": "invocation_failed", "message": "ValueError: no", "stacktrace": "Traceback..."})
    t.join(30)
    assert "error" not in out
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "raw::bad" in ln]
    assert len(lines) == 1 and "error" in lines[0] and "ValueError: no" in lines[0]
    assert "Traceback" not in err
    ws.close()


def test_a_worker_that_disconnects_loses_its_steps_and_nothing_else(server, group, capsys):
    seen = []

    @step({"name": "NotebookSide", "triggers": [{"type": "state", "condition": lambda e: e.group_id == group}]})
    def nb(event):
        seen.append(event.key)

    ws, _ = client(server)
    send(ws, type="registerfunction", id="raw::watch")
    send(ws, type="registertrigger", id="t", trigger_type="state", function_id="raw::watch", config={"scope": group})
    frames(ws)
    assert registered(server, "raw::watch")
    t, out = in_thread(lambda: state_manager.sync.set(group, "a", 1))
    call = frames(ws)[0]
    assert call["function_id"] == "raw::watch"
    ws.close()  # leaves while the write waits for it
    t.join(30)
    assert out.get("value") == {"new_value": 1, "old_value": None}
    assert "worker gone" in capsys.readouterr().err
    wait_for(lambda: not registered(server, "raw::watch"), what="the worker's step to go")
    assert registered(server, "NotebookSide") and seen == ["a"]
    assert state_manager.sync.get(group, "a") == 1
    state_manager.sync.set(group, "b", 2)  # notebook steps keep running
    assert seen == ["a", "b"]


def test_registration_replay_unregister_and_unsupported_types(server):
    ws, _ = client(server)
    send(ws, type="registerfunction", id="raw::q")
    for _ in range(2):  # an SDK replays its registrations: no duplicate step
        send(ws, type="registertrigger", id="tq", trigger_type="queue", function_id="raw::q", config={"topic": "tq"})
        assert "error" not in frames(ws)[0]
    assert list(steps_frame()["name"]).count("raw::q") == 1
    send(ws, type="registertrigger", id="tx", trigger_type="engine::functions-available", function_id="raw::q", config={})
    ack = frames(ws)[0]
    assert ack["error"]["code"] == "trigger_registration_failed" and "not served" in ack["error"]["message"]
    send(ws, type="registertrigger", id="tc", trigger_type="cron", function_id="raw::q", config={"expression": "every day"})
    assert "cron" in frames(ws)[0]["error"]["message"]
    send(ws, type="unregistertrigger", id="tq", trigger_type="queue")
    send(ws, type="ping")
    frames(ws)
    assert not registered(server, "raw::q")
    ws.close()


def test_workers_register_names_the_worker_everywhere(server):
    ws, _ = client(server)
    send(ws, type="registerfunction", id="raw::named")
    send(ws, type="registertrigger", id="t", trigger_type="queue", function_id="raw::named",
         config={"topic": "named", "metadata": {"name": "NamedStep", "flows": ["f1"], "description": "d"}})
    frames(ws)
    send(ws, type="invokefunction", function_id="engine::workers::register", action={"type": "void"},
         data={"name": "raw-one", "runtime": "python", "version": "9.9", "pid": 4242})
    send(ws, type="invokefunction", invocation_id="w", function_id="engine::workers::list", data={})
    listed = frames(ws)[0]["result"]["workers"]
    assert [(w["name"], w["runtime"], w["pid"]) for w in listed] == [("raw-one", "python", 4242)]
    (w,) = server.workers
    assert (w["name"], w["steps"]) == ("raw-one", ["NamedStep"])
    row = steps_frame().set_index("name").loc["NamedStep"]
    assert (row["worker"], row["flows"], row["description"]) == ("raw-one", "f1", "d")
    diagram = flow_diagram("f1")
    assert "[queue named] → NamedStep (worker raw-one)" in diagram.text()
    assert '"NamedStep (worker raw-one)"' in diagram.mermaid
    ws.close()


def test_several_workers_call_each_other_and_reattach_retires_the_old_connection(server):
    a, hello_a = client(server)
    b, _ = client(server)
    send(a, type="registerfunction", id="a::echo")
    send(a, type="registerfunction", id="a::q")
    send(a, type="registertrigger", id="ta", trigger_type="queue", function_id="a::q", config={"topic": "qa"})
    frames(a)
    send(b, type="invokefunction", invocation_id="call-1", function_id="a::echo", data={"x": 1})
    call = frames(a)[0]
    assert call["function_id"] == "a::echo" and call["data"] == {"x": 1}
    send(a, type="invocationresult", invocation_id=call["invocation_id"], function_id="a::echo", result={"echo": 1})
    assert frames(b)[0] == {"type": "invocationresult", "invocation_id": "call-1", "function_id": "a::echo", "result": {"echo": 1}}
    assert len(server.workers) == 2

    c, _ = client(server)
    send(c, type="reattach", previous_worker_id=hello_a["worker_id"], reattach_token="wrong")
    assert frames(c)[0]["error"]["code"] == "reattach_refused"
    assert registered(server, "a::q")
    send(c, type="reattach", previous_worker_id=hello_a["worker_id"], reattach_token=hello_a["reattach_token"])
    with pytest.raises(ConnectionClosed):
        a.recv(30)
    wait_for(lambda: not registered(server, "a::q"), what="the retired connection's step to go")
    for ws in (b, c):
        ws.close()


def test_serving_runs_cron_triggers_and_run_cron_reaches_a_worker(server):
    assert default_session().scheduler.running  # serving starts the scheduler, as the engine fires cron triggers
    ws, _ = client(server)
    send(ws, type="registerfunction", id="raw::tick")
    send(ws, type="registertrigger", id="tc", trigger_type="cron", function_id="raw::tick",
         config={"expression": "0 9 * * *", "metadata": {"name": "Tick"}})
    assert "error" not in frames(ws)[0]
    t, out = in_thread(lambda: run_cron.sync("Tick"))
    call = frames(ws)[0]
    assert call["function_id"] == "raw::tick" and call["data"]["expression"] == "0 9 * * *"
    send(ws, type="invocationresult", invocation_id=call["invocation_id"], function_id="raw::tick", result=None)
    t.join(30)
    assert out == {"value": None}
    ws.close()
    server.close()
    assert not default_session().scheduler.running


def test_a_trigger_loop_through_a_worker_is_stopped_by_the_loop_guard(server, group):
    from motia_nb.steps.runtime import MAX_DEPTH

    ws, _ = client(server)
    send(ws, type="registerfunction", id="raw::loop")
    send(ws, type="registertrigger", id="t", trigger_type="state", function_id="raw::loop", config={"scope": group})
    frames(ws)
    t, out = in_thread(lambda: state_manager.sync.set(group, "n", {"i": 0}))
    stack, replies, deepest = [], [], 0
    while True:  # the worker writes its own scope each time it is invoked: a loop
        f = frames(ws)[0]
        if f["type"] == "invokefunction":
            stack.append(f["invocation_id"])
            deepest = max(deepest, len(stack))
            send(ws, type="invokefunction", invocation_id=f"w{len(stack)}", function_id="state::update",
                 data={"scope": group, "key": "n", "ops": [{"type": "increment", "path": "i", "by": 1}]})
        else:
            replies.append(f)
            send(ws, type="invocationresult", invocation_id=stack.pop(), function_id="raw::loop", result=None)
            if not stack:
                break
    t.join(30)
    assert "error" not in out  # the cell's write stands
    assert deepest == MAX_DEPTH  # the worker's writes belong to the cascade that invoked it
    (stopped,) = [r for r in replies if "error" in r]
    assert "trigger loop stopped" in stopped["error"]["message"] and "raw::loop" in stopped["error"]["message"]
    assert state_manager.sync.get(group, "n") == {"i": MAX_DEPTH}  # every write made stands
    ws.close()


# ------------------------------------------------------------ one live worker per function id
def rejected(fid, owner):
    return {"type": "registrationrejected", "code": "FUNCTION_NAMESPACE_CONFLICT", "namespace": "default",
            "function_id": fid, "owner_worker_id": owner}  # fmt: skip


def next_is_pong(ws):
    send(ws, type="ping")
    return frames(ws)[0] == {"type": "pong"}


def test_a_function_id_another_live_worker_owns_is_rejected_as_the_engine_does(server):
    # the engine (Engine::router_msg, RegisterFunction → claim_function): a second live worker's
    # registration of an id is refused with RegistrationRejected, its connection kept; the id stays
    # with its owner; a worker's own replay is idempotent; once the owner leaves, the id is free
    a, hello_a = client(server)
    b, _ = client(server)
    send(a, type="registerfunction", id="x::f")
    assert next_is_pong(a)
    send(b, type="registerfunction", id="x::f")
    assert frames(b)[0] == rejected("x::f", hello_a["worker_id"])  # was: accepted, never called
    send(b, type="registerfunction", id="b::own")
    assert next_is_pong(b)  # b stays connected, its other functions registered
    send(a, type="registerfunction", id="x::f")  # a replay of its own: no refusal
    assert next_is_pong(a)
    send(b, type="invokefunction", invocation_id="c1", function_id="x::f", data=1)
    call = frames(a)[0]
    assert call["function_id"] == "x::f"
    send(a, type="invocationresult", invocation_id=call["invocation_id"], function_id="x::f", result="from a")
    assert frames(b)[0]["result"] == "from a"
    a.close()
    wait_for(lambda: len(server.workers) == 1, what="a to be dropped")
    send(b, type="registerfunction", id="x::f")
    assert next_is_pong(b)  # a left: its functions went with it (cleanup_worker), b takes the id
    c, _ = client(server)
    send(c, type="invokefunction", invocation_id="c2", function_id="x::f", data=2)
    assert frames(b)[0]["function_id"] == "x::f"
    for ws in (b, c):
        ws.close()


def test_a_trigger_runs_the_function_on_the_worker_that_owns_it(server, group):
    # the engine invokes a trigger's function by id: a trigger b registers for a's function runs on a
    a, _ = client(server)
    b, _ = client(server)
    send(a, type="registerfunction", id="own::on_change")
    assert next_is_pong(a)
    send(b, type="registertrigger", id="tb", trigger_type="state", function_id="own::on_change", config={"scope": group})
    frames(b)
    t, out = in_thread(lambda: state_manager.sync.set(group, "k", 1))
    call = frames(a)[0]
    assert call["function_id"] == "own::on_change" and call["data"]["scope"] == group
    send(a, type="invocationresult", invocation_id=call["invocation_id"], function_id="own::on_change", result=None)
    t.join(30)
    assert "error" not in out
    for ws in (a, b):
        ws.close()


def test_a_worker_cannot_replace_the_engines_own_functions(server, group):
    # the engine lets a worker overwrite a builtin (FunctionsRegistry::register_function_ns: "already
    # registered ... Overwriting.") and, when that worker leaves, removes the id for good; motia_nb's
    # notebook writes its store directly, so a replacement would split the state: refused, loudly
    a, _ = client(server)
    for fid in ("state::set", "stream::get", "enqueue", "engine::workers::list"):
        send(a, type="registerfunction", id=fid)
        assert frames(a)[0] == rejected(fid, "")
    send(a, type="invokefunction", invocation_id="s1", function_id="state::set", data={"scope": group, "key": "k", "value": 5})
    assert frames(a)[0]["result"] == {"old_value": None, "new_value": 5}  # still the engine's
    assert state_manager.sync.get(group, "k") == 5
    a.close()


def silent_client(server, register):
    """A worker whose socket goes dead unnoticed (a dropped network): it registers ``register``
    over a hand-made WebSocket handshake, then never reads again, so it answers no ping."""
    import base64
    import os
    import socket

    s = socket.create_connection((server.host, server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"type": "registerfunction", "id": register}).encode()
    mask = os.urandom(4)
    assert len(payload) < 126
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))
    return s


def test_a_reconnecting_worker_takes_its_functions_back_from_its_dead_connection(server):
    # a worker whose network dropped reconnects before the endpoint noticed (an SDK without
    # `reattach`, such as motia 1.0.4's iii-sdk 0.9): the old connection answers no ping, so it is
    # retired and the new one registers, as the engine takes over a lease whose owner has gone
    dead = silent_client(server, "r::f")
    wait_for(lambda: any("r::f" in w.functions for w in server._live()), what="the first connection's function")
    b, hello_b = client(server)
    send(b, type="registerfunction", id="r::f")
    assert next_is_pong(b)  # no refusal: the dead owner was retired (it answered no ping in 5 s)
    assert [w["id"] for w in server.workers] == [hello_b["worker_id"]]
    c, _ = client(server)
    send(c, type="invokefunction", invocation_id="c3", function_id="r::f", data=3)
    assert frames(b)[0]["function_id"] == "r::f"
    dead.close()
    for ws in (b, c):
        ws.close()
