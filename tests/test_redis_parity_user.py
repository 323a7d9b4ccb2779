"""A user switches a notebook from SQLite to Redis: the same calls give the same answers.

Each test runs one script of state calls on a SQLite file and on a real redis-server and
compares what came back, call by call: the values, or the error's type and message (URLs
and paths masked). History dicts are compared without ``at`` and ``pid``. The shared
contract suite (``test_state_contract.py``, parametrized over backends) checks each backend
against expected answers; this one checks the two against each other over many calls a
user makes, odd names and arguments included, where no expected answer is written down.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from motia_nb.state import StateManager

pytestmark = pytest.mark.redis

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def C(name: str, *args: Any, **kwargs: Any) -> Call:
    return (name, args, kwargs)


def _mask(text: str) -> str:
    return re.sub(r"redis://[\w.]+:\d+/\d+|/\S+\.db\b", "<store>", text)


def _outcome(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return ("frame", list(value.columns), value.astype(str).values.tolist())
    if isinstance(value, list) and value and all(isinstance(v, dict) and "seq" in v for v in value):
        return [{k: v for k, v in change.items() if k not in ("at", "pid")} for change in value]
    return ("ok", value)


def run_script(m: StateManager, calls: list[Call], *, sync: bool) -> list[Any]:
    """Each call's outcome: ``("ok", value)`` or ``("error", type name, message)``."""
    out = []
    for name, args, kwargs in calls:
        try:
            fn = getattr(m.sync, name, None) if sync else None
            value = fn(*args, **kwargs) if fn is not None else asyncio.run(getattr(m, name)(*args, **kwargs))
            out.append(_outcome(value))
        except Exception as exc:  # the error is the outcome to compare
            out.append(("error", type(exc).__name__, _mask(str(exc))))
    return out


def differences(db_path: str, redis_url: str, calls: list[Call], *, sync: bool = True, **opts: Any) -> list[str]:
    results = []
    for url in (db_path, redis_url):
        m = StateManager(url, **opts)
        try:
            results.append(run_script(m, calls, sync=sync))
        finally:
            m.close()
    return [
        f"{name}{args!r:.120}{kwargs or ''}:\n  sqlite: {a!r:.300}\n  redis:  {b!r:.300}"
        for (name, args, kwargs), a, b in zip(calls, *results)
        if a != b
    ]


# --------------------------------------------------------------------------- the scripts
ODD_NAMES = [
    "héllo wörld", "日本語", "with space", " lead", "tab\t", "new\nline", "emoji😀", "'; DROP TABLE state; --",
    "a:b", "state:x", "motia_nb:order:x", "::", "*", "?", "[a]", "\\", "\u200b", "é", "e\u0301", "k" * 20_000,
]


