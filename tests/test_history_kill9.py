"""kill -9 at random moments: the changelog never disagrees with the items.

A child process makes acknowledged writes (sets, updates, deletes; single awaited
writes, gathered bursts and another thread's blocking sets, so both the inline commit
and the writer thread's group commit are hit) and prints each acknowledgement after its write returned. The parent
SIGKILLs it at a random moment, several rounds on the same file, and then reads the
file with plain sqlite3:

- every acknowledged write has its changelog row (a write's value carries its
  unique number, so its row is found by value);
- no row exists for a write that was not committed: for every key, the last row in
  ``changes`` is exactly the item's state (its value, or a deletion for an absent
  item), and every row's old value is the previous row's new value for that key.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from motia_nb.state.backends.sqlite.changelog import COLUMNS, changes_of
from motia_nb.state.backends.sqlite.schema import event_type

pytestmark = pytest.mark.slow

ROUNDS = 6

CHILD = textwrap.dedent(
    """
    import asyncio, json, random, sys, threading
    from motia_nb.state import StateManager

    path, seed, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(seed)
    sm = StateManager(path)
    counter = start
    out = threading.Lock()

    def ack(kind, key, value):
        with out:
            sys.stdout.write(json.dumps({"kind": kind, "key": key, "value": value}) + "\\n")
            sys.stdout.flush()

    def blocking_writer():  # another thread's sync writes: contention sends batches to the writer thread
        i = 0
        while True:
            i += 1
            value = {"n": start + 500_000 + i}
            sm.sync.set("g", f"t{i % 7}", value)
            ack("set", f"t{i % 7}", value)

    async def one(key):
        global counter
        counter += 1
        n, r = counter, rnd.random()
        if r < 0.6:
            await sm.set("g", key, {"n": n})
            return ("set", key, {"n": n})
        if r < 0.85:
            res = await sm.update("g", key, [{"type": "set", "path": "n", "value": n}])
            return ("update", key, res["new_value"])
        old = await sm.delete("g", key)
        return ("delete", key, old)

    async def main():
        sm.sync.count("g")
        print("ready", flush=True)
        threading.Thread(target=blocking_writer, daemon=True).start()
        while True:
            if rnd.random() < 0.5:
                ack(*await one(f"k{rnd.randrange(20)}"))
            else:  # a gathered burst: one group commit
                keys = rnd.sample(range(40), rnd.randrange(2, 30))
                for done in await asyncio.gather(*(one(f"k{k}") for k in keys)):
                    ack(*done)

    asyncio.run(main())
    """
)


def run_and_kill(path: str, seed: int, start: int) -> list[dict[str, Any]]:
    """Start the child, let it write for a random while, SIGKILL it; its acknowledgements."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, path, str(seed), str(start)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)  # fmt: skip
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.strip() == "ready", f"the child did not start: {first!r} {proc.stderr.read()}"  # type: ignore[union-attr]
        time.sleep(random.Random(seed).uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    acks = []
    for line in out.splitlines():
        try:
            acks.append(json.loads(line))
        except ValueError:  # the line the kill cut in half was never a whole acknowledgement
            pass
    return acks


def check_consistent(path: str, acks: list[dict[str, Any]]) -> int:
    conn = sqlite3.connect(path)
    try:
        rows = [(seq, event_type(old, new), key, old, new)  # records of gathered batches as their changes
                for seq, _, grp, key, old, new, *_ in changes_of(conn.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq"))
                if grp == "g"]  # fmt: skip
        items = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM items WHERE grp = 'g'")}
    finally:
        conn.close()
    # every acknowledged write has its row
    def canon(text: str) -> str:
        return json.dumps(json.loads(text), sort_keys=True)

    written = {(key, canon(new)) for _, et, key, _, new in rows if et != "state:deleted"}
    removed = {(key, canon(old)) for _, et, key, old, _ in rows if et == "state:deleted"}
    for a in acks:
        value = json.dumps(a["value"], sort_keys=True)
        if a["kind"] == "delete":
            if a["value"] is not None:  # deleting an absent item changes nothing and records nothing
                assert (a["key"], value) in removed, f"acknowledged delete without its row: {a}"
        else:
            assert (a["key"], value) in written, f"acknowledged write without its row: {a}"
    # no row beyond the committed state: per key, the rows chain and end at the item
    last: dict[str, tuple[str, Any]] = {}
    for _, et, key, old, new in rows:
        prev = last.get(key)
        if prev is None or prev[0] == "state:deleted":  # absent before: only a creation
            assert et == "state:created" and old is None, f"{et} of an absent item {key}"
        else:
            assert et != "state:created", f"a second creation of {key}"
            assert old is not None and json.loads(old) == prev[1], f"the rows of {key} do not chain"
        last[key] = (et, None if new is None else json.loads(new))
    for key, (et, new) in last.items():
        if et == "state:deleted":
            assert key not in items, f"{key}: deleted in the changelog but present"
        else:
            assert items.get(key) == new, f"{key}: changelog says {new}, the item is {items.get(key)}"
    assert set(items) <= set(last), "an item without any changelog row"
    return len(rows)


def test_every_acknowledged_write_has_its_row_and_no_row_outlives_a_kill(tmp_path: Any) -> None:
    path = str(tmp_path / "state.db")
    start, total_acks, rows = 0, 0, 0
    for r in range(ROUNDS):
        acks = run_and_kill(path, seed=1000 + r, start=start)
        start += 1_000_000  # each round's values are new, so a row is found by its value
        total_acks += len(acks)
        rows = check_consistent(path, acks)
    assert total_acks > 0 and rows >= total_acks // 2, (total_acks, rows)
