"""The Redis key index (``motia_nb:keys:<group>``, :mod:`motia_nb.state.backends.redis.key_index`):

- it holds exactly the hash's fields after every kind of write (set, a gathered run of sets
  in one ``set_many.lua`` call, update, delete, clear, an import's MULTI), from a fresh store
  and after a fill of a group written before it existed, from one process or two, and while
  a fill runs between another process's writes;
- prefix and substring searches answered from it equal a brute-force answer (special
  characters, unicode, an empty text), with the scanning fallback made to fail so the index
  must answer; a budget of 0 answers chunk by chunk and ``after=`` resumes to the same whole;
- a foreign HSET/HDEL sends searches back to the scan (still right) and to a new fill.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import RedisBackend, key_index
from motia_nb.state.backends.redis.layout import key_index_keys
from motia_nb.state.ops import normalize_ops
from motia_nb.testing import fixtures as shared
from motia_nb.testing.races import wait_until
from redis_key_text_helpers import no_scan

pytestmark = pytest.mark.redis

backend = shared.redis_backend
raw = shared.redis_client

KEYS = [
    "a", "ab", "abc", "abd", "ac", "b", "a*b", "a*", "a?", "a[1]", "a]", "a\\x", "\\", "*", "?", "[", "é", "éa",
    "z", "\U0010ffff", "\U0010ffffa", "\ue000", "日本語", "本", "order-1", "order-10", "order-2", "Order-3",
    "with space", "a%b", "a.b", "a-b", "ÿ", "aÿ",
]  # fmt: skip
TEXTS = ["", "a", "ab", "a*", "*", "?", "[", "]", "\\", "é", "\U0010ffff", "本", "order-1", "-", "%", ".", "ÿ", "nope"]


def index_of(raw: Any, group: str) -> list[str]:
    return sorted(raw.zrange(f"motia_nb:keys:{group}", 0, -1))


def ready(raw: Any, group: str) -> bool:
    return raw.get(f"motia_nb:keys_ready:{group}") == "1"


def assert_exact(raw: Any, group: str) -> None:
    assert index_of(raw, group) == sorted(raw.hkeys(f"state:{group}"))






def test_every_kind_of_write_keeps_the_index_exact_from_a_fresh_store(backend: RedisBackend, raw: Any) -> None:
    s = backend
    s.submit(Write("set", "g", "a", value_json="1")).result()
    assert ready(raw, "g") and index_of(raw, "g") == ["a"]  # the first write starts a complete index

    async def gather(writes: list[Write]) -> list[Any]:
        return await asyncio.gather(*(s.submit_async(w, result_only=True) for w in writes))

    writes_before = s._writer.pipelines
    asyncio.run(gather([Write("set", "g", k, value_json="2") for k in KEYS]))  # set_many.lua
    assert s._writer.pipelines > writes_before
    assert_exact(raw, "g")
    inc = normalize_ops([{"type": "increment", "path": "n", "by": 1}], group_id="g", key="new")
    s.submit(Write("update", "g", "new", ops=inc)).result()  # cas.lua, a new item
    s.submit(Write("update", "g", "a", ops=[{"type": "set", "path": "", "value": 5}])).result()
    assert_exact(raw, "g")
    for k in ["a", "é", "missing", "*"]:
        s.submit(Write("delete", "g", k)).result()
    assert "a" not in index_of(raw, "g")
    assert_exact(raw, "g")
    s.write_all([Write("set", "g", f"imp-{i}", value_json="1") for i in range(50)])  # an import: MULTI of set.lua
    assert_exact(raw, "g")
    s.submit(Write("clear", "g")).result()
    assert raw.exists("motia_nb:keys:g", "motia_nb:keys_ready:g") == 0
    s.submit(Write("set", "g", "again", value_json="1")).result()
    assert ready(raw, "g") and index_of(raw, "g") == ["again"]


def test_a_group_written_before_the_index_is_scanned_then_filled_then_kept(
    backend: RedisBackend, raw: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(key_index, "FILL_CHUNK", 7)
    raw.hset("state:old", mapping={f"k{i:03d}": "1" for i in range(300)})  # by hand / an older motia_nb
    backend.submit(Write("set", "old", "k000", value_json="2")).result()  # a write to a non-empty group
    assert not ready(raw, "old") and index_of(raw, "old") == ["k000"]
    # the scan answers right away, and a fill starts
    assert backend.keys_with_prefix("old", "k01", 5) == [f"k01{i}" for i in range(5)]
    assert wait_until(lambda: ready(raw, "old"))
    assert_exact(raw, "old")
    no_scan(monkeypatch)
    assert backend.keys_with_prefix("old", "k29", 100) == [f"k29{i}" for i in range(10)]
    assert backend.keys_containing("old", "99", 10) == ["k099", "k199", "k299"]
    backend.submit(Write("delete", "old", "k299")).result()
    backend.submit(Write("set", "old", "k300", value_json="1")).result()
    assert_exact(raw, "old") and ready(raw, "old")


def test_a_fill_stays_exact_while_another_process_writes_between_its_chunks(
    backend: RedisBackend, raw: Any, redis_url: str
) -> None:
    raw.hset("state:g", mapping={f"k{i:03d}": "1" for i in range(400)})
    other = StateManager(redis_url)
    try:
        script, keys = backend._key_script("KEYS_FILL"), key_index_keys("g")
        cursor, done, step = "0", 0, 0
        while True:
            cursor, done = script(keys, [cursor, 20], client=backend._client())
            cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
            # the other process adds, rewrites and deletes keys, seen and unseen by the scan
            other.sync.set("g", f"new{step}", 1)
            other.sync.set("g", f"k{(step * 37) % 400:03d}", 2)
            other.sync.delete("g", f"k{(step * 53 + 11) % 400:03d}")
            step += 1
            if cursor == "0":
                break
        assert done == 1 and ready(raw, "g")
        assert_exact(raw, "g")
    finally:
        other.close()


def test_two_state_managers_keep_one_exact_index(redis_url: str, raw: Any, monkeypatch: Any) -> None:
    a, b = StateManager(redis_url), StateManager(redis_url)
    try:
        for i, k in enumerate(KEYS):
            (a if i % 2 else b).sync.set("g", k, i)
        for k in KEYS[::3]:
            (b if len(k) % 2 else a).sync.delete("g", k)
        a.sync.update("g", "counter", [{"type": "increment", "path": "n", "by": 1}])
        b.sync.update("g", "counter", [{"type": "increment", "path": "n", "by": 1}])
        assert_exact(raw, "g") and ready(raw, "g")
        no_scan(monkeypatch)
        left = sorted(raw.hkeys("state:g"))
        assert a.sync.keys_with_prefix("g", "a", 100) == [k for k in left if k.startswith("a")]
        assert b.backend.keys_containing("g", "b", 100) == [k for k in left if "b" in k]
    finally:
        a.close()
        b.close()


@pytest.fixture
def filled(backend: RedisBackend, raw: Any) -> RedisBackend:
    async def gather() -> None:
        await asyncio.gather(*(backend.submit_async(Write("set", "g", k, value_json="1")) for k in KEYS))

    asyncio.run(gather())
    assert ready(raw, "g")
    return backend


@pytest.mark.parametrize("text", TEXTS)
def test_prefix_and_substring_answers_from_the_index_equal_brute_force(filled: RedisBackend, monkeypatch: Any,
                                                                       text: str) -> None:  # fmt: skip
    no_scan(monkeypatch)
    keys = sorted(set(KEYS))
    for limit in (1, 3, 100):
        assert filled.keys_with_prefix("g", text, limit) == [k for k in keys if k.startswith(text)][:limit]
        assert filled.keys_containing("g", text, limit) == [k for k in keys if text in k][:limit]
        for after in ("a", "a*", "é", "\U0010ffff"):
            got = filled.search_keys("g", text, limit, after=after)
            assert got.complete and got.keys == [k for k in keys if text in k and k > after][:limit]


@pytest.mark.parametrize("text", ["", "a", "*", "本", "nope"])
def test_a_spent_budget_answers_chunk_by_chunk_and_after_resumes_to_the_whole(
    filled: RedisBackend, monkeypatch: Any, text: str
) -> None:
    no_scan(monkeypatch)
    monkeypatch.setattr(key_index, "SEARCH_CHUNK", 4)
    keys = sorted(set(KEYS))
    whole = [k for k in keys if text in k]
    got: list[str] = []
    after, rounds = None, 0
    while True:
        part = filled.search_keys("g", text, 1000, after=after, budget=0)
        rounds += 1
        if part.through is not None:  # every match up to `through` is in the part, none past it
            assert part.keys == [k for k in whole if (after is None or k > after) and k <= part.through]
        got += part.keys
        if part.complete:
            break
        after = part.through
    assert got == whole
    assert rounds == len(keys) // 4 + 1  # one chunk per call


def test_foreign_writes_send_searches_to_the_scan_and_to_a_new_fill(filled: RedisBackend, raw: Any) -> None:
    raw.hdel("state:g", "ab")  # Motia or redis-cli: the index is not told
    raw.hset("state:g", "ab-foreign", "1")
    raw.hset("state:g", "zz", "1")
    keys = sorted(raw.hkeys("state:g"))
    assert filled.keys_with_prefix("g", "ab", 10) == [k for k in keys if k.startswith("ab")]
    assert wait_until(lambda: not filled.key_fill_running("g") and ready(raw, "g"))
    assert_exact(raw, "g")
    raw.hset("state:g", "zzz", "1")
    assert filled.search_keys("g", "z", 10, budget=0).keys == ["z", "zz", "zzz"]  # the scan, whole
    assert wait_until(lambda: not filled.key_fill_running("g") and ready(raw, "g"))
    assert_exact(raw, "g")


def test_key_order_pages_ranks_and_cursors_come_from_the_index(filled: RedisBackend, monkeypatch: Any) -> None:
    from motia_nb.state.backends.redis.reads import RedisReads

    def refuse(*a: Any, **k: Any) -> Any:
        raise AssertionError("the group was read whole, not the key index")
    monkeypatch.setattr(RedisReads, "_read_flat", refuse)
    keys = sorted(set(KEYS))
    for order, ks in (("key", keys), ("-key", keys[::-1])):
        assert [k for k, _ in filled.items("g", order=order)] == ks
        assert [k for k, _ in filled.items("g", 3, 5, order=order)] == ks[3:8]
        assert filled.items("g", 0, 2, order=order)[0][1] == 1
        for i, k in enumerate(ks):
            assert filled.rank("g", k, order=order) == i
        assert filled.rank("g", "missing", order=order) is None
        for cur in ("a", "a*", "é", "aa", "\U0010ffff"):  # present or not: a key has a place
            past = [k for k in ks if (k > cur if order == "key" else k < cur)]
            assert [k for k, _ in filled.items_after("g", cur, 4, order=order)] == past[:4]
            with_it = [k for k in ks if k == cur] + past
            assert [k for k, _ in filled.items_after("g", cur, 4, order=order, inclusive=True)] == with_it[:4]


def test_a_fill_in_progress_stops_quietly_when_the_backend_closes(redis_url: str, raw: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(key_index, "FILL_CHUNK", 10)
    raw.hset("state:g", mapping={f"k{i:05d}": "1" for i in range(20_000)})
    b = RedisBackend(redis_url)
    b.open()
    assert b.keys_with_prefix("g", "k0000", 3) == ["k00000", "k00001", "k00002"]  # the scan; a fill starts
    assert b.key_fill_running("g")
    b.close()
    assert wait_until(lambda: not b.key_fill_running("g"))
    assert not ready(raw, "g")  # stopped part way: not marked complete


def test_a_fill_that_ends_unmarked_is_not_restarted_by_every_search(backend: RedisBackend, raw: Any,
                                                                    monkeypatch: Any) -> None:  # fmt: skip
    raw.hset("state:g", mapping={"a": "1", "b": "1"})
    calls: list[str] = []
    release = threading.Event()

    def unmarked_fill(self: Any, group: str) -> bool:  # as if somebody else wrote the hash all along
        calls.append(group)
        release.wait(5)
        return False
    monkeypatch.setattr(RedisBackend, "fill_key_index", unmarked_fill)
    assert backend.keys_with_prefix("g", "a", 5) == ["a"]
    assert backend.key_fill_running("g")
    release.set()
    assert wait_until(lambda: not backend.key_fill_running("g"))
    assert backend.keys_containing("g", "b", 5) == ["b"]  # the scan answers; no new fill for a while
    assert not backend.key_fill_running("g") and calls == ["g"]
    monkeypatch.setattr(key_index, "REFILL_PAUSE", 0.0)
    assert backend.keys_with_prefix("g", "", 5) == ["a", "b"]
    assert wait_until(lambda: len(calls) == 2)


def test_a_forked_child_starts_its_own_key_jobs(backend: RedisBackend) -> None:
    """Jobs the parent was running at fork time do not run in the child: it must not believe them
    running (it would never fill or make a key text for those groups)."""
    import os

    lock, filling, _, building = backend._key_jobs()
    with lock:
        filling.add("big")
        building.add("big")
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then leave without running the parent's exit hooks
            answer = b"%d%d" % (backend.key_fill_running("big"), backend.key_text_running("big"))
            os.write(w, answer)
            os._exit(0)
        os.close(w)
        answer = os.read(r, 8)
        os.close(r)
        os.waitpid(pid, 0)
        assert answer == b"00"
        assert backend.key_fill_running("big") and backend.key_text_running("big")  # the parent's own
    finally:
        with lock:
            filling.discard("big")
            building.discard("big")
