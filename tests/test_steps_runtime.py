"""The inline runtime against a real SQLite state store: every trigger type, errors, loop guard, traces."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from datetime import datetime

import pytest

from motia_nb.state import state_manager
from motia_nb.steps import EnqueueError, StepLoopError, StepNotFoundError, cron, http, queue, state
from motia_nb.session import default_session, enqueue, log_frame, logger, register, request, run_cron, step, trace_frame
from motia_nb.steps import runtime
from motia_nb.steps.scheduling import CronScheduler


@pytest.fixture(autouse=True)
def sandbox(steps_sandbox):
    """No steps, no logs, no traces, and a fresh database file for each test (conftest)."""


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- state triggers
def test_state_trigger_with_condition_fires_only_when_it_holds():
    """The seed's OnTaskComplete: fires when completedSteps == totalSteps."""
    fired = []

    @step(
        {
            "name": "OnTaskComplete",
            "triggers": [
                {
                    "type": "state",
                    "condition": lambda input: bool(input.new_value)
                    and input.group_id == "tasks"
                    and input.new_value["completedSteps"] == input.new_value["totalSteps"],
                }
            ],
            "flows": ["task-flow"],
        }
    )
    async def handler(input):
        fired.append((input.event_type, input["item_id"], input.new_value["completedSteps"]))

    async def main():
        await state_manager.set("tasks", "t1", {"completedSteps": 0, "totalSteps": 2})
        await state_manager.set("other", "t1", {"completedSteps": 2, "totalSteps": 2})  # wrong group
        assert fired == []
        await state_manager.update("tasks", "t1", [{"type": "increment", "path": "completedSteps", "by": 1}])
        assert fired == []
        await state_manager.update("tasks", "t1", [{"type": "increment", "path": "completedSteps", "by": 1}])
        # inline: the awaited write returned only after the step ran
        assert fired == [("state:updated", "t1", 2)]
        await state_manager.delete("tasks", "t1")  # new_value None: condition false
        assert len(fired) == 1

    run(main())


def test_state_trigger_without_condition_sees_every_event_of_a_clear():
    seen = []
    register({"name": "All", "triggers": [state()]}, lambda e: seen.append((e.event_type, e.key)))
    state_manager.sync.set("g", "a", 1)
    state_manager.sync.set("g", "b", 2)
    assert state_manager.sync.clear("g") == 2
    assert seen == [
        ("state:created", "a"),
        ("state:created", "b"),
        ("state:deleted", "a"),
        ("state:deleted", "b"),
    ]


def test_condition_that_raises_is_reported_and_step_skipped(capsys):
    ran = []

    def bad_condition(event):
        return event.new_value["missing"]  # KeyError

    register({"name": "Fragile", "triggers": [state(bad_condition)]}, lambda e: ran.append("fragile"))
    register({"name": "Sturdy", "triggers": [state()]}, lambda e: ran.append("sturdy"))
    result = state_manager.sync.set("g", "k", {"x": 1})  # does not raise
    assert result["new_value"] == {"x": 1}
    assert state_manager.sync.get("g", "k") == {"x": 1}  # the write stands
    assert ran == ["sturdy"]
    err = capsys.readouterr().err
    assert "condition of step 'Fragile' raised" in err and "skipped" in err
    assert "KeyError: 'missing'" in err and "bad_condition" in err
    tf = trace_frame()
    assert list(tf["status"]) == ["condition-error", "ok"]
    assert list(tf["step"]) == ["Fragile", "Sturdy"]


def test_condition_may_take_ctx():
    got = []

    def cond(event, ctx):
        got.append((ctx.step, ctx.trigger["type"], bool(ctx.trace_id)))
        return True

    register({"name": "C", "triggers": [state(cond)]}, lambda e: None)
    state_manager.sync.set("g", "k", 1)
    assert got == [("C", "state", True)]


# ---------------------------------------------------------------- handler errors
def test_async_handler_error_is_reported_and_write_stands(capsys):
    @step({"name": "Explode", "triggers": [state()]})
    async def explode(input):
        print("before the error")
        raise ValueError(f"cannot handle {input.item_id}")

    after = []
    register({"name": "After", "triggers": [state()]}, lambda e: after.append(e.key))

    async def main():
        return await state_manager.set("orders", "o1", {"total": 1})

    assert run(main())["new_value"] == {"total": 1}  # the causing call does not raise
    assert state_manager.sync.get("orders", "o1") == {"total": 1}
    assert after == ["o1"]  # later steps still run
    out = capsys.readouterr()
    assert "before the error" in out.out
    assert "✖ step 'Explode' failed (state:created orders/o1; trace " in out.err
    assert "Traceback (most recent call last)" in out.err and "ValueError: cannot handle o1" in out.err
    assert "in explode" in out.err
    assert "motia_nb/steps/runtime.py" not in out.err  # the runtime's own frames are trimmed
    tf = trace_frame()
    assert list(tf["status"]) == ["error", "ok"]
    assert tf["error"][0] == "ValueError: cannot handle o1"


