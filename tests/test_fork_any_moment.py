"""Issue 12 §2.2 beyond a write transaction: fork() at any moment leaves a child that works.

A fork waits for every SQLite statement motia_nb's threads are running (here: a long
read on aiosqlite's reader thread, the history follower's poll); the child closes the
connections it inherited, so its own take real locks and the parent's close cannot
delete the WAL under it; a second manager on a file this process has open keeps the
process's locks; a child forked with ``os.fork()`` exits through normal interpreter
shutdown without hanging or damaging the parent's file. A follower starting or stopping
and the key indexer setting up its connection are waited for too. For a thread the hooks
do not know, the child asks SQLite: it never closes a connection whose mutex a vanished
thread holds, and refuses SQLite clearly after inheriting a process-wide mutex locked.
Every child is bounded: a hang fails the test (the child is killed), it never hangs the
suite; so does the hang detector of ``fork_watch.py`` for pools.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from motia_nb._threads import get_sqlite_loop
from motia_nb.state.manager import StateManager

CHILD_TIMEOUT = 60

_inherited: dict[str, StateManager] = {}


def _join(child: "multiprocessing.process.BaseProcess") -> None:
    child.join(CHILD_TIMEOUT)
    alive = child.is_alive()
    if alive:
        child.kill()
        child.join()
    assert not alive, "the forked child hung"


def _child_uses_the_store(path: str, q) -> None:
    sm = _inherited[path]
    try:
        sm.sync.set("child", "sync", os.getpid())

        async def main():
            await asyncio.gather(*(sm.set("child", f"a{i}", i) for i in range(10)))
            return await sm.list("child"), await sm.count("big")

        values, big = asyncio.run(main())
        q.put(("ok", (sm.sync.get("child", "sync"), len(values), big)))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        q.put(("error", repr(exc)))


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
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_child_uses_the_store, args=(db_path, q))
        child.start()
        forked_after_the_statement = released.is_set()
        _join(child)
        status, payload = q.get(timeout=5)
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


# ---------------------------------------------------------------------- the hang detector itself
_STUCK = threading.Lock()


def _waits_for_a_lock_held_at_the_fork(_: int) -> int:
    with _STUCK:  # held by a parent thread at the fork: never released in the child
        return os.getpid()


def test_the_fork_hang_detector_fails_with_the_children_s_stacks():
    """tests/fork_watch.py: children that stop answering fail the test, naming where they wait."""
    from fork_watch import children_dump_stacks, map_or_dump

    _STUCK.acquire()
    try:
        with children_dump_stacks() as stacks, multiprocessing.get_context("fork").Pool(2) as pool:
            with pytest.raises(pytest.fail.Exception) as failed:
                map_or_dump(pool, _waits_for_a_lock_held_at_the_fork, [1, 2], stacks, timeout=3)
    finally:
        _STUCK.release()
    message = str(failed.value)
    assert "did not answer within 3 s" in message
    assert message.count("in _waits_for_a_lock_held_at_the_fork") == 2, message


# ---------------------------------------------------------------------- a background connection's first statements
def _hold_inside(monkeypatch, sql: str, thread: str, entered: threading.Event, release: threading.Event) -> None:
    """Every connection opened from now on (in this process) stops inside SQLite when thread
    ``thread`` starts a statement beginning with ``sql``, until ``release`` (a trace callback
    runs inside the statement, holding its connection's mutex)."""
    real, parent = sqlite3.connect, os.getpid()

    def connect(*args, **kwargs):
        conn = real(*args, **kwargs)

        def trace(statement: str) -> None:
            if (statement.startswith(sql) and threading.current_thread().name == thread
                    and os.getpid() == parent and not release.is_set()):  # fmt: skip
                entered.set()
                release.wait(30)

        conn.set_trace_callback(trace)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def _follower_starting(sm: StateManager, monkeypatch, entered, release) -> None:
    """A remote listener added on another thread: the follower's first read of the changelog."""
    from motia_nb.state.backends.sqlite import follower

    _hold_inside(monkeypatch, follower._MAX_SEQ, "subscriber", entered, release)
    threading.Thread(target=sm.subscribe, args=(lambda ev: None,), kwargs={"remote": True},
                     name="subscriber", daemon=True).start()  # fmt: skip


def _indexer_connecting(sm: StateManager, monkeypatch, entered, release) -> None:
    """A key search of a big group: the key indexer's thread sets up its own connection."""
    from motia_nb.state.backends.base import Write
    from motia_nb.state.backends.sqlite.key_search import INDEX_THRESHOLD

    sm.backend.write_all([Write("set", "big", f"key-{i:06d}", value_json="1") for i in range(INDEX_THRESHOLD)])
    _hold_inside(monkeypatch, "PRAGMA wal_autocheckpoint = 0", "motia-nb-key-indexer", entered, release)
    sm.backend.keys_containing("big", "12345", 5)  # starts the build of the group's trigram index


def _follower_stopping(sm: StateManager, monkeypatch, entered, release) -> None:
    """The last remote listener removed while the follower is inside a poll: the backend lets go
    of its follower at once, the poll ends later."""
    from motia_nb.state.backends.sqlite import follower

    _hold_inside(monkeypatch, follower._MAX_SEQ, "motia-nb-sqlite-follower", entered, release)
    unsubscribe = sm.subscribe(lambda ev: None, remote=True)
    other = StateManager(sm.url)
    other.sync.set("other", "k", 1)  # another origin commits: the next poll reads the changelog
    other.close()
    assert entered.wait(30)
    threading.Thread(target=unsubscribe, daemon=True).start()
    deadline = time.monotonic() + 30
    while sm.backend._follower is not None and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)


