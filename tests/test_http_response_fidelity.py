"""An http handler's answer mapped as Motia's Python runtime and the iii engine map it.

Motia's runtime (motia 1.0.4rc1, ``motia/runtime.py`` ``_register_api_trigger``) turns a
handler's dict into the engine's response channel: ``set_status`` with
``int(result.get("status_code", result.get("status", 200)))`` (a missing status is 200, a
str ``"201"`` is 201), ``set_headers`` with the dict as given, the body as ``json.dumps``
bytes; for ``None`` (or anything not a dict) it writes nothing. The engine
(iii ``rest_api/views.rs`` ``apply_control_message``) keeps a ``set_status`` only when it is an
integer from 100 to 599 and a header only when its value is a str, silently; and it waits for a
response channel that a handler returning ``None`` never writes. So: the defined cases answer
as the engine does; the silent ones (a dropped header, an ignored status, a request that never
answers) are refused with one line, for notebook steps and worker steps alike.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from urllib.parse import urlsplit

import pytest

from motia_nb import engine, request, step
from motia_nb.session import reset_steps


@pytest.fixture
def answer(steps_ip):
    """A notebook http step at GET /answer returning what the test sets."""
    box: dict = {}

    @step({"name": "Answer", "triggers": [{"type": "http", "method": "GET", "path": "/answer"}]})
    def answer_step(req):
        return box["r"]

    def call(r):
        box["r"] = r
        return request.sync("GET", "/answer")

    return call


def test_a_missing_status_is_200_as_motias_runtime_sends(answer):
    assert answer({"body": {"ok": True}}) == {"status": 200, "body": {"ok": True}, "headers": {}}


@pytest.mark.parametrize("status, sent", [("201", 201), (" 404 ", 404), (202.0, 202)])
def test_a_status_int_reads_as_the_runtime_sends_it(answer, status, sent):
    assert answer({"status": status, "body": "x"})["status"] == sent


@pytest.mark.parametrize("status", ["created", 600, 99, True, 201.5])
def test_a_status_the_engine_would_ignore_is_refused(answer, status):
    r = answer({"status": status, "body": "x"})
    assert r["status"] == 500 and f"returned status {status!r}" in r["body"]["error"]


@pytest.mark.parametrize("value, fix", [(3, "send it as a str"), (["a", "b"], "join its values"), (None, "send it as a str")])
def test_a_header_value_that_is_not_a_str_is_refused_not_dropped(answer, value, fix):
    r = answer({"status": 200, "body": {}, "headers": {"x-count": value}})
    assert r["status"] == 500
    assert f"returned header 'x-count' = {value!r}; the engine drops a header whose value is not a str" in r["body"]["error"]
    assert fix in r["body"]["error"]


def test_str_headers_and_bodies_of_every_json_kind_pass_as_given(answer):
    for body in ("text", [1, 2], 3.5, None, {"a": 1}):
        assert answer({"status": 201, "body": body, "headers": {"x-a": "1"}}) == {
            "status": 201, "body": body, "headers": {"x-a": "1"}}


def test_a_handler_returning_none_is_a_500_saying_so(answer):
    r = answer(None)
    assert r["status"] == 500 and "must return {'status': int, 'body': ...}, got None" in r["body"]["error"]


ERROR_ID = re.compile(r"^[0-9a-f]{1,12}$")  # views.rs generate_error_id: the clock's nanoseconds & 0xFFFFFFFFFFFF, in hex


def engine_500(r: dict, error: str) -> bool:
    """``r`` is the engine's answer to an invocation error: 500 ``{"error": err.message, "error_id"}``."""
    body = r["body"]
    return (r["status"] == 500 and r["headers"] == {} and isinstance(body, dict) and set(body) == {"error", "error_id"}
            and body["error"] == error and bool(ERROR_ID.match(body["error_id"])))


