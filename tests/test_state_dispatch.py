"""State-trigger conditions are checked on the writer's side: a write no step answers
costs no coroutine and no hop to motia_nb's loop thread; a write that does run a step
still returns only after it (SPEC §5), with every condition asked once, in order."""

from __future__ import annotations

import asyncio
import threading

import pytest

from motia_nb.session import clear_traces, reset_steps, step, trace_frame
from motia_nb.state import writing as manager_module  # where _write_sync calls run_sync
from motia_nb.state import state_manager
from motia_nb.state.events import StateEvent
from motia_nb.steps import state


@pytest.fixture(autouse=True)
def sandbox(tmp_path):
    previous = state_manager.url
    reset_steps()
    clear_traces()
    state_manager.use(str(tmp_path / "state.db"))
    yield
    reset_steps()
    state_manager.use(previous)


@pytest.fixture
def hops(monkeypatch):
    """Counts the synchronous API's hops to motia_nb's loop thread (``run_sync`` of a cascade)."""
    calls: list[object] = []
    real = manager_module.run_sync

    def counting(coro, *a, **kw):
        calls.append(coro)
        return real(coro, *a, **kw)

    monkeypatch.setattr(manager_module, "run_sync", counting)
    return calls


def test_an_unmatched_condition_is_asked_on_the_callers_thread_and_nothing_hops(hops):
    seen: list[tuple[str, str]] = []

    def never(ev):
        seen.append((ev.item_id, threading.current_thread().name))
        return False

    @step({"name": "Idle", "triggers": [state(never)]})
    def handler(ev):  # pragma: no cover - never runs
        raise AssertionError("must not run")

    for i in range(5):
        state_manager.sync.set("g", f"k{i}", i)
    me = threading.current_thread().name
    assert seen == [(f"k{i}", me) for i in range(5)]
    assert hops == []
    # the async API: no coroutine either (the dispatcher answers None)
    assert state_manager.dispatcher is not None
    assert state_manager.dispatcher(list(_events("g", "x"))) is None


def _events(group, key):
    yield StateEvent("state:created", group, key, None, 1)


def test_a_matching_condition_hops_once_and_the_write_returns_after_the_step(hops):
    asked: list[str] = []
    ran: list[str] = []

    def odd(ev):
        asked.append(ev.item_id)
        return ev.new_value % 2 == 1

    @step({"name": "Odd", "triggers": [state(odd)]})
    def handler(ev):
        ran.append(ev.item_id)

    state_manager.sync.set("g", "a", 2)
    assert hops == [] and ran == []
    state_manager.sync.set("g", "b", 3)
    assert len(hops) == 1
    assert ran == ["b"]  # inline: done before the write returned
    assert asked == ["a", "b"]  # each condition asked exactly once


def test_conditions_are_asked_once_each_in_cascade_order_across_steps_and_events(hops):
    log: list[str] = []

    def cond(name, result):
        def c(ev):
            log.append(f"{name}?{ev.item_id}")
            return result(ev)

        return c

    @step({"name": "A", "triggers": [state(cond("A1", lambda ev: False)), state(cond("A2", lambda ev: False))]})
    def a(ev):  # pragma: no cover - never runs
        log.append("A!")

    @step({"name": "B", "triggers": [state(cond("B1", lambda ev: ev.item_id == "k2")), state(cond("B2", lambda ev: True))]})
    def b(ev):
        log.append(f"B!{ev.item_id}")

    @step({"name": "C", "triggers": [state(cond("C1", lambda ev: False))]})
    def c(ev):  # pragma: no cover - never runs
        log.append("C!")

    # a clear of two items: two events in one batch, the first matches B's second trigger
    state_manager.sync.set("g", "k1", 1)
    state_manager.sync.set("g", "k2", 2)
    log.clear()
    hops.clear()
    state_manager.sync.clear("g")
    assert len(hops) == 1
    assert log == [
        "A1?k1", "A2?k1", "B1?k1", "B2?k1", "B!k1", "C1?k1",  # B's first trigger failed, its second held
        # B's first trigger held: B runs, and its second trigger is asked too and runs it again (each
        # trigger is an engine trigger of its own, as the SDK registers them: iii's state worker runs
        # every trigger whose condition holds)
        "A1?k2", "A2?k2", "B1?k2", "B!k2", "B2?k2", "B!k2", "C1?k2",
    ]  # fmt: skip


def test_an_async_condition_is_awaited_in_the_cascade_and_still_gates_the_step(hops):
    ran: list[int] = []
    threads: list[str] = []

    async def big(ev):
        threads.append(threading.current_thread().name)
        await asyncio.sleep(0)
        return ev.new_value > 10

    @step({"name": "Big", "triggers": [state(big)]})
    def handler(ev):
        ran.append(ev.new_value)

    state_manager.sync.set("g", "a", 1)
    state_manager.sync.set("g", "b", 11)
    assert ran == [11]
    assert len(hops) == 2  # an async condition cannot be answered without awaiting it
    assert len(threads) == 2


def test_a_raising_condition_on_the_callers_side_is_reported_traced_and_skips_the_step(hops, capsys):
    def boom(ev):
        raise ValueError("bad condition")

    @step({"name": "Boom", "triggers": [state(boom)]})
    def handler(ev):  # pragma: no cover - never runs
        raise AssertionError("must not run")

    state_manager.sync.set("g", "a", 1)
    assert hops == []
    err = capsys.readouterr().err
    assert "condition of step 'Boom' raised" in err and "bad condition" in err
    df = trace_frame()
    assert list(df["status"]) == ["condition-error"]


def test_a_two_argument_condition_gets_the_same_trace_id_as_the_steps_it_lets_run(hops):
    ids: list[str] = []

    def first(ev, ctx):
        ids.append(ctx.trace_id)
        return False

    def second(ev, ctx):
        ids.append(ctx.trace_id)
        return True

    @step({"name": "First", "triggers": [state(first)]})
    def f(ev):  # pragma: no cover - never runs
        pass

    @step({"name": "Second", "triggers": [state(second)]})
    def s(ev, ctx):
        ids.append(ctx.trace_id)

    state_manager.sync.set("g", "a", 1)
    assert len(ids) == 3 and len(set(ids)) == 1


def test_async_writes_with_an_idle_step_stay_inline_and_ordered():
    order: list[str] = []

    def only_last(ev):
        return ev.item_id == "k9"

    @step({"name": "Last", "triggers": [state(only_last)]})
    async def handler(ev):
        order.append("step")

    async def main():
        await asyncio.gather(*(state_manager.set("g", f"k{i}", i) for i in range(10)))
        order.append("after")
        return await state_manager.list("g")

    assert asyncio.run(main()) == list(range(10))
    assert order == ["step", "after"]
