"""Issue 12 §2.2 beyond a write transaction: fork() at any moment leaves a child that works.

A fork waits for every SQLite statement motia_nb's threads are running (here: a long
read on aiosqlite's reader thread, the history follower's poll); the child closes the
connections it inherited, so its own take real locks and the parent's close cannot
delete the WAL under it; a second manager on a file this process has open keeps the
process's locks; a child forked with ``os.fork()`` exits through normal interpreter
shutdown without hanging or damaging the parent's file. Every child is bounded: a hang
fails the test (the child is killed), it never hangs the suite. (More in test_fork_gaps.py.)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from fork_watch import _inherited, _join, fork_child_using_the_store

from motia_nb._threads import get_sqlite_loop
from motia_nb.state.manager import StateManager


# ---------------------------------------------------------------------- a fork waits for statements
def _block_reader(sm: StateManager, entered: threading.Event, release: threading.Event):
    """A long read on aiosqlite's reader thread, held inside its statement until ``release``."""
    asyncio.run(sm.count("big"))  # opens the reader connection
    reader = sm.backend._reader.result()  # type: ignore[attr-defined]

    def slow() -> int:
        entered.set()
        release.wait(30)
        return 1

    reader._connection.create_function("slow", 0, slow)
    return asyncio.run_coroutine_threadsafe(reader.execute_fetchall("SELECT slow()"), get_sqlite_loop().loop)


def _block_follower(sm: StateManager, entered: threading.Event, release: threading.Event):
    """The history follower's poll, held inside its read of the changelog until ``release``."""
    from motia_nb.state.backends.sqlite import follower

    sm.subscribe(lambda events: None, remote=True)
    conn = sm.backend._follower._conn  # type: ignore[attr-defined]

    def slow() -> int:
        entered.set()
        release.wait(30)
        return 0

    conn.create_function("slow", 0, slow)
    follower._MAX_SEQ = "SELECT coalesce(max(seq), 0) + slow() FROM changes"  # restored by the test
    other = StateManager(sm.url)
    other.sync.set("other", "k", 1)  # another origin commits: the next poll reads the changelog
    return other


@pytest.mark.parametrize("busy", [_block_reader, _block_follower], ids=["aiosqlite-long-read", "follower-poll"])
def test_a_fork_waits_for_a_statement_in_progress_and_the_child_works(db_path, busy, monkeypatch):
    from motia_nb.state.backends.sqlite import follower

    max_seq = follower._MAX_SEQ
    monkeypatch.setattr(follower, "_MAX_SEQ", max_seq)
    sm = StateManager(db_path)
    _inherited[db_path] = sm
    sm.sync.set("big", "k", 1)
    entered, release, released = threading.Event(), threading.Event(), threading.Event()
    held = busy(sm, entered, release)
    try:
        assert entered.wait(30)

        def let_go() -> None:
            time.sleep(0.5)
            follower._MAX_SEQ = max_seq  # the child's follower reads as usual
            released.set()
            release.set()

        threading.Thread(target=let_go, daemon=True).start()
        status, payload, forked_after_the_statement = fork_child_using_the_store(db_path, released.is_set)
        assert status == "ok", payload
        assert payload[1:] == (11, 1)
        assert forked_after_the_statement, "the fork did not wait for the statement in progress"
        assert sm.sync.count("child") == 11  # the parent sees the child's writes and still works
    finally:
        release.set()
        _inherited.pop(db_path, None)
        if isinstance(held, StateManager):
            held.close()
        sm.close()


# ---------------------------------------------------------------------- the child takes real locks
def _child_writes_slowly(path: str, started, q) -> None:
    sm = _inherited[path]
    try:
        for i in range(100):
            sm.sync.set("child", f"k{i}", i)
            started.set()
            time.sleep(0.005)
        q.put(("ok", 100))
    except BaseException as exc:
        q.put(("error", repr(exc)))