def test_a_handler_that_raises_answers_the_engines_500_and_the_cell_gets_its_frames(steps_ip, capsys):
    # the SDK answers the invocation with {"code": "invocation_failed", "message": str(e)}; views.rs
    # answers 500 {"error": err.message, "error_id": generate_error_id()}
    @step({"name": "Create", "triggers": [{"type": "http", "method": "POST", "path": "/create"}]})
    def create(req):
        if req.body.get("key"):
            return {"status": 200, "body": req.body["missing"]}
        raise RuntimeError("payment provider down")

    capsys.readouterr()
    first = request.sync("POST", "/create", body={})
    assert engine_500(first, "payment provider down"), first
    err = capsys.readouterr().err
    assert "✖ step 'Create' failed (http POST /create" in err and "RuntimeError: payment provider down" in err, err
    assert 'raise RuntimeError("payment provider down")' in err, err  # the handler's frame
    assert engine_500(request.sync("POST", "/create", body={"key": 1}), "'missing'")  # str(KeyError('missing'))
    assert request.sync("POST", "/create", body={})["body"]["error_id"] != first["body"]["error_id"]


def test_an_http_condition_that_raises_answers_the_engines_500(steps_ip):
    @step({"name": "Guarded", "triggers": [{"type": "http", "method": "GET", "path": "/guarded",
                                            "condition": lambda req, ctx: req.query_params["x"] == "1"}]})
    def guarded(req):
        return {"status": 200, "body": "ran"}

    assert engine_500(request.sync("GET", "/guarded"), "'x'")
    assert request.sync("GET", "/guarded?x=1")["body"] == "ran"


def test_a_streamed_header_or_status_the_engine_would_drop_is_refused(steps_ip):
    @step({"name": "Streams", "triggers": [{"type": "http", "method": "GET", "path": "/streams"}]})
    async def streams(args):
        await args.response.status(int(args.query_params.get("s", "200")))
        await args.response.headers({"x-n": 1} if "n" in args.query_params else {"x-n": "1"})
        args.response.writer.stream.write(b"hi")

    assert request.sync("GET", "/streams") == {"status": 200, "body": "hi", "headers": {"x-n": "1"}}
    bad = request.sync("GET", "/streams?n=1")
    assert bad["status"] == 500 and "returned header 'x-n' = 1" in bad["body"]["error"]
    bad = request.sync("GET", "/streams?s=700")
    assert bad["status"] == 500 and "sent status 700 through response.status()" in bad["body"]["error"]


def test_path_params_are_the_raw_segments_as_the_engine_passes_them(steps_ip):
    @step({"name": "ById", "triggers": [{"type": "http", "method": "GET", "path": "/items/:id"}]})
    def by_id(req):
        return {"status": 200, "body": req.path_params["id"]}

    @step({"name": "Latest", "triggers": [{"type": "http", "method": "GET", "path": "/items/latest"}]})
    def latest(req):
        return {"status": 200, "body": "latest"}

    assert request.sync("GET", "/items/a%20b")["body"] == "a%20b"
    assert request.sync("GET", "/items/caf%C3%A9")["body"] == "caf%C3%A9"
    # axum matches the raw path: an escaped "latest" is not the literal route
    assert request.sync("GET", "/items/lat%65st")["body"] == "lat%65st"
    assert request.sync("GET", "/items/latest")["body"] == "latest"


def test_a_query_key_given_several_values_is_refused_the_engine_keeps_the_last(steps_ip):
    from motia_nb.steps.errors import StepCallError

    ran = []

    @step({"name": "Search", "triggers": [{"type": "http", "method": "GET", "path": "/search"}]})
    def search(req):
        ran.append(dict(req.query_params))
        return {"status": 200, "body": None}

    with pytest.raises(StepCallError, match=r"^request: query 'tag' is given 2 values in the path \('a', 'b'\); "
                       r"the engine keeps only the last \('b'\): send one value per key \(or join them, e.g. 'a,b'\)$"):
        request.sync("GET", "/search?tag=a&tag=b")
    with pytest.raises(StepCallError, match=r"^request: query 'tag' is a list \(\['a', 'b'\]\); the engine gives a step one str"):
        request.sync("GET", "/search", query={"tag": ["a", "b"]})
    assert ran == []
    request.sync("GET", "/search?tag=a%2Cb&q=x+y&empty=")  # decoded as the engine's Query does
    assert ran == [{"tag": "a,b", "q": "x y", "empty": ""}]


