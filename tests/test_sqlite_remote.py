"""Other processes' changes on SQLite (SPEC §9): remote subscribers and remote triggers.

Two managers on one file stand for two processes (each backend has its own origin;
the follower skips only its own); one test uses a real subprocess. Two real
kernels: tests/test_sqlite_kernels.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from motia_nb.session import Session
from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import SQLiteBackend
from motia_nb.state.history import Retention
from motia_nb.steps.triggers import state


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def followers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "motia-nb-sqlite-follower" and t.is_alive()]


@pytest.fixture
def pair(db_path: str) -> Iterator[tuple[StateManager, StateManager]]:
    a, b = StateManager(db_path), StateManager(db_path)
    yield a, b
    a.close()
    b.close()


def test_a_remote_subscriber_gets_the_other_managers_changes_not_its_own(pair: tuple[StateManager, StateManager]) -> None:
    a, b = pair
    remote: list[tuple[str, str, Any]] = []
    local: list[str] = []
    a.sync.set("g", "before", 0)  # committed before anyone listened: never replayed
    b.sync.count("g")
    before = len(followers())
    unsubscribe = a.subscribe(lambda e: remote.append((e.event_type, e.item_id, e.new_value)), remote=True)
    a.subscribe(lambda e: local.append(e.item_id))
    assert len(followers()) == before + 1  # a follows the changelog now
    b.sync.set("g", "k", {"n": 1})
    b.sync.update("g", "k", [{"type": "increment", "path": "n", "by": 1}])
    b.sync.delete("g", "k")
    a.sync.set("g", "mine", 1)
    wait_until(lambda: len(remote) >= 4, what="b's changes")
    time.sleep(0.2)
    assert [r for r in remote if r[1] == "k"] == [
        ("state:created", "k", {"n": 1}),
        ("state:updated", "k", {"n": 2}),
        ("state:deleted", "k", None),
    ]
    # a remote subscriber hears its own process's commits once (locally, not again from the changelog)
    assert [r for r in remote if r[1] != "k"] == [("state:created", "mine", 1)]
    assert local == ["mine"]
    unsubscribe()
    assert len(followers()) == before  # nobody wants remote changes: the follower stopped
    b.sync.set("g", "late", 1)
    time.sleep(0.2)
    assert len(remote) == 4


def test_a_remote_subscriber_runs_in_the_context_it_subscribed_in(pair: tuple[StateManager, StateManager]) -> None:
    # In a kernel the context routes output to a cell: a remote subscriber that printed wrote
    # into whichever cell was running when the other process's change arrived (run_remote_triggers
    # already ran in the context of the call that turned it on). A ContextVar stands for the cell.
    import contextvars

    a, b = pair
    cell: contextvars.ContextVar[str] = contextvars.ContextVar("cell", default="none")
    seen: list[tuple[str, str]] = []
    token = cell.set("the subscribing cell")
    a.subscribe(lambda e: seen.append((e.item_id, cell.get())), remote=True)
    cell.reset(token)
    cell.set("a later cell")
    b.sync.set("g", "theirs", 1)
    a.sync.set("g", "mine", 1)  # a local change runs in the writer's context, as before
    wait_until(lambda: len(seen) >= 2, what="both changes")
    assert sorted(seen) == [("mine", "a later cell"), ("theirs", "the subscribing cell")]


def test_remote_triggers_run_this_sessions_steps_for_another_processes_write(db_path: str) -> None:
    a = StateManager(db_path)
    session = Session(a)
    hits: list[tuple[str, Any, int]] = []

    @session.step({"name": "OnOrder", "triggers": [state(lambda e: e.group_id == "orders")]})
    def on_order(event: Any) -> None:
        hits.append((event.event_type, event.new_value, os.getpid()))

    a.run_remote_triggers(True)
    writer = textwrap.dedent(
        """
        import sys
        from motia_nb.state import StateManager
        sm = StateManager(sys.argv[1])
        sm.sync.set("orders", "o1", {"total": 5})
        sm.sync.set("other", "x", 1)
        sm.sync.update("orders", "o1", [{"type": "increment", "path": "total", "by": 2}])
        sm.close()
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        subprocess.run([sys.executable, "-c", writer, db_path], check=True, env=env, timeout=60)
        wait_until(lambda: len(hits) >= 2, what="the step to run for the other process's writes")
        time.sleep(0.2)
        assert hits == [("state:created", {"total": 5}, os.getpid()), ("state:updated", {"total": 7}, os.getpid())]
        a.run_remote_triggers(False)
        subprocess.run([sys.executable, "-c", writer.replace('"o1"', '"o2"'), db_path], check=True, env=env, timeout=60)
        time.sleep(0.3)
        assert len(hits) == 2
    finally:
        a.close()


