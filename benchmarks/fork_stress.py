"""Fork at any moment: children forked while the parent's background work is busy must work.

``python -m benchmarks.fork_stress [--scenarios reader,...] [--forks 12] [--timeout 20]``

For each scenario the parent keeps one kind of work busy on its own threads (a long
read on aiosqlite's reader thread, sync long reads, the history follower polling or
starting and stopping, the
WAL checkpointer, the key indexer filling a trigram index, inline commits, queued
batches, Redis writes and pub/sub), and forks children at random moments, alternately
with ``multiprocessing`` ('fork') and ``os.fork()`` (the child then exits through
normal interpreter shutdown, atexit hooks included). Each child, under a
``faulthandler`` watchdog (all its threads' stacks are written to a file and it exits
if it takes longer than ``--timeout``), uses the inherited manager (sync calls, then
``asyncio.run`` of awaited and gathered writes and long reads), then a fresh manager
on the same store, then exits. Afterwards the parent checks it still works, that every
child's writes are there, and (SQLite) ``PRAGMA integrity_check``.

Prints one line per scenario: forks, failures (hung / crashed / wrong), slowest child.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write

BIG = 100_000
SCENARIOS = ["idle", "reader", "sync_reader", "follower", "follower_churn", "checkpointer", "indexer", "inline", "batches", "redis"]

_parent: dict[str, Any] = {}  # the manager the children inherit


def _fill(sm: StateManager, n: int) -> None:
    writes = [Write("set", "big", f"key-{i:07d}", value_json=f'{{"i": {i}}}') for i in range(n)]
    sm.backend.write_all(writes)


# ---------------------------------------------------------------------- the child
def child_work(url: str, tag: str, timeout: float, dump: str) -> None:
    """What each child does (raises on a wrong answer; a hang ends in the watchdog's dump)."""
    f = open(dump, "w")
    faulthandler.dump_traceback_later(timeout, exit=True, file=f)
    sm = _parent["sm"]
    pid = os.getpid()
    assert sm.sync.set("child", f"{tag}-sync", pid)["new_value"] == pid
    assert sm.sync.get("child", f"{tag}-sync") == pid

    async def main() -> None:
        await sm.set("child", f"{tag}-async", pid)
        await asyncio.gather(*(sm.set("child-g", f"{tag}-{i}", i) for i in range(20)))
        assert await sm.get("child", f"{tag}-async") == pid
        assert len(await sm.list("child-g")) >= 20
        assert await sm.count("big") >= 0
        await sm.update("child", f"{tag}-sync", [{"type": "set", "path": "", "value": pid + 1}])

    asyncio.run(main())
    fresh = StateManager(url)
    try:
        fresh.sync.set("child", f"{tag}-fresh", pid)
        assert fresh.sync.get("child", f"{tag}-sync") == pid + 1

        async def fresh_main() -> None:
            await asyncio.gather(*(fresh.set("child-f", f"{tag}-{i}", i) for i in range(10)))
            assert await fresh.count("child-f") >= 10

        asyncio.run(fresh_main())
    finally:
        fresh.close()


def _mp_child(url: str, tag: str, timeout: float, dump: str) -> None:
    child_work(url, tag, timeout, dump)


def fork_one(url: str, tag: str, timeout: float, how: str, dump: str) -> tuple[str, float]:
    """Fork one child; ('ok' | 'hung' | 'exit N', seconds)."""
    t0 = time.monotonic()
    if how == "mp":
        p = multiprocessing.get_context("fork").Process(target=_mp_child, args=(url, tag, timeout, dump))
        p.start()
        p.join(timeout + 10)
        if p.is_alive():
            p.kill()
            p.join()
            return "hung", time.monotonic() - t0
        code = p.exitcode
    else:
        pid = os.fork()
        if pid == 0:  # the child: work, then a normal interpreter exit (atexit hooks, finalization)
            code = 0
            try:
                child_work(url, tag, timeout, dump)
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
                code = 3
            sys.stdout.flush()
            raise SystemExit(code)  # unwinds to the top: the parent's finally blocks are harmless here
        deadline = time.monotonic() + timeout + 10
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return "hung", time.monotonic() - t0
            time.sleep(0.01)
    return ("ok" if code == 0 else f"exit {code}"), time.monotonic() - t0


# ---------------------------------------------------------------------- the parent's busy work
def _loop_forever(stop: threading.Event, fn: Callable[[], Any]) -> None:
    while not stop.is_set():
        fn()


def _async_forever(stop: threading.Event, coro_fn: Callable[[], Any]) -> None:
    async def main() -> None:
        while not stop.is_set():
            await coro_fn()

    asyncio.run(main())


def busy_work(name: str, sm: StateManager, url: str, stop: threading.Event) -> list[Callable[[], None]]:
    """The parent's background activity of scenario ``name`` (callables run on threads)."""
    n = [0]

    def inline() -> None:
        n[0] += 1
        sm.sync.set("busy", f"k{n[0] % 500}", n[0])

    async def batch() -> None:
        n[0] += 1
        await asyncio.gather(*(sm.set("busy", f"b{i}", n[0]) for i in range(200)))

    if name == "idle":
        return []
    if name == "reader":
        async def long_read() -> None:
            await sm.list("big")
            await sm.count("big")
        return [lambda: _async_forever(stop, long_read)]
    if name == "sync_reader":
        return [lambda: _loop_forever(stop, lambda: sm.sync.list("big"))]
    if name == "follower":
        other = StateManager(url)  # another origin: its commits reach the follower
        sm.subscribe(lambda ev: None, remote=True)
        return [lambda: _loop_forever(stop, lambda: other.sync.set("busy", f"o{random.randrange(100)}", 1))]
    if name == "follower_churn":  # followers starting and stopping (their first and last statements)
        other = StateManager(url)

        def churn() -> None:
            unsubscribe = sm.subscribe(lambda ev: None, remote=True)
            other.sync.set("busy", f"o{random.randrange(100)}", 1)
            time.sleep(0.05)
            unsubscribe()
        return [lambda: _loop_forever(stop, churn)]
    if name == "checkpointer":
        def checkpoints() -> None:
            cp = sm.backend._checkpointer
            if cp is not None:
                cp.checkpoint()
        return [lambda: _loop_forever(stop, inline), lambda: _loop_forever(stop, checkpoints)]
    if name == "indexer":
        def rebuild() -> None:
            b = sm.backend
            b.keys_containing("big", "12345", 5)  # starts the build of the trigram index
            b._indexer.wait(60)
            conn, gate = b._pruning_connection()  # motia_nb's own connection, under the write gate
            with gate:  # forget the index so that the next search builds it again
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM search_groups")
                conn.execute("INSERT INTO key_search (key_search) VALUES ('delete-all')")
                conn.execute("COMMIT")
        return [lambda: _loop_forever(stop, rebuild)]
    if name == "inline":
        return [lambda: _loop_forever(stop, inline), lambda: _loop_forever(stop, inline)]
    if name == "batches":
        return [lambda: _async_forever(stop, batch), lambda: _loop_forever(stop, inline)]
    if name == "redis":
        sm.subscribe(lambda ev: None, remote=True)
        return [lambda: _async_forever(stop, batch), lambda: _loop_forever(stop, inline),
                lambda: _loop_forever(stop, lambda: sm.sync.list("busy"))]
    raise SystemExit(f"unknown scenario {name!r}")


def run_scenario(name: str, forks: int, timeout: float, workdir: str, redis_url: str | None) -> dict[str, Any]:
    url = redis_url if name == "redis" else os.path.join(workdir, f"{name}.db")
    sm = StateManager(url)
    _parent["sm"] = sm
    if name != "redis":
        _fill(sm, BIG)
    else:
        _fill(sm, 10_000)
    stop = threading.Event()
    threads = [threading.Thread(target=fn, daemon=True) for fn in busy_work(name, sm, url, stop)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    results = []
    tags = []
    try:
        for i in range(forks):
            time.sleep(random.uniform(0, 0.2))
            tag = f"{name}-{i}"
            dump = os.path.join(workdir, f"{tag}.dump")
            how = "mp" if i % 2 == 0 else "os"
            status, secs = fork_one(url, tag, timeout, how, dump)
            results.append((tag, how, status, secs, dump))
            if status == "ok":
                tags.append(tag)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    wrong = []
    # the parent keeps working and sees every child's writes
    sm.sync.set("after", "k", 1)
    for tag in tags:
        if sm.sync.get("child", f"{tag}-fresh") is None:
            wrong.append(f"{tag}: its fresh manager's write is missing")
    if name != "redis":
        sm.close()
        with sqlite3.connect(url) as c:
            check = c.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            wrong.append(f"integrity_check: {check[:3]}")
    else:
        sm.close()
    failed = [r for r in results if r[2] != "ok"]
    return {"name": name, "results": results, "failed": failed, "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--forks", type=int, default=12)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--show-dumps", action="store_true")
    args = ap.parse_args(argv)
    names = args.scenarios.split(",")
    bad = 0
    me = os.getpid()  # an os.fork() child unwinds through here on its way out: it must clean nothing
    workdir = tempfile.mkdtemp(prefix="fork-stress-")
    if True:
        redis_url = None
        server = None
        if "redis" in names:
            from motia_nb.testing.redis_server import RedisServer
            from motia_nb.testing.binaries import find_binary

            server = RedisServer(find_binary("redis-server", "the redis scenario"), workdir)
            server.start()
            redis_url = server.url
        try:
            for name in names:
                r = run_scenario(name, args.forks, args.timeout, workdir, redis_url)
                slowest = max((x[3] for x in r["results"]), default=0.0)
                print(f"{name:13s} forks {len(r['results']):3d}  failed {len(r['failed']):3d}  "
                      f"wrong {len(r['wrong'])}  slowest child {slowest:5.1f} s", flush=True)
                for tag, how, status, secs, dump in r["failed"]:
                    print(f"    {tag} ({how}): {status} after {secs:.1f} s", flush=True)
                    if args.show_dumps and os.path.exists(dump):
                        print(open(dump).read()[-3000:], flush=True)
                for w in r["wrong"]:
                    print(f"    wrong: {w}", flush=True)
                bad += len(r["failed"]) + len(r["wrong"])
        finally:
            if os.getpid() == me:
                if server is not None:
                    server.stop()
                shutil.rmtree(workdir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
