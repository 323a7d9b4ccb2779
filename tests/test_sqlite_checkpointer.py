"""WAL checkpoints off the writers' path (sqlite/checkpointer.py): the WAL stays bounded,
no write is lost across a checkpoint, a fork neither inherits a checkpointer nor forks mid-checkpoint."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import sqlite3
import threading
import time
import weakref

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import checkpointer as cpmod
from motia_nb.state.backends.sqlite.changelog import COLUMNS, changes_of
from motia_nb.state.backends.sqlite import schema

FRAME = 4096 + 24  # a WAL frame: header + one page (the default page size)


def _settles(cond, seconds: float = 30.0) -> bool:
    """A deadline, not a timing claim: ``cond`` became true before it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_the_write_connection_checkpoints_only_past_the_safety_valve(db_path):
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "k", 1)
        assert sm.backend._wconn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == cpmod.SAFETY_PAGES
    finally:
        sm.close()


def test_the_checkpointer_runs_after_enough_commits_and_stops_on_close(db_path, monkeypatch):
    monkeypatch.setattr(cpmod, "WAKE_COMMITS", 20)
    sm = StateManager(db_path)
    try:
        for i in range(10):
            sm.sync.set("g", f"k{i}", i)
        cp = sm.backend._checkpointer
        assert cp._thread is None  # a backend that wrote little started no thread
        for i in range(60):
            sm.sync.set("g", f"k{i}", i)
        assert _settles(lambda: cp.checkpoints >= 1)
        thread = cp._thread
        assert thread is not None and thread.name == "motia-nb-sqlite-checkpointer"
    finally:
        sm.close()
    assert not thread.is_alive()
    assert cp.checkpoint() is None  # closed: nothing runs


def test_a_big_batch_wakes_the_checkpointer_by_its_rows(db_path, monkeypatch):
    monkeypatch.setattr(cpmod, "WAKE_ROWS", 500)
    sm = StateManager(db_path)
    try:
        async def burst():
            await asyncio.gather(*(sm.set("g", f"k{i}", i) for i in range(1000)))

        asyncio.run(burst())
        cp = sm.backend._checkpointer
        assert _settles(lambda: cp.checkpoints >= 1)
    finally:
        sm.close()


@pytest.mark.parametrize("stuck", [False, True], ids=["checkpointer-running", "checkpointer-stuck"])
def test_the_wal_stays_bounded(db_path, monkeypatch, stuck):
    """However the checkpointer fares, the writer's own checkpoint past SAFETY_PAGES bounds the WAL
    (~6,000 pages are written). Stuck: the writer's checkpoint runs at the first commit past the valve.
    Running: a writer's checkpoint that meets the checkpointer's in progress tries again at the next
    commit, so the WAL may pass the valve by what was committed meanwhile: bounded, loosely."""
    monkeypatch.setattr(schema, "SAFETY_PAGES", 100)
    monkeypatch.setattr(cpmod, "WAKE_COMMITS", 10)
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "seed", 0)
        cp = sm.backend._checkpointer
        if stuck:
            cp._lock.acquire()  # its thread waits here, as if a checkpoint never ended
        try:
            for i in range(1500):  # 3-6 pages a commit: ~6,000 pages written in all
                sm.sync.set("g", f"k{i % 300}", {"i": i, "pad": "x" * 50})
            wal_pages = os.path.getsize(db_path + "-wal") // FRAME
            assert wal_pages <= (100 + 20 if stuck else 2000), wal_pages
        finally:
            if stuck:
                cp._lock.release()
        assert sm.sync.count("g") == 301
    finally:
        sm.close()


