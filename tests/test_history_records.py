"""Schema 5: a gathered batch of distinct items is ONE changelog record. Every read answers
exactly what the schema 4 shape (one row per change) answers: the same writes run against a
store recording records and one forced to rows, compared through the public API, the
follower's events and the rows themselves; pruning by count keeps exactly the newest N."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import changelog
from motia_nb.state.backends.sqlite.changelog import COLUMNS, RECORD, changes_of, insert_planned
from motia_nb.state.backends.sqlite.follower import rows_to_events
from motia_nb.state.backends.sqlite.recorder import Recorder
from motia_nb.state.backends.base import Write

_VALUES = st.one_of(st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=3),
                    st.none(), st.lists(st.integers(-(2**63), 2**64 - 1), max_size=2), st.dictionaries(st.text(max_size=2), st.booleans(), max_size=2))  # fmt: skip
_KEYS = st.sampled_from(["a", "b", "c", "d", "é"])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(["g", "h"]), _KEYS, _VALUES),
        st.tuples(st.just("delete"), st.just("g"), _KEYS, st.none()),
        st.tuples(st.just("clear"), st.sampled_from(["g", "h"]), st.none(), st.none()),
        st.tuples(st.just("gather"), st.just("g"), st.lists(_KEYS, min_size=1, max_size=5), _VALUES),
        st.tuples(st.just("mixed"), st.just(""), st.lists(_KEYS, min_size=2, max_size=4), _VALUES),
        st.tuples(st.just("updates"), st.just("g"), st.lists(_KEYS, min_size=2, max_size=4, unique=True), st.none()),
        st.tuples(st.just("prune"), st.just(""), st.integers(1, 8), st.none()),
    ),
    min_size=1,
    max_size=25,
)


def _run(sm: StateManager, ops: list[Any]) -> None:
    async def batch(calls: Any) -> None:  # the calls made on the running loop: ONE gathered batch
        await asyncio.gather(*calls(), return_exceptions=True)  # an update of a non-object fails alone

    for kind, g, key, value in ops:
        if kind == "set":
            sm.sync.set(g, key, value)
        elif kind == "delete":
            sm.sync.delete(g, key)
        elif kind == "clear":
            sm.sync.clear(g)
        elif kind == "gather":  # distinct keys: one record; a key twice: rows
            asyncio.run(batch(lambda: [sm.set(g, k, [value, i]) for i, k in enumerate(key)]))
        elif kind == "mixed":  # two groups in one batch: rows
            asyncio.run(batch(lambda: [sm.set("gh"[i % 2], k, value) for i, k in enumerate(key)]))
        elif kind == "updates":
            asyncio.run(batch(lambda: [sm.update(g, k, [{"type": "set", "path": "u", "value": 1}]) for k in key]))
        else:
            sm.history_keep = str(key)
            sm.backend.prune_history()
            sm.history_keep = "all"


def _without_times(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "at"} for c in changes]


def _all(path: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return changes_of(con.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq"))
    finally:
        con.close()


@hypothesis.settings(max_examples=60, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(ops=_OPS, file_first=st.booleans())
def test_records_read_exactly_as_rows_do(tmp_path_factory, monkeypatch, ops, file_first):
    d = tmp_path_factory.mktemp("s")
    recs, rows = StateManager(str(d / "records.db"), history_keep="all"), StateManager(str(d / "rows.db"), history_keep="all")
    try:
        _run(recs, ops)
        with monkeypatch.context() as mp:
            mp.setattr(changelog, "RECORD_MIN", 10**9)  # every batch as rows: the schema 4 shape
            _run(rows, ops)
        if file_first:
            recs.backend.file_history()
        ours, theirs = _all(str(d / "records.db")), _all(str(d / "rows.db"))
        drop = lambda cs: [(c[0], *c[2:8]) for c in cs]  # noqa: E731 - without the time and origin
        assert drop(ours) == drop(theirs)  # change for change, text for text
        for g in ("g", "h"):
            assert _without_times(recs.sync.history(g, limit=1000)) == _without_times(rows.sync.history(g, limit=1000))
            assert _without_times(recs.sync.history(g, limit=3)) == _without_times(rows.sync.history(g, limit=3))
            for key in ("a", "b", "é"):
                assert _without_times(recs.sync.history(g, key, limit=1000)) == _without_times(rows.sync.history(g, key, limit=1000))
                assert _without_times(recs.sync.history(g, key, limit=1)) == _without_times(rows.sync.history(g, key, limit=1))
        seqs = [c[0] for c in theirs]
        for since in seqs[:: max(1, len(seqs) // 4)]:
            assert _without_times(recs.sync.history("g", since=since, limit=2)) == _without_times(rows.sync.history("g", since=since, limit=2))
            assert _without_times(recs.sync.history("g", "a", since=since, limit=5)) == _without_times(rows.sync.history("g", "a", since=since, limit=5))
        for at in range(0, (seqs[-1] if seqs else 0) + 2):
            for key in ("a", "b"):
                try:
                    want: Any = rows.sync.get("g", key, at=at)
                except Exception as exc:  # pruned: both refuse
                    with pytest.raises(type(exc)):
                        recs.sync.get("g", key, at=at)
                else:
                    assert recs.sync.get("g", key, at=at) == want
        # the follower's events: one per change, in order
        con_r, con_w = sqlite3.connect(str(d / "records.db")), sqlite3.connect(str(d / "rows.db"))
        try:
            follow = "SELECT seq, grp, key, old_value, new_value, n FROM changes ORDER BY seq"
            ev = lambda con: [(e.event_type, e.group_id, e.key, e.old_value, e.new_value) for e in rows_to_events(con.execute(follow).fetchall())]  # noqa: E731
            assert ev(con_r) == ev(con_w)
        finally:
            con_r.close()
            con_w.close()
    finally:
        recs.close()
        rows.close()


def test_a_record_keeps_each_text_exactly_as_stored():
    texts = ['{"a":1.50}', "1e5", '"\\u00e9 é 😀"', "null", "[ 1 ,2]", "-0"]
    writes = [Write("set", "g", f"k{i}", value_json=t) for i, t in enumerate(texts)]
    entries = [("set", "g", f"k{i}", None if i % 2 else texts[-1 - i], None, t) for i, t in enumerate(texts)]
    sql, (params,) = insert_planned(writes, entries, at=7, pid=1, origin=2)  # type: ignore[misc]
    assert sql is RECORD and params[0] == len(texts)
    n, at, grp, layout, olds, news, trace, cause, pid, origin = params
    got = changes_of([(100, at, grp, layout, olds, news, trace, cause, pid, origin, n)])
    assert [(c[0], c[3], c[4], c[5]) for c in got] == [
        (95 + i, f"k{i}", None if i % 2 else texts[-1 - i], t) for i, t in enumerate(texts)
    ]


def test_only_distinct_items_of_one_group_with_one_cause_make_a_record():
    def shape(writes: list[Write]) -> str:
        entries = [("set", w.group_id, w.key, None, None, w.value_json) for w in writes]
        return "record" if insert_planned(writes, entries, at=1, pid=1, origin=1)[0] is RECORD else "rows"  # type: ignore[index]

    sets = [Write("set", "g", f"k{i}", value_json=str(i)) for i in range(3)]
    assert shape(sets) == "record"
    assert shape(sets[:1]) == "rows"  # a lone write
    assert shape(sets + [Write("set", "g", "k0", value_json="9")]) == "rows"  # an item twice
    assert shape(sets + [Write("set", "h", "k9", value_json="9")]) == "rows"  # two groups
    assert shape(sets + [Write("set", "g", "k9", value_json="9", cause="step-x")]) == "rows"  # two causes
    assert shape(sets + [Write("set", "g", "k9", value_json="9", trace_id="t")]) == "rows"  # two traces


V4 = """
CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (grp, key));
CREATE INDEX items_grp_id ON items (grp, id);
"""


def test_a_schema_4_file_is_upgraded_its_rows_kept_and_its_tail_filed(tmp_path, monkeypatch):
    """A file made by schema 4 (its trigger filing every 3rd row): rows kept as they are, the
    trigger gone (a writer files nothing), the unfiled tail filed by the recorder."""
    from motia_nb.state.backends.sqlite import schema

    path = str(tmp_path / "v4.db")
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(V4 + ";" + schema.changes_sql(every=3) + ";PRAGMA user_version = 4;")
    con.executemany(
        "INSERT INTO changes (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) VALUES (?, 'g', ?, ?, ?, NULL, 'cell', 9, 9)",
        [(1_000_000 * i, f"k{i % 2}", None if i < 2 else str(i - 2), str(i)) for i in range(7)],
    )
    con.execute("INSERT INTO items (grp, key, value) VALUES ('g', 'k0', '6'), ('g', 'k1', '5')")
    assert con.execute("SELECT upto, (SELECT count(*) FROM changes_keys) FROM changes_filed").fetchone() == (6, 6)
    before = con.execute("SELECT * FROM changes ORDER BY seq").fetchall()
    con.close()
    monkeypatch.setattr(Recorder, "_start_pruner", lambda self: None)  # nothing filed but by file_history()
    m = StateManager(path, history_keep="all")
    try:
        assert [r["new_value"] for r in m.sync.history("g", "k0")] == [0, 2, 4, 6]
        async def burst() -> None:
            await asyncio.gather(*(m.set("g", f"n{i}", i) for i in range(4)))

        asyncio.run(burst())  # one record
        m.sync.set("g", "k1", 7)
        con = sqlite3.connect(path)
        try:
            assert con.execute("PRAGMA user_version").fetchone()[0] == 6
            assert con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchall() == [("changes_unfile",)]
            assert [r[:10] for r in con.execute("SELECT * FROM changes WHERE seq <= 7 ORDER BY seq")] == before
            assert con.execute("SELECT seq, n FROM changes WHERE seq > 7").fetchall() == [(11, 4), (12, None)]
            assert con.execute("SELECT upto FROM changes_filed").fetchone()[0] == 0  # schema 6 files all again (with pages); the writers filed nothing
        finally:
            con.close()
        assert [r["seq"] for r in m.sync.history("g", "k1")] == [2, 4, 6, 12]
        m.backend.file_history()
        con = sqlite3.connect(path)
        try:
            assert con.execute("SELECT upto FROM changes_filed").fetchone()[0] == 12
            assert con.execute("SELECT grp, key, seq FROM changes_keys WHERE seq > 6 ORDER BY seq, key").fetchall() == [
                ("g", "k0", 7), ("g", "n0", 11), ("g", "n1", 11), ("g", "n2", 11), ("g", "n3", 11), ("g", "k1", 12)
            ]  # fmt: skip
        finally:
            con.close()
        assert [r["seq"] for r in m.sync.history("g", "k1")] == [2, 4, 6, 12]
        assert [(r["seq"], r["key"]) for r in m.sync.history("g", limit=6)] == [(7, "k0"), (8, "n0"), (9, "n1"), (10, "n2"), (11, "n3"), (12, "k1")]
        assert m.sync.get("g", "n2", at=9) is None and m.sync.get("g", "n2", at=10) == 2
    finally:
        m.close()


def _planned_row_by_row(writes: list[Write], entries: list[Any]) -> Any:
    """insert_planned as it was before its one-pass record: every change's row first, then the
    record check over the rows (the reference the one-pass path must equal)."""
    rows: list[tuple[Any, ...]] = []
    for w, e in zip(writes, entries):
        if type(e) is not tuple:
            continue
        kind, g, k, old_text, _, new_text = e
        if kind == "clear":
            rows.extend([(1, g, key, text, None, w.trace_id, w.cause, 2, 3) for key, text in old_text])
        elif old_text is not None or new_text is not None:
            rows.append((1, g, k, old_text, new_text, w.trace_id, w.cause, 2, 3))
    if not rows:
        return None
    if len(rows) >= changelog.RECORD_MIN:
        first = rows[0]
        if all(r[1] == first[1] and r[5] == first[5] and r[6] == first[6] for r in rows) and len({r[2] for r in rows}) == len(rows):
            return RECORD, [changelog._record(rows, 1, first[1], first[5], first[6], 2, 3)]
    return changelog.INSERT, rows


_ENTRY = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(["g", "h"]), _KEYS, st.one_of(st.none(), st.just('"old"')), st.just("1")),
    st.tuples(st.just("delete"), st.just("g"), _KEYS, st.one_of(st.none(), st.just("[1]")), st.none()),
    st.tuples(st.just("clear"), st.sampled_from(["g", "h"]), st.lists(st.tuples(_KEYS, st.just("2")), max_size=3), st.none(), st.none()),
    st.just("error"),
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(specs=st.lists(st.tuples(_ENTRY, st.sampled_from(["cell", "step-x"]), st.sampled_from([None, "t1"])), max_size=8))
def test_the_one_pass_record_equals_the_rows_then_record_path(specs: list[Any]) -> None:
    writes, entries = [], []
    for spec, cause, trace in specs:
        if spec == "error":
            writes.append(Write("set", "g", "z", value_json="1", cause=cause, trace_id=trace))
            entries.append(ValueError("its own error"))
            continue
        kind, g, k, old, new = spec
        if kind == "clear":
            writes.append(Write("clear", g, cause=cause, trace_id=trace))
            entries.append(("clear", g, None, list(k), None, None))
        else:
            writes.append(Write(kind, g, k, value_json=new, cause=cause, trace_id=trace))
            entries.append((kind, g, k, old, None, new))
    assert insert_planned(writes, entries, at=1, pid=2, origin=3) == _planned_row_by_row(writes, entries)