def api_script() -> list[Call]:
    calls = [
        C("set", "g", "a", {"x": 1}), C("set", "g", "b", [1, 2]), C("set", "g", "c", "str"), C("set", "g", "a", {"x": 2}),
        C("get", "g", "a"), C("get", "g", "zz"), C("get", "nogroup", "k"),
        C("list", "g"), C("items", "g"), C("count", "g"), C("count", "nog"), C("list", "nog"), C("items", "nog"),
        C("items", "g", 1, 1), C("items", "g", order="key"), C("items", "g", order="-key"),
        C("items", "g", order="-insertion"), C("items", "g", 5), C("items", "g", 0, 0), C("items", "g", -1),
        C("items", "g", order="bogus"), C("exists", "g", "a"), C("exists", "g", "zz"),
    ]
    for n in ODD_NAMES:
        calls += [C("set", n, n, {"n": n[:40]}), C("get", n, n), C("keys_with_prefix", n, n[:3]), C("count", n)]
    calls += [C("list_groups"), C("group_counts")]
    # bad input: the same error type and message on both
    calls += [
        C("set", "", "k", 1), C("set", "g", "", 1), C("set", "g\x00", "k", 1), C("set", "g", "k\ud800", 1),
        C("set", None, "k", 1), C("set", "g", 3, 1), C("get", "", "k"), C("delete", "", "k"), C("clear", ""),
        C("list", ""), C("count", 5), C("set", "g", "nan", float("nan")), C("set", "g", "inf", float("inf")),
        C("set", "g", "dt", datetime.datetime(2026, 1, 1)), C("set", "g", "set", {1}), C("set", "g", "bytes", b"x"),
        C("set", "g", "nk", {1: 2}), C("set", "g", "obj", object()),
    ]
    # values: big, exact, odd
    big = {"data": ["x" * 1000] * 2000, "n": 2**64 - 1}
    calls += [
        C("set", "big", "big", big), C("get", "big", "big"), C("set", "g", "bigint", 2**200), C("get", "g", "bigint"),
        C("set", "g", "neg0", -0.0), C("get", "g", "neg0"), C("set", "g", "float", 1e308), C("get", "g", "float"),
        C("set", "g", "uni", "\u2028\u2029\x7f\x01"), C("get", "g", "uni"), C("set", "g", "null", None),
        C("exists", "g", "null"),
    ]
    # update: every op type, good and bad
    def u(key: str, ops: Any) -> Call:
        return C("update", "u", key, ops)

    calls += [
        u("m", [{"type": "set", "path": "a", "value": 1}]),
        u("m", [{"type": "increment", "path": "a", "by": 2}]),
        u("m", [{"type": "decrement", "path": "a", "by": 5}]),
        u("m", [{"type": "set", "path": "fl", "value": 1.5}, {"type": "increment", "path": "fl", "by": 1}]),
        u("m", [{"type": "merge", "value": {"m": 1, "n": {"o": 2}}}]),
        u("m", [{"type": "merge", "path": ["n"], "value": {"p": 3}}]),
        u("m", [{"type": "merge", "path": ["q", "r"], "value": {"s": 3}}]),
        u("m", [{"type": "append", "path": "arr", "value": 1}, {"type": "append", "path": "arr", "value": [2]}]),
        u("m", [{"type": "append", "path": "str", "value": "ab"}, {"type": "append", "path": "str", "value": "cd"}]),
        u("m", [{"type": "append", "path": ["nest", "leaf"], "value": "x"}]),
        u("m", [{"type": "remove", "path": "a"}, {"type": "remove", "path": "missing"}]),
        u("m", [{"type": "set", "path": "shipping.city", "value": "X"}]),
        u("m", [{"type": "set", "path": ["x", "y"], "value": 1}, {"type": "increment", "path": ["x", "z"], "by": 1}]),
        u("m", [{"type": "increment", "path": "str", "by": 1}]),
        u("m", [{"type": "increment", "path": "a", "by": 1.5}]),
        u("m", [{"type": "increment", "path": "a"}]),
        u("m", [{"type": "bogus", "path": "a"}]),
        u("m", [{"type": "set", "value": 1}]),
        u("m", [{"type": "set", "path": "a", "valeu": 1}]),
        u("m", [{"type": "merge", "value": 5}]),
        u("m", [{"type": "merge", "path": ["__proto__"], "value": {}}]),
        u("m", [{"type": "append", "path": "str", "value": 5}]),
        u("m", "notalist"), u("m", [5]), u("m", []), u("m", None),
        u("m", [{"type": "set", "path": "big", "value": 2**63 - 1}, {"type": "increment", "path": "big", "by": 1}]),
        C("get", "u", "m"),
        u("r1", [{"type": "set", "path": "", "value": 5}]), u("r1", [{"type": "increment", "path": "", "by": 1}]),
        u("r2", [{"type": "increment", "path": "", "by": 1}]), u("r3", [{"type": "append", "path": "", "value": "x"}]),
        u("r4", [{"type": "remove", "path": ""}]), u("r5", [{"type": "set", "path": "a"}]),
        u("r6", [{"type": "append", "path": "", "value": [1]}]), u("r6", [{"type": "append", "path": "", "value": [2]}]),
        C("set", "u", "s1", "str"), u("s1", [{"type": "set", "path": "a", "value": 1}]),
        C("items", "u"),
    ]
    # delete, clear
    calls += [
        C("delete", "g", "a"), C("delete", "g", "a"), C("delete", "nog", "x"),
        C("clear", "g"), C("clear", "g"), C("clear", "nog"), C("list_groups"),
    ]
    # keys with prefixes, key search, keyset pages
    calls += [C("set", "kp", f"item-{i:03d}", i) for i in range(30)]
    calls += [C("set", "kp", k, 1) for k in ("Item", "item", "ítem", "item-\uffff", "item-😀")]
    calls += [
        C("keys_with_prefix", "kp", "item-00"), C("keys_with_prefix", "kp", ""), C("keys_with_prefix", "kp", "item", 5),
        C("keys_with_prefix", "kp", "item", 0), C("keys_with_prefix", "kp", "ITEM"), C("keys_with_prefix", "kp", "item-😀"),
        C("keys_with_prefix", "kp", "item-\uffff"), C("keys_with_prefix", "nog", "x"), C("keys_with_prefix", "kp", "*"),
        C("keys_with_prefix", "kp", "[i]"), C("keys_with_prefix", "kp", "item?"), C("keys_with_prefix", "kp", 5),
        C("keys_with_prefix", "kp", "x", -1), C("keys_with_prefix", "kp", "x", True),
        C("keys_containing", "kp", "tem-01"), C("keys_containing", "kp", "TEM"), C("keys_containing", "kp", "*"),
        C("items_after", "kp", "item-005", 3), C("items_after", "kp", "nope", 3),
        C("items_after", "kp", "item-005", 3, order="key"), C("rank", "kp", "item-005"), C("rank", "kp", "nope"),
        C("frame", "kp"), C("frame", "u"), C("frame", "nog"), C("frame", "u", flatten=False),
    ]
    # history
    calls += [
        C("history", "u", "m"), C("history", "u"), C("history", "g", limit=3), C("history", "g", since=3, limit=2),
        C("history", "u", "m", limit=0), C("history", "", None), C("history", "u", "m", since="x"),
        C("history", "nog"), C("history", "u", "nokey"), C("get", "u", "m", at=5), C("get", "u", "m", at=10**9),
        C("get", "u", "m", at=0), C("get", "u", "m", at=-1), C("get", "u", "m", at="x"),
        C("get", "u", "m", at=datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)),
        C("get", "u", "m", at=datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)),
    ]
    return calls


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_every_call_of_the_api_answers_the_same_on_redis_and_sqlite(db_path: str, redis_url: str, sync: bool) -> None:
    assert differences(db_path, redis_url, api_script(), sync=sync) == []


