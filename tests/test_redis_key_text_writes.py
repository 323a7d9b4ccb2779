"""The writes keep the key text of a big Redis group (``lua/key_text.lua``,
:mod:`motia_nb.state.backends.redis.key_index`), so no search has a chunk text to make:

- every kind of write (set, a gathered run in one ``set_many.lua`` call, update, delete, clear,
  an import's MULTI) leaves every chunk text present and exactly the index's keys between its
  bounds; a write that only changes a value leaves the texts as they were;
- a chunk grown past twice the chunk size is cut, one shrunk under a quarter joined to the next;
- a group at the real threshold (20,000 keys) keeps no text until it is searched; the first
  search makes it, with the real chunk size, and scattered inserts and deletes, cuts and joins
  keep it so;
- a child forked from a process holding the backend writes and searches right;
- a group written by another program (no key index) answers from the scan first, and from a
  complete key text as soon as the fill ends.
"""

from __future__ import annotations

import multiprocessing
import random
from typing import Any

import pytest
from redis_key_text_helpers import (
    assert_text_exact, brute, chunk_sizes, chunks_of, made_by_searches, no_scan, set_all, tiny_sizes,
)  # fmt: skip

from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import RedisBackend, key_index
from motia_nb.state.ops import normalize_ops
from motia_nb.testing import fixtures as shared
from motia_nb.testing.races import wait_until

pytestmark = pytest.mark.redis

backend = shared.redis_backend
raw = shared.redis_client


def searches_agree(b: RedisBackend, raw: Any, group: str, texts: tuple[str, ...] = ("k", "1", "05", "nope", "3x")) -> None:
    for text in texts:
        assert b.search_keys(group, text, 1000).keys == brute(raw, group, text, 1000), text


def test_every_kind_of_write_keeps_every_chunk_text_exact(backend: RedisBackend, raw: Any,
                                                         monkeypatch: Any) -> None:  # fmt: skip
    tiny_sizes(monkeypatch)
    s = backend
    set_all(s, "g", [f"k{i:03d}" for i in range(0, 200, 2)])
    s.build_key_text("g")
    assert assert_text_exact(raw, "g", complete=True) >= 100 // 8
    no_scan(monkeypatch)
    made = made_by_searches(monkeypatch)

    def kept_after(w: Write, changed: bool = True) -> None:
        before = chunks_of(raw, "g")
        s.submit(w).result()
        assert assert_text_exact(raw, "g", complete=True)
        assert (chunks_of(raw, "g") != before) == changed, w
        searches_agree(s, raw, "g")

    kept_after(Write("set", "g", "k051", value_json="1"))  # a new key
    kept_after(Write("set", "g", "k050", value_json="2"), changed=False)  # a new value
    inc = normalize_ops([{"type": "increment", "path": "n", "by": 1}], group_id="g", key="k101")
    kept_after(Write("update", "g", "k101", ops=inc))  # cas.lua, a new item
    kept_after(Write("update", "g", "k101", ops=inc), changed=False)
    kept_after(Write("delete", "g", "k020"))
    kept_after(Write("delete", "g", "k021"), changed=False)  # nothing to delete
    kept_after(Write("set", "g", "a", value_json="1"))  # before every bound but ""
    kept_after(Write("set", "g", "zz", value_json="1"))  # past the last
    kept_after(Write("delete", "g", "a"))
    set_all(s, "g", ["k151", "k153", "k155", "k171", "zz", "k0", "k1999"])  # one set_many.lua call
    assert s._writer.pipelines > 0 and assert_text_exact(raw, "g", complete=True)
    s.write_all([Write("set", "g", f"imp-{i}", value_json="1") for i in range(5)])  # an import: MULTI of set.lua
    assert_text_exact(raw, "g", complete=True)
    searches_agree(s, raw, "g", ("mp-", "k1", "z"))
    assert made and not any(made)  # the searches read text only
    s.submit(Write("clear", "g")).result()
    assert raw.exists("motia_nb:keys_chunks:g", "motia_nb:keys_text:g") == 0
    s.submit(Write("set", "g", "again", value_json="1")).result()  # a small group again: walked
    assert s.search_keys("g", "gai", 10).keys == ["again"]


def test_the_writes_cut_a_grown_chunk_and_join_a_shrunk_one(backend: RedisBackend, raw: Any,
                                                           monkeypatch: Any) -> None:  # fmt: skip
    tiny_sizes(monkeypatch)
    monkeypatch.setattr(key_index, "TEXT_CHUNK", 16)  # cut past 32 keys, joined under 4, counted every 32 bytes
    set_all(backend, "g", [f"k{i:03d}" for i in range(40)])
    backend.build_key_text("g")
    assert chunk_sizes(raw, "g") == [16, 24]
    inside = [f"k005{i:03d}" for i in range(150)]  # into the first chunk
    for i, k in enumerate(inside):
        if i % 3:
            backend.submit(Write("set", "g", k, value_json="1")).result()
        else:
            set_all(backend, "g", [k])
        assert max(chunk_sizes(raw, "g")) <= 32 + 4  # (keys of 8 bytes: counted every 4)
    assert assert_text_exact(raw, "g", complete=True) >= 190 // 32
    assert len(chunks_of(raw, "g")[0]) >= 6
    random.Random(3).shuffle(inside)
    most = len(chunks_of(raw, "g")[0])
    for k in inside + [f"k{i:03d}" for i in range(1, 40, 2)]:
        backend.submit(Write("delete", "g", k)).result()
        sizes = chunk_sizes(raw, "g")
        assert min(sizes[:-1], default=1) >= 1  # an emptied chunk is joined to the next at once
        most = max(most, len(sizes))
    assert assert_text_exact(raw, "g", complete=True) <= 3 < most
    no_scan(monkeypatch)
    searches_agree(backend, raw, "g", ("k", "0", "k005", "1"))