def test_with_history_off_remote_changes_stay_unavailable_with_a_clear_message(db_path: str) -> None:
    sm = StateManager(db_path)
    try:
        assert sm.backend.publishes_remote is True
        sm.backend.set_history_keep(Retention.parse("off"))
        assert sm.backend.publishes_remote is False
        with pytest.raises(NotImplementedError, match="does not publish changes between processes"):
            sm.run_remote_triggers(True)
    finally:
        sm.close()
    mem = StateManager(":memory:")
    try:
        assert mem.backend.publishes_remote is False  # no other process can share it
        with pytest.raises(NotImplementedError, match="does not publish"):
            mem.run_remote_triggers(True)
    finally:
        mem.close()


def test_turning_history_off_under_remote_listeners_says_they_stop_hearing(db_path: str) -> None:
    # `%config MotiaNB.history_keep = 'off'` on a running session with a remote subscriber (or
    # remote triggers) stopped the follower without a word: other kernels' changes just stopped
    import warnings

    sm = StateManager(db_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sm.history_keep = "1000"  # nobody listens remotely: nothing to say
            sm.history_keep = "off"
            sm.history_keep = "all"
        sm.subscribe(lambda e: None, remote=True)
        with pytest.warns(UserWarning, match=r"history is off, so this kernel's remote subscribers .* hear no change"):
            sm.history_keep = "off"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sm.history_keep = "off"  # already off: said once
            sm.history_keep = "7d"  # on again: the follower is back
        assert followers()
    finally:
        sm.close()


def test_no_follower_without_remote_listeners_and_none_after_close(db_path: str) -> None:
    before = len(followers())
    b = SQLiteBackend(db_path)
    b.open()
    try:
        assert len(followers()) == before
        got: list[Any] = []
        b.add_remote_listener(got.extend)
        assert len(followers()) == before + 1
    finally:
        b.close()
    wait_until(lambda: len(followers()) == before, what="the follower to stop at close")


def test_another_processes_separate_writes_run_remote_triggers_each_under_its_own_trace(db_path: str) -> None:
    # The follower read several of another process's writes at once and handed them over as
    # one batch: the steps they triggered all ran in ONE trace, as if one write had made them.
    a = StateManager(db_path)
    session = Session(a)
    hits: list[tuple[str, str]] = []
    done = threading.Event()

    @session.step({"name": "OnOrder", "triggers": [state(lambda e: e.group_id == "orders")]})
    def on_order(event: Any, ctx: Any) -> None:
        hits.append((event.item_id, ctx.trace_id))
        if len(hits) == 5:
            done.set()

    a.run_remote_triggers(True)
    writer = textwrap.dedent(
        """
        import asyncio, sys
        from motia_nb.state import StateManager
        from motia_nb.state.cause import acting_as
        sm = StateManager(sys.argv[1])
        with acting_as("Checkout", "trace-1"):
            sm.sync.set("orders", "o1", 1)
        with acting_as("Refund", "trace-2"):
            sm.sync.set("orders", "o2", 2)
        sm.sync.set("orders", "o3", 3)
        async def both():
            await asyncio.gather(sm.set("orders", "o4", 4), sm.set("orders", "o5", 5))
        asyncio.run(both())
        sm.close()
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        follower = a.backend._follower  # type: ignore[attr-defined]
        assert follower is not None
        with follower.poll_lock:  # the follower reads the four writes in one poll, once they are all in
            subprocess.run([sys.executable, "-c", writer, db_path], check=True, env=env, timeout=60)
        assert done.wait(10), f"the steps ran for {hits}"
        assert [k for k, _ in hits] == ["o1", "o2", "o3", "o4", "o5"]
        traces = dict(hits)
        assert len({traces["o1"], traces["o2"], traces["o3"], traces["o4"]}) == 4  # one trace a write
        assert traces["o4"] == traces["o5"]  # a gather's sets: one write (one record), one trace
        # a write with a trace id runs the triggers under it (tests/test_remote_trace.py)
        assert (traces["o1"], traces["o2"]) == ("trace-1", "trace-2") and traces["o3"] is not None
        changes = a.sync.history("orders")
        assert [(c["cause"], c["trace_id"]) for c in changes[:3]] == [("Checkout", "trace-1"), ("Refund", "trace-2"), ("cell", None)]
    finally:
        a.close()


def test_a_remote_subscription_on_memory_is_refused_as_remote_triggers_are() -> None:
    # subscribe(fn, remote=True) on ':memory:' was accepted without a word, although no other
    # process can ever write that store (run_remote_triggers(True) on it refused); now both refuse
    # with the same one line, and the refused subscriber is not kept (local events do not reach it)
    mem = StateManager(":memory:")
    try:
        heard: list[Any] = []
        with pytest.raises(NotImplementedError, match=r"^:memory:: .*no other process can write") as refused:
            mem.subscribe(heard.append, remote=True)
        with pytest.raises(NotImplementedError) as triggers:
            mem.run_remote_triggers(True)
        assert str(refused.value) == str(triggers.value)
        assert "\n" not in str(refused.value)
        mem.sync.set("g", "k", 1)
        assert heard == []
        local = mem.subscribe(heard.append)  # a local subscription is fine
        mem.sync.set("g", "k", 2)
        assert [e.new_value for e in heard] == [2]
        local()
        mem.run_remote_triggers(False)  # turning them off is never refused
    finally:
        mem.close()
