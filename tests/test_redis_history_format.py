"""The Redis item index's member format (``lua/history_index.lua``): the time written by the
server as the change dicts show it (``hix_iso`` against Python's ``iso_micros``), and an index
of the format before (times in microseconds only, each value in brackets, its marker
``motia_nb:history_index_from:<group>``) made again from the stream by the first read or write.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.redis.layout import HISTORY_INDEX_FROM_PREFIX, HISTORY_INDEX_FROM_V1_PREFIX
from motia_nb.state.backends.redis.scripts import source
from motia_nb.state.cause import acting_as
from motia_nb.state.events import UPDATED
from motia_nb.state.history import iso_micros
from motia_nb.testing import fixtures as shared

pytestmark = pytest.mark.redis

sm = shared.redis_manager  # an opened StateManager on an emptied Redis database
raw = shared.redis_client  # a plain redis-py client on it

G = "orders"
INDEX, MARK, OLD_MARK = "motia_nb:history_index:" + G, HISTORY_INDEX_FROM_PREFIX + G, HISTORY_INDEX_FROM_V1_PREFIX + G
_ISO = source("history_index") + "local out = {} for i, us in ipairs(ARGV) do out[i] = hix_iso(us) or '' end return out"

#: whole microseconds from before the year 1 to after 9999, around 1970 and its first second
_MICROS = st.one_of(
    st.integers(min_value=-62_135_596_800_000_001 - 10**12, max_value=253_402_300_800_000_000 + 10**12),
    st.integers(min_value=-3_000_000, max_value=3_000_000),
    st.integers(min_value=-62_135_596_800_000_001, max_value=-62_135_596_800_000_000 + 10**7),
    st.integers(min_value=253_402_300_799_000_000, max_value=253_402_300_800_000_001),
    st.integers(min_value=0, max_value=4_102_444_800).map(lambda s: s * 1_000_000),  # whole seconds
)


def _python_iso(us: int) -> str:
    """``iso_micros``' text, '' where it cannot write the time (outside the years 1 to 9999)."""
    try:
        return iso_micros([us])[0]
    except (ValueError, OverflowError, OSError):
        return ""


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(st.lists(_MICROS, min_size=1, max_size=200))
def test_the_server_writes_a_time_as_iso_micros_does(redis_server: Any, micros: list[int]) -> None:
    c = redis_server.client(decode_responses=True)
    try:
        got = c.eval(_ISO, 0, *[str(us) for us in micros])
    finally:
        c.close()
    assert got == [_python_iso(us) for us in micros]


async def _churn(m: StateManager) -> None:
    for r in range(6):
        await asyncio.gather(*[m.set(G, f"k{i}", {"r": r, "i": i, "é": "ü"}) for i in range(3)])
        with acting_as("step-x", f"trace-{r}"):
            await m.set(G, "k1", ["list", r, None])
        if r % 3 == 2:
            await m.delete(G, "k2")


def _as_before(member: bytes) -> bytes:
    """A member of this format as the format before wrote it: ``<seq>,<at_us>,<pid>,<cause>,
    <trace>,<old length>,<new length>,[<old>],[<new>]`` (no ISO time; values in brackets)."""
    prefix, tail = member.split(b"\0\0", 1)
    letter, rest = tail[:1], tail[1:]
    text, pos, fields = rest.decode("latin-1"), 0, []
    decoder = json.JSONDecoder()
    for _ in range(8):
        value, end = decoder.raw_decode(text, pos)
        fields.append(rest[pos:end])
        pos = end + 1
    lo, ln = int(fields[6]), int(fields[7])
    size = lo if lo >= 0 else -2 - lo if lo < -1 else 4
    old = b"" if lo == -1 else rest[pos : pos + size]
    new = b"" if ln == -1 else rest[pos + size + 1 : pos + size + 1 + ln]
    head = b",".join([fields[0], fields[1], *fields[3:]])
    return prefix + b"\0\0" + letter + head + b",[" + old + b"],[" + new + b"]"


def _at(member: bytes) -> Any:
    """A member's third field (this format: the ISO time; the format before: the pid)."""
    text, decoder, pos = member.split(b"\0\0", 1)[1][1:].decode("latin-1"), json.JSONDecoder(), 0
    for _ in range(3):
        value, pos = decoder.raw_decode(text, pos)
        pos += 1
    return value