def test_405_is_the_routers_empty_answer_with_allow_and_head_on_a_get_route_is_404(steps_ip):
    @step({"name": "Orders", "triggers": [{"type": "http", "method": "GET", "path": "/orders"},
                                          {"type": "http", "method": "POST", "path": "/orders"}]})
    def orders(req):
        return {"status": 200, "body": req.method}

    @step({"name": "Make", "triggers": [{"type": "http", "method": "POST", "path": "/make"}]})
    def make(req):
        return {"status": 201, "body": None}

    assert request.sync("DELETE", "/orders") == {"status": 405, "body": None, "headers": {"allow": "GET,HEAD,POST"}}
    assert request.sync("GET", "/make") == {"status": 405, "body": None, "headers": {"allow": "POST"}}
    # axum sends it to the GET route; the engine finds no HEAD function there: its text 404
    assert request.sync("HEAD", "/orders") == {"status": 404, "body": "Not Found", "headers": {}}
    assert request.sync("GET", "/nowhere") == {"status": 404, "body": None, "headers": {}}  # axum's own 404
    assert request.sync("HEAD", "/make")["status"] == 405
    assert request.sync("GET", "/orders")["body"] == "GET"


# --- the request body and its content-type: views.rs parses the body as JSON only when the
# request's content-type contains "application/json"; under any other the step's body is null and
# the raw bytes stream to request_body. request() is a JSON client (as fetch's / requests' json=).


@pytest.fixture
def seen(steps_ip):
    """A notebook http step at POST /seen answering what it got: body, content-type, raw body."""

    @step({"name": "Seen", "triggers": [{"type": "http", "method": "POST", "path": "/seen"}]})
    async def seen_step(req):
        raw = await req.request_body.read_all()
        return {"status": 200, "body": {"body": req.body, "ct": req.headers.get("content-type"), "raw": raw.decode()}}

    return lambda **kw: request.sync("POST", "/seen", **kw)["body"]


def test_a_body_without_a_content_type_is_sent_as_json_and_the_step_sees_the_header(seen, capsys):
    capsys.readouterr()
    assert seen(body={"a": 1}) == {"body": {"a": 1}, "ct": "application/json", "raw": '{"a": 1}'}
    assert seen(body=[1, "x"])["ct"] == "application/json"
    assert seen() == {"body": None, "ct": None, "raw": ""}  # no body, no content-type
    # a JSON content-type the caller gives is kept as given, and the body parsed
    assert seen(body={"a": 1}, headers={"Content-Type": "application/json; charset=utf-8"})["ct"] == "application/json; charset=utf-8"
    assert capsys.readouterr().err == ""


def test_a_body_under_another_content_type_is_null_and_raw_in_request_body(seen, capsys):
    capsys.readouterr()
    form = seen(body="a=1&b=two", headers={"content-type": "application/x-www-form-urlencoded"})
    assert form == {"body": None, "ct": "application/x-www-form-urlencoded", "raw": "a=1&b=two"}
    assert capsys.readouterr().err == ""  # a text body under a text type: a deliberate upload
    # a structured body under a type that is not JSON: the engine's answer, and the cell is told why
    assert seen(body={"a": 1}, headers={"content-type": "text/plain"}) == {"body": None, "ct": "text/plain", "raw": '{"a": 1}'}
    assert capsys.readouterr().err == (
        "request POST /seen: content-type 'text/plain' does not contain 'application/json', so the step's body is None"
        " (the engine parses a body as JSON only then); the body's bytes are in request_body\n")
    # the engine's test is case-sensitive: 'Application/JSON' is not parsed
    assert seen(body={"a": 1}, headers={"content-type": "Application/JSON"})["body"] is None
    assert "content-type 'Application/JSON' does not contain 'application/json'" in capsys.readouterr().err


