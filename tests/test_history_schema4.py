"""Schema 4 (and 5): a commit writes its changelog to ``changes`` only; ``changes_keys`` (an item's
record seqs) is filed behind the writers (schema 5: by the recorder's thread, or
``backend.file_history()``). Reads are the same whatever was filed; 3 → 5 keeps every row."""

from __future__ import annotations

import sqlite3
import time

import hypothesis
import hypothesis.strategies as st
import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import schema
from motia_nb.state.backends.sqlite.changelog import COLUMNS, changes_of
from motia_nb.state.backends.sqlite.recorder import Recorder
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
    """(filed keys, every change's (grp, key, record seq), upto), both in (seq, key) order."""
    con = sqlite3.connect(path)
    try:
        keys = con.execute("SELECT grp, key, seq FROM changes_keys ORDER BY seq, key").fetchall()
        records = con.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq").fetchall()
        rows = sorted({(grp, key, r[0]) for r in records for _, _, grp, key, *_ in changes_of([r])}, key=lambda t: (t[2], t[1]))
        (upto,) = con.execute("SELECT upto FROM changes_filed").fetchone()
        return keys, rows, upto
    finally:
        con.close()


def test_a_schema_3_file_is_upgraded_with_every_row_filed(tmp_path):
    path = str(tmp_path / "v3.db")
    _v3_file(path)
    before = sqlite3.connect(path).execute("SELECT * FROM changes ORDER BY seq").fetchall()
    v4_columns = "seq, at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin"
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
        m.backend.file_history()  # schema 6 files every record again (its pages), on the recorder's thread or here
    finally:
        m.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert con.execute(f"SELECT {v4_columns} FROM changes WHERE seq <= 6 ORDER BY seq").fetchall() == before  # row for row
        assert con.execute("SELECT count(*) FROM changes WHERE n IS NOT NULL").fetchone()[0] == 0
        assert con.execute("SELECT name FROM sqlite_master WHERE name = 'changes_item'").fetchall() == []
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    keys, rows, upto = _shape(path)
    assert upto == 7 and keys == rows  # every row filed


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


def test_a_writer_never_files_the_recorders_thread_does(tmp_path):
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        for i in range(schema.FILE_EVERY - 1):
            m.sync.set("g", f"k{i % 2}", i)
        keys, rows, upto = _shape(path)
        # a tail (the thread's pass at open may have filed the first few changes)
        assert len(rows) == schema.FILE_EVERY - 1 and upto < schema.FILE_EVERY - 1 and keys == [r for r in rows if r[2] <= upto]
        assert [r["new_value"] for r in m.sync.history("g", "k0", limit=5)] == list(range(schema.FILE_EVERY - 10, schema.FILE_EVERY - 1, 2))
        m.sync.set("g", "k1", "last")  # the FILE_EVERY-th change wakes the recorder's thread
        deadline = time.monotonic() + 30  # no timing claim: a deadline only
        while _shape(path)[2] < schema.FILE_EVERY and time.monotonic() < deadline:
            time.sleep(0.02)
        keys, rows, upto = _shape(path)
        assert keys == rows and upto == schema.FILE_EVERY
        assert m.sync.history("g", "k1", limit=1)[0]["new_value"] == "last"
    finally:
        m.close()


@pytest.fixture
def no_thread(monkeypatch):
    """No recorder thread: nothing is filed but by ``backend.file_history()`` (deterministic)."""
    monkeypatch.setattr(Recorder, "_start_pruner", lambda self: None)


def test_a_gathered_batch_is_one_record_filed_under_each_of_its_keys(tmp_path, no_thread):
    import asyncio

    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        m.sync.set("g", "first", 0)

        async def burst(n, keys):
            await asyncio.gather(*(m.set("g", f"k{i % keys}", i) for i in range(n)))

        asyncio.run(burst(40, 40))  # 40 items: one record
        asyncio.run(burst(10, 5))  # an item twice: a row per change
        con = sqlite3.connect(path)
        try:
            assert con.execute("SELECT seq, n FROM changes WHERE seq <= 42 ORDER BY seq").fetchall() == [(1, None), (41, 40), (42, None)]
            assert con.execute("SELECT max(seq), count(*) FROM changes").fetchone() == (51, 12)
        finally:
            con.close()
        unfiled = m.sync.history("g", "k3", limit=100)
        assert [(r["seq"], r["old_value"], r["new_value"]) for r in unfiled] == [(5, None, 3), (45, 3, 3), (50, 3, 8)]
        assert m.backend.file_history() >= 1
        keys, rows, upto = _shape(path)
        assert upto == 51 and keys == rows and ("g", "k39", 41) in keys
        assert m.sync.history("g", "k3", limit=100) == unfiled  # the same read, filed
        assert m.sync.get("g", "k3", at=44) == 3 and m.sync.get("g", "k3", at=4) is None and m.sync.get("g", "k20", at=22) == 20
    finally:
        m.close()


