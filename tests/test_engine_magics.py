"""``%motia serve`` / ``serve stop`` / ``workers`` (motia_nb.notebook.engine_magics), called directly,
and the endpoint's lifecycle with the extension (%unload_ext closes it)."""

from __future__ import annotations

import json
import socket

import pytest
from motia_nb.testing import run_cell
from websockets.sync.client import connect

from engine_helpers import wait_for
from motia_nb import engine
from motia_nb.notebook.config import MotiaNB
from motia_nb.notebook.engine_magics import EngineUsageError, serve_cmd, stop_cmd, workers_cmd


@pytest.fixture(autouse=True)
def no_endpoint_left():
    yield
    engine.stop_all()


def test_serve_shows_the_url_and_the_command_that_connects_a_project():
    shown = serve_cmd([])
    (server,) = engine.servers()
    assert server.url.startswith("ws://127.0.0.1:") and server.port > 0
    text = repr(shown)
    assert server.url in text and f"III_URL={server.url} motia run --dir steps" in text
    with pytest.raises(EngineUsageError, match="already serving at ws://127.0.0.1:"):
        serve_cmd([])
    assert stop_cmd() == f"stopped serving at {server.url}"
    assert stop_cmd() == "no engine endpoint was running"
    assert server.closed and engine.servers() == []


def test_serve_takes_port_and_host_and_refuses_bad_ones():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    shown = serve_cmd(["--port", str(free), "--host", "127.0.0.1"])
    assert shown.server.port == free
    stop_cmd()
    with pytest.raises(EngineUsageError, match="invalid int value: 'x'"):
        serve_cmd(["--port", "x"])
    with pytest.raises(EngineUsageError, match="port must be an int from 0 to 65535"):
        serve_cmd(["--port", "70000"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(EngineUsageError, match="cannot listen on 127.0.0.1:"):
            serve_cmd(["--port", str(busy.getsockname()[1])])
    assert engine.servers() == []
    assert serve_cmd(["stop"]) == "no engine endpoint was running"


def test_workers_lists_each_connected_worker_with_its_steps():
    assert workers_cmd().empty
    server = serve_cmd([]).server
    with connect(server.url) as ws:
        json.loads(ws.recv(30))  # workerregistered
        for frame in (
            {"type": "registerfunction", "id": "w::f"},
            {"type": "registertrigger", "id": "t", "trigger_type": "queue", "function_id": "w::f",
             "config": {"topic": "x", "metadata": {"name": "WorkerStep"}}},
            {"type": "invokefunction", "function_id": "engine::workers::register", "action": {"type": "void"},
             "data": {"name": "w1", "runtime": "node", "pid": 7}},
        ):
            ws.send(json.dumps(frame))
        json.loads(ws.recv(30))  # the trigger's registration result
        wait_for(lambda: len(workers_cmd()) == 1 and workers_cmd().iloc[0]["worker"] == "w1", what="the worker row")
        row = workers_cmd().iloc[0]
        assert (row["runtime"], row["pid"], row["steps"], row["functions"]) == ("node", 7, "WorkerStep", 1)
        assert stop_cmd() == f"stopped serving at {server.url} (1 worker(s) disconnected, their steps removed)"
    assert workers_cmd().empty


def test_worker_timeout_is_a_motianb_setting(ip):
    res = run_cell(ip, "%config MotiaNB.worker_timeout = 2.5")
    assert res.success, res.error_in_exec
    try:
        assert engine.settings.worker_timeout == 2.5
        assert engine.serve().worker_timeout == 2.5  # an endpoint without its own value follows the setting
        res = run_cell(ip, "%config MotiaNB.worker_timeout = 0")
        assert engine.settings.worker_timeout == 2.5  # refused: the old value stays
    finally:
        MotiaNB(config=None).worker_timeout = 30.0


def test_unload_ext_closes_the_endpoint(ip):
    server = engine.serve()
    res = run_cell(ip, "%unload_ext motia_nb")
    try:
        assert res.success, res.error_in_exec
        assert server.closed and engine.servers() == []
        with pytest.raises(OSError):
            connect(server.url, open_timeout=5).__enter__()
    finally:
        run_cell(ip, "%load_ext motia_nb")


def test_serve_stop_prints_its_message_as_cron_stop_does(ip, capsys):
    # the message is printed, not shown as a quoted Python string in the cell's Out
    res = run_cell(ip, "%motia serve stop")
    assert res.success and res.result is None
    assert capsys.readouterr().out == "no engine endpoint was running\n"
    run_cell(ip, "%motia serve")
    (server,) = engine.servers()
    res = run_cell(ip, "%motia serve stop")
    assert res.success and res.result is None
    assert capsys.readouterr().out.endswith(f"stopped serving at {server.url}\n")
