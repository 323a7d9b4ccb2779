"""Schema 4: a commit writes its changelog row to ``changes`` only; ``changes_keys`` (an item's
seqs) is filed by a trigger every ``FILE_EVERY`` rows. Reads are the same whatever was filed;
3 → 4 keeps every row."""

from __future__ import annotations

import sqlite3
import time

import hypothesis
import hypothesis.strategies as st
import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import schema
from motia_nb.state.backends.sqlite.schema import SCHEMA_VERSION

V3 = """
CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (grp, key));
CREATE INDEX items_grp_id ON items (grp, id);
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL, grp TEXT NOT NULL, key TEXT NOT NULL, old_value TEXT,
    new_value TEXT, trace_id TEXT, cause TEXT NOT NULL, pid INTEGER NOT NULL, origin INTEGER NOT NULL
);
CREATE INDEX changes_item ON changes (grp, key, seq);
PRAGMA user_version = 3;
"""
T0 = 1_764_500_000_250_000  # microseconds


def _v3_file(path: str) -> None:
    """A schema 3 file: o1 created, updated; o2 created, deleted; o3 created; a change in another group."""
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(V3)
    rows = [
        (T0, "orders", "o1", None, '{"total":1}', None, "cell"),
        (T0 + 1_000_000, "orders", "o1", '{"total":1}', '{"total":2}', "t-1", "pay"),
        (T0 + 2_000_000, "orders", "o2", None, "null", None, "cell"),
        (T0 + 3_000_000, "other", "o1", None, "7", None, "magic"),
        (T0 + 4_000_000, "orders", "o2", "null", None, None, "viewer"),
        (T0 + 5_000_000, "orders", "o3", None, "[1,2.5]", None, "cell"),
    ]
    con.executemany(
        "INSERT INTO changes (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 4242, 17)",
        rows,
    )
    con.execute("INSERT INTO items (grp, key, value) VALUES ('orders', 'o1', '{\"total\":2}'), ('orders', 'o3', '[1,2.5]'), "
                "('other', 'o1', '7')")  # fmt: skip
    con.close()


def _shape(path: str) -> tuple[list[tuple], list[tuple], int]:
    con = sqlite3.connect(path)
    try:
        keys = con.execute("SELECT grp, key, seq FROM changes_keys ORDER BY seq").fetchall()
        rows = con.execute("SELECT grp, key, seq FROM changes ORDER BY seq").fetchall()
        (upto,) = con.execute("SELECT upto FROM changes_filed").fetchone()
        return keys, rows, upto
    finally:
        con.close()


def test_a_schema_3_file_is_upgraded_with_every_row_filed(tmp_path):
    path = str(tmp_path / "v3.db")
    _v3_file(path)
    before = sqlite3.connect(path).execute("SELECT * FROM changes ORDER BY seq").fetchall()
    m = StateManager(path)
    try:
        assert [(r["seq"], r["key"], r["event_type"], r["old_value"], r["new_value"], r["trace_id"], r["cause"])
                for r in m.sync.history("orders")] == [
            (1, "o1", "state:created", None, {"total": 1}, None, "cell"),
            (2, "o1", "state:updated", {"total": 1}, {"total": 2}, "t-1", "pay"),
            (3, "o2", "state:created", None, None, None, "cell"),
            (5, "o2", "state:deleted", None, None, None, "viewer"),
            (6, "o3", "state:created", None, [1, 2.5], None, "cell"),
        ]  # fmt: skip
        assert [r["seq"] for r in m.sync.history("orders", "o1")] == [1, 2]
        assert [r["seq"] for r in m.sync.history("other", "o1")] == [4]
        assert m.sync.get("orders", "o1", at=1) == {"total": 1}
        m.sync.set("orders", "o1", 3)  # new rows continue the sequence, in the tail until filed
        assert [r["seq"] for r in m.sync.history("orders", "o1")] == [1, 2, 7]
    finally:
        m.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert con.execute("SELECT * FROM changes WHERE seq <= 6 ORDER BY seq").fetchall() == before  # row for row
        assert con.execute("SELECT name FROM sqlite_master WHERE name = 'changes_item'").fetchall() == []
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    keys, rows, upto = _shape(path)
    assert upto == 6 and keys == rows[:6]  # the migration filed every row it found


def test_a_failed_upgrade_leaves_the_schema_3_file_as_it_was(tmp_path, monkeypatch):
    path = str(tmp_path / "v3.db")
    _v3_file(path)
    monkeypatch.setitem(schema.MIGRATIONS, 3, schema.CHANGES_3_TO_4 + ";\nTHIS IS NOT SQL")
    m = StateManager(path)
    try:
        with pytest.raises(Exception, match="not a usable"):
            m.sync.get("orders", "o1")
    finally:
        m.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 3
        assert con.execute("SELECT count(*) FROM changes").fetchone()[0] == 6
        assert con.execute("SELECT name FROM sqlite_master WHERE name LIKE 'changes_%' ORDER BY name").fetchall() == [
            ("changes_item",)
        ]
    finally:
        con.close()


@pytest.fixture
def every_7(monkeypatch):
    """New files file every 7 rows (the trigger's period is written into the file)."""
    monkeypatch.setitem(schema.MIGRATIONS, 0, schema.SCHEMA + ";" + schema.changes_sql(every=7))