def test_sync_handler_error_is_reported(capsys):
    def handler(input, ctx):
        raise RuntimeError("sync boom")

    register({"name": "SyncBoom", "triggers": [queue("go")]}, handler)
    run(enqueue({"topic": "go", "data": {"n": 1}}))
    err = capsys.readouterr().err
    assert "✖ step 'SyncBoom' failed (queue go" in err and "RuntimeError: sync boom" in err
    assert trace_frame()["status"].tolist() == ["error"]


# ---------------------------------------------------------------- queue
def test_enqueue_runs_subscribers_in_order_with_their_own_copy(capsys):
    seen = []

    @step({"name": "First", "triggers": [queue("order.created")]})
    async def first(data):
        data["mutated"] = True
        seen.append(("first", dict(data)))

    @step({"name": "Second", "triggers": [queue("order.created")]})
    def second(data, ctx):
        seen.append(("second", dict(data), ctx.trigger))

    payload = {"orderId": "o1"}
    run(enqueue({"topic": "order.created", "data": payload}))
    assert seen == [
        ("first", {"orderId": "o1", "mutated": True}),
        ("second", {"orderId": "o1"}, {"type": "queue", "topic": "order.created"}),
    ]
    assert payload == {"orderId": "o1"}
    capsys.readouterr()
    enqueue.sync({"topic": "nobody.listens", "data": 1})  # no subscriber: nothing runs, and the cell says so
    assert len(seen) == 2
    err = capsys.readouterr().err
    assert err == "⚠ enqueue: no step subscribes to topic 'nobody.listens', so nothing ran (topics with steps: order.created)\n"

    @step({"name": "Emitter", "triggers": [queue("order.created")], "enqueues": ["order.audited"]})
    def emitter(data):
        enqueue.sync({"topic": "order.audited", "data": 1})  # declared: an intended emit, no notice

    enqueue.sync({"topic": "order.created", "data": {}})
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "message, fragment",
    [
        ("order.created", "takes a dict"),
        ({"data": 1}, "'topic' must be a non-empty str"),
        ({"topic": "t", "data": float("nan")}, "is not JSON"),
        ({"topic": "t", "data": {"when": datetime(2024, 1, 1)}}, "is not JSON"),
        ({"topic": "t", "payload": 1}, "unknown fields ['payload']"),
    ],
)
def test_bad_enqueue_raises_and_delivers_nothing(message, fragment):
    got = []
    register({"name": "T", "triggers": [queue("t")]}, got.append)
    with pytest.raises(EnqueueError) as exc:
        enqueue.sync(message)
    assert fragment in str(exc.value)
    assert got == []


# ---------------------------------------------------------------- http
def test_http_request_params_query_headers_and_body():
    @step({"name": "GetOrder", "triggers": [http("GET", "/orders/:id")]})
    async def get_order(req, ctx):
        assert req["path_params"] == req.path_params
        return {
            "status": 200,
            "body": {
                "id": req.path_params["id"],
                "method": req.method,
                "path": req.path,
                "q": req.query_params,
                "auth": req.headers["Authorization"],
                "auth2": req["headers"]["authorization"],
                "body": req.request.body,
                "trigger": ctx.trigger,
            },
            "headers": {"x-step": ctx.step},
        }

    @step({"name": "Latest", "triggers": [http("GET", "/orders/latest")]})
    def latest(req):
        return {"status": 200, "body": "latest"}

    r = request.sync(
        "get", "/orders/o%201?expand=items&tag=a,b", headers={"Authorization": "t0k"}, query={"limit": 5}
    )
    assert r == {
        "status": 200,
        "body": {
            "id": "o%201",  # as the engine: the raw segment (views.rs extract_path_params on uri.path())
            "method": "GET",
            "path": "/orders/o%201",
            "q": {"expand": "items", "tag": "a,b", "limit": "5"},
            "auth": "t0k",
            "auth2": "t0k",
            "body": None,
            "trigger": {"type": "http", "method": "GET", "path": "/orders/:id"},
        },
        "headers": {"x-step": "GetOrder"},
    }
    assert run(request("GET", "/orders/latest"))["body"] == "latest"  # a literal segment beats :id