# --- a worker's http step: a raw worker writing the response channel as Motia's runtime does


def _all(ch):
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            yield ch.recv(5)
    except ConnectionClosed:
        return


def _raw_worker(url: str, script, ready: threading.Event, stop: threading.Event) -> None:
    from websockets.sync.client import connect

    with connect(url, max_size=None) as ws:
        ws.recv(10)  # workerregistered
        fid = f"raw::http-{uuid.uuid4().hex[:6]}"
        ws.send(json.dumps({"type": "registerfunction", "id": fid}))
        ws.send(json.dumps({"type": "registertrigger", "id": "t", "trigger_type": "http", "function_id": fid,
                            "config": {"api_path": "raw", "http_method": "GET"}}))
        ws.recv(10)  # triggerregistrationresult
        ready.set()
        while not stop.is_set():
            try:
                frame = json.loads(ws.recv(0.2))
            except TimeoutError:
                continue
            if frame.get("type") != "invokefunction":
                continue
            messages, result, *error = script["next"]
            script["data"] = frame["data"]
            ref = frame["data"]["request_body"]
            with connect(f"ws://{urlsplit(url).netloc}/ws/channels/{ref['channel_id']}?key={ref['access_key']}&dir=read") as ch:
                script["raw"] = b"".join(_all(ch))
            if messages is not None:
                ref = frame["data"]["response"]
                base = urlsplit(url)
                with connect(f"ws://{base.netloc}/ws/channels/{ref['channel_id']}?key={ref['access_key']}&dir=write") as ch:
                    for m in messages:
                        ch.send(m if isinstance(m, bytes) else json.dumps(m))
            answer = {"error": error[0]} if error else {"result": result}
            ws.send(json.dumps({"type": "invocationresult", "invocation_id": frame["invocation_id"],
                                "function_id": frame["function_id"], **answer}))


@pytest.fixture
def raw_worker():
    server = engine.serve(worker_timeout=10)
    script: dict = {}
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=_raw_worker, args=(server.url, script, ready, stop), daemon=True)
    t.start()
    try:
        assert ready.wait(15)

        def call(messages, result, *error, **kw):
            script["next"] = (messages, result, *error)
            return request.sync("GET", "/raw", **kw)

        call.script = script

        yield call
    finally:
        stop.set()
        t.join(5)
        server.close()
        reset_steps()


def test_a_worker_answer_written_as_motias_runtime_writes_it(raw_worker):
    r = raw_worker([{"type": "set_status", "status_code": 201}, {"type": "set_headers", "headers": {"x-a": "1"}},
                    b'"text"'], {"status": 201, "body": "text"})
    assert r == {"status": 201, "body": "text", "headers": {"x-a": "1"}}


def test_a_worker_header_value_that_is_not_a_str_is_refused(raw_worker):
    r = raw_worker([{"type": "set_status", "status_code": 200}, {"type": "set_headers", "headers": {"x-n": 3}}, b"{}"],
                   {"status": 200, "body": {}, "headers": {"x-n": 3}})
    assert r["status"] == 500 and "returned header 'x-n' = 3; the engine drops" in r["body"]["error"]


def test_a_worker_status_the_engine_would_ignore_is_refused(raw_worker):
    r = raw_worker([{"type": "set_status", "status_code": 700}, b"{}"], {"status": 700, "body": {}})
    assert r["status"] == 500 and "sent status 700; expected an int from 100 to 599" in r["body"]["error"]