def test_a_child_s_acknowledged_writes_survive_the_parent_closing_the_store(db_path):
    """The child's connections hold real locks: the parent's last close cannot checkpoint and
    delete the WAL the child is writing to (before: most of the child's writes were lost)."""
    sm = StateManager(db_path)
    _inherited[db_path] = sm
    sm.sync.set("g", "parent", 1)
    ctx = multiprocessing.get_context("fork")
    started, q = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_child_writes_slowly, args=(db_path, started, q))
    try:
        child.start()
        assert started.wait(30)
        sm.close()  # the parent's last connection closes while the child writes
        _join(child)
        assert q.get(timeout=5) == ("ok", 100)
    finally:
        _inherited.pop(db_path, None)
        sm.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM items WHERE grp = 'child'").fetchone()[0] == 100
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002, 0)  # SQLite's shared-lock range
    print("free")
except OSError:
    print("held")
"""


def test_a_second_manager_on_a_file_this_process_has_open_keeps_the_process_s_locks(db_path):
    """Opening and closing the file outside SQLite (the header check) dropped every POSIX lock
    this process held on it: another process could then checkpoint and delete the live WAL."""
    first = StateManager(db_path)
    second = StateManager(db_path)
    try:
        first.sync.set("g", "k", 1)  # a connection holds SQLite's shared lock from now on

        def probe() -> str:
            return subprocess.run([sys.executable, "-c", _PROBE, db_path], capture_output=True, text=True,
                                  timeout=30).stdout.strip()

        assert probe() == "held"
        assert second.sync.get("g", "k") == 1  # the second manager opens the same file
        assert probe() == "held"
    finally:
        second.close()
        first.close()


# ---------------------------------------------------------------------- os.fork and a normal exit
_SCRIPT = """
import asyncio, faulthandler, os, sqlite3, sys, threading
from motia_nb.state import StateManager
from motia_nb.state.backends.base import Write
from motia_nb.state.backends.sqlite import forking

path = sys.argv[1]
sm = StateManager(path)
sm.sync.set("g", "seed", 0)
stop = threading.Event()

async def reads():
    while not stop.is_set():
        await sm.list("g")

threading.Thread(target=lambda: asyncio.run(reads()), daemon=True).start()


def fork_child(work):
    pid = os.fork()
    if pid == 0:
        faulthandler.dump_traceback_later(30, exit=True)  # a hang, at exit too, ends the child
        code = 0
        try:
            work()
        except BaseException as exc:
            print("child failed:", repr(exc), flush=True)
            code = 3
        sys.exit(code)  # a normal exit: atexit hooks and interpreter shutdown
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def use_the_store():
    sm.sync.set("child", str(os.getpid()), 1)
    asyncio.run(sm.set("child", f"a{os.getpid()}", 2))
    fresh = StateManager(path)
    fresh.sync.set("child", f"f{os.getpid()}", 3)
    fresh.close()


codes = [fork_child(use_the_store) for _ in range(3)]

# a fork whose wait for a write transaction runs out: the child cannot use the file and must
# exit without rolling the inherited transaction back (that would rewrite the parent's WAL index)
forking.FORK_WAIT = 0.1
in_txn, release = threading.Event(), threading.Event()

def progress(n):
    in_txn.set()
    release.wait(60)

writes = [Write("set", "big", f"k{i}", value_json=str(i)) for i in range(3000)]
t = threading.Thread(target=lambda: sm.backend._writes.write_all(writes, 1000, progress))
t.start()
in_txn.wait(30)

def refused():
    try:
        sm.sync.set("child", "refused", 1)
    except Exception as exc:
        assert "forked while its parent was writing" in str(exc), exc
    else:
        raise AssertionError("a child forked inside a transaction wrote")

codes.append(fork_child(refused))
release.set()
t.join()
stop.set()
sm.sync.set("g", "after", 1)
big, children = sm.sync.count("big"), sm.sync.count("child")
sm.close()
with sqlite3.connect(path) as c:
    check = c.execute("PRAGMA integrity_check").fetchall()
print(codes, big, children, check)
"""


def test_os_fork_children_exit_normally_and_the_parent_s_file_stays_whole(tmp_path):
    script = tmp_path / "forks.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "s.db")], capture_output=True, text=True,
                          timeout=180, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[0, 0, 0, 0] 3000 9 [('ok',)]", done.stdout + done.stderr
