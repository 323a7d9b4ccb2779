"""A Motia user scales out to Redis and relies on the state history (SPEC §9).

The same scripts run on a SQLite file and on a real ``redis-server`` and must give the same
``history()``, ``get(at=)``, ``%state restore`` and ``list()`` answers (``at`` and ``pid``
aside: times are each store's clock; seqs are compared, both stores count from 1). Then what
only Redis has: a connection lost between a write running on the server and its reply reaching
the kernel (a write is applied at most once, and an acknowledged one has its history entry).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
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
    a second change ("updated", 1 -> 1), a delete answered ``None`` though it removed the item.
    Once not sent again, a write that may have run unseen is a gap in this kernel's events, as
    an interrupted one is (``missed_changes()``: the live viewer reads the store again)."""
    m = StateManager(proxy.url)
    try:
        m.sync.set("g", "counter", {"n": 0})
        m.sync.set("g", "doomed", 1)
        calls = [
            lambda: m.sync.update("g", "counter", [{"type": "increment", "path": "n", "by": 1}]),
            lambda: m.sync.set("g", "fresh", 1),
            lambda: m.sync.delete("g", "doomed"),
        ]
        for n, call in enumerate(calls, 1):
            proxy.armed.set()
            with pytest.raises(RedisBackendError, match=r"may or may not have been applied$"):
                call()
            assert proxy.dropped.is_set()
            proxy.dropped.clear()
            # it ran, and no event of it reached this kernel: a gap (the viewer reads the store again)
            assert m.backend.missed_changes() == n
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
        assert m.backend.missed_changes() >= 1
        lost = [r for r in results if isinstance(r, BaseException)]
        assert lost and all(isinstance(r, RedisBackendError) for r in lost), results
        assert all(str(r).endswith("may or may not have been applied") for r in lost)
        assert m.sync.get("h", "x") == {"n": 10}
        changes = m.sync.history("h")
        assert [c["new_value"] for c in changes] == [{"n": i} for i in range(1, 11)]
        assert asyncio.run(bump())[-1] == {"new_value": {"n": 15}, "old_value": {"n": 14}}
    finally:
        m.close()


# --------------------------------------------------------------------------- the same script on both
def _outcome(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, dict) and "seq" in v for v in value):
        return [{k: v for k, v in change.items() if k not in ("at", "pid")} for change in value]
    return value


async def _answers(m: StateManager, script: Any) -> list[Any]:
    """Each step's answer: its value, or its error's type and message (store names and the
    Redis wording of a per-group retention masked: README, "on Redis per group")."""
    out: list[Any] = []

    async def ask(label: str, call: Any) -> Any:
        try:
            value = await call
        except Exception as exc:  # the error is the answer to compare
            text = re.sub(r"redis://\S+?/\d+|/\S+\.db\b", "<store>", str(exc)).replace("the group's oldest", "the oldest")
            out.append((label, "error", type(exc).__name__, text))
            return None
        out.append((label, _outcome(value)))
        return value

    await script(m, ask)
    return out


def _differences(db_path: str, redis_url: str, script: Any, **opts: Any) -> list[str]:
    results = []
    for url in (db_path, redis_url):
        m = StateManager(url, **opts)
        try:
            results.append(asyncio.run(_answers(m, script)))
        finally:
            m.close()
    a, b = results
    assert len(a) == len(b), (len(a), len(b))
    return [f"{x[0]}:\n  sqlite: {x[1:]!r:.400}\n  redis:  {y[1:]!r:.400}" for x, y in zip(a, b) if x != y]


ODD_KEYS = ["a:b", "*", "{x}", "{", "}", "with space", "日本語", "state:g", "motia_nb:history:g", "a*b?[c]", "e\u0301", "😀"]
ODD_VALUES: list[Any] = [
    {"deep": json.loads("[" * 300 + "]" * 300)}, "üñí©ødé😀\u2028\x7f", "x" * 200_000, -0.0, 10**400, -(10**400),
    1.5e300, 5e-324, [1, {"a": None}], True, None, 0, 2**63, -(2**63) - 1, {"": {"": ""}},
]
HOT_OPS: list[list[dict[str, Any]]] = [
    [{"type": "set", "path": "a", "value": 1}],
    [{"type": "merge", "value": {"b": {"c": 1}}}],
    [{"type": "merge", "path": ["b"], "value": {"d": 2}}],
    [{"type": "increment", "path": "a", "by": 5}],
    [{"type": "decrement", "path": "a", "by": 2}],
    [{"type": "append", "path": "l", "value": 1}],
    [{"type": "append", "path": "s", "value": "x"}],
    [{"type": "append", "path": ["b", "e"], "value": "y"}],
    [{"type": "remove", "path": "a"}],
    [{"type": "remove", "path": ""}],
    [{"type": "set", "path": "", "value": {"z": -0.0}}],
    [{"type": "increment", "path": "z", "by": 1}],
    [{"type": "increment", "path": "s", "by": 1}],  # refused: nothing recorded
]