def test_a_worker_handler_returning_none_without_a_response_is_refused_not_200(raw_worker):
    r = raw_worker(None, None)
    assert r["status"] == 500 and "returned None and wrote no response" in r["body"]["error"]


def test_a_worker_handler_that_raises_answers_the_engines_500_with_its_message(raw_worker):
    # what iii-sdk 0.9's _handle_invoke sends when the handler raises (iii.py: str(e)), as the engine passes it on
    r = raw_worker(None, None, {"code": "invocation_failed", "message": "payment provider down", "stacktrace": "Traceback…"})
    assert engine_500(r, "payment provider down"), r


def test_a_worker_that_leaves_mid_request_answers_the_engines_invocation_stopped(steps_ip):
    # the engine halts a call whose worker left: ErrorBody {"invocation_stopped", "Invocation stopped"}
    # (invocation/mod.rs halt_invocation), which views.rs answers as any invocation error
    from websockets.sync.client import connect

    server = engine.serve(worker_timeout=10)
    ready = threading.Event()

    def leaver():
        with connect(server.url) as ws:
            ws.recv(10)
            ws.send(json.dumps({"type": "registerfunction", "id": "raw::leaves"}))
            ws.send(json.dumps({"type": "registertrigger", "id": "t", "trigger_type": "http", "function_id": "raw::leaves",
                                "config": {"api_path": "leaves", "http_method": "GET"}}))
            ws.recv(10)
            ready.set()
            while json.loads(ws.recv(15)).get("type") != "invokefunction":
                pass  # then the connection closes, unanswered

    t = threading.Thread(target=leaver, daemon=True)
    t.start()
    try:
        assert ready.wait(15)
        r = request.sync("GET", "/leaves")
        assert engine_500(r, "Invocation stopped"), r
    finally:
        t.join(5)
        server.close()
        reset_steps()


def test_a_worker_gets_the_body_and_content_type_as_the_engine_sends_them(raw_worker):
    raw_worker(None, {}, body={"a": 1})
    seen = raw_worker.script
    assert seen["data"]["headers"]["content-type"] == "application/json" and seen["data"]["body"] == {"a": 1}
    raw_worker(None, {}, body="a=1", headers={"content-type": "application/x-www-form-urlencoded"})
    assert seen["data"]["body"] is None and seen["raw"] == b"a=1"  # streamed to request_body


def test_a_worker_answer_by_return_value_only_reads_as_the_engine_reads_it(raw_worker):
    # HttpResponse::from_function_return: status_code (default 200), body (default {})
    assert raw_worker(None, {"status_code": 202, "body": [1]}) == {"status": 202, "body": [1], "headers": {}}
    assert raw_worker(None, {}) == {"status": 200, "body": {}, "headers": {}}
    r = raw_worker(None, {"status": 201, "body": {}})  # the engine ignores 'status' and answers 200
    assert r["status"] == 500 and "returned status 201 under 'status'; the engine reads 'status_code'" in r["body"]["error"]
    r = raw_worker(None, {"status_code": "201"})
    assert r["status"] == 500 and "returned status_code '201'; expected an int from 100 to 599" in r["body"]["error"]


def test_a_path_no_route_serves_is_the_engines_bare_404_and_the_cell_is_told_the_routes(steps_ip, capsys):
    @step({"name": "Orders", "triggers": [{"type": "http", "method": "GET", "path": "/orders"},
                                          {"type": "http", "method": "POST", "path": "/orders/:id"}]})
    def orders(req):
        return {"status": 200, "body": None}

    capsys.readouterr()
    assert request.sync("GET", "/ordrs") == {"status": 404, "body": None, "headers": {}}
    err = capsys.readouterr().err
    assert err == "request GET /ordrs: no http step serves this path (404); http routes: GET /orders, POST /orders/:id\n"
    request.sync("DELETE", "/orders")  # a 405: the allow header says it
    assert capsys.readouterr().err == ""
