"""The Redis rows of :mod:`benchmarks.viewer_big`: key search and completion on a 1,000,000-field
Redis hash, in milliseconds (best of 5 unless a row says "first").

Two groups. ``mine`` is written through motia_nb (gathered sets, 10,000 at a time): its rows
are the write rate (a group nobody searched keeps no key text), the first complete substring
search right after (it makes the key text, in part in its own calls, the rest in the background),
10,000 new keys scattered over the group (gathered, then 1,000 more one sync set at a time: the
write cost in a group that keeps a key text) and the first complete search after them (the
writes kept the text).

``big`` is written by hand (``HSET`` in a pipeline, with the order index as an older motia_nb
would leave it: no key index), so its rows show searches before the key index (``HSCAN MATCH``
over every field), the fill (in the background; it makes the key text when the index is
complete) and the longest a write waited meanwhile, then searches from the index and the key
text ("calls" and "longest call" are the script calls; the longest is what another client may
wait), and the same after 10,000 new keys scattered over the group.

    python benchmarks/viewer_big.py --redis [--items N]

Run it with ``PYTHONPATH`` pointing at another checkout to measure that one's motia_nb.
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


async def write_group(m: StateManager, group: str, n: int) -> None:
    for lo in range(0, n, 10_000):
        await asyncio.gather(*(m.set(group, f"item-{i:07d}", {"n": i, "status": "ok"}) for i in range(lo, min(n, lo + 10_000))))


async def scattered_keys(m: StateManager, group: str, count: int, seed: int, sync: int = 0) -> tuple[float, float]:
    """``count`` new keys spread over the group's keys (gathered), then ``sync`` more one set at a
    time; microseconds per set of each."""
    rng, size = random.Random(seed), await m.count(group)
    keys = [f"item-{rng.randrange(size):07d}{chr(97 + seed % 26)}{i}" for i in range(count + sync)]
    t0 = time.perf_counter()
    for lo in range(0, count, 10_000):
        await asyncio.gather(*(m.set(group, k, i) for i, k in enumerate(keys[lo:min(count, lo + 10_000)])))
    gathered = (time.perf_counter() - t0) / max(count, 1) * 1e6
    t0 = time.perf_counter()
    for k in keys[count:]:
        m.sync.set(group, k, 1)
    return gathered, (time.perf_counter() - t0) / max(sync, 1) * 1e6


async def motia_rows(m: StateManager, c: Any, n: int) -> None:
    b: Any = m.backend
    t0 = time.perf_counter()
    await write_group(m, "mine", n)
    el = time.perf_counter() - t0
    line(f"redis: wrote {n:,} items to 'mine' through motia_nb (gathered sets, 10,000 at a time)", el * 1000,
         note=f"   ({n / el:,.0f} sets/s; key text: {c.zcard('motia_nb:keys_chunks:mine')} chunks, "
         f"{c.hlen('motia_nb:keys_text:mine')} made)")
    complete_row(b, "mine", "redis, written through motia_nb: FIRST complete search '12345'", "12345", runs=1)
    await wait_text(b, "mine", "redis, written through motia_nb: then the background build of the key text")
    complete_row(b, "mine", "redis, written through motia_nb: complete search '12345'", "12345")
    for round_, seed in enumerate((15, 16)):
        gathered, sync = await scattered_keys(m, "mine", 10_000, seed, sync=1_000 if round_ == 0 else 0)
        note = f"   ({gathered:.1f} us per gathered set" + (f", {sync:.1f} us per sync set)" if round_ == 0 else ")")
        say(f"redis, written through motia_nb: {10_000 if round_ else 11_000:,} scattered new keys{note}")
        complete_row(b, "mine", "redis, written through motia_nb: FIRST complete search '12345' after them", "12345",
                     runs=1)  # fmt: skip
        await wait_text(b, "mine", "redis, written through motia_nb: then the background build of the key text")
    complete_row(b, "mine", "redis, written through motia_nb: complete search '12345', again", "12345")


async def wait_text(b: Any, group: str, label: str) -> None:
    """A row for the background build of ``group``'s key text, when one runs."""
    t0 = time.perf_counter()
    if not b.key_text_running(group):
        return
    while b.key_text_running(group):
        await asyncio.sleep(0.005)
    line(label, (time.perf_counter() - t0) * 1000)


def say(text: str) -> None:
    print(text, flush=True)


