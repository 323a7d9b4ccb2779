"""Small user-facing loose ends, each a defect seen by a user (the kernel-level ones are in
tests/test_small_ends_kernel.py).

- ``request(..., headers={"a": None})`` sent the text "None" to the handler: refused in one line.
- A state trigger whose ``scope`` is a stream's group (``todo::inbox``) never fired, silently: a
  one-line warning at definition says why and what to use (a stream trigger).
- ``%motia trace <a cell run's trace id>`` of a cell that triggered no step said "no trace": it
  now says the trace is a cell run's that set off no step.
- ``logger.info(...)`` in a cell, outside any step, logged with trace None: the cell run's id.
- A thread a step handler starts: the documented recipe (``contextvars.copy_context().run``)
  keeps the step's cause and trace id on its writes and log lines.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading

import pytest

from motia_nb.session import clear_traces, log_frame, request, step, trace_frame
from motia_nb.state import state_manager
from motia_nb.steps.errors import StepCallError
from motia_nb.testing import run_cell


# ---------------------------------------------------------------- 1. request(): a None header or query value
@pytest.mark.parametrize("kwargs,said", [
    ({"headers": {"x-token": None}},
     "request: header 'x-token' is None; a header's value is a str (leave 'x-token' out to send no such header)"),
    ({"headers": {"Accept": "text/plain", "Authorization": None}},
     "request: header 'Authorization' is None; a header's value is a str (leave 'Authorization' out to send no such header)"),
    ({"query": {"q": None}},
     "request: query 'q' is None; a query's value is a str (leave 'q' out to send no such query)"),
    ({"query": {"tag": ["a", None]}},
     "request: query 'tag' is a list (['a', None]); the engine gives a step one str per query key "
     "(a repeated key keeps only its last value): send one value (or join them with ',')"),
    # a dict, a list (header) or bytes reached the handler as its Python repr, which no engine sends
    ({"headers": {"x-user": {"id": 1}}},
     ("request: header 'x-user' is a dict ({'id': 1}); a header's value is a str (a number is sent as its text): "
     "json.dumps(...) it to send it as JSON")),
    ({"headers": {"accept": ["a", "b"]}},
     ("request: header 'accept' is a list (['a', 'b']); a header's value is a str (a number is sent as its text): "
     "join its values with ', ' to send several")),
    ({"headers": {"x-raw": b"abc"}},
     ("request: header 'x-raw' is a bytes (b'abc'); a header's value is a str (a number is sent as its text): "
     "decode it")),
    ({"query": {"filter": {"status": "paid"}}},
     ("request: query 'filter' is a dict ({'status': 'paid'}); a query's value is a str "
     "(a number is sent as its text): json.dumps(...) it to send it as JSON")),
    ({"query": {"tag": ["a", {"b": 1}]}},
     ("request: query 'tag' is a list (['a', {'b': 1}]); the engine gives a step one str per query key "
     "(a repeated key keeps only its last value): send one value (or join them with ',')")),
])  # fmt: skip
def test_request_with_a_header_or_query_value_that_is_no_text_is_refused_and_nothing_runs(steps_ip, kwargs, said):
    """The engine hands a step its request's headers and query as maps of str (iii
    engine/src/workers/rest_api/views.rs serialize_headers); None reached the handler as "None",
    a dict, a list (header) or bytes as its Python repr (``"{'id': 1}"``, ``"b'abc'"``)."""
    ran = []

    @step({"name": "Echo", "triggers": [{"type": "http", "method": "GET", "path": "/echo"}]})
    def echo(req):
        ran.append(req)
        return {"status": 200, "body": {"headers": dict(req.headers), "query": req.query_params}}

    with pytest.raises(StepCallError) as info:
        asyncio.run(request("GET", "/echo", **kwargs))
    assert str(info.value) == said
    assert ran == []
    # a number is still sent as its text, str values as they are
    out = asyncio.run(request("GET", "/echo", headers={"x-n": 5, "x-s": "v"}, query={"n": 1, "tag": "a"}))
    assert out["body"] == {"headers": {"x-n": "5", "x-s": "v"}, "query": {"n": "1", "tag": "a"}}


# ---------------------------------------------------------------- 2. a state trigger scoped to a stream's group
def test_a_state_trigger_scoped_to_a_streams_group_is_told_at_definition_why_it_never_fires(steps_ip, capsys):
    """Streams live in state groups ``<stream>::<group>`` here, and their writes fire stream
    triggers only, as on the engine (whose stream worker invokes its own triggers, never the state
    worker's). A state trigger with such a scope never fired, and nothing said so."""
    res = run_cell(steps_ip, """
from motia_nb import step, state
fired = []
@step({"name": "InboxWatch", "triggers": [{"type": "state", "scope": "todo::inbox"}]})
def inbox_watch(event):
    fired.append(event.key)
""")
    assert res.success, res.error_in_exec
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [(
        "⚠ step 'InboxWatch': trigger 0 (state): scope 'todo::inbox' is stream 'todo''s group 'inbox', whose writes "
        "fire stream triggers, never state ones (as on the engine), so this trigger never fires; "
        "use stream('todo', group_id='inbox') (from motia import stream)"
    )], err
    # what it says: the stream trigger fires for that group, the state one does not
    res = run_cell(steps_ip, """
@step({"name": "InboxStream", "triggers": [{"type": "stream", "stream_name": "todo", "group_id": "inbox"}]})
def inbox_stream(event):
    fired.append(("stream", event.id))
""")
    assert res.success, res.error_in_exec
    state_manager.sync.set("todo::inbox", "t2", {"text": "there"})  # (a write to the stream's group)
    assert steps_ip.user_ns["fired"] == [("stream", "t2")]
    # a plain scope, or one that is no stream's group, is not warned about
    capsys.readouterr()
    res = run_cell(steps_ip, """
@step({"name": "Plain", "triggers": [{"type": "state", "scope": "orders"}, {"type": "state", "scope": "::odd"}]})
def plain(event):
    pass
""")
    assert res.success, res.error_in_exec
    assert "⚠" not in capsys.readouterr().err


# ---------------------------------------------------------------- 3. %motia trace of a cell run that triggered no step
def test_motia_trace_of_a_cells_trace_id_that_triggered_no_step_says_so(steps_ip, capsys):
    res = run_cell(steps_ip, 'from motia_nb import state_manager\nstate_manager.sync.set("notes", "n1", 1)')
    assert res.success, res.error_in_exec
    ((row,),) = [state_manager.sync.history("notes", "n1")]
    tid = row["trace_id"]
    assert row["cause"] == "cell" and tid
    capsys.readouterr()
    for given in (tid, tid[:8]):
        df = steps_ip.run_line_magic("motia", f"trace {given}")
        assert df.empty
        assert capsys.readouterr().err == (
            f"%motia trace: trace {tid!r} has no step runs: it is a cell run's, and that cell triggered no step "
            f"(its changes carry it in history())\n"
        )
    # a cell run from before the traces were cleared: its step runs, if any, are forgotten
    clear_traces()
    df = steps_ip.run_line_magic("motia", f"trace {tid}")
    err = capsys.readouterr().err
    assert df.empty and re.fullmatch(
        rf"%motia trace: trace {re.escape(repr(tid))} is a cell run's from before the traces were cleared "
        r"\(%motia reset or clear_traces\(\) at \d\d:\d\d:\d\d\): its step runs, if any, are forgotten\n", err), err
    # an id no cell run and no trace has: as before
    df = steps_ip.run_line_magic("motia", "trace 00000000-0000-4000-8000-000000000000")
    assert capsys.readouterr().err == (
        "%motia trace: no trace '00000000-0000-4000-8000-000000000000' (0 traces kept; %motia trace lists them)\n"
    )


# ---------------------------------------------------------------- 4. logger in a cell, outside any step
def test_logger_in_a_cell_outside_any_step_logs_with_the_cells_trace_id(steps_ip, capsys):
    res = run_cell(steps_ip, """
from motia_nb import logger, state_manager
from motia_nb.motia import logger as motia_logger
logger.info("from the cell", {"n": 1})
motia_logger.warn("again")
state_manager.sync.set("notes", "n2", 2)
""")
    assert res.success, res.error_in_exec
    (row,) = state_manager.sync.history("notes", "n2")
    tid = row["trace_id"]
    df = log_frame()
    assert df[["step", "trace_id", "message"]].values.tolist() == [
        [None, tid, "from the cell"], [None, tid, "again"]
    ]
    # %motia trace of that cell points at its log lines
    capsys.readouterr()
    steps_ip.run_line_magic("motia", f"trace {tid}")
    assert capsys.readouterr().err == (
        f"%motia trace: trace {tid!r} has no step runs: it is a cell run's, and that cell triggered no step "
        f"(its changes carry it in history(); its 2 log lines: log_frame(trace_id={tid!r}))\n"
    )


# ---------------------------------------------------------------- 5. a thread a step handler starts (documented)
def test_a_thread_started_in_copy_context_run_keeps_its_steps_cause_and_trace(steps_ip):
    """Python starts a ``threading.Thread`` in an empty context: its writes are ``cell`` with no
    trace id. README's History section gives the recipe that keeps the step's (no motia_nb change:
    this pins the recipe the README gives)."""
    from motia_nb import logger

    @step({"name": "Spawner", "triggers": [{"type": "queue", "topic": "spawn"}]})
    def spawner(data):
        def work(key):
            state_manager.sync.set("spawned", key, 1)
            logger.info("from " + key)

        plain = threading.Thread(target=work, args=("plain",))
        kept = threading.Thread(target=contextvars.copy_context().run, args=(work, "kept"))
        for t in (plain, kept):
            t.start()
            t.join()

    from motia_nb.session import enqueue
    asyncio.run(enqueue({"topic": "spawn", "data": None}))
    (tid,) = trace_frame()["trace_id"].tolist()
    rows = {c["key"]: (c["cause"], c["trace_id"]) for c in state_manager.sync.history("spawned")}
    assert rows == {"plain": ("cell", None), "kept": ("Spawner", tid)}
    logs = log_frame()[["step", "trace_id", "message"]].values.tolist()
    assert logs == [[None, None, "from plain"], ["Spawner", tid, "from kept"]]
