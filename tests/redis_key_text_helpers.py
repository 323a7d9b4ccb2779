"""Shared checks of the Redis key text (tests/test_redis_key_text*.py): a snapshot of its chunks,
the exactness check, brute-force answers, a search assembled from one-call parts."""

from __future__ import annotations

import asyncio
import bisect
from typing import Any

from motia_nb.state.backends.base import Write
from motia_nb.state.backends.redis import RedisBackend, key_index

KEYS = [
    "a", "ab", "abc", "abd", "ac", "b", "a*b", "a*", "a?", "a[1]", "a]", "a\\x", "\\", "*", "?", "[", "é", "éa",
    "z", "\U0010ffff", "\U0010ffffa", "\ue000", "日本語", "本", "order-1", "order-10", "order-2", "Order-3",
    "with space", "a%b", "a.b", "a-b", "ÿ", "aÿ", "%z", "\x01", "a\nb", "(", "-", "+",
]  # fmt: skip


def no_scan(monkeypatch: Any) -> None:
    """Make the scanning fallback fail: the answer must come from the key index / text."""
    def refuse(*a: Any) -> Any:
        raise AssertionError("the scan answered, not the key index")
    monkeypatch.setattr(RedisBackend, "_scan_prefix", refuse)
    monkeypatch.setattr(RedisBackend, "_scan_containing", refuse)




def snapshot(raw: Any, group: str) -> tuple[list[tuple[str, float]], dict[str, str], list[str]]:
    """(chunk bounds with their scores, chunk texts, index), read at one moment (a background
    build may be at work)."""
    pipe = raw.pipeline(transaction=True)
    pipe.zrange(f"motia_nb:keys_chunks:{group}", 0, -1, withscores=True)
    pipe.hgetall(f"motia_nb:keys_text:{group}")
    pipe.zrange(f"motia_nb:keys:{group}", 0, -1)
    bounds, texts, keys = pipe.execute()
    return bounds, texts, sorted(keys)


def chunks_of(raw: Any, group: str) -> tuple[list[str], dict[str, str]]:
    bounds, texts, _ = snapshot(raw, group)
    return [b for b, _ in bounds], texts


def chunk_sizes(raw: Any, group: str) -> list[int]:
    """The number of index keys in each chunk, in key order."""
    bounds, _, keys = snapshot(raw, group)
    los = [bisect.bisect_left(keys, b) for b, _ in bounds]
    return [hi - lo for lo, hi in zip(los, los[1:] + [len(keys)])]


def assert_text_exact(raw: Any, group: str, complete: bool = False) -> int:
    """Every chunk text there is holds exactly the index's keys between its bounds, and at most
    three times the chunk size (the bounds' score) of them (cut past twice, counted each time
    the text's length crosses a multiple of twice the size in bytes, two bytes a key at least:
    up to the size more keys may come first); with ``complete``, every chunk has its text
    (nothing left for a search to make). Returns the number of chunks with a text."""
    bounds, texts, keys = snapshot(raw, group)
    if not bounds:
        assert not texts
        return 0
    names = [b for b, _ in bounds]
    size = bounds[0][1]
    assert names[0] == "" and names == sorted(names) and set(texts) <= set(names)
    assert size >= 1 and all(s == size for _, s in bounds), bounds[:3]
    if complete:
        assert set(texts) == set(names), f"{len(set(names) - set(texts))} chunk texts missing"
    for i, lo in enumerate(names):
        if lo not in texts:
            continue
        a = bisect.bisect_left(keys, lo)
        b = bisect.bisect_left(keys, names[i + 1]) if i + 1 < len(names) else len(keys)
        mine = keys[a:b]
        if texts[lo] == "W":
            assert any("\x00" in k for k in mine)
        else:
            assert texts[lo] == ("\x00" + "\x00".join(mine) + "\x00" if mine else ""), (lo, texts[lo][:80])
        assert len(mine) <= 3 * size
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
    """Set every key at once (gathered: the writer sends runs of them in ``set_many.lua`` calls)."""
    async def gather() -> None:
        await asyncio.gather(*(b.submit_async(Write("set", group, k, value_json="1")) for k in keys))
    asyncio.run(gather())


def made_by_searches(monkeypatch: Any) -> list[int]:
    """A list that receives, for every ``keys_search.lua`` call, the keys it made into text."""
    made: list[int] = []
    call = RedisBackend._call

    def counting(self: Any, fn: Any, *a: Any, **kw: Any) -> Any:
        reply = call(self, fn, *a, **kw)
        if fn is self._key_script("KEYS_SEARCH") and reply is not None:
            made.append(int(reply[3]))
        return reply

    monkeypatch.setattr(RedisBackend, "_call", counting)
    return made


def tiny_sizes(monkeypatch: Any) -> None:
    """Every group searched gets a key text, in chunks of 4 keys (cut past 8, joined under 1)."""
    monkeypatch.setattr(key_index, "TEXT_THRESHOLD", 0)
    monkeypatch.setattr(key_index, "TEXT_CHUNK", 4)