async def values_keys_and_ops(m: StateManager, ask: Any) -> None:
    for i, k in enumerate(ODD_KEYS):
        await ask(f"set {k!r}", m.set("g", k, ODD_VALUES[i % len(ODD_VALUES)]))
    for v in ODD_VALUES:
        await ask("set a value", m.set("vals", "v", v))
    for ops in HOT_OPS:
        await ask(f"update {ops}", m.update("u", "item", ops))
    await ask("delete", m.delete("g", "*"))
    await ask("delete again", m.delete("g", "*"))
    await ask("clear", m.clear("g"))
    await ask("clear again", m.clear("g"))
    for k in ODD_KEYS:
        await ask(f"history of {k!r}", m.history("g", k))
        await ask(f"get {k!r}", m.get("g", k))
    for group in ("g", "vals", "u"):
        for limit in (0, 1, 5, 10**6, sys.maxsize):
            await ask(f"history {group} limit={limit}", m.history(group, limit=limit))
    for group, key in (("u", "item"), ("vals", "v"), ("g", "{x}")):
        for c in await m.history(group, key):
            for what, at in (("its seq", c["seq"]), ("the seq before", c["seq"] - 1), ("its time", c["at"])):
                await ask(f"get {group}/{key} at {what} ({c['seq']})", m.get(group, key, at=at))
            await ask(f"history since seq {c['seq']}", m.history(group, since=c["seq"], limit=3))
            await ask(f"history since time {c['seq']}", m.history(group, key, since=c["at"], limit=3))
    await ask("groups", m.list_groups())
    for group in ("g", "vals", "u"):
        await ask(f"list {group}", m.list(group))


async def gathers_and_a_hot_key(m: StateManager, ask: Any) -> None:
    await ask("gather of sets", asyncio.gather(*[m.set("many", f"k{i}", i) for i in range(2500)]))
    await ask("one key incremented in one gather", asyncio.gather(
        *[m.update("many", "hot", [{"type": "increment", "path": "n", "by": 1}]) for _ in range(200)]))
    mixed = []
    for i in range(30):
        mixed += [m.set("mix", "hot", {"i": i}), m.update("mix", "hot", [{"type": "increment", "path": "i", "by": 100}])]
        mixed += [m.delete("mix", "hot")] if i % 7 == 0 else []
        mixed += [m.clear("mix")] if i % 11 == 0 else []
        mixed += [m.set("mix", f"o{i}", i)]
    await ask("one key set, updated, deleted and cleared in one gather", asyncio.gather(*mixed, return_exceptions=True))
    for group, key in (("many", "hot"), ("mix", "hot"), ("many", "k7")):
        changes = await ask(f"history {group}/{key}", m.history(group, key, limit=10**6))
        for c in changes[::13]:
            await ask(f"get {group}/{key} at {c['seq']}", m.get(group, key, at=c["seq"]))
            await ask(f"history {group} since {c['seq']}", m.history(group, since=c["seq"], limit=4))
    await ask("history many", m.history("many", limit=10**6))
    await ask("history mix", m.history("mix", limit=10**6))
    await ask("list mix", m.list("mix"))


@pytest.mark.parametrize("script", [values_keys_and_ops, gathers_and_a_hot_key])
def test_the_same_script_reads_the_same_history_on_redis_and_sqlite(db_path: str, redis_url: str, script: Any) -> None:
    assert _differences(db_path, redis_url, script) == []


async def retention_and_history_off(m: StateManager, ask: Any) -> None:
    # history off, then on again: what was written meanwhile is in the items, not the history
    await ask("set", m.set("off", "a", 1))
    m.history_keep = "off"
    await ask("set while off", m.set("off", "a", 2))
    await ask("update while off", m.update("off", "a", [{"type": "set", "path": "", "value": 3}]))
    await ask("history while off", m.history("off"))
    await ask("get at while off", m.get("off", "a", at=1))
    m.history_keep = "all"
    await ask("history on again", m.history("off"))
    await ask("set on again", m.set("off", "a", 4))
    for c in await m.history("off"):
        await ask(f"at {c['seq']}", m.get("off", "a", at=c["seq"]))
        await ask(f"at {c['seq']} - 1", m.get("off", "a", at=c["seq"] - 1))
    # by count (one group: on Redis the count is the group's, on SQLite the store's)
    m.history_keep = "10"
    for i in range(25):
        await ask("set", m.set("count", "k", i))
    await ask("gather", asyncio.gather(*[m.set("count", "k", i) for i in range(100, 130)]))
    changes = await m.history("count", limit=1000)
    await ask("history by count", m.history("count", limit=1000))
    await ask("history of the key by count", m.history("count", "k", limit=1000))
    await ask("history since an old seq", m.history("count", since=1))
    for s in range(changes[0]["seq"] - 3, changes[-1]["seq"] + 2):
        await ask(f"count at {s}", m.get("count", "k", at=s))
    m.history_keep = "1"
    await ask("history keep 1", m.history("count", limit=1000))
    await ask("set", m.set("count", "k", "last"))
    await ask("history keep 1 after a set", m.history("count", limit=1000))
    # by age (and count): nothing is older than a second once a second has passed
    m.history_keep = "100,1s"
    await ask("set", m.set("age", "a", 1))
    await ask("set", m.set("age", "a", 2))
    first = await m.history("age")
    while (await m.history("age")) == first:  # (each read filters by the age at read time)
        await asyncio.sleep(0.05)
    await ask("history past the age", m.history("age"))
    await ask("get at a change past the age", m.get("age", "a", at=first[0]["seq"]))
    await ask("get at a seq after every change", m.get("age", "a", at=10**9))
    await ask("set", m.set("age", "a", 3))
    await ask("history after a new change", m.history("age"))
    await ask("get at the change before it", m.get("age", "a", at=first[-1]["seq"]))


def test_retention_and_history_off_then_on_answer_the_same_on_redis_and_sqlite(db_path: str, redis_url: str) -> None:
    """(Widening the retention after pruning is left out: what shows then is what each store's
    pruning had deleted yet, SQLite's on a thread once writes pause, Redis's in the writes.)"""
    assert _differences(db_path, redis_url, retention_and_history_off) == []
