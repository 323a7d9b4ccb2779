"""The state core's runtime: event loops, threads, processes, crashes, life cycle (SQLite)."""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from fork_watch import children_dump_stacks, map_or_dump

from motia_nb.state import StateError, StateManager
from motia_nb.state.backends.sqlite.schema import SCHEMA_VERSION
from motia_nb.state.requests import set_write

PY = sys.executable


def script(code: str, *args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )


# ---------------------------------------------------------------- sync form everywhere
def test_sync_form_inside_a_running_event_loop(db_path):
    """The kernel's situation: a loop runs in this thread and asyncio.run would fail."""
    sm = StateManager(db_path)

    async def cell():
        naive = asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            asyncio.run(naive)  # what naive code would hit
        naive.close()
        sm.sync.set("g", "k", {"n": 1})
        sm.sync.update("g", "k", [{"type": "increment", "path": "n", "by": 1}])
        assert sm.sync.get("g", "k") == {"n": 2}
        assert await sm.get("g", "k") == {"n": 2}
        return sm.sync.frame("g")["n"].tolist()

    assert asyncio.run(cell()) == [2]
    sm.close()


def test_sync_form_from_other_threads_and_their_loops(db_path):
    sm = StateManager(db_path)
    errors: list[BaseException] = []

    def plain(i: int) -> None:
        try:
            sm.sync.set("t", f"plain{i}", i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def with_loop(i: int) -> None:
        async def main():
            sm.sync.set("t", f"loop{i}", i)
            await sm.set("t", f"async{i}", i)

        try:
            asyncio.run(main())
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=f, args=(i,)) for i in range(5) for f in (plain, with_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sm.sync.count("t") == 15
    sm.close()


# ---------------------------------------------------------------- the inline dispatcher
def test_dispatcher_runs_before_the_write_returns_in_the_callers_context(db_path):
    sm = StateManager(db_path)
    cell = contextvars.ContextVar("cell", default="none")
    seen: list[tuple[str, str, str]] = []

    async def dispatch(events):
        await asyncio.sleep(0.01)
        for ev in events:
            seen.append((ev.event_type, ev.item_id, cell.get()))

    sm.set_dispatcher(dispatch)

    async def main():
        cell.set("async-cell")
        await sm.set("g", "a", 1)
        assert seen == [("state:created", "a", "async-cell")]  # finished before set returned

    asyncio.run(main())
    cell.set("sync-cell")
    sm.sync.clear("g")
    assert seen[-1] == ("state:deleted", "a", "sync-cell")
    sm.set_dispatcher(None)
    sm.close()


def test_dispatcher_error_reaches_caller_after_the_write_committed(db_path):
    sm = StateManager(db_path)

    def dispatch(events):
        raise RuntimeError("handler blew up")

    sm.set_dispatcher(dispatch)
    with pytest.raises(RuntimeError, match="blew up"):
        sm.sync.set("g", "k", 1)
    sm.set_dispatcher(None)
    assert sm.sync.get("g", "k") == 1  # the write stands
    sm.close()


def test_subscriber_sees_events_in_commit_order_and_errors_are_contained(db_path):
    sm = StateManager(db_path)
    got = []
    sm.subscribe(lambda ev: 1 / 0)  # a broken subscriber must not break writes
    unsub = sm.subscribe(lambda ev: got.append((ev.item_id, ev.new_value)))

    async def main():
        await asyncio.gather(*(sm.set("g", f"k{i}", i) for i in range(200)))

    asyncio.run(main())
    assert sorted(got) == sorted((f"k{i}", i) for i in range(200))
    unsub()
    sm.sync.set("g", "after", 1)
    assert ("after", 1) not in got
    sm.close()


# ---------------------------------------------------------------- storage and life cycle
def test_default_location_and_env_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOTIA_NB_DB", raising=False)
    sm = StateManager()
    sm.sync.set("g", "k", 1)
    assert sm.url == str(tmp_path / ".motia" / "state.db")
    assert (tmp_path / ".motia" / "state.db").exists()
    sm.close()
    monkeypatch.setenv("MOTIA_NB_DB", ":memory:")
    mem = StateManager()
    mem.sync.set("g", "k", 2)
    assert mem.url == ":memory:"
    assert not (tmp_path / ":memory:").exists()
    mem.close()


def test_wal_mode_and_schema_version(db_path):
    sm = StateManager(db_path)
    sm.sync.set("g", "k", 1)
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6  # schema 6: history pages
    con.close()
    sm.close()


def test_a_newer_schema_or_a_foreign_file_is_refused_clearly(tmp_path):
    newer = tmp_path / "newer.db"
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(StateError, match="newer motia_nb"):
        StateManager(str(newer)).sync.get("g", "k")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="not a usable"):
        StateManager(str(junk)).sync.get("g", "k")