@pytest.mark.parametrize("first", ["read", "write"])
def test_an_index_of_the_format_before_is_made_again(sm: StateManager, raw: Any, redis_server: Any, first: str) -> None:
    asyncio.run(_churn(sm))
    raw.hset("state:" + G, "k0", "1],[2")  # another tool's text, not one JSON value: an old value kept as a JSON string
    sm.sync.set(G, "k0", {"after": "foreign"})
    sm.backend.file_history_of(G)
    want = {k: sm.sync.history(G, k, limit=10**9) for k in ("k0", "k1", "k2")}
    assert want["k0"][-1]["old_value"] == "1],[2"
    b = redis_server.client()
    try:
        members = b.zrange(INDEX, 0, -1)
        olds = [_as_before(m) for m in members]
        assert all(type(_at(o)) is int and o != m for o, m in zip(olds, members))
        p = b.pipeline(transaction=True)
        p.delete(INDEX, MARK)
        p.zadd(INDEX, {o: 0 for o in olds})
        p.set(OLD_MARK, "0")  # (complete, as the format before said it)
        p.execute()
    finally:
        b.close()
    if first == "write":  # the write finds no marker: it drops the index, the read makes the older part again
        sm.sync.set(G, "k1", "new")
        want["k1"] = sm.sync.history(G, limit=10**9)
        want["k1"] = [c for c in want["k1"] if c["key"] == "k1"]
    for k, changes in want.items():
        assert sm.sync.history(G, k, limit=10**9) == changes, k
        assert sm.sync.history(G, k, limit=2) == changes[-2:], k
    sm.backend.file_history_of(G)
    assert raw.get(MARK) == "0" and raw.get(OLD_MARK) is None
    b = redis_server.client()
    try:
        members = b.zrange(INDEX, 0, -1)
    finally:
        b.close()
    assert len(members) == int(raw.get("motia_nb:history_count:" + G))
    assert all(_at(m).endswith("+00:00") for m in members)  # every member made again in this format


@pytest.mark.parametrize("foreign", ["1,2", "1],[2", "[1,{}]]"])
def test_a_member_holding_an_old_text_of_several_values_is_read_by_its_lengths(
    sm: StateManager, raw: Any, redis_server: Any, foreign: str
) -> None:
    """The index keeps such a text as a JSON string; were it held as it is (a member crafted so),
    the parse of the tails gives more fields than ten a change (``1,2``) or fails: the read
    goes tail by tail, by the lengths, and each change keeps its values."""
    for i in range(3):
        sm.sync.set(G, "k", {"i": i})
    raw.hset("state:" + G, "k", foreign)
    for i in range(3, 6):
        sm.sync.set(G, "k", {"i": i})
    sm.backend.file_history_of(G)
    want = sm.sync.history(G, "k", limit=10**9)
    assert want[3]["old_value"] == foreign
    q = json.dumps(foreign).encode()
    b = redis_server.client()
    try:
        (m,) = [m for m in b.zrange(INDEX, 0, -1) if b"," + q + b"," in m]
        crafted = m.replace(b",%d," % (-2 - len(q)), b",%d," % len(foreign), 1).replace(b"," + q + b",", b"," + foreign.encode() + b",", 1)
        assert crafted != m
        b.zrem(INDEX, m)
        b.zadd(INDEX, {crafted: 0})
    finally:
        b.close()
    for limit in (10**9, 3):  # (pipelined and plain reads)
        assert sm.sync.history(G, "k", limit=limit) == want[-limit:]


@pytest.mark.parametrize("at", ["253402300799.5", "253402300800.5", "-62135596800", "-62135596800.5", "1e300"])
def test_a_time_the_server_cannot_write_is_said_as_the_group_s_history_says_it(sm: StateManager, raw: Any, at: str) -> None:
    """A stream entry another program wrote with a time the server cannot write as ISO text
    (outside the years 1 to 9999: its member's time null): the key's history says that time
    as the group's does, the same text or the same error."""
    sm.sync.set(G, "k", 1)
    last = int(raw.xrevrange("motia_nb:history:" + G, count=1)[0][0].split("-")[0])
    raw.xadd("motia_nb:history:" + G, {"t": UPDATED, "k": "k", "at": at, "c": "x", "p": "1", "origin": "o",
                                       "o": "1", "n": "2"}, id=f"{last + 1}-0")  # fmt: skip
    raw.set("motia_nb:history:seq", last + 1)
    raw.incr("motia_nb:history_count:" + G)
    sm.sync.set(G, "k", 3)

    def said(key: "str | None") -> Any:
        try:
            return [c for c in sm.sync.history(G, key, limit=10**9) if c["key"] == "k"]
        except Exception as exc:  # noqa: BLE001 - compared below
            return type(exc), str(exc)

    group, one = said(None), said("k")
    assert one == group
    if at.startswith("253402300799"):  # (within the years: written by the server)
        assert group[1]["at"] == "9999-12-31T23:59:59.500000+00:00"
