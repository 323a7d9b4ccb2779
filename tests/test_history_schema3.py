"""Schema 3 (the compact changelog): a schema 2 file is upgraded row for row, and seqs stay unique."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import hypothesis
import hypothesis.strategies as st

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite.schema import SCHEMA_VERSION
from motia_nb.state.history import iso_micros, micros

V2 = """
CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (grp, key));
CREATE INDEX items_grp_id ON items (grp, id);
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, event_type TEXT NOT NULL, grp TEXT NOT NULL,
    key TEXT NOT NULL, old_value TEXT, new_value TEXT, trace_id TEXT, cause TEXT NOT NULL,
    pid INTEGER NOT NULL, origin TEXT NOT NULL
);
CREATE INDEX changes_item ON changes (grp, key, seq);
"""

T0 = 1_764_500_000.25


def _v2_file(path: str) -> None:
    """A schema 2 file: o1 created, updated; o2 created, deleted; o3 created (a trace, a step)."""
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(V2)
    rows = [
        (T0, "state:created", "orders", "o1", None, '{"total":1}', None, "cell"),
        (T0 + 1, "state:updated", "orders", "o1", '{"total":1}', '{"total":2, "big":123456789012345678901234567890}', None, "magic"),
        (T0 + 2, "state:created", "orders", "o2", None, "null", None, "cell"),
        (T0 + 3, "state:deleted", "orders", "o2", "null", None, None, "viewer"),
        (T0 + 4.5, "state:created", "orders", "o3", None, "[1,2.5]", "trace-1", "pay"),
    ]
    for at, et, g, k, old, new, trace, cause in rows:
        con.execute(
            "INSERT INTO changes (at, event_type, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 4242, ?)",
            (at, et, g, k, old, new, trace, cause, "f" * 32),
        )
    con.execute("INSERT INTO items (grp, key, value) VALUES ('orders', 'o1', ?), ('orders', 'o3', '[1,2.5]')",
                ('{"total":2, "big":123456789012345678901234567890}',))  # fmt: skip
    con.execute("PRAGMA user_version = 2")
    con.close()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()


def test_a_schema_2_file_is_upgraded_row_for_row(tmp_path):
    path = str(tmp_path / "v2.db")
    _v2_file(path)
    m = StateManager(path)
    try:
        rows = m.sync.history("orders", limit=100)
        assert [(r["seq"], r["event_type"], r["key"], r["old_value"], r["new_value"], r["trace_id"], r["cause"], r["pid"])
                for r in rows] == [
            (1, "state:created", "o1", None, {"total": 1}, None, "cell", 4242),
            (2, "state:updated", "o1", {"total": 1}, {"total": 2, "big": 123456789012345678901234567890}, None, "magic", 4242),
            (3, "state:created", "o2", None, None, None, "cell", 4242),
            (4, "state:deleted", "o2", None, None, None, "viewer", 4242),
            (5, "state:created", "o3", None, [1, 2.5], "trace-1", "pay", 4242),
        ]  # fmt: skip
        assert [r["at"] for r in rows] == [_iso(T0), _iso(T0 + 1), _iso(T0 + 2), _iso(T0 + 3), _iso(T0 + 4.5)]
        assert m.sync.history("orders", "o2") == rows[2:4]  # the index was rebuilt: one item's history
        assert m.sync.get("orders", "o1", at=1) == {"total": 1}  # get(at=) on migrated rows
        assert m.sync.get("orders", "o2", at=3) is None and m.sync.get("orders", "o2", at=datetime.fromtimestamp(T0 + 2.5, timezone.utc)) is None
        # new changes continue the sequence
        m.sync.set("orders", "o1", 3)
        newest = m.sync.history("orders", "o1")[-1]
        assert newest["seq"] == 6 and newest["old_value"]["total"] == 2 and newest["event_type"] == "state:updated"
    finally:
        m.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        columns = [r[1] for r in con.execute("PRAGMA table_info(changes)")]
        assert columns == ["seq", "at_us", "grp", "key", "old_value", "new_value", "trace_id", "cause", "pid", "origin", "n"]
        sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'changes'").fetchone()[0]
        assert "AUTOINCREMENT" not in sql
        assert con.execute("SELECT count(*) FROM sqlite_sequence WHERE name = 'changes'").fetchone()[0] == 0
        assert con.execute("SELECT DISTINCT origin FROM changes WHERE seq <= 5").fetchall() == [(0,)]
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def test_a_failed_upgrade_leaves_the_schema_2_file_as_it_was(tmp_path, monkeypatch):
    """The upgrade is one transaction: a failure midway rolls all of it back."""
    from motia_nb.state.backends.sqlite import schema

    path = str(tmp_path / "v2.db")
    _v2_file(path)
    monkeypatch.setitem(schema.MIGRATIONS, 2, schema.CHANGES_2_TO_3 + ";\nTHIS IS NOT SQL")
    m = StateManager(path)
    try:
        try:
            m.sync.get("orders", "o1")
        except Exception as exc:
            assert "not a usable" in str(exc)
        else:
            raise AssertionError("the broken upgrade did not fail")
    finally:
        m.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2
        assert con.execute("SELECT count(*), min(event_type) FROM changes").fetchone() == (5, "state:created")
    finally:
        con.close()


def test_pruning_by_age_keeps_the_newest_row_so_no_seq_is_given_twice(tmp_path):
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="1h")
    try:
        for i in range(4):
            m.sync.set("g", f"k{i}", i)
        con = sqlite3.connect(path)
        con.execute("UPDATE changes SET at_us = at_us - 7200000000")  # every change two hours old
        con.commit()
        con.close()
        m.backend.prune_history()
        con = sqlite3.connect(path)
        assert [r[0] for r in con.execute("SELECT seq FROM changes")] == [4]  # the newest stays, whatever its age
        con.close()
        assert m.sync.history("g") == []  # (too old to be shown: tests/test_history_retention_exact.py)
        m.sync.set("g", "k9", 9)
        assert m.sync.history("g")[-1]["seq"] == 5  # never 1 again
    finally:
        m.close()


def test_history_keeps_times_to_the_microsecond(tmp_path):
    """``at`` round-trips: a change's own time as ``since`` includes it, ``get(at=)`` reads it."""
    m = StateManager(str(tmp_path / "s.db"))
    try:
        for i in range(12):
            m.sync.set("g", "k", i)
            time.sleep(0.001)
        rows = m.sync.history("g", "k")
        for r in rows[::3]:
            when = datetime.fromisoformat(r["at"])
            assert m.sync.history("g", "k", since=when)[0]["seq"] == r["seq"]
            assert m.sync.get("g", "k", at=when) == r["new_value"]
        assert json.dumps([r["new_value"] for r in rows]) == json.dumps(list(range(12)))
    finally:
        m.close()