def test_http_404_405_and_500(capsys):
    @step({"name": "Create", "triggers": [http("POST", "/orders")]})
    async def create(req):
        if req.body.get("fail"):
            raise RuntimeError("payment provider down")
        if req.body.get("bad"):
            return ["no", "dict"]  # Motia's runtime answers a dict only (a missing status is 200)
        return {"status": 201, "body": req.body}

    assert request.sync("POST", "/orders", body={"n": 1}) == {"status": 201, "body": {"n": 1}, "headers": {}}
    r404 = request.sync("POST", "/nothing")
    assert r404 == {"status": 404, "body": None, "headers": {}}  # axum's 404 for a path no route matches
    r405 = request.sync("DELETE", "/orders")
    assert r405 == {"status": 405, "body": None, "headers": {"allow": "POST"}}
    r500 = request.sync("POST", "/orders", body={"fail": True})
    # the engine's answer to an invocation error: {"error": str(e), "error_id"} (views.rs)
    assert r500["status"] == 500 and r500["headers"] == {} and set(r500["body"]) == {"error", "error_id"}
    assert r500["body"]["error"] == "payment provider down"
    bad = request.sync("POST", "/orders", body={"bad": True})
    assert bad["status"] == 500 and "must return {'status': int" in bad["body"]["error"]
    err = capsys.readouterr().err
    assert "✖ step 'Create' failed (http POST /orders" in err and "payment provider down" in err
    assert trace_frame()["status"].tolist() == ["ok", "error", "error"]
    with pytest.raises(ValueError, match="method must be one of"):
        request.sync("FETCH", "/orders")
    with pytest.raises(ValueError, match="must start with '/'"):
        request.sync("GET", "orders")
    with pytest.raises(EnqueueError, match="body is not JSON"):
        request.sync("POST", "/orders", body={1, 2})


# ---------------------------------------------------------------- cron
def test_run_cron_and_errors():
    ran = []

    @step({"name": "DailyReport", "triggers": [cron("0 0 * * *")]})
    async def report(input, ctx):
        ran.append((input, ctx.trigger))

    run(run_cron("DailyReport"))
    run_cron.sync("DailyReport")
    assert ran == [(None, {"type": "cron", "expression": "0 0 * * *"})] * 2
    register({"name": "NotCron", "triggers": [queue("x")]}, lambda d: None)
    with pytest.raises(StepNotFoundError, match="'NotCron' has no cron trigger"):
        run_cron.sync("NotCron")
    with pytest.raises(StepNotFoundError, match="no step named 'Nope'"):
        run_cron.sync("Nope")


def test_scheduler_tick_runs_due_steps_at_given_times():
    ran = []
    register({"name": "Hourly", "triggers": [cron("0 * * * *")]}, lambda i: ran.append("hourly"))
    s = CronScheduler(default_session().runtime)
    s.since = datetime(2024, 1, 1, 10, 30)
    assert run(s.tick(datetime(2024, 1, 1, 10, 59))) == [] and ran == []
    assert run(s.tick(datetime(2024, 1, 1, 11, 0, 2))) == ["Hourly"] and ran == ["hourly"]
    assert run(s.tick(datetime(2024, 1, 1, 11, 30))) == []  # clock moved to the last run
    assert s.runs == {"Hourly": 1}


def test_scheduler_starts_runs_in_background_lists_and_stops():
    ran = threading.Event()
    register({"name": "Every", "triggers": [cron("* * * * *")]}, lambda i: ran.set())
    s = CronScheduler(default_session().runtime)
    msg = s.start(interval=0.02)
    try:
        assert "started on motia_nb's loop thread" in msg and s.running
        assert "already running" in s.start(0.02)
        s.last_run["Every"] = datetime(2000, 1, 1)  # make it due now, without waiting a minute
        assert ran.wait(5), "the scheduler did not run the due step"
        df = s.frame()
        assert df["step"].tolist() == ["Every"] and bool(df["scheduled"][0]) is True
    finally:  # (the step may still be finishing: "... (cron step 'Every' is running: it finishes first)")
        assert s.stop().startswith("cron scheduler stopped")
    assert not s.running and s.stop() == "cron scheduler is not running"
    with pytest.raises(ValueError, match="interval"):
        s.start(0)


