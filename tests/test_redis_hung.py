"""A hung Redis server (``kill -STOP``: the socket stays open, nothing answers).

redis-py waits for a reply as long as its socket timeout says: none at all in redis-py 5,
5 s in redis-py 8 (its default, nowhere said by motia_nb). The wait is now ``busy_timeout``
(10 s by default; ``StateManager(url, busy_timeout=)``, ``%config MotiaNB.busy_timeout``),
applied live to the connections already kept; the error names it, and a write says whether it
may have been applied. After ``kill -CONT`` the same manager writes, reads, hears other
processes and files its history again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.errors import StateError
from motia_nb.testing.fixtures import require_binary
from motia_nb.testing.redis_server import RedisServer, running_redis_server

pytestmark = pytest.mark.redis


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A redis-server of this test's own (it is stopped mid-test: not the session's)."""
    binary = require_binary("redis-server", "a server of its own, hung mid-test")
    with running_redis_server(binary) as s:
        yield s
        if s.proc is not None:
            os.kill(s.proc.pid, signal.SIGCONT)  # (a failed test must not leave it stopped: stop() waits for it)


def _timed(call: Any) -> tuple[BaseException | None, float]:
    t0 = time.monotonic()
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        return exc, time.monotonic() - t0
    return None, time.monotonic() - t0