@pytest.mark.parametrize(
    "start", [_follower_starting, _follower_stopping, _indexer_connecting],
    ids=["follower-start", "follower-stop", "indexer-connect"],
)  # fmt: skip
def test_a_fork_waits_for_a_background_connection_s_first_statements(db_path, monkeypatch, start):
    """Statements that used to run outside every lock a fork waits for: a follower's first
    reads (before its backend knew it), its last poll (after its backend let go of it) and
    the key indexer's connection set-up (after the open's lock). A thread inside SQLite at the fork may hold one of SQLite's process-wide
    mutexes, which the child then inherits locked (its next connect waits forever)."""
    sm = StateManager(db_path)
    _inherited[db_path] = sm
    sm.sync.set("seed", "k", 1)
    entered, release, released = threading.Event(), threading.Event(), threading.Event()
    try:
        start(sm, monkeypatch, entered, release)
        assert entered.wait(30), "the background statement never started"

        def let_go() -> None:
            time.sleep(0.5)
            released.set()
            release.set()

        threading.Thread(target=let_go, daemon=True).start()
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_child_uses_the_store, args=(db_path, q))
        child.start()
        forked_after_the_statement = released.is_set()
        _join(child)
        status, payload = q.get(timeout=5)
        assert status == "ok", payload
        assert payload[1] == 11
        assert forked_after_the_statement, "the fork did not wait for the statement in progress"
        assert sm.sync.count("child") == 11
    finally:
        release.set()
        _inherited.pop(db_path, None)
        sm.close()


# ---------------------------------------------------------------------- a thread the fork hooks do not know
def test_a_child_never_closes_an_inherited_connection_a_vanished_thread_was_inside(db_path):
    """A thread inside SQLite on a connection, outside every lock a fork waits for (another
    library's, or a path the hooks miss), holds that connection's mutex at the fork. The child
    closed every idle inherited connection: that close waited for the mutex forever."""
    from motia_nb.state.backends.sqlite import mutexes

    if not mutexes.available():
        pytest.skip("SQLite's mutexes cannot be asked on this Python")
    sm = StateManager(db_path)
    _inherited[db_path] = sm
    sm.sync.set("big", "k", 1)
    conn = sm.backend._rconn  # type: ignore[attr-defined]
    entered, release = threading.Event(), threading.Event()

    def slow() -> int:
        entered.set()
        release.wait(30)
        return 1

    conn.create_function("slow", 0, slow)
    reader = threading.Thread(target=lambda: conn.execute("SELECT slow()").fetchall(), daemon=True)
    reader.start()
    try:
        assert entered.wait(30)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_child_uses_the_store, args=(db_path, q))
        child.start()
        release.set()
        _join(child)
        status, payload = q.get(timeout=5)
        assert status == "ok", payload
        assert payload[1:] == (11, 1)
    finally:
        release.set()
        reader.join(30)
        _inherited.pop(db_path, None)
        sm.close()


def test_a_child_forked_while_sqlite_s_file_table_was_locked_says_so_instead_of_hanging(db_path):
    """A thread of the parent inside ``sqlite3.connect`` or ``close()`` at the fork holds SQLite's
    process-wide file-table mutex: every connect (and close) of the child would wait forever.
    The child refuses SQLite at once, with a clear error."""
    from motia_nb.state.backends.sqlite import mutexes

    if not mutexes.available():
        pytest.skip("SQLite's mutexes cannot be asked on this Python")
    lib = mutexes._lib
    sm = StateManager(db_path)
    _inherited[db_path] = sm
    sm.sync.set("big", "k", 1)
    entered, release = threading.Event(), threading.Event()

    def hold_the_file_table() -> None:
        mutex = lib.sqlite3_mutex_alloc(11)  # SQLITE_MUTEX_STATIC_VFS1: the unix VFS's file table
        lib.sqlite3_mutex_enter.argtypes = [ctypes.c_void_p]
        lib.sqlite3_mutex_enter(mutex)
        entered.set()
        release.wait(30)
        lib.sqlite3_mutex_leave(mutex)

    holder = threading.Thread(target=hold_the_file_table, daemon=True)
    holder.start()
    try:
        assert entered.wait(30)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_child_uses_the_store, args=(db_path, q))
        child.start()
        release.set()  # the parent goes on; the child inherited the mutex locked
        _join(child)
        status, payload = q.get(timeout=5)
        assert status == "error", payload
        assert "forked while another thread of its parent was inside SQLite" in payload
        assert sm.sync.get("big", "k") == 1  # the parent is unaffected
    finally:
        release.set()
        holder.join(30)
        _inherited.pop(db_path, None)
        sm.close()