# ---------------------------------------------------------------- signatures, ctx, traces
def test_input_and_input_ctx_signatures_sync_and_async():
    got = []

    async def a1(input):
        got.append(("a1", input))

    async def a2(input, ctx):
        got.append(("a2", input, ctx.step, ctx.trigger["topic"]))

    def s1(input):
        got.append(("s1", input))

    def s2(input, ctx):
        got.append(("s2", input, ctx["step"], ctx.flows))

    for name, fn in [("A1", a1), ("A2", a2), ("S1", s1), ("S2", s2)]:
        register({"name": name, "triggers": [queue("t")], "flows": ["f"]}, fn)
    enqueue.sync({"topic": "t", "data": 7})
    assert got == [("a1", 7), ("a2", 7, "A2", "t"), ("s1", 7), ("s2", 7, "S2", ["f"])]


def test_ctx_older_style_state_enqueue_logger():
    got = []

    @step({"name": "Old", "triggers": [queue("old")], "enqueues": ["next"]})
    async def old(data, ctx):
        await ctx.state.set("g", "k", data)
        ctx.logger.info("stored", {"k": "k"})
        await ctx.emit({"topic": "next", "data": data + 1})

    register({"name": "Next", "triggers": [queue("next")]}, lambda d, ctx: got.append((d, ctx.trace_id)))
    enqueue.sync({"topic": "old", "data": 1})
    assert state_manager.sync.get("g", "k") == 1
    assert got[0][0] == 2
    logs = log_frame()
    assert logs["step"].tolist() == ["Old"] and logs["data"][0] == {"k": "k"}
    assert logs["trace_id"][0] == got[0][1]


def test_one_trace_id_per_cascade_and_causal_chain(capsys):
    ctx_ids = []

    @step({"name": "CreateOrder", "triggers": [http("POST", "/orders")], "enqueues": ["order.created"]})
    async def create(req, ctx):
        ctx_ids.append(ctx.trace_id)
        await state_manager.set("orders", req.body["id"], {"status": "pending"})
        await enqueue({"topic": "order.created", "data": {"orderId": req.body["id"]}})
        return {"status": 201, "body": None}

    @step({"name": "ProcessPayment", "triggers": [queue("order.created")]})
    def pay(data, ctx):
        ctx_ids.append(ctx.trace_id)
        print("paying", data["orderId"])
        state_manager.sync.update("orders", data["orderId"], [{"type": "set", "path": "status", "value": "paid"}])

    @step({"name": "Audit", "triggers": [state(lambda e: e.group_id == "orders")]})
    async def audit(e, ctx):
        ctx_ids.append(ctx.trace_id)
        print("audit", e.event_type, e.new_value["status"])

    request.sync("POST", "/orders", body={"id": "o1"})
    request.sync("POST", "/orders", body={"id": "o2"})
    tf = trace_frame()
    assert tf["trace_id"].nunique() == 2
    first = tf[tf["trace_id"] == ctx_ids[0]]
    assert first["step"].tolist() == ["CreateOrder", "Audit", "ProcessPayment", "Audit"]
    assert first["caused_by"].tolist() == [None, "CreateOrder", "CreateOrder", "ProcessPayment"]
    assert first["depth"].tolist() == [1, 2, 2, 3]
    assert first["trigger"].tolist() == [
        "http POST /orders",
        "state:created orders/o1",
        "queue order.created",
        "state:updated orders/o1",
    ]
    assert (first["duration_ms"] >= 0).all() and set(first["status"]) == {"ok"}
    assert set(ctx_ids[:4]) == {ctx_ids[0]} and ctx_ids[4] != ctx_ids[0]
    assert trace_frame("last")["trace_id"].unique().tolist() == [ctx_ids[4]]
    # causal order of the output: depth first
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["audit state:created pending", "paying o1", "audit state:updated paid"]


def test_sync_api_from_another_thread_is_inline_and_carries_caller_context():
    """A widget callback / %state magic writes with the sync API from some thread: the
    handlers have run when the call returns, and they see the caller's contextvars
    (which is how ipykernel routes their output to the causing cell)."""
    cell = contextvars.ContextVar("cell", default="no cell")
    seen = []

    @step({"name": "AsyncSeer", "triggers": [state()]})
    async def a(e):
        await asyncio.sleep(0.01)
        seen.append(("async", cell.get()))

    register({"name": "SyncSeer", "triggers": [state()]}, lambda e: seen.append(("sync", cell.get())))

    def widget_callback():
        cell.set("cell 7")
        state_manager.sync.set("g", "k", 1)
        seen.append(("returned", cell.get()))

    t = threading.Thread(target=widget_callback)
    t.start()
    t.join(10)
    assert seen == [("async", "cell 7"), ("sync", "cell 7"), ("returned", "cell 7")]