# (a small count is left out: README, "on Redis per group", and pruning runs in the background)
@pytest.mark.parametrize("keep", ["100000", "off", "all"])
def test_history_calls_answer_the_same_under_every_retention(db_path: str, redis_url: str, keep: str) -> None:
    before = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    calls = [
        C("set", "g", "a", 1), C("set", "g", "a", 2), C("set", "h", "a", 3), C("delete", "g", "a"),
        *[C("set", "many", f"k{i % 3}", i) for i in range(10)],
        C("history", "g"), C("history", "h"), C("history", "g", "a"), C("history", "g", since=1),
        C("history", "g", since=before), C("history", "many", limit=4), C("history", "many", since=8, limit=3),
        C("history", "many", "k1", limit=2), C("get", "g", "a", at=1), C("get", "g", "a", at=2),
        C("get", "g", "a", at=3), C("get", "g", "a", at=0), C("get", "many", "k1", at=12), C("get", "g", "a", at=before),
        C("history", "g", since=True), C("history", "g", limit=True), C("get", "g", "a", at=2.0),
    ]
    assert differences(db_path, redis_url, calls, history_keep=keep) == []


# --------------------------------------------------------------------------- defects found
HUGE = [sys.maxsize, sys.maxsize - 1, 2**63, 2**64, 10**30]