def test_use_switches_databases_and_close_reopens(tmp_path):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    sm = StateManager(a)
    sm.sync.set("g", "k", "in a")
    sm.use(b)
    assert sm.sync.get("g", "k") is None
    sm.sync.set("g", "k", "in b")
    sm.use(":memory:")
    assert sm.sync.list_groups() == []
    sm.use(a)
    assert sm.sync.get("g", "k") == "in a"
    sm.close()
    assert not sm.is_open
    assert sm.sync.get("g", "k") == "in a"  # reopens lazily
    sm.close()


def test_state_persists_across_processes(db_path):
    code = """
        import sys
        from motia_nb.state import StateManager
        sm = StateManager(sys.argv[1])
        if sys.argv[2] == "write":
            sm.sync.set("orders", "o1", {"total": 12.5, "items": ["a", "b"]})
        else:
            print(sm.sync.get("orders", "o1"))
    """
    assert script(code, db_path, "write").returncode == 0
    out = script(code, db_path, "read")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'total': 12.5, 'items': ['a', 'b']}"


def test_a_script_that_never_closes_exits_promptly(db_path):
    code = """
        import asyncio, sys
        from motia_nb import state_manager
        async def main():
            await asyncio.gather(*(state_manager.set("g", f"k{i}", i) for i in range(500)))
            state_manager.sync.update("g", "k1", [{"type": "set", "path": "", "value": "last"}])
        asyncio.run(main())
        print("done")
    """
    t0 = time.monotonic()
    out = script(code, env={"MOTIA_NB_DB": db_path}, timeout=30)
    elapsed = time.monotonic() - t0
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr
    assert elapsed < 10, f"exit took {elapsed:.1f}s"
    assert StateManager(db_path).sync.get("g", "k1") == "last"


