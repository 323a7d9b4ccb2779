"""Searches over the key text of a big Redis group (``motia_nb:keys_chunks:`` / ``motia_nb:keys_text:``,
:mod:`motia_nb.state.backends.redis.key_index`), with tiny chunks so a few keys make many
(the writes keeping it: tests/test_redis_key_text_writes.py):

- substring answers from it equal a brute-force answer (glob characters, unicode, an empty
  text, limits, ``after=``), call by call with a spent budget too, and through a random run of
  sets, deletes and searches in which the writes keep every chunk text exact and present;
- a key holding a NUL (written by another program) is found right (its chunk is walked);
- a text still missing somewhere (a group grown big under an older motia_nb) is made by the
  search that meets it and a background build of the rest; a text cut by an older motia_nb
  (bounds scored 0) is made again; a small group keeps no text.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from redis_key_text_helpers import (
    KEYS, assert_text_exact, brute, chunks_of, made_by_searches, no_scan, set_all, tiny_sizes,
    whole_by_parts,
)  # fmt: skip

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import RedisBackend, key_index
from motia_nb.testing import fixtures as shared
from motia_nb.testing.races import wait_until

pytestmark = pytest.mark.redis

backend = shared.redis_backend
raw = shared.redis_client

TEXTS = ["", "a", "ab", "a*", "*", "?", "[", "]", "\\", "é", "\U0010ffff", "本", "order-1", "-", "%", ".", "ÿ",
         "nope", "%z", "\n", "\x01", "(", "+"]  # fmt: skip
AFTERS = [None, "", "a", "a*", "é", "aa", "order-10", "\U0010ffff", "\U0010ffffb"]


@pytest.fixture
def tiny(monkeypatch: Any) -> None:
    tiny_sizes(monkeypatch)


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


def test_a_random_run_of_writes_and_searches_stays_exact(backend: RedisBackend, raw: Any, monkeypatch: Any,
                                                         tiny: None) -> None:  # fmt: skip
    no_scan(monkeypatch)
    monkeypatch.setattr(key_index, "SCAN_BYTES", 20)
    monkeypatch.setattr(key_index, "BUILD_KEYS", 6)
    rng = random.Random(15)
    alphabet = "ab*?[é本-"
    pool = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(150)]
    set_all(backend, "g", pool[:30])  # the group exists (a search of a missing one scans)
    backend.build_key_text("g")  # its key text (the tiny sizes: from the first key)
    made = made_by_searches(monkeypatch)
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
        assert_text_exact(raw, "g", complete=True)  # the writes keep every chunk's text
    assert len(made) > 50 and not any(made)  # so the searches never made one


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


def test_a_fill_drops_the_text_and_makes_it_again_when_it_ends(backend: RedisBackend, raw: Any,
                                                               monkeypatch: Any, tiny: None) -> None:  # fmt: skip
    set_all(backend, "g", [f"k{i:03d}" for i in range(200)])
    backend.build_key_text("g")
    assert assert_text_exact(raw, "g", complete=True) >= 200 // 8
    raw.hset("state:g", "foreign", "1")  # another program: the index is not told
    assert backend.search_keys("g", "ore", 10).keys == ["foreign"]  # the scan, and a fill
    assert wait_until(lambda: not backend.key_fill_running("g"))
    assert raw.get("motia_nb:keys_ready:g") == "1"
    assert assert_text_exact(raw, "g", complete=True) >= 200 // 8  # made by the fill's thread as it ended
    no_scan(monkeypatch)
    made = made_by_searches(monkeypatch)
    assert backend.search_keys("g", "ore", 10).keys == ["foreign"]
    assert backend.search_keys("g", "99", 10).keys == ["k099", "k199"]
    assert made and not any(made)


def test_missing_texts_are_made_by_the_search_that_meets_them_and_a_background_build(
    backend: RedisBackend, raw: Any, monkeypatch: Any, tiny: None
) -> None:
    """As for a group that grew big under an older motia_nb (its writes dropped chunk texts)."""
    set_all(backend, "g", [f"k{i:03d}" for i in range(200)])
    backend.build_key_text("g")
    bounds, _ = chunks_of(raw, "g")
    raw.hdel("motia_nb:keys_text:g", *bounds[::3])
    monkeypatch.setattr(key_index, "BUILD_KEYS", 8)
    no_scan(monkeypatch)
    made = made_by_searches(monkeypatch)
    assert backend.search_keys("g", "k", 3).keys == ["k000", "k001", "k002"]  # made the first chunk only
    assert made == [4]
    assert wait_until(lambda: not backend.key_text_running("g"))
    assert assert_text_exact(raw, "g", complete=True) == len(bounds)  # the rest, in the background
    assert backend.search_keys("g", "9", 100).keys == brute(raw, "g", "9", 100)


def test_a_text_cut_by_an_older_motia_nb_is_made_again(backend: RedisBackend, raw: Any, monkeypatch: Any,
                                                      tiny: None) -> None:  # fmt: skip
    """Its bounds are scored 0 and its writes dropped chunk texts: a write or a search drops it."""
    set_all(backend, "g", [f"k{i:03d}" for i in range(40)])
    raw.zadd("motia_nb:keys_chunks:g", {"": 0, "k020": 0})
    raw.hset("motia_nb:keys_text:g", "", "stale")
    backend.submit(Write("set", "g", "k999", value_json="1")).result()
    assert chunks_of(raw, "g") == ([], {})
    raw.zadd("motia_nb:keys_chunks:g", {"": 0, "k020": 0})
    raw.hset("motia_nb:keys_text:g", "", "stale")
    no_scan(monkeypatch)
    assert backend.search_keys("g", "99", 10).keys == ["k999"]
    assert wait_until(lambda: not backend.key_text_running("g"))
    assert assert_text_exact(raw, "g", complete=True) == 10  # 41 keys: nine chunks of 4, the last of 5


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
        assert_text_exact(raw, "g", complete=True)
    finally:
        a.close()
        b.close()
