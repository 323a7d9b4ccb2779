"""A Motia user scales out to Redis and relies on the state history (SPEC §9).

The same scripts run on a SQLite file and on a real ``redis-server`` and must give the same
``history()``, ``get(at=)``, ``%state restore`` and ``list()`` answers (``at`` and ``pid``
aside: times are each store's clock; seqs are compared, both stores count from 1). Then what
only Redis has: a connection lost between a write running on the server and its reply reaching
the kernel (a write is applied at most once, and an acknowledged one has its history entry).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.redis import RedisBackendError

pytestmark = pytest.mark.redis


# --------------------------------------------------------------------------- a reply lost on the way
class LostReplyProxy:
    """A TCP proxy on 127.0.0.1 in front of a Redis server. Armed, it lets the next ``EVALSHA``
    (a write script) through to the server, which runs it, then closes that client connection
    instead of relaying the reply: what a network blip or a dropped client does to a write."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self._socks += [client, server]
            state = {"drop": False}
            threading.Thread(target=self._pipe, args=(client, server, False, state), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True, state), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, replies: bool, state: dict[str, bool]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not replies and self.armed.is_set() and b"EVALSHA" in data:
                    self.armed.clear()
                    state["drop"] = True  # set before sending: its reply cannot come back first
                if replies and state["drop"]:
                    self.dropped.set()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        for s in self._socks:
            s.close()


@pytest.fixture
def proxy(redis_server: Any, redis_url: str) -> Any:
    p = LostReplyProxy(redis_server.port)
    yield p
    p.close()


def _changes(m: StateManager, group: str) -> list[tuple[str, str, Any, Any]]:
    return [(c["event_type"], c["key"], c["old_value"], c["new_value"]) for c in m.sync.history(group)]


def test_a_blocking_write_whose_reply_is_lost_is_applied_once_and_says_it_may_have_been(proxy: Any) -> None:
    """A blocking write's connection lost after the server ran the script, before its reply
    came back: the write was sent again on a new connection. An increment by 1 added 2 (two
    history entries), a set of a new item answered ``old_value`` = its own value and recorded
    a second change ("updated", 1 -> 1), a delete answered ``None`` though it removed the item."""
    m = StateManager(proxy.url)
    try:
        m.sync.set("g", "counter", {"n": 0})
        m.sync.set("g", "doomed", 1)
        calls = [
            lambda: m.sync.update("g", "counter", [{"type": "increment", "path": "n", "by": 1}]),
            lambda: m.sync.set("g", "fresh", 1),
            lambda: m.sync.delete("g", "doomed"),
        ]
        for call in calls:
            proxy.armed.set()
            with pytest.raises(RedisBackendError, match=r"may or may not have been applied$"):
                call()
            assert proxy.dropped.is_set()
            proxy.dropped.clear()
        # each ran once on the server, and each has its one history entry
        assert m.sync.get("g", "counter") == {"n": 1}
        assert m.sync.items("g") == [("counter", {"n": 1}), ("fresh", 1)]
        assert _changes(m, "g") == [
            ("state:created", "counter", None, {"n": 0}),
            ("state:created", "doomed", None, 1),
            ("state:updated", "counter", {"n": 0}, {"n": 1}),
            ("state:created", "fresh", None, 1),
            ("state:deleted", "doomed", 1, None),
        ]
        # and the next write goes through on a new connection
        assert m.sync.set("g", "fresh", 2) == {"new_value": 2, "old_value": 1}
    finally:
        m.close()


def test_a_gather_whose_replies_are_lost_is_applied_once(proxy: Any) -> None:
    """The same for the writer task's pipeline: the calls not answered yet went again through
    redis-py's pipeline; five gathered increments by 1 added 10."""
    m = StateManager(proxy.url)

    async def bump() -> list[Any]:
        return await asyncio.gather(
            *[m.update("h", "x", [{"type": "increment", "path": "n", "by": 1}]) for _ in range(5)], return_exceptions=True
        )

    m.backend.direct_reads = False  # as on a Redis on another host: every write goes to the writer task
    try:
        assert not any(isinstance(r, BaseException) for r in asyncio.run(bump()))
        proxy.armed.set()
        results = asyncio.run(bump())
        assert proxy.dropped.is_set()
        lost = [r for r in results if isinstance(r, BaseException)]
        assert lost and all(isinstance(r, RedisBackendError) for r in lost), results
        assert all(str(r).endswith("may or may not have been applied") for r in lost)
        assert m.sync.get("h", "x") == {"n": 10}
        changes = m.sync.history("h")
        assert [c["new_value"] for c in changes] == [{"n": i} for i in range(1, 11)]
        assert asyncio.run(bump())[-1] == {"new_value": {"n": 15}, "old_value": {"n": 14}}
    finally:
        m.close()
