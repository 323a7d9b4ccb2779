"""motia_nb's stand-in for Motia's SDK (no real ``motia`` here): sync calls from every thread, streams,
conditions, and the fallback when an installed ``motia`` cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from motia_nb.engine import EngineFunctionError
from motia_nb.state import state_manager
from motia_nb.session import enqueue, register, request, reset_steps, run_cron
from motia_nb.motia import _world

ROOT = Path(__file__).resolve().parent.parent
REAL_PYTHON = ROOT / ".venv-motia" / "bin" / "python"


@pytest.fixture
def motia(tmp_path):
    previous = state_manager.url
    state_manager.use(str(tmp_path / "state.db"))
    reset_steps()
    mod = _world.ensure_motia()
    assert mod.__name__ == "motia_nb.motia" and sys.modules["motia"] is mod
    yield mod
    reset_steps()
    state_manager.use(previous)


def test_sync_sdk_calls_work_from_async_handlers_on_motia_nbs_own_loop(motia):
    seen = []

    async def pay(data, ctx):  # runs on motia_nb's loop thread (the cascade came from a sync call)
        r = motia.stateManager.set("orders", data["id"], {"status": "paid"})
        seen.append(("set", r))
        motia.enqueue({"topic": "paid", "data": data})

    async def on_paid(data, ctx):
        seen.append(("paid", motia.stateManager.get("orders", data["id"])))

    def on_state(event, ctx):  # plain def: its own thread
        seen.append(("state", event["scope"], event.key, ctx.trigger.type, ctx.is_state()))

    register({"name": "Pay", "triggers": [motia.queue("order")]}, pay)
    register({"name": "Paid", "triggers": [motia.queue("paid")]}, on_paid)
    register({"name": "OnState", "triggers": [motia.state(condition=lambda e, c: e.group_id == "orders")]}, on_state)
    enqueue.sync({"topic": "order", "data": {"id": "o1"}})
    assert seen == [
        ("state", "orders", "o1", "state", True),  # inline: the state step ran before set() returned
        ("set", {"old_value": None, "new_value": {"status": "paid"}}),
        ("paid", {"status": "paid"}),
    ]


def test_state_manager_results_are_the_engines(motia):
    sm = motia.stateManager
    sm.set("a", "1", {"id": "1"})
    sm.set("a", "2", {"no": "id"})
    assert sm.list_groups() == {"groups": ["a"]}
    assert sm.update("a", "1", [{"type": "set", "path": "n", "value": 1}]) == {
        "old_value": {"id": "1"}, "new_value": {"id": "1", "n": 1}}
    assert sm.delete("a", "nope") is None
    assert sm.clear("a") is None
    assert sm.list("a") == []  # every item removed, with or without an `id`
    with pytest.raises(EngineFunctionError, match="reserves for streams"):
        sm.set("a::b", "k", 1)


def test_streams_fire_stream_triggers_not_state_ones(motia):
    got = []
    register({"name": "S", "triggers": [motia.stream("todo", group_id="inbox")]},
             lambda e, ctx: got.append((e.stream_name, e.group_id, e.id, e.event.type, e.event.data, ctx.is_stream())))
    register({"name": "St", "triggers": [motia.state()]}, lambda e: got.append(("state", e.group_id)))
    todo = motia.Stream("todo")
    assert todo.set("inbox", "t1", {"d": 1}) == {"old_value": None, "new_value": {"d": 1}}
    todo.set("inbox", "t1", {"d": 2})
    todo.set("later", "t2", {"d": 3})  # another group: the trigger is restricted to inbox
    todo.delete("inbox", "t1")
    state_manager.sync.set("plain", "k", 1)
    assert got == [
        ("todo", "inbox", "t1", "create", {"d": 1}, True),
        ("todo", "inbox", "t1", "update", {"d": 2}, True),
        ("todo", "inbox", "t1", "delete", {"d": 2}, True),
        ("state", "plain"),
    ]
    assert todo.list_groups() == ["later"] and todo.get_group("later") == [{"d": 3}]


def test_http_condition_false_answers_422_and_a_raising_condition_is_reported(motia, capsys):
    register({"name": "H", "triggers": [motia.http("POST", "/h", condition=lambda req: req.body.get("ok"))]},
             lambda req: motia.ApiResponse(status=200, body={"got": req.body}))
    assert request.sync("POST", "/h", body={"ok": True}) == {"status": 200, "body": {"got": {"ok": True}}, "headers": {}}
    r = request.sync("POST", "/h", body={"ok": False})
    assert r["status"] == 422 and r["body"] == {"error": "Request condition not met", "skipped": True}
    ran = []
    register({"name": "C", "triggers": [motia.cron("0 0 * * * *", condition=lambda i, c: 1 / 0)]}, lambda i: ran.append(i))
    run_cron.sync("C")
    assert ran == [] and "condition of step 'C' raised" in capsys.readouterr().err


def test_enqueue_is_synchronous_and_may_be_awaited(motia):
    import asyncio

    got = []
    register({"name": "Q", "triggers": [motia.queue("t", input={"type": "object", "required": ["n"]})]}, got.append)
    motia.enqueue({"topic": "t", "data": {"n": 1}})
    assert got == [{"n": 1}]

    async def cell():
        await motia.enqueue({"topic": "t", "data": {"n": 2}})

    asyncio.run(cell())
    assert got == [{"n": 1}, {"n": 2}]


def test_step_builders_and_guards(motia):
    cfg = {"name": "B", "triggers": [motia.http("GET", "/b"), motia.queue("b")]}
    d = motia.step(cfg, lambda r, c: None)
    assert isinstance(d, motia.StepDefinition) and motia.step(cfg).handle(d.handler).config is cfg
    assert motia.is_api_step(d) and motia.is_queue_step(d) and not motia.is_cron_step(d)
    assert [t["topic"] for t in motia.get_queue_triggers(d)] == ["b"]
    with pytest.raises(Exception, match="no 'name'"):
        motia.step({"triggers": []})
    assert motia.ApiResponse(status=201, body={"a": 1}).model_dump() == {"status": 201, "body": {"a": 1}, "headers": {}}
    assert motia.ApiResponse[dict] is motia.ApiResponse and motia.FlowContext[dict] is motia.FlowContext


BROKEN = "raise ImportError(\"cannot import name 'IIIClient' from 'iii'\")\n"


def _fallback(python: str, extra_path: Path) -> subprocess.CompletedProcess:
    code = textwrap.dedent(
        """
        from motia_nb.motia._world import ensure_motia
        m = ensure_motia()
        import motia
        print(m.__name__, motia is m, motia.stateManager.list_groups() is not None)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(extra_path), str(ROOT)]), "MOTIA_NB_DB": ":memory:"}
    return subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_an_installed_motia_that_cannot_be_imported_falls_back_with_a_notice(tmp_path):
    (tmp_path / "motia").mkdir()
    (tmp_path / "motia" / "__init__.py").write_text(BROKEN)
    out = _fallback(sys.executable, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "motia_nb.motia True True"
    notice = [line for line in out.stderr.splitlines() if line.startswith("motia_nb:")]
    assert notice == ["motia_nb: the installed `motia` package cannot be imported (ImportError: cannot import name "
                      "'IIIClient' from 'iii'); using motia_nb's stand-in for `motia`"]


def test_the_real_motia_with_an_incompatible_iii_sdk_falls_back(tmp_path):
    if not REAL_PYTHON.exists():
        from motia_nb.testing import in_ci

        msg = f"{REAL_PYTHON} is missing (make test builds it)"
        if in_ci():
            pytest.fail(f"CI=true but {msg}", pytrace=False)
        pytest.skip(msg)
    (tmp_path / "iii").mkdir()  # an iii-sdk without the names motia 1.0.4rc1 imports
    (tmp_path / "iii" / "__init__.py").write_text("")
    out = _fallback(str(REAL_PYTHON), tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "motia_nb.motia True True"
    assert "motia_nb: the installed `motia` package cannot be imported (ImportError: cannot import name" in out.stderr


def test_queue_input_schema_is_checked_before_the_handler(motia, capsys):
    pytest.importorskip("jsonschema")
    got = []
    cfg = {"name": "Typed", "triggers": [motia.queue("typed", input={"type": "object", "required": ["n"]})]}
    _world.register_motia_step(cfg, got.append)  # what a %%step cell does
    motia.enqueue({"topic": "typed", "data": {"m": 1}})
    assert got == [] and "step 'Typed' failed" in capsys.readouterr().err
    motia.enqueue({"topic": "typed", "data": {"n": 1}})
    assert got == [{"n": 1}]


def test_a_streaming_http_handler_reads_the_request_body_and_writes_the_response(motia):
    # the shape of the playground's SSE step (MotiaHttpArgs: request.request_body.stream in,
    # response.status()/headers()/writer.stream.write()/close() out, the handler returns None)
    async def sse(args):
        raw = b"".join([chunk async for chunk in args.request.request_body.stream])
        assert await args.request.request_body.read_all() == raw
        assert b"".join(args.request.request_body.stream) == raw  # newer SDKs: a plain `for`
        await args.response.status(202)
        await args.response.headers({"content-type": "text/event-stream"})
        for i, word in enumerate(json.loads(raw)["words"]):
            args.response.writer.stream.write(f"event: item\ndata: {i}:{word}\n\n".encode())
        args.response.writer.stream.end(b"event: done\n\n")
        args.response.close()

    register({"name": "Sse", "triggers": [motia.http("POST", "/sse")]}, sse)
    r = request.sync("POST", "/sse", body={"words": ["a", "b"]})
    assert r == {
        "status": 202,
        "headers": {"content-type": "text/event-stream"},
        "body": "event: item\ndata: 0:a\n\nevent: item\ndata: 1:b\n\nevent: done\n\n",
    }

    # a JSON body written in chunks reads back as JSON; no status set means 200
    async def chunks(args):
        args.response.writer.stream.write(b'{"ok": ')
        await args.response.writer.write(b"true}")

    register({"name": "Chunks", "triggers": [motia.http("GET", "/chunks")]}, chunks)
    assert request.sync("GET", "/chunks") == {"status": 200, "headers": {}, "body": {"ok": True}}

    # a text body reaches request_body as it is (a form, say), not as JSON text
    async def form(args):
        await args.response.status(200)
        args.response.writer.stream.write(await args.request.request_body.read_all())

    register({"name": "Form", "triggers": [motia.http("POST", "/form")]}, form)
    assert request.sync("POST", "/form", body="a=1&b=2")["body"] == "a=1&b=2"
