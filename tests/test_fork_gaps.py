"""Fork gaps found by issue 12 §2.2's hunt for the intermittent pool hang, and the hang detector.

Statements that ran outside every lock a fork waits for (a follower starting or stopping,
the key indexer setting up its connection); threads the fork hooks cannot know about,
for which the child asks SQLite which mutexes it inherited locked; and
``fork_watch.map_or_dump``, which turns forked children that stop answering into a
failure with their stacks. Every child is bounded: a hang fails the test.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import sqlite3
import threading
import time

import pytest
from fork_watch import _inherited, fork_child_using_the_store

from motia_nb.state.manager import StateManager


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
        status, payload, forked_after_the_statement = fork_child_using_the_store(db_path, released.is_set)
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
        status, payload, _ = fork_child_using_the_store(db_path, release.set)
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
    The child refuses SQLite at once, with a clear error. History off: the history recorder's
    first pass opens its connection (the file-table mutex) under the write gate, so it would be
    stuck behind the held mutex, and the fork would wait out its whole bound (20 s) for the gate."""
    from motia_nb.state.backends.sqlite import mutexes

    if not mutexes.available():
        pytest.skip("SQLite's mutexes cannot be asked on this Python")
    lib = mutexes._lib
    sm = StateManager(db_path, history_keep="off")
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
        status, payload, _ = fork_child_using_the_store(db_path, release.set)  # the parent goes on; the child inherited the mutex locked
        assert status == "error", payload
        assert "forked while another thread of its parent was inside SQLite" in payload
        assert sm.sync.get("big", "k") == 1  # the parent is unaffected
    finally:
        release.set()
        holder.join(30)
        _inherited.pop(db_path, None)
        sm.close()