_TIMES = st.one_of(
    st.floats(min_value=-2e9, max_value=4e9, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=4_000_000_000).map(lambda s: s + 0.5e-6),  # half-microsecond ties
    st.integers(min_value=0, max_value=2**22).map(lambda m: 1_764_518_400 + m / 2**22),  # exact ties of today's times
    st.integers(min_value=0, max_value=4_000_000_000).map(float),  # whole seconds: no fraction shown
)


@hypothesis.settings(max_examples=600, deadline=None)  # lists of up to 20 times: ~6,000 times per run
@hypothesis.given(st.lists(_TIMES, min_size=1, max_size=20))
def test_stored_microseconds_show_exactly_the_time_datetime_shows(ats):
    """``at_us`` = micros(at); a page's times from it are datetime's isoformat of ``at``."""
    ats = sorted(ats)
    assert iso_micros([micros(a) for a in ats]) == [datetime.fromtimestamp(a, timezone.utc).isoformat() for a in ats]


#: whole microseconds as stored: today's (runs of one second, whole seconds, a second's last
#: microsecond), the first second after 1970 and before it, years 1 to 9999 (a year before 1000 is
#: padded to four digits, as isoformat writes it)
_MICROS = st.one_of(
    st.integers(min_value=1_764_518_400_000_000, max_value=1_764_518_403_000_000),
    st.integers(min_value=1_764_518_400, max_value=1_764_518_403).map(lambda s: s * 1_000_000),
    st.integers(min_value=1_764_518_400, max_value=1_764_518_403).map(lambda s: s * 1_000_000 - 1),
    st.integers(min_value=-3_000_000, max_value=3_000_000),
    st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@hypothesis.settings(max_examples=600, deadline=None)
@hypothesis.given(st.lists(_MICROS, min_size=1, max_size=30))
@hypothesis.example([-30_641_659_200_000_000])  # 0999-01-02T04:00:00+00:00 (strftime's %Y wrote '999')
def test_a_page_of_microseconds_shows_each_time_as_datetime_does_in_any_order(ats):
    """iso_micros of whole microseconds, in any order (a page's times go back and forth across
    seconds: each time inside the second of the one before reuses it, a whole second never
    does), is each time's own isoformat, one by one."""
    assert iso_micros(ats) == [(_EPOCH + timedelta(microseconds=us)).isoformat() for us in ats]


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(_TIMES.filter(lambda a: a >= 0), min_size=1, max_size=30))
def test_the_upgrade_rounds_seconds_to_microseconds_as_micros_does(ats):
    """Schema 2 → 3 converts ``at`` (seconds) in SQL: the same microseconds as Python's rounding."""
    from motia_nb.state.backends.sqlite.schema import CHANGES_2_TO_3

    con = sqlite3.connect(":memory:")
    try:
        con.executescript(V2)
        con.executemany(
            "INSERT INTO changes (at, event_type, grp, key, new_value, cause, pid, origin) "
            "VALUES (?, 'state:created', 'g', 'k', '1', 'cell', 1, 'o')", [(a,) for a in ats])  # fmt: skip
        con.executescript(CHANGES_2_TO_3)
        assert [r[0] for r in con.execute("SELECT at_us FROM changes ORDER BY seq")] == [micros(a) for a in ats]
    finally:
        con.close()
