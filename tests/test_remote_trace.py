"""Remote triggers run under the writer's trace (SQLite with history on, and Redis).

A change another process commits carries the trace id its writer recorded (the SQLite
changelog row's ``trace_id``; the Redis message's ``r``). The state triggers this process runs
for it (``run_remote_triggers(True)``) run under that id, as a local write's run under its
writer's: their ``ctx.trace_id``, logs and trace rows, and the history rows of the writes they
make carry it. A change without one (another tool's, an old row) runs in a trace of its own.
Remote subscribers still get the plain events.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from motia_nb.session import Session
from motia_nb.state import StateManager
from motia_nb.state.cause import acting_as, current_cause
from motia_nb.state.events import EVENT_KEYS, StateEvent, WriteEvents, by_trace
from motia_nb.steps.triggers import state


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: Any, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return request.getfixturevalue("redis_url")


@pytest.fixture
def writer_and_reader(store_url: str) -> Iterator[tuple[StateManager, StateManager, Session]]:
    """``b`` writes; ``a`` (another backend on the same store: another origin, as another
    process) runs its session's steps for b's changes."""
    a, b = StateManager(store_url), StateManager(store_url)
    session = Session(a)
    try:
        yield a, b, session
    finally:
        a.run_remote_triggers(False)
        a.close()
        b.close()


def test_remote_triggers_run_under_the_writers_trace_and_their_writes_carry_it(
    writer_and_reader: tuple[StateManager, StateManager, Session],
) -> None:
    a, b, session = writer_and_reader
    hits: list[tuple[str, str, tuple[str, str | None]]] = []
    done = threading.Event()
    subscribed: list[Any] = []

    @session.step({"name": "OnOrder", "triggers": [state(lambda e: e.group_id == "orders")]})
    async def on_order(event: Any, ctx: Any) -> None:
        ctx.logger.info("saw an order")
        await ctx.state_manager.set("seen", event.item_id, True)
        hits.append((event.item_id, ctx.trace_id, current_cause()))
        if len(hits) == 3:
            done.set()

    origin_cause: list[tuple[str, str | None]] = []

    def turn_on() -> None:  # as a cell does: its own trace must not reach what runs later
        with acting_as("cell", "the-subscribing-cell"):
            a.run_remote_triggers(True)
            a.subscribe(subscribed.append, remote=True)
        origin_cause.append(a._remote.origin.run(current_cause))  # type: ignore[union-attr]

    contextvars.copy_context().run(turn_on)
    assert origin_cause == [("cell", None)]
    a.sync.count("orders")  # open a: it hears b from now on
    with acting_as("cell", "trace-A"):
        b.sync.set("orders", "o1", 1)
    with acting_as("Checkout", "trace-B"):
        b.sync.set("orders", "o2", 2)
    b.sync.set("orders", "o3", 3)  # no trace (a script's write): a trace of its own
    assert done.wait(10), f"the steps ran for {hits}"

    assert [(k, t) for k, t, _ in hits[:2]] == [("o1", "trace-A"), ("o2", "trace-B")]
    own = hits[2][1]
    assert own not in (None, "trace-A", "trace-B", "the-subscribing-cell")
    assert [c for _, _, c in hits] == [("OnOrder", "trace-A"), ("OnOrder", "trace-B"), ("OnOrder", own)]
    # the step's writes in a carry the writer's trace in a's history
    seen = {c["key"]: (c["cause"], c["trace_id"]) for c in a.sync.history("seen")}
    assert seen == {"o1": ("OnOrder", "trace-A"), "o2": ("OnOrder", "trace-B"), "o3": ("OnOrder", own)}
    # ... and so do its trace rows and logs (what `%motia trace <id>` shows)
    assert [(r.trace_id, r.step, r.status) for r in session.traces.records()] == [
        ("trace-A", "OnOrder", "ok"), ("trace-B", "OnOrder", "ok"), (own, "OnOrder", "ok")]  # fmt: skip
    assert [(r.trace_id, r.step) for r in session.logs.records() if r.message == "saw an order"] == [
        ("trace-A", "OnOrder"), ("trace-B", "OnOrder"), (own, "OnOrder")]  # fmt: skip
    # the remote subscriber got the engine's plain events, nothing added
    got = [e for e in subscribed if e["group_id"] == "orders"]
    assert [e["item_id"] for e in got] == ["o1", "o2", "o3"]
    assert all(type(e) is StateEvent and tuple(e) == EVENT_KEYS for e in got)


def test_one_delivery_of_several_traces_runs_each_traces_triggers_under_its_own_id(
    writer_and_reader: tuple[StateManager, StateManager, Session],
) -> None:
    # a gather's sets of two traces: on Redis one script call, one message (each set keeps its
    # trace); on SQLite one record per trace. Each trace's triggers run under its id, in order.
    a, b, session = writer_and_reader
    hits: list[tuple[str, str]] = []
    done = threading.Event()

    @session.step({"name": "OnOrder", "triggers": [state(lambda e: e.group_id == "orders")]})
    def on_order(event: Any, ctx: Any) -> None:
        hits.append((event.item_id, ctx.trace_id))
        if len(hits) == 4:
            done.set()

    a.run_remote_triggers(True)
    a.sync.count("orders")

    async def sets(keys: list[str], trace: str) -> None:
        with acting_as("cell", trace):
            await asyncio.gather(*(b.set("orders", k, 1) for k in keys))

    async def both() -> None:
        await asyncio.gather(sets(["p1", "p2"], "trace-1"), sets(["q1", "q2"], "trace-2"))

    asyncio.run(both())
    assert done.wait(10), f"the steps ran for {hits}"
    order = [c["key"] for c in b.sync.history("orders")]  # commit order
    assert [k for k, _ in hits] == order
    assert dict(hits) == {"p1": "trace-1", "p2": "trace-1", "q1": "trace-2", "q2": "trace-2"}


def test_write_events_are_plain_lists_of_events_cut_by_trace() -> None:
    evs = [StateEvent("state:created", "g", k, None, 1) for k in "abcd"]
    runs = by_trace(evs, ["t1", "t1", "", "t2"])
    assert [(r.trace_id, [e.item_id for e in r]) for r in runs] == [("t1", ["a", "b"]), (None, ["c"]), ("t2", ["d"])]
    assert all(isinstance(r, list) for r in runs) and list(runs[0]) == evs[:2]
    assert WriteEvents(evs, "").trace_id is None and by_trace([], []) == []
