"""The SQLite follower on its own: a cursor on ``changes.seq``, woken by data_version.

Rows are written here by hand (another connection standing for another process), so
the follower is tested apart from the write path; tests/test_sqlite_remote.py covers
the backend and the facade on top of it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

import pytest

from motia_nb.state.backends.sqlite.follower import Follower, rows_to_events
from motia_nb.state.backends.sqlite.schema import CHANGES, event_type

ME, OTHER = 1, 2  # two backends' origins


@pytest.fixture
def db(tmp_path: Any) -> tuple[str, sqlite3.Connection]:
    path = str(tmp_path / "state.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(CHANGES)
    yield path, conn
    conn.close()


def record(conn: sqlite3.Connection, *rows: tuple[str, str, str, Any, Any, str]) -> None:
    """Commit ``(event_type, grp, key, old, new, origin)`` rows in one transaction (the event
    type is not stored: the values say it)."""
    conn.execute("BEGIN IMMEDIATE")
    for et, grp, key, old, new, origin in rows:
        old_text, new_text = None if old is None else json.dumps(old), None if new is None else json.dumps(new)
        assert et == event_type(old_text, new_text)
        conn.execute(
            "INSERT INTO changes (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
            "VALUES (?, ?, ?, ?, ?, NULL, 'cell', 1, ?)",
            (time.time_ns() // 1000, grp, key, old_text, new_text, origin),
        )
    conn.execute("COMMIT")


def test_rows_become_events_with_json_values() -> None:
    (ev,) = rows_to_events([(7, "orders", "o1", '{"n": 1}', '{"n": 2}')])
    assert (ev.event_type, ev.group_id, ev.item_id, ev.old_value, ev.new_value) == (
        "state:updated", "orders", "o1", {"n": 1}, {"n": 2})  # fmt: skip
    (gone,) = rows_to_events([(8, "orders", "o1", "null", None)])  # a stored JSON null, deleted
    assert gone.old_value is None and gone.new_value is None and gone.event_type == "state:deleted"
    (made,) = rows_to_events([(9, "orders", "o2", None, "null")])  # created holding JSON null
    assert made.event_type == "state:created" and made.new_value is None


def test_a_poll_delivers_only_new_foreign_rows_in_commit_order(db: tuple[str, sqlite3.Connection]) -> None:
    path, conn = db
    record(conn, ("state:created", "g", "old", None, 1, OTHER))  # before the follower: never replayed
    got: list[list[tuple[str, str, Any]]] = []
    f = Follower(path, ME, lambda evs: got.append([(e.event_type, e.item_id, e.new_value) for e in evs]))
    f.start(thread=False)
    try:
        assert f.poll() == 0 and got == []  # nothing committed since: data_version did not move
        record(conn, ("state:created", "g", "k1", None, {"v": 1}, OTHER), ("state:created", "g", "mine", None, 0, ME))
        record(conn, ("state:updated", "g", "k1", {"v": 1}, {"v": 2}, OTHER))
        record(conn, ("state:deleted", "g", "k1", {"v": 2}, None, OTHER))
        assert f.poll() == 3
        # three separate writes read at once: handed over one by one, each as a write of its own
        assert got == [[("state:created", "k1", {"v": 1})], [("state:updated", "k1", {"v": 2})],
                       [("state:deleted", "k1", None)]]  # fmt: skip
        # own rows move the cursor but are never delivered
        record(conn, ("state:updated", "g", "mine", 0, 1, ME))
        assert f.poll() == 0 and len(got) == 3
        assert f.cursor == conn.execute("SELECT max(seq) FROM changes").fetchone()[0]
    finally:
        f.stop()


def test_a_burst_larger_than_one_read_arrives_whole_and_in_order(db: tuple[str, sqlite3.Connection]) -> None:
    path, conn = db
    keys: list[str] = []
    f = Follower(path, ME, lambda evs: keys.extend(e.item_id for e in evs)).start(thread=False)
    try:
        record(conn, *[("state:created", "g", f"k{i}", None, i, OTHER if i % 3 else ME) for i in range(2500)])
        assert f.poll() == len([i for i in range(2500) if i % 3])
        assert keys == [f"k{i}" for i in range(2500) if i % 3]
    finally:
        f.stop()


def test_the_thread_sees_another_connections_commit_and_stops(db: tuple[str, sqlite3.Connection]) -> None:
    path, conn = db
    seen = threading.Event()
    got: list[str] = []

    def on_events(evs: list[Any]) -> None:
        got.extend(e.item_id for e in evs)
        seen.set()

    f = Follower(path, ME, on_events, interval=0.01).start()
    try:
        assert f.running
        record(conn, ("state:created", "g", "x", None, 1, OTHER))
        assert seen.wait(10), "the follower thread never delivered the change"
        assert got == ["x"]
    finally:
        f.stop()
    assert not f.running
    f.stop()  # idempotent
    record(conn, ("state:created", "g", "y", None, 1, OTHER))
    assert f.poll() == 0 and got == ["x"]  # stopped: nothing more


def test_a_listener_may_stop_its_own_follower(db: tuple[str, sqlite3.Connection]) -> None:
    path, conn = db
    done = threading.Event()
    holder: dict[str, Follower] = {}

    def on_events(evs: list[Any]) -> None:
        holder["f"].stop()  # from the follower's own thread: must not deadlock
        done.set()

    holder["f"] = f = Follower(path, ME, on_events, interval=0.01).start()
    record(conn, ("state:created", "g", "x", None, 1, OTHER))
    assert done.wait(10)
    f._thread.join(5)  # type: ignore[union-attr]
    assert not f.running


def _write(conn: sqlite3.Connection, rows: list[tuple[int, str, Any, Any, str]], at_us: int) -> None:
    """One commit of ``(origin, key, new, trace_id, cause)`` changes, all of time ``at_us`` (as
    one transaction of the write path records them)."""
    conn.execute("BEGIN IMMEDIATE")
    for origin, key, new, trace, cause in rows:
        conn.execute(
            "INSERT INTO changes (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
            "VALUES (?, 'g', ?, NULL, ?, ?, ?, 1, ?)",
            (at_us, key, json.dumps(new), trace, cause, origin),
        )
    conn.execute("COMMIT")


def test_each_write_is_handed_over_on_its_own_by_its_commit_writer_trace_and_cause(db: tuple[str, sqlite3.Connection]) -> None:
    path, conn = db
    got: list[list[str]] = []
    f = Follower(path, ME, lambda evs: got.append([e.item_id for e in evs])).start(thread=False)
    try:
        t = time.time_ns() // 1000
        _write(conn, [(OTHER, "a1", 1, None, "cell"), (OTHER, "a2", 2, None, "cell")], t)  # one write of two
        _write(conn, [(OTHER, "b", 1, "t1", "StepA"), (OTHER, "c", 1, "t2", "StepB")], t + 1)  # one commit, two traces
        _write(conn, [(OTHER, "d", 1, "t2", "StepB")], t + 2)  # the same trace and cause, a later commit
        _write(conn, [(OTHER, "e", 1, None, "cell"), (3, "f", 1, None, "cell")], t + 3)  # two writers' rows
        assert f.poll() == 7
        assert got == [["a1", "a2"], ["b"], ["c"], ["d"], ["e"], ["f"]]
    finally:
        f.stop()


def test_a_write_cut_by_the_read_size_is_handed_over_whole(db: tuple[str, sqlite3.Connection], monkeypatch: Any) -> None:
    from motia_nb.state.backends.sqlite import follower

    monkeypatch.setattr(follower, "BATCH", 4)
    path, conn = db
    got: list[list[str]] = []
    f = Follower(path, ME, lambda evs: got.append([e.item_id for e in evs])).start(thread=False)
    try:
        t = time.time_ns() // 1000
        _write(conn, [(OTHER, "a", 1, None, "cell")], t)
        _write(conn, [(OTHER, f"b{i}", 1, None, "cell") for i in range(5)], t + 1)  # past the first read's 4 rows
        _write(conn, [(OTHER, "c", 1, None, "cell")], t + 2)
        assert f.poll() == 7
        assert got == [["a"], [f"b{i}" for i in range(5)], ["c"]]
    finally:
        f.stop()


def test_every_stored_change_is_delivered_whatever_the_retention_shows(db: tuple[str, sqlite3.Connection]) -> None:
    # history_keep '2' makes history() show the newest 2 changes; a remote trigger still sees all
    # five changes another process committed (retention is the history's, as on Redis, whose
    # published messages know none): the follower takes no retention at all
    import inspect

    assert "retention" not in inspect.signature(Follower).parameters
    path, conn = db
    got: list[list[str]] = []
    f = Follower(path, ME, lambda evs: got.append([e.item_id for e in evs]))
    f.start(thread=False)
    try:
        t = time.time_ns() // 1000
        _write(conn, [(OTHER, f"a{i}", i, None, "cell") for i in range(3)], t)
        _write(conn, [(OTHER, f"b{i}", i, None, "cell") for i in range(2)], t + 1)
        assert f.poll() == 5 and got == [["a0", "a1", "a2"], ["b0", "b1"]]
    finally:
        f.stop()
