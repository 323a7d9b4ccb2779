"""The Redis rows of :mod:`benchmarks.viewer_big`: key search and completion on a 1,000,000-field
Redis hash, before the key index (``HSCAN MATCH`` over every field, what motia_nb did until
now and still does for a group until its index is filled) and from it (``ZRANGEBYLEX``;
substring: the group's key text, chunks of keys joined in long strings, searched on the
server). Best of 5, in milliseconds.

The hash is written by hand (``HSET`` in a pipeline, with the order index as an older
motia_nb would leave it: no key index), so the rows also show the fill: its duration and the longest a write
waited meanwhile. Then the first substring search (once: it makes the key text as it goes,
and a background thread makes the rest), the key text's size, searches from it (complete:
every call to the end; "calls" and "longest call" are the script calls, the longest is what
another client may wait), and the same after 1,000 new keys scattered over the group (each
drops its chunk's text, which the search makes again).

    python benchmarks/viewer_big.py --redis [--items N]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from typing import Any

from motia_nb.notebook.viewer.data import off_loop
from motia_nb.notebook.viewer.finding import REST_BUDGET, SEARCH_BUDGET
from motia_nb.notebook.viewer.paging import find_keys, find_rest, page_of_key
from motia_nb.state import StateManager
from motia_nb.testing.redis_server import running_redis_server


def timed(fn: Any, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def line(label: str, ms: float, target: float | None = None, note: str = "") -> None:
    verdict = "" if target is None else f"   target < {target:g} ms: {'met' if ms < target else 'MISSED'}"
    print(f"{label:86s} {ms:9.2f} ms{verdict}{note}", flush=True)


def run(n: int) -> None:
    with running_redis_server() as server:
        c = server.client()
        t0 = time.perf_counter()
        for lo in range(0, n, 10_000):
            part = range(lo, min(n, lo + 10_000))
            pipe = c.pipeline(transaction=False)
            pipe.hset("state:big", mapping={f"item-{i:07d}": json.dumps({"n": i, "status": "ok"}) for i in part})
            pipe.zadd("motia_nb:order:big", {f"item-{i:07d}": i + 1 for i in part})
            pipe.execute()
        c.set("motia_nb:seq", n)
        print(f"redis: wrote {n:,} fields to state:big (and the order index, as an older motia_nb would) by hand "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        m = StateManager(server.url)
        b: Any = m.backend
        try:
            # before the index: what every search cost until now
            line("redis, no index: prefix 'item-09999' (HSCAN MATCH)", timed(lambda: b._scan_prefix("big", "item-09999", 51), 3))
            line("redis, no index: substring '99999' (HSCAN MATCH)", timed(lambda: b._scan_containing("big", "99999", 51), 3))
            # the fill, with a writer beside it
            waits: list[float] = []
            t0 = time.perf_counter()
            b._start_key_fill("big")
            k = 0
            while b.key_fill_running("big"):
                t = time.perf_counter()
                m.sync.set("writes", f"w{k}", k)
                waits.append(time.perf_counter() - t)
                k += 1
                time.sleep(0.005)
            line("redis: the key index fill (background, chunks of HSCAN)", (time.perf_counter() - t0) * 1000,
                 note=f"   ({len(waits)} writes beside it, the longest waited {max(waits, default=0) * 1000:.2f} ms)")
            assert c.get("motia_nb:keys_ready:big") == b"1"
            line("redis, index: completion prefix 'item-09999' (cap 101)",
                 timed(lambda: m.sync.keys_with_prefix("big", "item-09999", 101)), 100)
            line("redis, index: completion prefix 'item-' (cap 101, 1M match)",
                 timed(lambda: m.sync.keys_with_prefix("big", "item-", 101)), 100)
            asyncio.run(viewer_rows(m))
        finally:
            m.close()
            c.close()
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


async def viewer_rows(m: StateManager) -> None:
    heavy = off_loop(m)
    b: Any = m.backend
    c = b._client()

    async def best(text: str, runs: int = 5) -> tuple[float, Any, float]:
        wall, found, whole = float("inf"), None, float("inf")
        for _ in range(runs):
            t0 = time.perf_counter()
            found = await find_keys(m, "big", text, 50, heavy, budget=SEARCH_BUDGET)
            wall = min(wall, time.perf_counter() - t0)
            await find_rest(m, "big", found, 50, heavy, budget=REST_BUDGET)
            whole = min(whole, time.perf_counter() - t0)
        return wall * 1000, found, whole * 1000

    async def viewer_row(label: str, text: str, runs: int = 5) -> None:
        ms, found, whole = await best(text, runs)
        state = "complete" if found.complete else f"partial through {found.through!r}"
        line(f"redis, index: viewer key search {label}", ms, 100,
             f"   ({len(found.keys)} keys, {state}; complete after {whole:.0f} ms)")

    await viewer_row("prefix 'item-09999'", "item-09999")
    await viewer_row("FIRST substring '12345' (makes the key text)", "12345", runs=1)
    t0 = time.perf_counter()
    while b.key_text_running("big"):
        await asyncio.sleep(0.005)
    text_mb = (c.memory_usage("motia_nb:keys_text:big", samples=0) or 0) / 1e6
    index_mb = (c.memory_usage("motia_nb:keys:big", samples=0) or 0) / 1e6
    line("redis: the rest of the key text, made in the background (after the first search)",
         (time.perf_counter() - t0) * 1000, note=f"   ({c.zcard('motia_nb:keys_chunks:big')} chunks, "
         f"{text_mb:.1f} MB; the key index: {index_mb:.1f} MB)")
    for label, text in [("substring '99' (common)", "99"),
                        ("substring '12345' (20 matches, all of the text read)", "12345"),
                        ("substring 'nope' (no match)", "nope"),
                        ("substring '-09' (100,000 matches, late in key order)", "-09")]:
        await viewer_row(label, text)
    for label, text in [("'12345'", "12345"), ("'nope'", "nope"), ("'item' (every key)", "item")]:
        complete_row(b, f"redis, key text: complete search {label}", text)
    rng, size = random.Random(15), int(c.zcard("motia_nb:keys:big"))
    for i in range(1000):  # spread over the group's keys: each drops its chunk's text
        await m.set("big", f"item-{rng.randrange(size):07d}x", i)
    complete_row(b, "redis, key text: complete search '12345' after 1,000 scattered new keys", "12345", runs=1)
    complete_row(b, "redis, key text: complete search '12345', again", "12345")
    best_ms = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        await page_of_key(m, "big", "item-0500000", "key", 50, heavy)
        best_ms = min(best_ms, (time.perf_counter() - t0) * 1000)
    line("redis, index: go to key 'item-0500000', key order (ZRANK + a page)", best_ms, 100)


def complete_row(b: Any, label: str, text: str, runs: int = 5) -> None:
    """``search_keys`` to the end (no budget), best of ``runs``, with its script calls."""
    calls: list[float] = []
    call = b._call

    def timed_call(fn: Any, *a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return call(fn, *a, **k)
        finally:
            calls.append(time.perf_counter() - t)

    b._call = timed_call
    try:
        best, n, longest, found = float("inf"), 0, 0.0, []
        for _ in range(runs):
            calls.clear()
            t0 = time.perf_counter()
            found = b.search_keys("big", text, 51).keys
            el = time.perf_counter() - t0
            if el < best:
                best, n, longest = el, len(calls), max(calls)
    finally:
        del b._call
    line(label, best * 1000, 100, f"   ({len(found)} keys; {n} calls, the longest {longest * 1000:.1f} ms)")
