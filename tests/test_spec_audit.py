"""SPEC clauses an outside reviewer would test, which no other test proved (one test per finding).

Each test names the clause it proves; the state ones run on every backend (SQLite file and
memory, and a real redis-server) through the contract suite's ``sm`` fixture.
"""

from __future__ import annotations

import asyncio
import os
import re

import pytest

from motia_nb.session import request, step
from motia_nb.state import StateError, StateManager, state_manager
from motia_nb.steps import StepConfigError
from motia_nb.steps.errors import StepCallError


# ---------------------------------------------------------------- §4 state triggers: scope / key
def test_state_trigger_scope_and_key_restrict_the_events_as_the_engines_trigger_config(steps_ip, capsys):
    """§4: a state trigger is "optionally restricted by config scope/key as the engine allows"
    (the engine's StateTriggerConfig: scope, key, condition_function_id)."""
    fired = []

    @step({"name": "OrdersOnly", "triggers": [{"type": "state", "scope": "orders"}]})
    def orders_only(event):
        fired.append(("OrdersOnly", event.scope, event.key))

    @step({"name": "O1Only", "triggers": [{"type": "state", "scope": "orders", "key": "o1",
                                            "condition": lambda e: e.new_value is not None}]})
    def o1_only(event):
        fired.append(("O1Only", event.scope, event.key))

    @step({"name": "KeyOnly", "triggers": [{"type": "state", "key": "o2"}]})
    def key_only(event):
        fired.append(("KeyOnly", event.scope, event.key))

    said = capsys.readouterr()
    assert "does not read trigger key" not in said.out + said.err  # read, so no "ignored" warning

    async def main():
        await state_manager.set("orders", "o1", 1)
        await state_manager.set("orders", "o2", 2)
        await state_manager.set("users", "o1", 3)
        await state_manager.set("users", "o2", 4)
        await state_manager.delete("orders", "o1")  # the condition (new_value is not None) is false

    asyncio.run(main())
    assert fired == [
        ("OrdersOnly", "orders", "o1"), ("O1Only", "orders", "o1"),
        ("OrdersOnly", "orders", "o2"), ("KeyOnly", "orders", "o2"),
        ("KeyOnly", "users", "o2"),
        ("OrdersOnly", "orders", "o1"),
    ]  # fmt: skip


@pytest.mark.parametrize("field,value", [("scope", 123), ("key", ["o1"]), ("scope", "")])
def test_state_trigger_scope_or_key_that_is_not_a_non_empty_str_is_refused_when_defined(steps_ip, field, value):
    """The engine refuses a state trigger whose scope is not a string ("Failed to parse trigger
    config"); an empty one could match nothing (motia_nb refuses empty names)."""
    with pytest.raises(StepConfigError, match=re.escape(f"step 'Bad': trigger 0 (state) '{field}' must be a non-empty str, got {value!r}")):
        step({"name": "Bad", "triggers": [{"type": "state", field: value}]})(lambda e: None)


# ---------------------------------------------------------------- §5 request(): bad arguments
@pytest.mark.parametrize("kwargs,said", [
    ({"headers": [("x-a", "1")]}, "request: headers must be a dict of str names, got a list ([('x-a', '1')])"),
    ({"headers": "x-a: 1"}, "request: headers must be a dict of str names, got a str ('x-a: 1')"),
    ({"headers": {1: "a"}}, "request: header names must be str, got 1"),
    ({"query": [("q", "1")]}, "request: query must be a dict of str keys, got a list ([('q', '1')])"),
    ({"query": "q=1"}, "request: query must be a dict of str keys, got a str ('q=1'); put a query string in the path: '/echo?q=1'"),
    ({"query": {1: "a"}}, "request: query keys must be str, got 1"),
])  # fmt: skip
def test_request_with_headers_or_query_that_are_not_a_dict_is_one_clear_error_and_nothing_runs(steps_ip, kwargs, said):
    """§5 `request(method, path, body=None, headers=None, query=None)`: bad input gets one clear
    line (was AttributeError: 'list' object has no attribute 'items'), and the step does not run."""
    ran = []

    @step({"name": "Echo", "triggers": [{"type": "http", "method": "POST", "path": "/echo"}]})
    def echo(req):
        ran.append(req)
        return {"status": 200, "body": None}

    with pytest.raises(StepCallError) as info:
        asyncio.run(request("POST", "/echo", **kwargs))
    assert str(info.value) == said
    assert ran == []