def test_huge_limits_offsets_and_seqs_answer_the_same_on_both(db_path: str, redis_url: str) -> None:
    """``limit=sys.maxsize`` ("no limit") and seqs past any change: Redis's scripts failed
    ("value is not an integer or out of range": Lua read 2**63 - 1 as a double), SQLite
    raised a bare OverflowError beyond its INTEGER, and the two disagreed on which failed."""
    calls = [C("set", "g", f"k{i}", i) for i in range(5)]
    for n in HUGE:
        calls += [
            C("items", "g", 0, n), C("items", "g", 1, n), C("items", "g", n), C("items", "g", n, n),
            C("keys_with_prefix", "g", "k", n), C("keys_containing", "g", "k", n), C("items_after", "g", "k1", n),
            C("items_after", "g", None, n), C("search_keys", "g", "k", n), C("history", "g", limit=n),
            C("history", "g", since=n), C("history", "g", "k1", since=n), C("get", "g", "k1", at=n),
        ]
    assert differences(db_path, redis_url, calls, sync=False) == []


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
@pytest.mark.parametrize("n", HUGE)
def test_a_huge_limit_is_no_limit_and_a_huge_seq_is_after_every_change(
    db_path: str, redis_url: str, backend: str, n: int
) -> None:
    m = StateManager(db_path if backend == "sqlite" else redis_url)
    try:
        s = m.sync
        for i in range(5):
            s.set("g", f"k{i}", i)
        keys = ["k0", "k1", "k2", "k3", "k4"]
        assert s.keys_with_prefix("g", "k", n) == keys
        assert [k for k, _ in s.items("g", 1, n)] == keys[1:]
        assert s.items("g", n) == []
        assert [k for k, _ in asyncio.run(m.items_after("g", "k1", n))] == keys[2:]
        assert asyncio.run(m.keys_containing("g", "k", n)) == keys
        assert [c["key"] for c in s.history("g", limit=n)] == keys
        assert s.history("g", since=n) == []
        assert s.get("g", "k3", at=n) == 3
    finally:
        m.close()



# --------------------------------------------------------------------------- a gap in Redis's events
def _wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _kill_subscriptions(raw: Any) -> None:
    """What a restarted or unreachable server does to the event subscription: drop it."""
    assert raw.client_kill_filter(_type="pubsub") >= 1


def test_a_lost_event_subscription_counts_as_missed_changes(redis_manager: StateManager, redis_client: Any) -> None:
    backend = redis_manager.backend
    assert backend.missed_changes() == 0
    unsubscribe = redis_manager.subscribe(lambda e: None, remote=True)
    try:
        _kill_subscriptions(redis_client)
        _wait_until(lambda: backend.missed_changes() == 1, 10, "the subscription to come back")
    finally:
        unsubscribe()


def test_the_live_viewer_catches_up_after_the_redis_subscription_comes_back(
    redis_manager: StateManager, redis_client: Any
) -> None:
    """On SQLite the live viewer never misses another process's change (the follower reads the
    changelog past its cursor). On Redis, changes made while the event subscription was down
    (a restarted server) publish nothing this process hears: the viewer refreshed on the gap's
    token bump but, with no event for the group, showed the page it had, stale until Refresh."""
    from motia_nb.notebook.viewer import viewer

    m = redis_manager
    for i in range(5):
        m.sync.set("orders", f"o{i}", i)
    v = viewer("orders", manager=m, poll_interval=0.05, debounce=0.01)
    try:
        assert [k for _, k in v.items.options] == [f"o{i}" for i in range(5)]
        # changes no event reports (as another client's while the subscription was down)
        redis_client.hdel("state:orders", "o0", "o1")
        redis_client.hset("state:users", "alice", '{"name": "Alice"}')
        _kill_subscriptions(redis_client)
        _wait_until(lambda: [k for _, k in v.items.options] == ["o2", "o3", "o4"], 10, "the viewer to show the group as it is")
        _wait_until(lambda: "users" in [g for _, g in v.groups.options], 10, "the viewer to list the new group")
    finally:
        v.close()