def test_a_searched_big_group_keeps_its_text_through_writes(backend: RedisBackend, raw: Any,
                                                            monkeypatch: Any) -> None:  # fmt: skip
    """The real sizes: 20,000 keys, chunks of 512. A group nobody searched keeps no text (its
    writes pay nothing for it); the first search makes it, and from then on writes keep it."""
    n = key_index.TEXT_THRESHOLD
    set_all(backend, "big", [f"item-{i:06d}" for i in range(0, 2 * n, 2)])
    backend.submit(Write("delete", "big", "item-000000")).result()
    backend.submit(Write("set", "big", "item-000001", value_json="1")).result()
    assert raw.zcard("motia_nb:keys:big") == n and raw.exists("motia_nb:keys_chunks:big") == 0
    assert backend.search_keys("big", "item-0000", 1000).keys == brute(raw, "big", "item-0000", 1000)
    assert wait_until(lambda: not backend.key_text_running("big"), 30)
    assert assert_text_exact(raw, "big", complete=True) == n // key_index.TEXT_CHUNK
    assert raw.zscore("motia_nb:keys_chunks:big", "") == key_index.TEXT_CHUNK
    no_scan(monkeypatch)
    made = made_by_searches(monkeypatch)
    rng = random.Random(15)
    scattered = [f"item-{rng.randrange(2 * n):06d}x" for _ in range(2_000)]
    set_all(backend, "big", scattered)  # gathered: set_many.lua calls
    for k in rng.sample(scattered, 300):
        backend.submit(Write("delete", "big", k)).result()
    for k in rng.sample(sorted(raw.hkeys("state:big")), 300):
        backend.submit(Write("delete", "big", k)).result()
    assert assert_text_exact(raw, "big", complete=True)
    set_all(backend, "big", [f"item-010000-{i:04d}" for i in range(1_500)])  # one chunk past 2,048: cut
    sizes = chunk_sizes(raw, "big")
    assert max(sizes) <= 2 * key_index.TEXT_CHUNK + 2 * key_index.TEXT_CHUNK // 12
    assert len(sizes) > n // key_index.TEXT_CHUNK
    for i in range(0, 4_000, 2):  # the first chunks shrink: joined
        backend.submit(Write("delete", "big", f"item-{i:06d}")).result()
    # joined under a quarter, counted every 1,024 bytes (85 keys of 12 bytes)
    assert min(chunk_sizes(raw, "big")[:-1]) >= key_index.TEXT_CHUNK // 4 - 2 * key_index.TEXT_CHUNK // 12
    assert assert_text_exact(raw, "big", complete=True)
    searches_agree(backend, raw, "big", ("item-01", "x", "9999", "-0100", "nope", "00001"))
    assert made and not any(made)


def _child_writes(backend: RedisBackend, q: Any) -> None:
    try:
        rng = random.Random(7)
        for i in range(60):
            k = f"k{rng.randrange(400):03d}{'c' if i % 2 else ''}"
            backend.submit(Write("delete" if i % 3 == 0 else "set", "g", k, value_json="1")).result()
        got = backend.search_keys("g", "c", 1000).keys
        ok = wait_until(lambda: not backend.key_text_running("g"), 10)
        q.put(("ok", got, ok))
    except Exception as exc:  # reported to the parent
        q.put(("error", repr(exc), False))


def test_a_forked_child_keeps_the_key_text_exact(backend: RedisBackend, raw: Any, monkeypatch: Any) -> None:
    tiny_sizes(monkeypatch)
    set_all(backend, "g", [f"k{i:03d}" for i in range(0, 400, 2)])
    backend.build_key_text("g")
    bounds, _ = chunks_of(raw, "g")
    raw.hdel("motia_nb:keys_text:g", *bounds[5::7])  # a few still to be made: the child's search makes them
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=_child_writes, args=(backend, q))
    child.start()
    status, got, built = q.get(timeout=60)
    child.join(30)
    assert status == "ok", got
    assert got == brute(raw, "g", "c", 1000) and built
    assert assert_text_exact(raw, "g", complete=True)  # made by the child's search and its background build
    no_scan(monkeypatch)
    searches_agree(backend, raw, "g", ("k", "c", "1", "k3"))


def test_a_group_written_by_another_program_answers_from_a_complete_text_once_filled(
    backend: RedisBackend, raw: Any, monkeypatch: Any
) -> None:
    tiny_sizes(monkeypatch)
    raw.hset("state:g", mapping={f"k{i:04d}": "1" for i in range(3_000)})  # no key index
    assert backend.search_keys("g", "999", 10).keys == ["k0999", "k1999", "k2999"]  # the scan; a fill starts
    assert wait_until(lambda: not backend.key_fill_running("g"))
    assert assert_text_exact(raw, "g", complete=True) >= 3_000 // 8
    no_scan(monkeypatch)
    made = made_by_searches(monkeypatch)
    backend.submit(Write("set", "g", "k0999x", value_json="1")).result()
    assert backend.search_keys("g", "999", 10).keys == ["k0999", "k0999x", "k1999", "k2999"]
    assert made and not any(made)
    assert assert_text_exact(raw, "g", complete=True)