# ---------------------------------------------------------------- §6 a file deleted under a running manager
@pytest.mark.parametrize("read", ["list", "items", "count", "list_groups", "frame"])
def test_a_read_after_the_file_was_deleted_says_so_and_creates_no_empty_file(tmp_path, read):
    """§6: "a database file deleted ... under a running kernel is detected and reported". An
    awaited read whose connection opened after the delete created a new, empty 0-byte file at the
    path and failed with "no such table: items"; it now says what happened, and the path stays
    empty (the write path already refused: test_defects_sqlite)."""
    path = tmp_path / "state.db"
    sm = StateManager(str(path))
    try:
        asyncio.run(sm.set("g", "k", 1))
        os.remove(path)
        call = getattr(sm, read)
        with pytest.raises(StateError) as info:
            asyncio.run(call() if read == "list_groups" else call("g"))
        assert str(info.value) == (
            f"the state database file {path} was deleted while it was open, so nothing was read "
            f"(SQLite would read the old file on). Reopen it to use what is there now: "
            f"%state use {path} (or close() the manager and use it again)"
        )
        assert not path.exists()
    finally:
        sm.close()


@pytest.mark.parametrize("call", ["subscribe_remote", "run_remote_triggers"])
def test_following_other_processes_after_the_file_was_deleted_says_so_keeps_nothing_and_creates_no_file(tmp_path, call):
    """§9 `run_remote_triggers(True)` / `subscribe(fn, remote=True)` on SQLite, §6 a deleted file
    "detected and reported": they failed with a raw `sqlite3.OperationalError: no such table:
    changes`, after creating an empty 0-byte file at the path (the follower's connection); the
    remote triggers stayed switched on and the backend kept the listener."""
    path = tmp_path / "state.db"
    sm = StateManager(str(path))
    try:
        sm.sync.set("g", "k", 1)
        os.remove(path)
        with pytest.raises(StateError) as info:
            if call == "subscribe_remote":
                sm.subscribe(lambda event: None, remote=True)
            else:
                sm.run_remote_triggers(True)
        assert str(info.value) == (
            f"the state database file {path} was deleted while it was open, so the changes other "
            f"processes commit cannot be followed. Reopen it to use what is there now: "
            f"%state use {path} (or close() the manager and use it again)"
        )
        assert not path.exists()
        assert sm._remote.triggers is False and not sm._remote.wanted  # nothing half-switched on
        assert not sm.backend._remote_listeners
    finally:
        sm.close()


# ---------------------------------------------------------------- §7 streams: (stream, group_id, item_id)
def test_a_stream_name_ending_in_a_colon_is_refused_so_two_streams_never_share_items(steps_ip):
    """§1/§7: a stream item is addressed by (stream, group_id, item_id); streams live in groups
    `<stream>::<group_id>`. Stream("a:") group ":g" and Stream("a") group "::g" were the same
    group `a::::g` (one overwrote the other), and Stream("a:").list_groups() missed its own.
    A name ending in ':' is refused, as one holding '::' is; Stream("a") keeps any group id."""
    from motia_nb.motia import Stream

    said = "a stream name must be a non-empty str without '::' and not ending in ':', got 'a:'"
    with pytest.raises(ValueError, match=re.escape(said)):
        Stream("a:").set(":g", "i", 1)
    with pytest.raises(StepConfigError, match=re.escape(said)):
        step({"name": "OnA", "triggers": [{"type": "stream", "stream_name": "a:"}]})(lambda e: None)
    assert Stream("a").set("::g", "i", 2) == {"old_value": None, "new_value": 2}
    assert Stream("a").list_groups() == ["::g"]
    assert state_manager.sync.list_groups() == ["a::::g"]