def run(n: int) -> None:
    with running_redis_server() as server:
        c = server.client()
        m = StateManager(server.url)
        b: Any = m.backend
        try:
            asyncio.run(motia_rows(m, c, n))
            t0 = time.perf_counter()
            for lo in range(0, n, 10_000):
                part = range(lo, min(n, lo + 10_000))
                pipe = c.pipeline(transaction=False)
                pipe.hset("state:big", mapping={f"item-{i:07d}": json.dumps({"n": i, "status": "ok"}) for i in part})
                pipe.zadd("motia_nb:order:big", {f"item-{i:07d}": i + 1 for i in part})
                pipe.execute()
            print(f"redis: wrote {n:,} fields to state:big (and the order index, as an older motia_nb would) by "
                  f"hand in {time.perf_counter() - t0:.1f} s", flush=True)
            # before the index: what every search cost until now
            line("redis, no index: prefix 'item-09999' (HSCAN MATCH)", timed(lambda: b._scan_prefix("big", "item-09999", 51), 3))
            line("redis, no index: substring '99999' (HSCAN MATCH)", timed(lambda: b._scan_containing("big", "99999", 51), 3))
            # the fill, with a writer beside it
            waits: list[float] = []
            t0 = time.perf_counter()
            b._start_key_fill("big")
            k, marked = 0, False
            while b.key_fill_running("big"):
                if not marked and c.get("motia_nb:keys_ready:big") == b"1":
                    line("redis: the key index fill (background, chunks of HSCAN): marked complete after",
                         (time.perf_counter() - t0) * 1000)
                    marked = True
                t = time.perf_counter()
                m.sync.set("writes", f"w{k}", k)
                waits.append(time.perf_counter() - t)
                k += 1
                time.sleep(0.005)
            line("redis: the fill and then the key text (background, same thread), done after",
                 (time.perf_counter() - t0) * 1000,
                 note=f"   ({k} writes beside it, the longest waited {max(waits, default=0) * 1000:.2f} ms; "
                 f"{c.hlen('motia_nb:keys_text:big')} of {c.zcard('motia_nb:keys_chunks:big')} chunk texts made)")
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
    await viewer_row("FIRST substring '12345' (after the fill)", "12345", runs=1)
    await wait_text(b, "big", "redis: the rest of the key text, made in the background (after the first search)")
    text_mb = (c.memory_usage("motia_nb:keys_text:big", samples=0) or 0) / 1e6
    index_mb = (c.memory_usage("motia_nb:keys:big", samples=0) or 0) / 1e6
    print(f"redis: the key text of 'big': {c.zcard('motia_nb:keys_chunks:big')} chunks, {text_mb:.1f} MB "
          f"(the key index: {index_mb:.1f} MB)", flush=True)
    for label, text in [("substring '99' (common)", "99"),
                        ("substring '12345' (20 matches, all of the text read)", "12345"),
                        ("substring 'nope' (no match)", "nope"),
                        ("substring '-09' (100,000 matches, late in key order)", "-09")]:
        await viewer_row(label, text)
    for label, text in [("'12345'", "12345"), ("'nope'", "nope"), ("'item' (every key)", "item")]:
        complete_row(b, "big", f"redis, key text: complete search {label}", text)
    gathered, _ = await scattered_keys(m, "big", 10_000, 17)
    say(f"redis: 10,000 scattered new keys in 'big'   ({gathered:.1f} us per gathered set)")
    complete_row(b, "big", "redis, key text: FIRST complete search '12345' after 10,000 scattered new keys", "12345",
                 runs=1)  # fmt: skip
    await wait_text(b, "big", "redis: then the background build of the key text")
    complete_row(b, "big", "redis, key text: complete search '12345', again", "12345")
    best_ms = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        await page_of_key(m, "big", "item-0500000", "key", 50, heavy)
        best_ms = min(best_ms, (time.perf_counter() - t0) * 1000)
    line("redis, index: go to key 'item-0500000', key order (ZRANK + a page)", best_ms, 100)


def complete_row(b: Any, group: str, label: str, text: str, runs: int = 5) -> None:
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
            found = b.search_keys(group, text, 51).keys
            el = time.perf_counter() - t0
            if el < best:
                best, n, longest = el, len(calls), max(calls)
    finally:
        del b._call
    line(label, best * 1000, 100, f"   ({len(found)} keys; {n} calls, the longest {longest * 1000:.1f} ms)")
