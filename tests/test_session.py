"""A Session owns its manager, steps, runtime, scheduler, logs and traces: sessions never mix."""

from __future__ import annotations

import asyncio

import pytest

import motia_nb
from motia_nb import Session, StateManager, current_session, default_session, queue, state
from motia_nb.session import all_steps


@pytest.fixture
def two_sessions(tmp_path):
    a = Session(StateManager(str(tmp_path / "a.db")))
    b = Session(str(tmp_path / "b.db"))
    yield a, b
    a.close()
    b.close()


def test_a_users_session_fires_its_own_steps_and_no_others(two_sessions):
    a, b = two_sessions
    hits: list[tuple] = []

    @a.step({"name": "OnA", "triggers": [state()]})
    def on_a(event):
        hits.append(("a", event.group_id, event.item_id, event.new_value))

    @b.step({"name": "OnB", "triggers": [state(condition=lambda e: e.group_id == "orders")]})
    async def on_b(event, ctx):
        # the public names act on the session whose cascade runs: b, not the default session
        assert current_session() is b
        motia_nb.logger.info("seen", {"key": event.item_id})
        await motia_nb.enqueue({"topic": "paid", "data": event.new_value})

    @b.step({"name": "OnPaid", "triggers": [queue("paid")]})
    def on_paid(data):
        hits.append(("b-queue", data))

    a.manager.sync.set("orders", "o1", 1)
    assert hits == [("a", "orders", "o1", 1)]

    asyncio.run(b.manager.set("orders", "o2", 2))
    assert hits[1:] == [("b-queue", 2)]
    assert [s.name for s in a.registry.all()] == ["OnA"]
    assert [s.name for s in b.registry.all()] == ["OnB", "OnPaid"]
    assert not {"OnA", "OnB", "OnPaid"} & {s.name for s in all_steps()}  # the default session saw none
    assert b.logs.frame()["message"].tolist() == ["seen"] and len(a.logs.frame()) == 0
    assert b.traces.frame()["step"].tolist() == ["OnB", "OnPaid"]
    assert a.traces.frame()["step"].tolist() == ["OnA"]
    # the other session's writes fire nothing here
    b.manager.sync.set("orders", "o3", 3)
    assert ("a", "orders", "o3", 3) not in hits


def test_a_session_enqueue_and_request_stay_in_the_session(two_sessions):
    a, b = two_sessions
    got = []

    @b.step({"name": "Api", "triggers": [motia_nb.http("GET", "/ping")]})
    async def api(req):
        return {"status": 200, "body": {"pong": True}}

    @b.step({"name": "Q", "triggers": [queue("t")]})
    def q(data):
        got.append(data)

    assert b.request.sync("GET", "/ping")["status"] == 200
    assert a.request.sync("GET", "/ping")["status"] == 404
    a.enqueue.sync({"topic": "t", "data": 1})
    b.enqueue.sync({"topic": "t", "data": 2})
    assert got == [2]


def test_a_manager_belongs_to_one_session(tmp_path):
    m = StateManager(str(tmp_path / "x.db"))
    s = Session(m)
    with pytest.raises(ValueError, match="already belongs to a Session"):
        Session(m)
    with pytest.raises(TypeError, match="expected a StateManager"):
        Session(42)  # type: ignore[arg-type]
    s.close()


def test_the_default_session_wraps_the_process_state_manager():
    assert default_session().manager is motia_nb.state_manager
    assert current_session() is default_session()


def test_the_dispatcher_follows_the_sessions_state_steps(two_sessions):
    a, _ = two_sessions
    assert a.manager.dispatcher is None
    a.registry.register({"name": "S", "triggers": [state()]}, lambda e: None)
    assert a.manager.dispatcher == a.runtime.dispatch_events
    a.registry.remove("S")
    assert a.manager.dispatcher is None


def test_plain_def_handlers_run_on_the_bounded_handler_pool(two_sessions):
    import threading

    a, _ = two_sessions
    names = []
    a.registry.register({"name": "Q", "triggers": [queue("t")]}, lambda d: names.append(threading.current_thread().name))
    for i in range(3):
        a.enqueue.sync({"topic": "t", "data": i})
    assert len(names) == 3 and all(n.startswith("motia-nb-handler") for n in names)