def test_no_write_is_lost_across_checkpoints(db_path, monkeypatch):
    """Checkpoints run back to back on another thread while writes commit: every value and every
    history row is in the file, read by a fresh connection after close."""
    monkeypatch.setattr(cpmod, "WAKE_COMMITS", 5)
    sm = StateManager(db_path)
    stop = threading.Event()
    sm.sync.set("g", "seed", 0)
    cp = sm.backend._checkpointer

    def hammer() -> None:
        while not stop.is_set():
            cp.checkpoint()

    t = threading.Thread(target=hammer)
    t.start()
    try:
        async def writes():
            for j in range(20):
                await asyncio.gather(*(sm.set("g", f"k{i}", {"j": j, "i": i}) for i in range(50)))
                for i in range(10):
                    await sm.set("solo", f"s{i}", j)

        asyncio.run(writes())
    finally:
        stop.set()
        t.join()
        sm.close()
    con = sqlite3.connect(db_path)
    try:
        values = dict(con.execute("SELECT key, value FROM items WHERE grp = 'g'").fetchall())
        assert len(values) == 51 and all(values[f"k{i}"] == f'{{"j":19,"i":{i}}}' for i in range(50))
        changes = changes_of(con.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq"))  # records as changes
        assert sum(c[2] == "g" for c in changes) == 1 + 20 * 50
        assert sum(c[2] == "solo" for c in changes) == 20 * 10
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def test_a_backend_collected_without_close_ends_its_checkpointer(db_path, monkeypatch):
    monkeypatch.setattr(cpmod, "WAKE_COMMITS", 5)
    monkeypatch.setattr(cpmod, "_IDLE_CHECK", 0.05)
    sm = StateManager(db_path)
    for i in range(20):
        sm.sync.set("g", f"k{i}", i)
    cp = sm.backend._checkpointer
    assert _settles(lambda: cp._thread is not None and cp.checkpoints >= 1)
    thread = cp._thread
    ref = weakref.ref(sm.backend)
    del sm, cp
    assert _settles(lambda: (gc.collect() or True) and ref() is None)
    assert _settles(lambda: not thread.is_alive())


# ---------------------------------------------------------------------- fork
_inherited: dict[str, StateManager] = {}
_inherited_checkpointer: dict[str, cpmod.Checkpointer] = {}
_released = {"flag": False}


def _child(path: str, q) -> None:
    try:
        sm = _inherited[path]
        old = _inherited_checkpointer[path]  # the parent's, as this child inherited it
        for i in range(40):
            sm.sync.set("child", f"k{i}", i)
        new = sm.backend._checkpointer
        ok = _settles(lambda: new.checkpoints >= 1, 20)
        q.put(("ok", {"released": _released["flag"], "fresh": new is not old, "old_stopped": old._stop,
                      "checkpointed": ok, "count": sm.sync.count("child")}))  # fmt: skip
    except BaseException as exc:
        q.put(("error", repr(exc)))


def test_a_fork_waits_for_a_checkpoint_in_progress_and_the_child_gets_its_own(db_path, monkeypatch):
    monkeypatch.setattr(cpmod, "WAKE_COMMITS", 5)
    sm = StateManager(db_path)
    _inherited[db_path] = sm
    try:
        for i in range(20):
            sm.sync.set("g", f"k{i}", i)
        cp = _inherited_checkpointer[db_path] = sm.backend._checkpointer
        assert _settles(lambda: cp.checkpoints >= 1)
        holding = threading.Event()

        def checkpoint_in_progress() -> None:
            with cp._lock:  # as the thread holds it through a checkpoint
                holding.set()
                time.sleep(0.3)
                _released["flag"] = True

        t = threading.Thread(target=checkpoint_in_progress)
        _released["flag"] = False
        t.start()
        assert holding.wait(10)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_child, args=(db_path, q))
        child.start()  # waits for the checkpoint lock first
        child.join(90)
        alive = child.is_alive()
        if alive:
            child.kill()
        assert not alive, "the forked child hung"
        status, payload = q.get(timeout=5)
        assert status == "ok", payload
        assert payload == {"released": True, "fresh": True, "old_stopped": True, "checkpointed": True, "count": 40}
        t.join()
        sm.sync.set("g", "after", 1)  # the parent's own checkpointer goes on
        assert not cp._stop
        assert sm.sync.count("child") == 40
    finally:
        _inherited.pop(db_path, None)
        _inherited_checkpointer.pop(db_path, None)
        sm.close()