def test_the_rows_are_filed_every_file_every_rows_in_the_writers_transaction(tmp_path):
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        for i in range(schema.FILE_EVERY - 1):
            m.sync.set("g", f"k{i % 2}", i)
        keys, rows, upto = _shape(path)
        assert (keys, upto, len(rows)) == ([], 0, schema.FILE_EVERY - 1)  # a tail only
        assert [r["new_value"] for r in m.sync.history("g", "k0", limit=5)] == list(range(schema.FILE_EVERY - 10, schema.FILE_EVERY - 1, 2))
        m.sync.set("g", "k1", "last")  # the FILE_EVERY-th row files them all
        keys, rows, upto = _shape(path)
        assert keys == rows and upto == schema.FILE_EVERY
        assert m.sync.history("g", "k1", limit=1)[0]["new_value"] == "last"
    finally:
        m.close()


def test_a_gathered_batch_files_within_its_own_transaction(tmp_path, every_7):
    import asyncio

    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        async def burst():
            await asyncio.gather(*(m.set("g", f"k{i % 5}", i) for i in range(40)))

        asyncio.run(burst())
        keys, rows, upto = _shape(path)
        assert len(rows) == 40 and upto == 35 and keys == rows[:35]
        assert [r["new_value"] for r in m.sync.history("g", "k3", limit=100)] == list(range(3, 40, 5))
    finally:
        m.close()


def test_pruning_deletes_a_row_from_both_tables(tmp_path, every_7):
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        for i in range(40):
            m.sync.set("g", f"k{i % 3}", i)
        m.history_keep = "15"
        m.backend.prune_history()
        keys, rows, upto = _shape(path)
        assert upto == 35 and [s for _, _, s in rows] == list(range(26, 41))  # the newest 15 of 40
        assert keys == [r for r in rows if r[2] <= upto]  # no key of a deleted row left
        assert [r["new_value"] for r in m.sync.history("g", "k0", limit=100)] == [i for i in range(25, 40) if i % 3 == 0]
    finally:
        m.close()


def test_two_backends_writing_the_same_file_file_each_row_once(tmp_path, every_7):
    path = str(tmp_path / "s.db")
    a, b = StateManager(path, history_keep="all"), StateManager(path, history_keep="all")
    try:
        for i in range(40):
            (a if i % 2 else b).sync.set("g", f"k{i % 4}", i)
        keys, rows, upto = _shape(path)
        assert upto == 35 and keys == rows[:35]  # filed by whichever wrote the 7th, 14th… row
        assert [r["new_value"] for r in b.sync.history("g", "k1", limit=100)] == list(range(1, 40, 4))
    finally:
        a.close()
        b.close()


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(["a", "b", "c"]), st.integers(0, 9)),
        st.tuples(st.just("delete"), st.sampled_from(["a", "b", "c"]), st.just(0)),
        st.tuples(st.just("clear"), st.just(""), st.just(0)),
        st.tuples(st.just("burst"), st.sampled_from(["a", "b", "c"]), st.integers(1, 9)),
        st.tuples(st.just("prune"), st.just(""), st.integers(1, 12)),
    ),
    min_size=1,
    max_size=40,
)


@hypothesis.settings(max_examples=40, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(ops=_OPS)
def test_reads_are_the_same_whatever_was_filed(tmp_path_factory, every_7, ops):
    """history(), history(since=) and get(at=) against a full scan of ``changes``, after writes,
    filing passes and pruning in any order (the tail, the filed part, or both)."""
    path = str(tmp_path_factory.mktemp("s") / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        for kind, key, n in ops:
            if kind == "set":
                m.sync.set("g", key, n)
                m.sync.set("h", key, n)  # another group's rows interleaved
            elif kind == "delete":
                m.sync.delete("g", key)
            elif kind == "clear":
                m.sync.clear("g")
            elif kind == "burst":  # rows of another group: the item's rows filed or not
                for i in range(n):
                    m.sync.set("z", key, i)
            else:
                m.history_keep = str(n)
                m.backend.prune_history()
                m.history_keep = "all"
        con = sqlite3.connect(path)
        try:
            full = con.execute("SELECT seq, grp, key, new_value FROM changes ORDER BY seq").fetchall()
        finally:
            con.close()
        group = [s for s, g, _, _ in full if g == "g"]
        assert [r["seq"] for r in m.sync.history("g", limit=1000)] == group
        assert [r["seq"] for r in m.sync.history("g", limit=2)] == group[-2:]
        for key in "abc":
            mine = [(s, v) for s, g, k, v in full if (g, k) == ("g", key)]
            got = m.sync.history("g", key, limit=1000)
            assert [r["seq"] for r in got] == [s for s, _ in mine]
            if mine:
                mid = mine[len(mine) // 2][0]
                assert [r["seq"] for r in m.sync.history("g", key, since=mid, limit=1000)] == [s for s, _ in mine if s > mid]
                assert [r["seq"] for r in m.sync.history("g", key, limit=1)] == [mine[-1][0]]
                assert m.sync.get("g", key, at=mid) == (None if dict(mine)[mid] is None else int(dict(mine)[mid]))
    finally:
        m.close()