# ---------------------------------------------------------------- loop guard
def test_loop_guard_stops_a_self_triggering_step():
    @step({"name": "Bump", "triggers": [state(lambda e: e.group_id == "loop")]})
    async def bump(e):
        await state_manager.update("loop", "n", [{"type": "increment", "path": "v", "by": 1}])

    t0 = time.perf_counter()
    with pytest.raises(StepLoopError) as exc:
        run(state_manager.set("loop", "n", {"v": 0}))
    assert time.perf_counter() - t0 < 10
    msg = str(exc.value)
    assert f"deeper than {runtime.MAX_DEPTH} steps" in msg and "steps involved: Bump" in msg
    assert exc.value.steps == ("Bump",)
    # every write made before the guard tripped stands: one per allowed level
    assert state_manager.sync.get("loop", "n") == {"v": runtime.MAX_DEPTH}
    assert "loop-stopped" in set(trace_frame()["status"])
    # the runtime is still usable afterwards
    register({"name": "Bump", "triggers": [state(lambda e: e.group_id == "loop" and e.new_value["v"] < 3)]}, bump)
    run(state_manager.set("loop", "n", {"v": 0}))
    assert state_manager.sync.get("loop", "n") == {"v": 3}


def test_loop_guard_names_every_step_of_a_sync_ping_pong(monkeypatch):
    monkeypatch.setattr(runtime, "MAX_DEPTH", 10)
    register({"name": "Ping", "triggers": [queue("ping")]}, lambda d: enqueue.sync({"topic": "pong", "data": d + 1}))
    register({"name": "Pong", "triggers": [queue("pong")]}, lambda d: enqueue.sync({"topic": "ping", "data": d + 1}))
    with pytest.raises(StepLoopError) as exc:
        enqueue.sync({"topic": "ping", "data": 0})
    assert exc.value.steps == ("Ping", "Pong") and len(exc.value.chain) == 11
    assert "steps involved: Ping, Pong" in str(exc.value)


def test_the_loop_guard_message_says_to_set_a_higher_limit_and_the_line_it_gives_works(monkeypatch):
    # was: "... (or raise motia_nb.steps.runtime.MAX_DEPTH if the depth is intended)", read as
    # "raise an exception"; it meant raising the limit
    monkeypatch.setattr(runtime, "MAX_DEPTH", 4)
    register({"name": "Count", "triggers": [queue("count")]},
             lambda d: enqueue.sync({"topic": "count", "data": d + 1}) if d < 6 else None)
    with pytest.raises(StepLoopError) as exc:
        enqueue.sync({"topic": "count", "data": 0})
    msg = str(exc.value)
    assert "raise" not in msg and "\n" not in msg
    assert msg.endswith(
        "The writes made so far stand; change a condition or a handler so the cascade ends, "
        "or, if that depth is intended, set a higher limit: motia_nb.steps.runtime.MAX_DEPTH = 8"
    ), msg
    exec("import motia_nb.steps.runtime\n" + msg.rsplit(": ", 1)[1], {})
    assert runtime.MAX_DEPTH == 8
    enqueue.sync({"topic": "count", "data": 0})  # 7 levels: within the limit now


# ---------------------------------------------------------------- logger
def test_logger_prints_structured_lines_and_keeps_a_queryable_log(capsys):
    @step({"name": "Reporter", "triggers": [queue("r")]})
    async def reporter(d):
        logger.debug("details", {"n": d})
        logger.info("Daily order report", {"total": d, "paid": 1})
        logger.warn("careful")

    logger.info("from the cell")
    enqueue.sync({"topic": "r", "data": 3})
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "[INFO] from the cell",
        '[INFO] Reporter: Daily order report {"total": 3, "paid": 1}',
        "[WARN] Reporter: careful",
    ]
    df = log_frame()
    assert df["level"].tolist() == ["info", "debug", "info", "warn"]  # debug kept, not printed
    assert df["step"].tolist() == [None, "Reporter", "Reporter", "Reporter"]
    assert log_frame(step="Reporter", level="info")["message"].tolist() == ["Daily order report", "careful"]
    flat = log_frame(step="Reporter", flatten=True)
    assert flat["data.total"].tolist()[1] == 3
    with pytest.raises(ValueError, match="level must be one of"):
        log_frame(level="verbose")


def test_dispatcher_is_installed_only_while_a_state_step_exists():
    """Plain writes keep the state core's fast path when no step listens to state."""
    register({"name": "Q", "triggers": [queue("q")]}, lambda d: None)
    assert state_manager.dispatcher is None
    register({"name": "S", "triggers": [state()]}, lambda e: None)
    assert state_manager.dispatcher == default_session().runtime.dispatch_events
    register({"name": "S", "triggers": [queue("q")]}, lambda d: None)  # redefined without state trigger
    assert state_manager.dispatcher is None