# --------------------------------------------------------------------------- steps
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_an_async_handler_may_write_with_state_manager_sync_on_both(db_path: str, redis_url: str, backend: str) -> None:
    """A ``%state`` magic, a viewer edit or a plain ``state_manager.sync`` call runs the async
    handlers it triggers on motia_nb's loop thread. There, on Redis, a handler's
    ``state_manager.sync.set`` was refused ("cannot be made synchronously ... from the thread
    that commits writes"): that thread is the Redis writer's. SQLite's writer has a thread of
    its own, so the same notebook worked on SQLite and broke when switched to Redis."""
    from motia_nb.session import Session
    from motia_nb.steps import queue, state

    s = Session(db_path if backend == "sqlite" else redis_url)
    m = s.state_manager
    failures: list[Any] = []
    try:

        @s.step({"name": "OnOrder", "triggers": [state(condition=lambda e: e.group_id == "orders")]})
        async def on_order(event: Any, ctx: Any) -> None:
            await ctx.state.update("stats", "orders", [{"type": "increment", "path": "n", "by": 1}])
            try:
                m.sync.set("audit", event.item_id, {"seen": True})  # a plain call, as in a script
            except Exception as exc:  # the test's observable: the step's own error
                failures.append(exc)
            await ctx.enqueue({"topic": "shipped", "data": {"id": event.item_id}})

        @s.step({"name": "Ship", "triggers": [queue("shipped")]})
        async def ship(data: Any, ctx: Any) -> None:
            try:
                m.sync.update("audit", data["id"], [{"type": "set", "path": "shipped", "value": True}])
            except Exception as exc:
                failures.append(exc)

        m.sync.set("orders", "o1", {"total": 5})  # a blocking call: the handlers run on motia_nb's loop

        async def awaited() -> None:  # an awaited one: they run on the caller's loop
            await m.set("orders", "o2", {"total": 7})

        asyncio.run(awaited())
        assert failures == []
        assert m.sync.items("audit") == [("o1", {"seen": True, "shipped": True}), ("o2", {"seen": True, "shipped": True})]
        assert m.sync.get("stats", "orders") == {"n": 2}
    finally:
        s.close()


# --------------------------------------------------------------------------- a Redis password
@pytest.fixture
def password_url(redis_client: Any, redis_url: str) -> Any:
    """A URL that logs in as a user with a password (an ACL user: the default one is untouched)."""
    redis_client.acl_setuser("alice", enabled=True, passwords=["+s3cret"], keys=["*"], channels=["*"], commands=["+@all"])
    try:
        yield redis_url.replace("redis://", "redis://alice:s3cret@")
    finally:
        redis_client.acl_deluser("alice")


def test_a_redis_password_never_shows_in_what_a_notebook_keeps(ip: Any, fresh_db: str, password_url: str) -> None:
    """Errors named the store without its password (``redis://alice:***@…``), but ``%state use``
    printed it, the viewer's title (widget state saved in the .ipynb) and repr held it, and so
    did the "history is off" and "was closed" errors. A SQLite path holds no secret; switching
    to a password-protected Redis put one in the notebook's outputs."""
    from motia_nb.notebook.viewer import viewer
    from motia_nb.state.backends import open_backend
    from motia_nb.state.backends.base import Write

    shown: list[str] = []
    for cell in (f"%state use {password_url}", "%state use", '%state set g k {"n": 1}'):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            res = ip.run_cell(cell, store_history=False)
        assert res.success, res.error_in_exec
        shown.append(out.getvalue())
    assert "alice:***@" in shown[0] and "alice:***@" in shown[1]
    v = viewer("g", live=False)
    try:
        shown += [v.title.value, repr(v)]
    finally:
        v.close()
    from motia_nb.session import Session

    session = Session(password_url)
    try:
        shown.append(repr(session))
    finally:
        session.close()
    m = StateManager(password_url, history_keep="off")
    try:
        with pytest.raises(Exception) as off:
            m.sync.get("g", "k", at=1)
        shown.append(str(off.value))
    finally:
        m.close()
    b = open_backend(password_url)
    b.open()
    b.close()
    with pytest.raises(Exception) as closed:
        b.submit(Write("set", "g", "k", value_json="1")).result()
    shown.append(str(closed.value))
    assert all("s3cret" not in text for text in shown), shown
    assert all("alice:***@" in text for text in shown[3:]), shown


