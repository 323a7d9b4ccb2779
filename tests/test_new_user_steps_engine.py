"""A Motia user's worker on the kernel's engine endpoint, as the README tells them to start it.

Found by trying it: after ``%motia serve stop`` (or ``server.close()``, ``%reload_ext``), serving
again on the same port (``%motia serve --port N``, the port the project's ``III_URL`` names) never
got the project's worker back: the endpoint closed its connection with 1001 (going away), a
normal closure, after which iii-sdk's receive loop ends without reconnecting, and ``motia run``
went on printing nothing, alive and deaf. The SDK reconnects (with backoff, forever) when the
engine goes away any other way, as a real engine's restart does: the endpoint now closes with
1012 (service restart), and the worker re-registers its steps when the kernel serves again.
"""

from __future__ import annotations

import pytest

from engine_helpers import MOTIA_STEPS, key, start_motia, wait_for, worker_with_steps
from motia_nb import engine, state_manager

pytestmark = pytest.mark.slow


def test_a_worker_comes_back_when_the_kernel_serves_again_on_its_port(tmp_path):
    server = engine.serve()
    port = server.port
    proc = start_motia(server.url, tmp_path)
    try:
        wait_for(lambda: worker_with_steps(server, MOTIA_STEPS), what="the worker")
        server.close()
        assert server.workers == []
        server = engine.serve(port=port)
        # (iii-sdk's first retry comes after ~1 s, the next ~2 s later: well within the deadline)
        wait_for(lambda: worker_with_steps(server, MOTIA_STEPS), timeout=30, what="the worker to reconnect")
        k = key()
        state_manager.sync.set("orders", k, {"total": 5})
        assert state_manager.sync.get("audit", k) == {"event": "state:created", "total": 5, "by": "OrderAudit"}
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- worker log:\n{proc.output()}") from None
    finally:
        proc.stop()
        server.close()


SERVE_THEN_DIE = """
import sys, time, os
from motia_nb import engine
server = engine.serve(port=int(sys.argv[1]))
print("serving", flush=True)
while not server.workers:
    time.sleep(0.05)
print("worker", flush=True)
os._exit(0)  # a kernel that dies: no closing frame
"""


def test_a_worker_comes_back_after_the_serving_kernel_died(tmp_path):
    # the README's other case (it worked before: a dead kernel sends no closing frame, and the SDK
    # reconnects after an abnormal closure)
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a free port, for both "kernels"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, MOTIA_NB_DB=str(tmp_path / "first.db"))
    first = subprocess.Popen([sys.executable, "-c", SERVE_THEN_DIE, str(port)], env=env, stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline() == "serving\n"
    proc = start_motia(f"ws://127.0.0.1:{port}", tmp_path)
    server = None
    try:
        assert first.stdout.readline() == "worker\n" and first.wait(30) == 0
        server = engine.serve(port=port)
        wait_for(lambda: worker_with_steps(server, MOTIA_STEPS), timeout=30, what="the worker to reconnect")
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- worker log:\n{proc.output()}") from None
    finally:
        proc.stop()
        first.kill()
        first.wait(10)
        if server is not None:
            server.close()


def test_a_worker_step_named_as_a_notebook_step_says_both_run(caplog):
    # was: the worker's step silently became 'Note [queue(note)]' beside the notebook's 'Note', and
    # every message ran both (a project exported with %motia export, then connected to the kernel)
    import json

    from websockets.sync.client import connect

    from engine_helpers import frames
    from motia_nb import step
    from motia_nb.session import remove_step

    @step({"name": "Note", "triggers": [{"type": "queue", "topic": "note"}]})
    def note(d):
        pass

    server = engine.serve()
    ws = connect(server.url).__enter__()
    try:
        frames(ws)  # workerregistered
        caplog.set_level("WARNING", logger="motia_nb")
        for tid, topic in (("t1", "note"), ("t2", "note.other")):  # one step, two triggers: said once
            ws.send(json.dumps({"type": "registerfunction", "id": f"steps::Note::trigger::queue({topic})"}))
            ws.send(json.dumps({"type": "registertrigger", "id": tid, "trigger_type": "queue",
                                "function_id": f"steps::Note::trigger::queue({topic})",
                                "config": {"topic": topic, "metadata": {"name": "Note"}}}))
            frames(ws)
        said = [r.getMessage() for r in caplog.records if "notebook step" in r.getMessage()]
        worker = server.workers[0]["name"]
        assert said == [f"motia_nb engine: {worker}: its step 'Note' has the name of a notebook step, so both run "
                        "(the worker's is 'Note [queue(note)]'); %motia remove Note keeps only the worker's"], said
    finally:
        ws.close()
        server.close()
        remove_step("Note")


def test_a_notebook_step_named_as_a_worker_step_says_it_takes_its_place(capsys):
    # was: silent; the worker's step stopped running (a cell defining a step of that name replaces it)
    import json

    from websockets.sync.client import connect

    from engine_helpers import frames, wait_for
    from motia_nb import step
    from motia_nb.session import get_step, remove_step

    server = engine.serve()
    ws = connect(server.url).__enter__()
    try:
        frames(ws)  # workerregistered
        ws.send(json.dumps({"type": "registerfunction", "id": "steps::Ship::trigger::queue(ship)"}))
        ws.send(json.dumps({"type": "registertrigger", "id": "t1", "trigger_type": "queue",
                            "function_id": "steps::Ship::trigger::queue(ship)",
                            "config": {"topic": "ship", "metadata": {"name": "Ship"}}}))
        frames(ws)
        worker = server.workers[0]["name"]
        assert get_step("Ship").source == f"worker:{worker}"
        capsys.readouterr()

        @step({"name": "Ship", "triggers": [{"type": "queue", "topic": "ship"}]})
        def ship(d):
            pass

        assert capsys.readouterr().err == (f"⚠ step 'Ship' was worker {worker}'s: the notebook's takes its place "
                                           "(the worker's runs no more while the notebook defines it)\n")
    finally:
        ws.close()
        server.close()
        remove_step("Ship")