def test_pruning_deletes_a_row_from_both_tables(tmp_path, no_thread):
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        for i in range(40):
            m.sync.set("g", f"k{i % 3}", i)
            if i == 34:
                m.backend.file_history()
        m.history_keep = "15"
        m.backend.prune_history()
        keys, rows, upto = _shape(path)
        assert upto == 35 and [s for _, _, s in rows] == list(range(26, 41))  # the newest 15 of 40
        assert keys == [r for r in rows if r[2] <= upto]  # no key of a deleted row left
        assert [r["new_value"] for r in m.sync.history("g", "k0", limit=100)] == [i for i in range(25, 40) if i % 3 == 0]
    finally:
        m.close()


def test_pruning_by_count_trims_a_record_to_the_newest_changes(tmp_path, no_thread):
    import asyncio

    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="all")
    try:
        async def burst(lo):
            await asyncio.gather(*(m.set("g", f"k{i}", i) for i in range(lo, lo + 30)))

        asyncio.run(burst(0))
        asyncio.run(burst(30))  # two records: seqs 1..30, 31..60
        m.backend.file_history()
        m.history_keep = "40"
        assert m.backend.prune_history() == 20
        history = m.sync.history("g", limit=1000)
        assert [r["seq"] for r in history] == list(range(21, 61)) and [r["new_value"] for r in history] == list(range(20, 60))
        keys, rows, upto = _shape(path)
        assert keys == rows  # the keys the trimmed record no longer holds were unfiled
        with pytest.raises(Exception, match="pruned"):
            m.sync.get("g", "k0", at=5)
        assert m.sync.get("g", "k25", at=24) is None and m.sync.get("g", "k25", at=26) == 25
        con = sqlite3.connect(path)
        try:
            assert con.execute("SELECT seq, n FROM changes ORDER BY seq").fetchall() == [(30, 10), (60, 30)]
        finally:
            con.close()
    finally:
        m.close()


def test_two_backends_writing_the_same_file_file_each_row_once(tmp_path, no_thread):
    path = str(tmp_path / "s.db")
    a, b = StateManager(path, history_keep="all"), StateManager(path, history_keep="all")
    try:
        for i in range(40):
            (a if i % 2 else b).sync.set("g", f"k{i % 4}", i)
            if i == 34:
                a.backend.file_history()
                b.backend.file_history()
        keys, rows, upto = _shape(path)
        assert upto == 35 and keys == rows[:35]  # filed once, whichever filed first
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
        st.tuples(st.just("file"), st.just(""), st.just(0)),
        st.tuples(st.just("gather"), st.sampled_from(["a", "b", "c"]), st.integers(2, 9)),
    ),
    min_size=1,
    max_size=40,
)


@hypothesis.settings(max_examples=40, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(ops=_OPS)
def test_reads_are_the_same_whatever_was_filed(tmp_path_factory, no_thread, ops):
    """history(), history(since=) and get(at=) against a full scan of ``changes`` (records as
    their changes), after writes, gathered batches (records), filing passes and pruning in
    any order (the tail, the filed part, or both)."""
    import asyncio

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
            elif kind == "file":
                m.backend.file_history()
            elif kind == "gather":  # one record: the keys from ``key`` on, some twice

                async def burst(key=key, n=n):  # distinct items (one record), or not (rows) past 3
                    keys = "abc"[("abc".index(key)):] + "ab"
                    await asyncio.gather(*(m.set("g", keys[i % len(keys)], 10 + i) for i in range(n)))

                asyncio.run(burst())
            else:
                m.history_keep = str(n)
                m.backend.prune_history()
                m.history_keep = "all"
        con = sqlite3.connect(path)
        try:
            full = [(c[0], c[2], c[3], c[5]) for c in changes_of(con.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq"))]
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