# --------------------------------------------------------------------------- values another tool wrote
def test_overwriting_a_value_another_tool_wrote_keeps_the_groups_history_readable(
    redis_manager: StateManager, redis_client: Any
) -> None:
    """The error for a value that is not JSON says "Overwrite it with set() or delete it". Doing
    so recorded the bad text as the change's old value, and from then on ``history()`` of the
    whole group (``%state history``, the viewer's History button) failed with a bare
    JSONDecodeError naming nothing. The change reads as its event did: the old text as text."""
    from motia_nb.state.errors import StoredValueError

    m = redis_manager
    m.sync.set("g", "ok", {"n": 1})
    redis_client.hset("state:g", "plain", "hello")
    redis_client.hset("state:g", "huge", "1e400")
    with pytest.raises(StoredValueError, match="'g'/'plain'"):
        m.sync.get("g", "plain")
    events: list[Any] = []
    m.subscribe(events.append)
    assert m.sync.set("g", "plain", 1) == {"new_value": 1, "old_value": "hello"}
    assert m.sync.delete("g", "huge") == "1e400"  # text, as for any value that is not JSON (it read as inf)
    changes = m.sync.history("g")
    assert [(c["key"], c["old_value"], c["new_value"]) for c in changes] == [
        ("ok", None, {"n": 1}), ("plain", "hello", 1), ("huge", "1e400", None),
    ]
    assert [(e.old_value, e.new_value) for e in events] == [("hello", 1), ("1e400", None)]
    assert asyncio.run(m.history("g", "plain")) == changes[1:2]
    # the value as it was then is read as strictly as get() reads one now
    with pytest.raises(StoredValueError, match="'g'/'plain'"):
        m.sync.get("g", "plain", at=changes[0]["seq"])
    assert m.sync.get("g", "plain", at=changes[1]["seq"]) == 1


def test_key_searches_never_name_a_key_another_tool_removed(redis_manager: StateManager, redis_client: Any) -> None:
    """A running Motia deployment adds and removes items of a group (HSET / HDEL on
    ``state:<group>``). The key index (prefix completion, go to key, key search) trusted itself
    while it held as many keys as the hash: one key added and one removed by the engine
    between two motia_nb writes, and ``keys_with_prefix`` named the removed key (``%state get``
    of it: null) and never the added one, also after later motia_nb writes. On SQLite every
    search reads the table itself."""
    m = redis_manager
    for i in range(5):
        m.sync.set("jobs", f"job-{i}", i)
    assert m.sync.keys_with_prefix("jobs", "job") == [f"job-{i}" for i in range(5)]
    redis_client.hset("state:jobs", "job-7", "7")  # the engine: one job in, one out
    redis_client.hdel("state:jobs", "job-1")
    truth = ["job-0", "job-2", "job-3", "job-4", "job-7"]
    assert m.sync.keys_with_prefix("jobs", "job") == truth
    assert asyncio.run(m.keys_containing("jobs", "-")) == truth
    m.sync.set("jobs", "job-0", 0)  # a motia_nb write: the index is right from here on
    assert m.sync.keys_with_prefix("jobs", "job-1") == []
    assert m.sync.keys_with_prefix("jobs", "job-7") == ["job-7"]
    assert asyncio.run(m.keys_containing("jobs", "7")) == ["job-7"]


