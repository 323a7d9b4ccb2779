"""The Redis changelog on every write path of the speed work (``set_many.lua``, the
pipelined writer, the direct path, ``write_all``): each change gets one stream entry
with its *own* cause and trace id, and retention applies on each path.

A gathered burst of sets to one group commits in one ``set_many.lua`` call although
its sets may come from different causes (two steps' writes gathered in one loop
iteration), so the call carries a cause and trace id per set.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import commands
from motia_nb.state.backends.redis import writer as writer_mod
from motia_nb.state.cause import acting_as
from motia_nb.state.history import Retention
from motia_nb.state.transfer import import_jsonl
from motia_nb.testing import fixtures as shared

pytestmark = pytest.mark.redis


sm = shared.redis_manager  # an opened StateManager on an emptied Redis database
raw = shared.redis_client  # a plain redis-py client on it


@pytest.fixture
def set_many_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[Write]]:
    """The writes of every ``set_many.lua`` call the pipelined writer builds."""
    seen: list[list[Write]] = []

    def spy(writes: list[Write], *args: Any) -> Any:
        seen.append(list(writes))
        return commands.set_many_call(writes, *args)

    monkeypatch.setattr(writer_mod, "set_many_call", spy)
    return seen


def test_a_gathered_burst_of_sets_from_two_causes_records_each_with_its_own_cause(
    sm: StateManager, raw: Any, set_many_calls: list[list[Write]]
) -> None:
    backend: Any = sm.backend
    before = backend._writer.pipelines

    async def burst() -> None:
        tasks = []
        for i in range(40):  # the causes alternate set by set inside one group
            cause = ("step-a", "trace-a") if i % 2 == 0 else ("step-b", None)
            with acting_as(*cause):  # a task copies the context it is created in
                tasks.append(asyncio.ensure_future(sm.set("orders", f"o{i:02d}", {"i": i})))
        await asyncio.gather(*tasks)

    asyncio.run(burst())
    # it really was one pipeline with one set_many call holding both causes
    assert backend._writer.pipelines - before == 1
    assert len(set_many_calls) == 1 and len(set_many_calls[0]) == 40
    assert {w.cause for w in set_many_calls[0]} == {"step-a", "step-b"}

    rows = sm.sync.history("orders", limit=1000)
    assert [r["key"] for r in rows] == [f"o{i:02d}" for i in range(40)]
    for i, r in enumerate(rows):
        want = ("step-a", "trace-a") if i % 2 == 0 else ("step-b", None)
        assert (r["cause"], r["trace_id"]) == want, r
        assert (r["event_type"], r["old_value"], r["new_value"]) == ("state:created", None, {"i": i})
        assert r["pid"] == os.getpid()
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 40
    # the stream itself: one entry for the call, its changes' causes and traces ('': none) in w
    [(_, f)] = raw.xrange("motia_nb:history:orders")
    who = json.loads(f["w"])
    assert who[0::2] == [("step-a" if i % 2 == 0 else "step-b") for i in range(40)]
    assert who[1::2] == [("trace-a" if i % 2 == 0 else "") for i in range(40)]
    assert f["origin"] == backend.origin and "c" not in f and "r" not in f


def test_a_burst_updating_existing_items_records_old_and_new_values_per_cause(sm: StateManager) -> None:
    sm.sync.set("g", "a", 1)
    sm.sync.set("g", "b", 2)

    async def burst() -> None:
        with acting_as("first"):
            t1 = asyncio.ensure_future(sm.set("g", "a", 10))
        with acting_as("second", "t2"):
            t2 = asyncio.ensure_future(sm.set("g", "b", 20))
            t3 = asyncio.ensure_future(sm.set("g", "c", 30))
        await asyncio.gather(t1, t2, t3)

    asyncio.run(burst())
    rows = sm.sync.history("g")[2:]
    assert [(r["key"], r["event_type"], r["old_value"], r["new_value"], r["cause"], r["trace_id"]) for r in rows] == [
        ("a", "state:updated", 1, 10, "first", None),
        ("b", "state:updated", 2, 20, "second", "t2"),
        ("c", "state:created", None, 30, "second", "t2"),
    ]


def test_every_write_path_records_its_changes(sm: StateManager, tmp_path: Any) -> None:
    backend: Any = sm.backend
    direct = backend._direct.commits
    with acting_as("direct"):
        sm.sync.set("p", "d", {"n": 1})  # a blocking write, nothing queued: the caller's thread
        sm.sync.update("p", "d", [{"type": "increment", "path": "n", "by": 1}])
    assert backend._direct.commits - direct == 2

    async def pipelined() -> None:
        with acting_as("pipelined", "tp"):
            await asyncio.gather(
                sm.set("p", "x", {"n": 1}),
                sm.set("q", "y", 1),
                sm.update("p", "d", [{"type": "increment", "path": "n", "by": 1}]),
                sm.delete("q", "y"),  # the same item again: a new run of the batch
                sm.clear("p"),
            )

    asyncio.run(pipelined())
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"group": "imp", "key": f"k{i}", "value": i}) + "\n" for i in range(3)))
    with acting_as("import"):
        import_jsonl(sm, str(path))  # write_all: one MULTI/EXEC of set.lua calls

    p = [(r["event_type"], r["key"], r["old_value"], r["new_value"], r["cause"]) for r in sm.sync.history("p")]
    assert p == [
        ("state:created", "d", None, {"n": 1}, "direct"),
        ("state:updated", "d", {"n": 1}, {"n": 2}, "direct"),
        ("state:created", "x", None, {"n": 1}, "pipelined"),
        ("state:updated", "d", {"n": 2}, {"n": 3}, "pipelined"),
        ("state:deleted", "d", {"n": 3}, None, "pipelined"),
        ("state:deleted", "x", {"n": 1}, None, "pipelined"),
    ]
    q = sm.sync.history("q")
    assert [(r["event_type"], r["cause"], r["trace_id"]) for r in q] == [
        ("state:created", "pipelined", "tp"), ("state:deleted", "pipelined", "tp"),
    ]
    assert [(r["key"], r["new_value"], r["cause"]) for r in sm.sync.history("imp")] == [
        ("k0", 0, "import"), ("k1", 1, "import"), ("k2", 2, "import"),
    ]


def test_with_history_off_a_burst_records_nothing_and_still_commits(sm: StateManager, raw: Any) -> None:
    sm.backend.set_history_keep(Retention.parse("off"))  # type: ignore[attr-defined]

    async def burst() -> None:
        await asyncio.gather(*(sm.set("off", f"k{i}", i) for i in range(20)))

    asyncio.run(burst())
    sm.sync.set("off", "k0", "x")
    assert sm.sync.list("off")[:2] == ["x", 1]
    assert raw.exists("motia_nb:history:off") == 0


def test_a_changelog_key_of_the_wrong_type_fails_a_burst_before_anything_is_written(sm: StateManager, raw: Any) -> None:
    raw.set("motia_nb:history:broken", "not a stream")

    async def burst() -> list[Any]:
        return await asyncio.gather(*(sm.set("broken", f"k{i}", i) for i in range(5)), return_exceptions=True)

    out = asyncio.run(burst())
    assert all(isinstance(e, Exception) and "not a stream" in str(e) for e in out), out
    assert raw.exists("state:broken") == 0