def test_a_hung_server_fails_each_call_after_busy_timeout_and_all_comes_back_after_cont(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert server.proc is not None
    m = StateManager(server.url, busy_timeout=3)
    other = StateManager(server.url)  # another origin: its commits reach m's remote subscriber by pub/sub
    heard: list[Any] = []
    back = threading.Event()

    def on(e: Any) -> None:
        heard.append(e.item_id)
        if e.item_id == "from-other":
            back.set()

    async def aset(v: int) -> Any:
        return await m.set("g", "k", v)

    async def gathered(v: int) -> Any:  # (several at once: the writer task's path; a lone one commits inline)
        got = await asyncio.gather(*(m.set("g", f"k{i}", v) for i in range(3)), return_exceptions=True)
        for r in got:
            if isinstance(r, BaseException):
                raise r
        return got

    try:
        m.subscribe(on, remote=True)
        m.sync.set("g", "k", 1)  # the direct path's connection kept
        asyncio.run(gathered(2))  # the writer task's
        m.busy_timeout = 0.5  # live: the kept connections wait 0.5 s from now on (not 3)
        caplog.set_level(logging.WARNING, logger="motia_nb")
        os.kill(server.proc.pid, signal.SIGSTOP)
        errors = []
        for call in (
            lambda: m.sync.set("g", "k", 3),
            lambda: m.sync.get("g", "k"),
            lambda: asyncio.run(gathered(4)),
            lambda: m.sync.set("g", "k", 5),  # (its connection was dropped: a new one, that hangs too)
        ):
            err, took = _timed(call)
            assert isinstance(err, StateError), err
            assert took < 2.5, (took, err)  # busy_timeout (0.5 s; a new connection's handshake and call: twice)
            assert "\n" not in str(err) and "no answer within 0.5 s (busy_timeout)" in str(err), err
            errors.append(str(err))
        # a sent write whose reply never came may have been applied; a read says nothing of the kind
        assert errors[0].endswith("it may or may not have been applied"), errors[0]
        assert errors[1].startswith("read from Redis at") and "applied" not in errors[1], errors[1]
        assert errors[2].endswith("it may or may not have been applied"), errors[2]
        assert errors[3].endswith(("it may or may not have been applied", "it was not applied")), errors[3]
        os.kill(server.proc.pid, signal.SIGCONT)
        # the same manager goes on: both write paths, reads; the background tasks are alive
        assert m.sync.set("g", "k", 6)["new_value"] == 6
        assert [r["new_value"] for r in asyncio.run(gathered(7))] == [7, 7, 7]
        assert asyncio.run(aset(7))["new_value"] == 7
        assert m.sync.get("g", "k") == 7
        b: Any = m.backend
        for task in (b._writer_task, b._sub_task, b._filer_task):
            assert task is not None and not task.done(), task
        # the subscription lived through the hang (nothing was lost: a stopped server sends nothing)
        assert not [r for r in caplog.records if "lost the Redis event subscription" in r.getMessage()]
        other.sync.set("g", "from-other", 1)
        assert back.wait(10), "another process's write never reached the remote subscriber after CONT"
        # the filer files again once the writes pause (a pass ends after each burst)
        b._filer.passes.clear()
        m.sync.set("g", "k", 8)
        assert b._filer.passes.wait(10), "the history filer made no pass after CONT"
        assert [c["new_value"] for c in m.sync.history("g", "k")][-3:] == [6, 7, 8]
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        other.close()
        m.close()


def test_an_import_whose_transaction_runs_longer_than_busy_timeout_is_waited_for(server: RedisServer) -> None:
    """``write_all`` (an import) is one MULTI/EXEC: the server answers once every set ran
    (~30 µs each), so its reply is waited for busy_timeout plus 0.5 ms a set; with redis-py's
    socket timeout alone a big import failed with 'it may or may not have run'."""
    # 0.3 s, not less: a loaded 2-core host stalls the server's reading of the queued sets (each
    # its own reply) past 0.1 s now and then, which is busy_timeout doing its job, not this test's
    m = StateManager(server.url, busy_timeout=0.3)
    try:
        n = 30_000  # an EXEC of ~1 s here: three times busy_timeout
        results = m.backend.write_all([Write("set", "big", f"k{i}", value_json="1") for i in range(n)])
        assert len(results) == n and m.sync.count("big") == n
    finally:
        m.close()


# --------------------------------------------------------------------------- the subscription's retries
class _Server:
    """A pub/sub that answers the first SUBSCRIBE, drops it, then refuses ``down`` tries."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.subscribes = 0
        self.back = asyncio.Event()

    def pubsub(self) -> "_PubSub":
        return _PubSub(self)


class _PubSub:
    def __init__(self, server: _Server) -> None:
        self.server = server
        self.first = server.subscribes == 0

    async def subscribe(self, channel: str) -> None:
        s = self.server
        s.subscribes += 1
        if not self.first and s.down > 0:
            s.down -= 1
            raise ConnectionError("Connection refused")

    async def get_message(self, timeout: float) -> Any:
        if self.first:  # the subscription is lost at once (the server restarts)
            raise ConnectionError("Connection closed by server")
        self.server.back.set()
        await asyncio.Event().wait()  # back: listens until cancelled

    async def aclose(self) -> None:
        pass


def test_the_event_subscription_retries_soon_and_says_it_lost_it_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """After a server restart the subscription came back up to 5 s after the server did (its
    retries waited 0.1 s doubling to 5 s) and each failed try logged a warning; now the waits
    double from 0.05 s to 1 s (one refused connect a second while the server is down), and the
    loss and the return are logged once each."""
    import types

    from motia_nb.state.backends.redis import pubsub

    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:  # (the retry waits, recorded, not waited)
        slept.append(delay)
        await real_sleep(0)

    fake = types.SimpleNamespace(**{k: getattr(asyncio, k) for k in dir(asyncio) if not k.startswith("__")})
    fake.sleep = sleep
    monkeypatch.setattr(pubsub, "asyncio", fake)
    gaps: list[int] = []
    sub = pubsub.Subscriber("motia_nb:events:0", "me", where="redis://x/0", on_events=lambda e: None, on_gap=lambda: gaps.append(1))
    server = _Server(down=8)

    async def run() -> None:
        subscribed = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(sub.run(server, subscribed))
        await subscribed
        await asyncio.wait_for(server.back.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    caplog.set_level(logging.DEBUG, logger="motia_nb")
    asyncio.run(run())
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]  # (the loss, then eight refused tries)
    assert gaps == [1]
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warned if "lost the Redis event subscription" in w]) == 1, warned
    assert len([w for w in warned if "is back" in w]) == 1, warned
