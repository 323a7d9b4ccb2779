"""kill -9 at random moments on Redis: the changelog never disagrees with the items, and the item
index filed off the write path never disagrees with the changelog.

The child of ``test_history_kill9`` (acknowledged sets, updates, deletes: single awaited writes,
gathered bursts, another thread's blocking sets) writes to a private redis-server, with one
more thread filing the item index in a loop (``history_file.lua``, besides the loop thread's
task), and is SIGKILLed at a random moment, several rounds on the same database. Then, read
with a fresh StateManager:

- every acknowledged write has its change in the group's history (read from the stream);
- per key, the changes chain (each old value the previous new one) and end at the item;
- each key's history read from the item index (filed by a kill-interrupted filer, then by the
  read) is exactly its changes in the stream, and the index holds one member per change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from test_history_kill9 import CHILD, run_and_kill

from motia_nb.state import StateManager

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROUNDS = 5
G = "g"
_FILING = """    threading.Thread(target=blocking_writer, daemon=True).start()
    def filing():  # the item index filed while the writes go on (each call atomic)
        while True:
            sm.backend.file_history_of("g")
    threading.Thread(target=filing, daemon=True).start()"""
CHILD_REDIS = CHILD.replace("    threading.Thread(target=blocking_writer, daemon=True).start()", _FILING, 1)
assert CHILD_REDIS != CHILD


def check_consistent(url: str, acks: list[dict[str, Any]]) -> int:
    sm = StateManager(url)
    raw = redis.Redis.from_url(url, decode_responses=True)
    try:
        changes = sm.sync.history(G, limit=10**9)
        items = {k: json.loads(v) for k, v in raw.hgetall("state:" + G).items()}
        canon = lambda v: json.dumps(v, sort_keys=True)
        written = {(c["key"], canon(c["new_value"])) for c in changes if c["event_type"] != "state:deleted"}
        removed = {(c["key"], canon(c["old_value"])) for c in changes if c["event_type"] == "state:deleted"}
        for a in acks:
            if a["kind"] == "delete":
                if a["value"] is not None:  # deleting an absent item changes nothing and records nothing
                    assert (a["key"], canon(a["value"])) in removed, f"acknowledged delete without its change: {a}"
            else:
                assert (a["key"], canon(a["value"])) in written, f"acknowledged write without its change: {a}"
        last: dict[str, tuple[str, Any]] = {}
        for c in changes:
            et, key, prev = c["event_type"], c["key"], last.get(c["key"])
            if prev is None or prev[0] == "state:deleted":
                assert et == "state:created" and c["old_value"] is None, f"{et} of an absent item {key}"
            else:
                assert et != "state:created" and c["old_value"] == prev[1], f"the changes of {key} do not chain"
            last[key] = (et, c["new_value"])
        for key, (et, new) in last.items():
            if et == "state:deleted":
                assert key not in items, f"{key}: deleted in the changelog but present"
            else:
                assert items.get(key) == new, f"{key}: changelog says {new}, the item is {items.get(key)}"
        assert set(items) <= set(last), "an item without any change"
        for key in last:  # the index (a killed filer's work, then the read's) is the stream's
            assert sm.sync.history(G, key, limit=10**9) == [c for c in changes if c["key"] == key], key
        assert raw.zcard("motia_nb:history_index:" + G) == len(changes) == int(raw.get("motia_nb:history_count:" + G))
        return len(changes)
    finally:
        raw.close()
        sm.close()


def test_every_acknowledged_write_has_its_change_and_the_index_follows_through_kills(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import test_history_kill9

    monkeypatch.setattr(test_history_kill9, "CHILD", CHILD_REDIS)
    start, total_acks, count = 0, 0, 0
    for r in range(ROUNDS):
        acks = run_and_kill(redis_url, seed=2000 + r, start=start)
        start += 1_000_000  # each round's values are new, so a change is found by its value
        total_acks += len(acks)
        count = check_consistent(redis_url, acks)
    assert total_acks > 0 and count >= total_acks // 2, (total_acks, count)
