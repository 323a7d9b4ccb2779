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
