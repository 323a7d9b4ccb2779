"""The key text of a searched big Redis group (``motia_nb:keys_chunks:`` / ``motia_nb:keys_text:``,
:mod:`motia_nb.state.backends.redis.key_index`), with tiny chunks so a few keys make many:

- every chunk text that exists is exactly the index's keys between its bounds (and no chunk
  with a text is over twice the chunk size), after searches and after every kind of write;
  a write that adds or removes a key drops its own chunk's text only, an update none;
- substring answers from it equal a brute-force answer (glob characters, unicode, an empty
  text, limits, ``after=``), call by call with a spent budget too, and through a random run of
  sets, deletes and searches; chunks are cut and joined as keys come and go;
- a key holding a NUL (written by another program) is found right (its chunk is walked);
- a fill of the index drops the text; a search that made texts starts a background build of
  the rest; a small group keeps no text.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import RedisBackend, key_index
from motia_nb.state.ops import normalize_ops
from motia_nb.testing import fixtures as shared

pytestmark = pytest.mark.redis

backend = shared.redis_backend
raw = shared.redis_client

KEYS = [
    "a", "ab", "abc", "abd", "ac", "b", "a*b", "a*", "a?", "a[1]", "a]", "a\\x", "\\", "*", "?", "[", "é", "éa",
    "z", "\U0010ffff", "\U0010ffffa", "\ue000", "日本語", "本", "order-1", "order-10", "order-2", "Order-3",
    "with space", "a%b", "a.b", "a-b", "ÿ", "aÿ", "%z", "\x01", "a\nb", "(", "-", "+",
]  # fmt: skip
TEXTS = ["", "a", "ab", "a*", "*", "?", "[", "]", "\\", "é", "\U0010ffff", "本", "order-1", "-", "%", ".", "ÿ",
         "nope", "%z", "\n", "\x01", "(", "+"]  # fmt: skip
AFTERS = [None, "", "a", "a*", "é", "aa", "order-10", "\U0010ffff", "\U0010ffffb"]


@pytest.fixture
def tiny(monkeypatch: Any) -> None:
    """Every group keeps a key text, in chunks of 4 keys (cut past 8, joined under 1)."""
    monkeypatch.setattr(key_index, "TEXT_THRESHOLD", 0)
    monkeypatch.setattr(key_index, "TEXT_CHUNK", 4)


def no_scan(monkeypatch: Any) -> None:
    def refuse(*a: Any) -> Any:
        raise AssertionError("the scan answered, not the key index")
    monkeypatch.setattr(RedisBackend, "_scan_prefix", refuse)
    monkeypatch.setattr(RedisBackend, "_scan_containing", refuse)


def wait_until(cond: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def snapshot(raw: Any, group: str) -> tuple[list[str], dict[str, str], list[str]]:
    """(chunk bounds, chunk texts, index), read at one moment (a background build may be at work)."""
    pipe = raw.pipeline(transaction=True)
    pipe.zrange(f"motia_nb:keys_chunks:{group}", 0, -1)
    pipe.hgetall(f"motia_nb:keys_text:{group}")
    pipe.zrange(f"motia_nb:keys:{group}", 0, -1)
    bounds, texts, keys = pipe.execute()
    return bounds, texts, sorted(keys)


def chunks_of(raw: Any, group: str) -> tuple[list[str], dict[str, str]]:
    return snapshot(raw, group)[:2]


def assert_text_exact(raw: Any, group: str) -> int:
    """Every chunk text there is holds exactly the index's keys between its bounds; the number
    of chunks with a text."""
    bounds, texts, keys = snapshot(raw, group)
    if not bounds:
        assert not texts
        return 0
    assert bounds[0] == "" and bounds == sorted(bounds) and set(texts) <= set(bounds)
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] if i + 1 < len(bounds) else None
        mine = [k for k in keys if k >= lo and (hi is None or k < hi)]
        if lo not in texts:
            continue
        if texts[lo] == "W":
            assert any("\x00" in k for k in mine)
        else:
            assert texts[lo] == ("\x00" + "\x00".join(mine) + "\x00" if mine else "")
        assert len(mine) <= 2 * key_index.TEXT_CHUNK
    return len(texts)


def brute(raw: Any, group: str, text: str, limit: int, after: str | None = None) -> list[str]:
    keys = sorted(raw.hkeys(f"state:{group}"))
    return [k for k in keys if text in k and (after is None or k > after)][:limit]


def whole_by_parts(b: RedisBackend, group: str, text: str, limit: int, after: str | None = None) -> tuple[list[str], int]:
    """The answer assembled from calls with a spent budget (each one script call), and the calls."""
    got: list[str] = []
    calls = 0
    while True:
        part = b.search_keys(group, text, limit - len(got), after=after, budget=0)
        calls += 1
        got += part.keys
        if part.complete:
            return got, calls
        assert part.through is not None and (after is None or part.through >= after)
        after = part.through


def set_all(b: RedisBackend, group: str, keys: list[str]) -> None:
    async def gather() -> None:
        await asyncio.gather(*(b.submit_async(Write("set", group, k, value_json="1")) for k in keys))
    asyncio.run(gather())


@pytest.mark.parametrize("text", TEXTS)
def test_answers_from_the_key_text_equal_brute_force(backend: RedisBackend, raw: Any, monkeypatch: Any,
                                                     tiny: None, text: str) -> None:  # fmt: skip
    set_all(backend, "g", KEYS)
    no_scan(monkeypatch)
    monkeypatch.setattr(key_index, "SCAN_BYTES", 1)  # a call ends after each chunk that holds a key
    for limit in (1, 3, 100):
        for after in AFTERS:
            got = backend.search_keys("g", text, limit, after=after)
            assert got.complete and got.keys == brute(raw, "g", text, limit, after)
            assert whole_by_parts(backend, "g", text, limit, after)[0] == got.keys
    if text:
        assert assert_text_exact(raw, "g") == len(chunks_of(raw, "g")[0]) > 5  # made whole, cut in chunks
    assert wait_until(lambda: not backend.key_text_running("g"))


def test_every_kind_of_write_drops_only_its_own_chunk_text(backend: RedisBackend, raw: Any, monkeypatch: Any,
                                                           tiny: None) -> None:  # fmt: skip
    s = backend
    set_all(s, "g", [f"k{i:03d}" for i in range(0, 200, 2)])
    no_scan(monkeypatch)
    s.build_key_text("g")
    n = assert_text_exact(raw, "g")
    assert n == len(chunks_of(raw, "g")[0]) >= 100 // 8

    def dropped_after(w: Write, drop: int) -> None:
        before = assert_text_exact(raw, "g")
        s.submit(w).result()
        assert assert_text_exact(raw, "g") == before - drop
        for text in ("k", "1", "k05", "nope", "3"):
            assert s.search_keys("g", text, 1000).keys == brute(raw, "g", text, 1000)
        assert assert_text_exact(raw, "g") == len(chunks_of(raw, "g")[0])  # the search made it again

    dropped_after(Write("set", "g", "k051", value_json="1"), 1)  # a new key: its chunk
    dropped_after(Write("set", "g", "k050", value_json="2"), 0)  # a new value: nothing
    inc = normalize_ops([{"type": "increment", "path": "n", "by": 1}], group_id="g", key="k101")
    dropped_after(Write("update", "g", "k101", ops=inc), 1)  # cas.lua, a new item
    dropped_after(Write("update", "g", "k101", ops=inc), 0)
    dropped_after(Write("delete", "g", "k020"), 1)
    dropped_after(Write("delete", "g", "k021"), 0)  # nothing to delete
    dropped_after(Write("set", "g", "a", value_json="1"), 1)  # before every bound but ""
    before = assert_text_exact(raw, "g")
    bounds = chunks_of(raw, "g")[0]
    new = ["k151", "k153", "k155", "k171", "zz"]
    hit = {max(b for b in bounds if b <= k) for k in new}
    set_all(s, "g", new)  # one set_many.lua call
    assert s._writer.pipelines > 0 and assert_text_exact(raw, "g") == before - len(hit)
    s.write_all([Write("set", "g", f"imp-{i}", value_json="1") for i in range(5)])  # an import: MULTI of set.lua
    assert_text_exact(raw, "g")
    assert s.search_keys("g", "mp-", 100).keys == brute(raw, "g", "mp-", 100)
    s.submit(Write("clear", "g")).result()
    assert raw.exists("motia_nb:keys_chunks:g", "motia_nb:keys_text:g") == 0
    s.submit(Write("set", "g", "again", value_json="1")).result()
    assert s.search_keys("g", "gai", 10).keys == ["again"]
    assert assert_text_exact(raw, "g") == 1


def test_chunks_are_cut_and_joined_as_keys_come_and_go(backend: RedisBackend, raw: Any, monkeypatch: Any,
                                                       tiny: None) -> None:  # fmt: skip
    no_scan(monkeypatch)
    set_all(backend, "g", [f"k{i:03d}" for i in range(10)])
    assert backend.search_keys("g", "k", 1).keys == ["k000"]
    backend.build_key_text("g")
    assert len(chunks_of(raw, "g")[0]) == 2  # 10 keys: cut once (4 + 6)
    set_all(backend, "g", [f"k005{i:02d}" for i in range(40)])  # 40 keys into one chunk
    assert backend.search_keys("g", "nope", 10).keys == []
    assert assert_text_exact(raw, "g") == len(chunks_of(raw, "g")[0]) >= 50 // 8
    for k in [f"k005{i:02d}" for i in range(40)] + ["k001", "k002", "k003"]:
        backend.submit(Write("delete", "g", k)).result()
    assert backend.search_keys("g", "0", 100).keys == brute(raw, "g", "0", 100)
    assert_text_exact(raw, "g")
    bounds = chunks_of(raw, "g")[0]
    assert len(bounds) <= 4  # emptied chunks were joined to their neighbours


def test_a_random_run_of_writes_and_searches_stays_exact(backend: RedisBackend, raw: Any, monkeypatch: Any,
                                                         tiny: None) -> None:  # fmt: skip
    no_scan(monkeypatch)
    monkeypatch.setattr(key_index, "SCAN_BYTES", 20)
    monkeypatch.setattr(key_index, "BUILD_KEYS", 6)
    rng = random.Random(15)
    alphabet = "ab*?[é本-"
    pool = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(150)]
    set_all(backend, "g", pool[:30])  # the group exists (a search of a missing one scans)
    for step in range(300):
        r = rng.random()
        if r < 0.45:
            backend.submit(Write("set", "g", rng.choice(pool), value_json="1")).result()
        elif r < 0.65:
            backend.submit(Write("delete", "g", rng.choice(pool))).result()
        elif r < 0.7:
            set_all(backend, "g", rng.sample(pool, 6))
        else:
            text = rng.choice(["", "a", "b", "*", "?", "[", "é", "本", "-", "ab", "a*", "本-", "zz"])
            limit = rng.choice([1, 2, 5, 1000])
            after = rng.choice([None, None, rng.choice(pool)])
            want = brute(raw, "g", text, limit, after)
            if rng.random() < 0.5:
                assert backend.search_keys("g", text, limit, after=after).keys == want, (step, text, after)
            else:
                assert whole_by_parts(backend, "g", text, limit, after)[0] == want, (step, text, after)
            assert_text_exact(raw, "g")


def test_a_key_holding_a_nul_is_found_by_walking_its_chunk(backend: RedisBackend, raw: Any, monkeypatch: Any,
                                                           tiny: None) -> None:  # fmt: skip
    raw.hset("state:g", mapping={k: "1" for k in KEYS + ["a\x00b", "\x00", "b\x00"]})  # another program
    backend.fill_key_index("g")
    no_scan(monkeypatch)
    for text in ["a", "b", "\x00", "a\x00", "\x00b", "ab", "本", "nope", ""]:
        for after in (None, "a", "a\x00", "b"):
            assert backend.search_keys("g", text, 100, after=after).keys == brute(raw, "g", text, 100, after)
    assert "W" in chunks_of(raw, "g")[1].values()
    assert_text_exact(raw, "g")


def test_a_fill_drops_the_text_and_a_search_that_made_texts_builds_the_rest(backend: RedisBackend, raw: Any,
                                                                            monkeypatch: Any, tiny: None) -> None:  # fmt: skip
    set_all(backend, "g", [f"k{i:03d}" for i in range(200)])
    monkeypatch.setattr(key_index, "BUILD_KEYS", 8)
    assert backend.search_keys("g", "k", 3).keys == ["k000", "k001", "k002"]  # made the first chunks only
    assert wait_until(lambda: not backend.key_text_running("g"))
    bounds, texts = chunks_of(raw, "g")
    assert len(bounds) >= 200 // 8 and set(texts) == set(bounds)  # the rest, in the background
    assert_text_exact(raw, "g")
    raw.hset("state:g", "foreign", "1")  # another program: the index is not told
    assert backend.search_keys("g", "ore", 10).keys == ["foreign"]  # the scan, and a fill
    assert wait_until(lambda: not backend.key_fill_running("g") and raw.get("motia_nb:keys_ready:g") == "1")
    assert chunks_of(raw, "g") == ([], {})
    no_scan(monkeypatch)
    assert backend.search_keys("g", "ore", 10).keys == ["foreign"]
    assert backend.search_keys("g", "99", 10).keys == ["k099", "k199"]
    assert assert_text_exact(raw, "g") > 0


def test_a_small_group_keeps_no_text(backend: RedisBackend, raw: Any, monkeypatch: Any) -> None:
    set_all(backend, "g", KEYS)
    no_scan(monkeypatch)
    assert backend.search_keys("g", "a", 100).keys == brute(raw, "g", "a", 100)
    backend.build_key_text("g")
    assert not backend.key_text_running("g")
    assert raw.exists("motia_nb:keys_chunks:g", "motia_nb:keys_text:g") == 0
    monkeypatch.setattr(key_index, "TEXT_THRESHOLD", len(KEYS))
    assert backend.search_keys("g", "a", 100).keys == brute(raw, "g", "a", 100)
    assert raw.exists("motia_nb:keys_chunks:g") == 1


def test_two_processes_share_one_exact_key_text(redis_url: str, raw: Any, monkeypatch: Any, tiny: None) -> None:
    a, b = StateManager(redis_url), StateManager(redis_url)
    try:
        for i in range(60):
            a.sync.set("g", f"k{i:02d}", i)
        no_scan(monkeypatch)
        assert a.backend.keys_containing("g", "5", 100) == brute(raw, "g", "5", 100)
        for i in range(0, 60, 7):
            b.sync.delete("g", f"k{i:02d}")
            b.sync.set("g", f"k{i:02d}x", i)
        assert a.backend.keys_containing("g", "x", 100) == brute(raw, "g", "x", 100)
        assert b.backend.keys_containing("g", "5", 100) == brute(raw, "g", "5", 100)
        assert_text_exact(raw, "g")
    finally:
        a.close()
        b.close()