def test_a_key_search_whose_answer_holds_a_removed_key_answers_without_it(
    redis_manager: StateManager, redis_client: Any
) -> None:
    m = redis_manager
    for i in range(5):
        m.sync.set("jobs", f"job-{i}", i)
    redis_client.hset("state:jobs", "zz-new", "1")
    redis_client.hdel("state:jobs", "job-3")
    assert asyncio.run(m.keys_containing("jobs", "job-")) == ["job-0", "job-1", "job-2", "job-4"]
    assert asyncio.run(m.keys_containing("jobs", "new")) == ["zz-new"]


# --------------------------------------------------------------------------- one item's history
def test_one_items_history_is_filtered_on_the_server_not_sent_whole(redis_manager: StateManager) -> None:
    """A group's changelog is one stream on Redis: an item's history (``history(g, key)``, the
    viewer's History button, ``get(at=)``) read the group's every change into Python, 500 a round
    trip: about a second for one key among 40,000 changes, where SQLite reads an index (7 ms).
    The item's entries are now picked on the server, 5,000 entries a call."""
    m = redis_manager

    async def fill() -> None:
        for b in range(6):
            await asyncio.gather(*[m.set("g", f"other-{i}", i) for i in range(b * 1000, (b + 1) * 1000)])
            await m.set("g", "mine", b)

    asyncio.run(fill())
    backend = m.backend
    backend.file_history_of("g")  # (the item index is filed off the write path: a read right after
    # the writes files the rest first, ~2,000 changes a call, which sends no change back either)
    calls: list[Any] = []
    real = backend._call

    def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return real(fn, *args, **kwargs)

    backend._call = counting  # type: ignore[method-assign]
    try:
        changes = m.sync.history("g", "mine")
        assert [c["new_value"] for c in changes] == [0, 1, 2, 3, 4, 5]
        assert len(calls) <= 2, f"{len(calls)} round trips for one item's history of 6,006 changes"
        calls.clear()
        assert m.sync.get("g", "mine", at=changes[2]["seq"] + 1) == 2
        assert m.sync.history("g", "nobody") == []
        assert len(calls) <= 4
    finally:
        del backend._call


@pytest.mark.parametrize("where", ["sqlite", "redis-local", "redis-remote"])
def test_the_sync_sdk_in_an_async_handler_never_hangs(db_path: str, redis_url: str, where: str) -> None:
    """SPEC §7: the SDK's synchronous ``stateManager`` works from async handlers. Such a call runs
    on a helper thread's loop while motia_nb's loop thread (where a magic's, a viewer edit's or a
    ``.sync`` call's handlers run) waits for it. On a Redis on another machine (no lone write
    commits on the caller's thread there) its write went to the Redis writer task, which runs on
    that very waiting thread: the cell hung for good. On SQLite (its writer has its own thread)
    and a local Redis it answered."""
    import motia_nb.motia as sdk
    from motia_nb.session import Session
    from motia_nb.steps import state

    s = Session(db_path if where == "sqlite" else redis_url)
    m = s.state_manager
    if where == "redis-remote":
        m.backend.direct_reads = False  # as for any host that is not this machine's loopback
    try:

        @s.step({"name": "Audit", "triggers": [state(condition=lambda e: e.group_id == "orders")]})
        async def audit(event: Any, ctx: Any) -> None:
            sdk.stateManager.set("audit", event.item_id, {"seen": True})
            sdk.stateManager.update("audit", event.item_id, [{"type": "increment", "path": "n", "by": 1}])

        done: dict[str, Any] = {}
        writer = threading.Thread(target=lambda: done.setdefault("r", m.sync.set("orders", "o1", 1)), daemon=True)
        writer.start()
        writer.join(30)
        assert not writer.is_alive(), "the write that triggered the step never returned"
        assert done["r"] == {"new_value": 1, "old_value": None}
        assert m.sync.get("audit", "o1") == {"seen": True, "n": 1}
    finally:
        s.close()