@pytest.mark.slow
def test_four_processes_increment_one_key_atomically(db_path):
    code = """
        import asyncio, sys
        from motia_nb.state import StateManager
        sm = StateManager(sys.argv[1])
        async def main():
            await asyncio.gather(*(sm.update("ctr", "k", [{"type": "increment", "path": "n", "by": 1}]) for _ in range(250)))
            for _ in range(250):
                sm.sync.update("ctr", "k", [{"type": "increment", "path": "n", "by": 1}])
        asyncio.run(main())
        sm.close()
    """
    StateManager(db_path).sync.set("ctr", "other", 0)  # create the file first
    procs = [subprocess.Popen([PY, "-c", textwrap.dedent(code), db_path]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert StateManager(db_path).sync.get("ctr", "k") == {"n": 2000}


CRASH_WRITER = """
    import sys, asyncio
    from motia_nb.state import StateManager
    sm = StateManager(sys.argv[1])
    run = sys.argv[2]
    async def main():
        i = 0
        while True:
            batch = [f"{run}-{i + j}" for j in range(20)]
            # concurrent writes: acknowledged together by one group commit
            await asyncio.gather(*(sm.set("crash", k, {"k": k, "pad": "x" * 200}) for k in batch))
            sys.stdout.write("".join(k + "\\n" for k in batch))
            sys.stdout.flush()
            await sm.update("crash", "counter", [{"type": "increment", "path": "n", "by": 1}])
            sys.stdout.write(f"inc {run}-{i}\\n")
            sys.stdout.flush()
            i += 20
    asyncio.run(main())
"""


@pytest.mark.slow
def test_acknowledged_writes_survive_kill_9(db_path):
    rng = random.Random(1234)
    acked: list[str] = []
    increments = 0
    StateManager(db_path).sync.get("crash", "none")  # create the schema once
    for run_no in range(10):
        p = subprocess.Popen(
            [PY, "-c", textwrap.dedent(CRASH_WRITER), db_path, f"r{run_no}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        first = p.stdout.readline()  # wait until it is really writing
        assert first, "writer produced nothing"
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(p.pid, signal.SIGKILL)
        rest = p.stdout.read()
        p.wait()
        for line in [first, *rest.splitlines()]:
            line = line.strip()
            if line.startswith("inc "):
                increments += 1
            elif line:
                acked.append(line)
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM items WHERE grp = 'crash'")}
    con.close()
    missing = [k for k in acked if stored.get(k) != {"k": k, "pad": "x" * 200}]
    assert acked and not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    # every acknowledged increment is there (an unacknowledged one may also have landed)
    assert stored["counter"]["n"] >= increments


# ---------------------------------------------------------------- inline commits vs the writer thread
def test_a_write_lock_held_elsewhere_never_blocks_the_event_loop(db_path):
    """Writes commit inline only when SQLite's lock is free; otherwise the writer
    thread waits for it, and the caller's loop keeps running meanwhile."""
    sm = StateManager(db_path)
    sm.sync.set("g", "before", 1)
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main():
        t = asyncio.ensure_future(ticker())
        asyncio.get_running_loop().call_later(0.5, other.execute, "COMMIT")
        res = await sm.set("g", "k", {"waited": True})
        t.cancel()
        return res

    t0 = time.monotonic()
    res = asyncio.run(main())
    assert res == {"new_value": {"waited": True}, "old_value": None}
    assert time.monotonic() - t0 >= 0.45  # it really waited for the lock…
    assert ticks >= 10  # …while the loop kept running (~50 ticks when idle)
    # the sync form waits the same way, from a thread, without raising "database is locked"
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, other.execute, ("COMMIT",)).start()
    assert sm.sync.update("g", "k", [{"type": "set", "path": "n", "value": 2}])["new_value"] == {"waited": True, "n": 2}
    other.close()
    sm.close()


def test_writes_from_a_subscriber_are_refused_clearly(db_path):
    sm = StateManager(db_path)
    errors: list[BaseException] = []

    def writes_back(ev):
        if ev.item_id == "trigger":
            try:
                sm.sync.set("g", "from-subscriber", 1)
            except Exception as e:
                errors.append(e)

    sm.subscribe(writes_back)
    sm.sync.set("g", "trigger", 1)
    assert len(errors) == 1 and "subscriber" in str(errors[0])
    assert sm.sync.get("g", "from-subscriber") is None
    sm.close()


def test_writes_pending_at_close_commit_and_later_ones_fail_instead_of_hanging(db_path):
    from motia_nb.state import StateClosedError

    sm = StateManager(db_path)
    backend = sm.backend

    async def main():
        fut = sm.set("g", "k", 1)  # buffered until the loop's next iteration: made before close()
        backend.close()  # closed behind the manager's back: it commits what was made before it
        late = backend.submit_async(set_write("g", "late", 2), result_only=True)
        return await asyncio.wait_for(asyncio.gather(fut, late, return_exceptions=True), 5)

    res, late = asyncio.run(main())
    assert res == {"new_value": 1, "old_value": None}
    assert isinstance(late, StateClosedError)
    assert StateManager(db_path).sync.get("g", "k") == 1


def _fork_worker(args):
    db, n = args
    from motia_nb.state import state_manager as child_view  # noqa: F401  (a second manager, also inherited)

    for _ in range(n):
        _FORK_SM.sync.update("ctr", "k", [{"type": "increment", "path": "n", "by": 1}])
    return os.getpid()


_FORK_SM: StateManager | None = None


@pytest.mark.slow
def test_forked_children_reopen_the_store_instead_of_hanging(db_path):
    """multiprocessing forks by default on Linux: a child inherits an open manager
    whose writer thread does not exist in it. It must reopen, not hang."""
    import multiprocessing

    global _FORK_SM
    _FORK_SM = StateManager(db_path)
    _FORK_SM.sync.set("ctr", "k", {"n": 0})  # open (writer thread and connections) before forking
    ctx = multiprocessing.get_context("fork")
    with children_dump_stacks() as stacks, ctx.Pool(4) as pool:
        # children that stop answering fail the test with their stacks (not pytest's 300 s timeout)
        pids = map_or_dump(pool, _fork_worker, [(db_path, 200)] * 4, stacks)
    assert len(set(pids)) >= 1 and os.getpid() not in pids
    _FORK_SM.sync.update("ctr", "k", [{"type": "increment", "path": "n", "by": 1}])  # the parent still works
    assert _FORK_SM.sync.get("ctr", "k") == {"n": 801}
    _FORK_SM.close()


def test_program_order_holds_for_unawaited_writes_then_sync_calls_and_reads(db_path):
    """An async write starts at the call; a later read or sync write on the same
    thread must see it and come after it, even before the write is awaited."""
    sm = StateManager(db_path)

    async def main():
        first = sm.set("g", "k", 1)  # not awaited yet
        assert await sm.get("g", "k") == 1  # a read sees it
        second = sm.update("g", "k", [{"type": "set", "path": "", "value": 2}])
        sm.sync.set("g", "k", 3)  # a sync write comes after both
        return await first, await second

    first, second = asyncio.run(main())
    assert first == {"new_value": 1, "old_value": None}
    assert second == {"new_value": 2, "old_value": 1}
    assert sm.sync.get("g", "k") == 3
    sm.close()


def test_close_while_other_threads_write_and_read_fails_them_cleanly(db_path):
    """close() racing writers and readers: each call either succeeds or raises
    StateClosedError; nothing hangs, nothing crashes, what was acknowledged stays."""
    from motia_nb.state import StateClosedError

    sm = StateManager(db_path)
    backend = sm.backend
    acked: list[str] = []
    bad: list[BaseException] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"w{n}-{i}"
            try:
                backend.submit(set_write("g", key, i)).result(timeout=10)
                acked.append(key)
            except StateClosedError:
                return
            except BaseException as e:  # pragma: no cover - reported below
                bad.append(e)
                return
            try:
                backend.get("g", key)
            except StateClosedError:
                return
            except BaseException as e:  # pragma: no cover - reported below
                bad.append(e)
                return
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    backend.close()
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert not any(t.is_alive() for t in threads), "a writer hung on close()"
    assert bad == []
    reopened = StateManager(db_path)
    assert acked and all(reopened.sync.get("g", k) is not None for k in acked)
    reopened.close()


def test_an_unawaited_write_still_runs_its_triggers(db_path):
    """A write starts at the call; so does the inline dispatch of its events."""
    sm = StateManager(db_path)
    seen: list[str] = []

    async def dispatch(events):
        seen.extend(e.item_id for e in events)

    sm.set_dispatcher(dispatch)

    async def main():
        sm.set("g", "fire-and-forget", 1)  # never awaited
        for _ in range(200):
            await asyncio.sleep(0.01)
            if seen:
                return

    asyncio.run(main())
    assert seen == ["fire-and-forget"]
    assert sm.sync.get("g", "fire-and-forget") == 1
    sm.set_dispatcher(None)
    sm.close()
