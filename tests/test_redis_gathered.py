"""The Redis writer's gathered sets (issue 12 §3), observed by what Redis holds and by counters:

- ``set_many.lua`` writes the hash, the key index and the order index one command per chunk
  of sets, and answers only the old texts of items that existed (``set_many_olds``);
- a long run of sets goes in calls of ``SET_MANY_MAX``, streamed on the writer's kept
  connection (``AsyncScriptWire``), replaced when the server closed it, never resent once sent;
- a set nobody wants events of is answered without building them;
- the futures' done callbacks run in one loop callback, each in its own context.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from typing import Any

import pytest

from motia_nb._threads import get_loop_thread
from motia_nb.state.backends.base import Write, WriteResult
from motia_nb.state.backends.redis import RedisBackend, scripts
from motia_nb.state.backends.redis import writer as writer_mod
from motia_nb.state.backends.redis.commands import history_off, set_many_call, set_many_olds, set_outcome
from motia_nb.state.backends.redis.layout import HISTORY_PREFIX, KEYS_PREFIX, ORDER_PREFIX, write_keys
from motia_nb.state.backends.redis import wire as wire_mod
from motia_nb.state.backends.redis.wire import AsyncScriptWire
from motia_nb.state.errors import StateError
from motia_nb.state.values import encode_copy
from motia_nb.testing import fixtures as shared

pytestmark = pytest.mark.redis

backend = shared.redis_backend  # an opened RedisBackend on an emptied database
raw = shared.redis_client  # a plain redis-py client on it (str in, str out)


def sets(group: str, keys: list[str], tag: str = "new", cause: str = "cell") -> list[Write]:
    return [Write("set", group, k, value_json=f'{{"{tag}":"{k}"}}', cause=cause) for k in keys]


async def gather_all(b: RedisBackend, writes: list[Write]) -> list[Any]:
    return await asyncio.gather(*(b.submit_async(w, result_only=True) for w in writes))


def test_set_many_olds_reads_the_header_and_slices_the_old_texts() -> None:
    olds = [b'{"a": "x y"}', b"", b"12\r\n 3", "é".encode()]
    head = b"".join(b"%d %d " % (i, len(o)) for i, o in zip((2, 3, 5, 7), olds))
    assert set_many_olds([head, b"".join(olds)], 8) == [None, olds[0], olds[1], None, olds[2], None, olds[3], None]
    assert set_many_olds([b"", b""], 3) == [None, None, None]


def test_a_set_outcome_builds_its_event_only_when_wanted() -> None:
    text, copy = encode_copy({"n": [1, 2]}, group_id="g", key="k")
    w = Write("set", "g", "k", value_json=text, value=copy)
    assert set_outcome(w, None, False) == {"new_value": {"n": [1, 2]}, "old_value": None}
    assert set_outcome(w, b'"was"', False) == {"new_value": {"n": [1, 2]}, "old_value": "was"}
    full = set_outcome(w, b'"was"', True)
    assert isinstance(full, WriteResult) and full.result == {"new_value": {"n": [1, 2]}, "old_value": "was"}
    (ev,) = full.events
    assert (ev.event_type, ev.old_value, ev.new_value) == ("state:updated", "was", {"n": [1, 2]})
    # a value not copied at submission is decoded from its text
    assert set_outcome(Write("set", "g", "k", value_json='{"d": {"e": 1}}'), None, False)["new_value"] == {"d": {"e": 1}}


def test_a_long_gather_goes_in_calls_of_set_many_max_and_keeps_every_index_exact(
    backend: RedisBackend, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "SET_MANY_MAX", 100)
    calls: list[int] = []
    real = writer_mod.set_many_call
    monkeypatch.setattr(writer_mod, "set_many_call", lambda ws, *a: (calls.append(len(ws)), real(ws, *a))[1])
    keys = [f"k{i:04d}" for i in range(250)]
    raw.hset("state:g", "k0003", '"three"')  # items that exist: their old values come back
    raw.hset("state:g", "k0249", '"last"')
    before = backend._writer.pipelines
    results = asyncio.run(gather_all(backend, sets("g", keys)))
    assert backend._writer.pipelines - before == 1 and calls == [100, 100, 50]
    assert results[3] == {"new_value": {"new": "k0003"}, "old_value": "three"}
    assert results[249] == {"new_value": {"new": "k0249"}, "old_value": "last"}
    assert all(r["old_value"] is None for i, r in enumerate(results) if i not in (3, 249))
    assert raw.hgetall("state:g") == {k: f'{{"new":"{k}"}}' for k in keys}
    # the key index holds exactly the fields; the order index too, the two old items first
    assert raw.zrange(KEYS_PREFIX + "g", 0, -1) == keys
    order = raw.zrange(ORDER_PREFIX + "g", 0, -1)
    assert order[:2] == ["k0003", "k0249"] and sorted(order) == keys and backend.keys("g")[2:] == [
        k for k in keys if k not in ("k0003", "k0249")
    ]
    # one changelog entry per set_many call (format 2), with its old text where the item existed
    entries = raw.xrange(HISTORY_PREFIX + "g")
    assert [f["m"] for _, f in entries] == ["100", "100", "50"] and {f["v"] for _, f in entries} == {"2"}
    assert [k for _, f in entries for k in json.loads(f["ks"])] == keys
    olds = [o for _, f in entries for o in json.loads(f["os"])]
    assert olds[3] == '"three"' and olds[249] == '"last"' and olds.count(False) == 248
    assert {f["c"] for _, f in entries} == {"cell"} and not any("w" in f or "r" in f for _, f in entries)
    ids = [int(i.split("-")[0]) for i, _ in entries]  # each entry's ID: its last change's seq
    assert ids == [ids[0], ids[0] + 100, ids[0] + 150]
    seqs = [c["seq"] for c in backend.history("g", None, None, 1000)]
    assert seqs == list(range(ids[0] - 99, ids[2] + 1))


def test_a_key_set_twice_in_one_call_answers_the_first_value_as_the_seconds_old(raw: Any, redis_url: str) -> None:
    """(The writer never puts one item twice in a run, but the script stays right if given it.)"""
    b = RedisBackend(redis_url)
    ws = sets("g", ["a", "b"], tag="one") + sets("g", ["a"], tag="two")
    name, keys, args = set_many_call(ws, "motia_nb:events:0|0", "me", b._history_args)
    assert name == "set_many" and keys == write_keys("g")
    reply = raw.evalsha(raw.script_load(scripts.SET_MANY), len(keys), *keys, *args)
    assert set_many_olds([x.encode() for x in reply], 3) == [None, None, b'{"one":"a"}']
    assert raw.hgetall("state:g") == {"a": '{"two":"a"}', "b": '{"one":"b"}'}
    assert raw.zrange(ORDER_PREFIX + "g", 0, -1) == ["a", "b"] and raw.zrange(KEYS_PREFIX + "g", 0, -1) == ["a", "b"]
    [(_, f)] = raw.xrange(HISTORY_PREFIX + "g")  # one entry for the call's three changes
    assert (json.loads(f["ks"]), json.loads(f["os"])) == (["a", "b", "a"], [False, False, '{"one":"a"}'])


def test_sets_of_one_cause_send_two_arguments_each_and_of_several_four() -> None:
    one = set_many_call(sets("g", ["a", "b"]), "c|0", "o", history_off)[2]
    assert one[3] == 2 and one[4:8] == ["a", '{"new":"a"}', "b", '{"new":"b"}'] and len(one) == 8 + 6
    mixed = set_many_call(sets("g", ["a"]) + sets("g", ["b"], cause="step-x"), "c|0", "o", history_off)[2]
    assert mixed[3] == 4 and mixed[4:12] == ["a", '{"new":"a"}', "cell", "", "b", '{"new":"b"}', "step-x", ""]


def test_without_listeners_no_event_is_built_yet_the_change_token_moves(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    real = writer_mod.set_outcome
    monkeypatch.setattr(writer_mod, "set_outcome", lambda w, old, events: (built.append(events), real(w, old, events))[1])
    token = backend.change_token()
    asyncio.run(gather_all(backend, sets("g", ["a", "b"])))
    assert built == [False, False] and backend.change_token() != token
    seen: list[Any] = []
    backend.add_listener(seen.extend)
    results = asyncio.run(gather_all(backend, sets("g", ["a", "c"], tag="again")))
    assert built[2:] == [True, True] and results[0]["old_value"] == {"new": "a"}
    assert [(e.event_type, e.item_id, e.old_value) for e in seen] == [
        ("state:updated", "a", {"new": "a"}), ("state:created", "c", None),
    ]  # fmt: skip


def test_a_lost_connection_is_replaced_unsent_never_resent_and_a_flushed_script_is_reloaded(
    backend: RedisBackend, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(gather_all(backend, sets("g", ["a", "b"])))
    wire = backend._writer._wire
    assert wire._conn is not None
    # the writer's kept connection dies while idle: seen closed before anything is sent on it
    raw.client_kill_filter(_type="normal", skipme=True)  # (its end is in the socket when this returns)
    get_loop_thread().submit(asyncio.sleep(0)).result()  # a turn of the loop: it has read that end
    results = asyncio.run(gather_all(backend, sets("g", ["a", "b"], tag="one")))
    assert results[0]["old_value"] == {"new": "a"} and wire._conn is not None
    # ... and as if its loss were not seen yet: the calls were sent, so they are not sent again
    # (they may have run: tests/test_redis_history_parity_user.py loses a reply after they did)
    monkeypatch.setattr(wire_mod, "_at_eof", lambda conn: False)
    raw.client_kill_filter(_type="normal", skipme=True)
    with pytest.raises(StateError, match="may or may not have been applied"):
        asyncio.run(gather_all(backend, sets("g", ["a", "c"], tag="two")))
    assert backend.get("g", "a") == {"one": "a"} and backend.get("g", "c") is None  # (here they had not)
    results = asyncio.run(gather_all(backend, sets("g", ["a", "c"], tag="two")))  # a new connection
    assert results[0]["old_value"] == {"one": "a"} and results[1]["old_value"] is None
    raw.script_flush()  # NOSCRIPT: loaded again, then called
    results = asyncio.run(gather_all(backend, sets("g", ["a", "d"], tag="three")))
    assert results[0]["old_value"] == {"two": "a"} and backend.get("g", "d") == {"three": "d"}


def test_each_awaiting_task_resumes_in_its_own_context_and_a_cancelled_one_is_skipped(backend: RedisBackend) -> None:
    who: contextvars.ContextVar[str] = contextvars.ContextVar("who")

    async def one(i: int) -> tuple[str, Any]:
        who.set(f"task-{i}")
        out = await backend.submit_async(Write("set", "g", f"k{i}", value_json=str(i)), result_only=True)
        return who.get(), out["new_value"]

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(one(i)) for i in range(50)]
        await asyncio.sleep(0)  # every task has submitted its write
        tasks[7].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    out = asyncio.run(main())
    assert isinstance(out[7], asyncio.CancelledError)
    assert [o for i, o in enumerate(out) if i != 7] == [(f"task-{i}", i) for i in range(50) if i != 7]
    assert backend.get("g", "k7") == 7  # the cancelled caller's write stands


def test_a_connection_failing_for_good_mid_stream_fails_only_the_writes_not_answered(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    monkeypatch.setattr(writer_mod, "SET_MANY_MAX", 2)
    real = AsyncScriptWire.stream

    async def first_then_lost(self: AsyncScriptWire, calls: Any) -> Any:
        async for j, reply in real(self, calls):
            yield j, reply
            raise redis.ConnectionError("lost for good")

    monkeypatch.setattr(AsyncScriptWire, "stream", first_then_lost)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(backend.submit_async(w, result_only=True) for w in sets("g", ["a", "b", "c", "d", "e"])),
            return_exceptions=True,
        )

    out = asyncio.run(main())
    assert out[:2] == [{"new_value": {"new": k}, "old_value": None} for k in ("a", "b")]
    assert all(isinstance(o, StateError) and "lost for good" in str(o) for o in out[2:])
    assert backend._gate.queued == 0  # every write was answered once
    monkeypatch.setattr(AsyncScriptWire, "stream", real)
    assert asyncio.run(gather_all(backend, sets("g", ["f"]))) == [{"new_value": {"new": "f"}, "old_value": None}]
