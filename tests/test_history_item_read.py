"""An item's history is read by one statement over the filed changes and the unfiled tail
(``sqlite/item_read.py``). Whatever is filed (nothing, part, all), whatever mix of rows and
batch records holds the item, it answers exactly what the one-row-per-change model gives:
every row of ``changes`` expanded (``changelog.changes_of``), that item's, made into dicts by
``history.change_dict``, then cut by ``since`` / ``limit`` as SPEC §9 says."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone
from typing import Any

import hypothesis
import hypothesis.strategies as st

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import pages
from motia_nb.state.backends.sqlite.changelog import COLUMNS, changes_of
from motia_nb.state.backends.sqlite.pages import file_pass
from motia_nb.state.backends.sqlite.schema import event_type
from motia_nb.state.history import Retention, change_dict

_KEYS = st.sampled_from(["a", "b", 'q"x', "é", "a\\b"])
_VALUES = st.one_of(st.integers(-3, 3), st.none(), st.text(max_size=3), st.lists(st.integers(-(2**63), 2**64 - 1), max_size=2),
                    st.dictionaries(st.text(max_size=2), st.booleans(), max_size=2))  # fmt: skip
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _KEYS, _VALUES),
        st.tuples(st.just("delete"), _KEYS, st.none()),
        st.tuples(st.just("gather"), st.lists(_KEYS, min_size=1, max_size=4), _VALUES),  # distinct keys: a record
        st.tuples(st.just("clear"), st.none(), st.none()),
        st.tuples(st.just("file"), st.integers(1, 3), st.none()),  # file the oldest records (a part of the tail)
        st.tuples(st.just("prune"), st.integers(1, 6), st.none()),  # keep the newest N changes (a record may be trimmed)
    ),
    min_size=1,
    max_size=20,
)


def _file_some(path: str, records: int) -> None:
    """File the ``records`` oldest unfiled records (their keys and their items' pages), as the
    recorder's thread does."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        file_pass(con, records)
        con.execute("COMMIT")
    finally:
        con.close()


def _prune(sm: StateManager, keep: int) -> None:
    """Prune to the newest ``keep`` changes, as the recorder's thread does (its thread is stopped)."""
    rec = sm.backend._recorder
    rec.retention, rec._stop = Retention(max_count=keep), False
    try:
        rec.prune_now()
    finally:
        rec._stop = True


def _model(path: str, group: str, key: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(path)
    try:
        rows = changes_of(con.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq"))
    finally:
        con.close()
    return [
        change_dict(seq, at / 1e6, event_type(old, new), group, key, old, new, trace, cause, pid)
        for seq, at, g, k, old, new, trace, cause, pid, _origin in rows
        if g == group and k == key
    ]


@hypothesis.settings(max_examples=80, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(ops=_OPS, limit=st.integers(1, 6), page_min=st.integers(1, 3))
# a change filed without a page (too few in its pass), then the item paged: its pages take it along
@hypothesis.example(ops=[("set", "a", 1), ("file", 1, None), ("set", "a", 2), ("set", "a", 3), ("file", 2, None)], limit=1, page_min=2)
def test_an_items_history_reads_exactly_as_the_row_per_change_model(tmp_path_factory, monkeypatch, ops, limit, page_min):
    monkeypatch.setattr(pages, "PAGE_MAX", 2)  # pages of one or two changes: reads cross their edges
    monkeypatch.setattr(pages, "PAGE_MIN", page_min)  # some items paged, some through changes_keys, some both
    path = str(tmp_path_factory.mktemp("s") / "s.db")
    sm = StateManager(path, history_keep="all")
    try:
        sm.sync.count("g")  # opened: the recorder's pass at open is over once its thread stops
        sm.backend._recorder.close()  # the test files by hand (``file``), nothing else does
        for kind, arg, value in ops:
            if kind == "set":
                sm.sync.set("g", arg, value)
            elif kind == "delete":
                sm.sync.delete("g", arg)
            elif kind == "gather":
                async def gather(keys: list[str] = arg, value: Any = value) -> None:
                    await asyncio.gather(*(sm.set("g", k, [value, i]) for i, k in enumerate(keys)))

                asyncio.run(gather())
            elif kind == "clear":
                sm.sync.clear("g")
            elif kind == "prune":
                _prune(sm, arg)
            else:
                _file_some(path, arg)
        for key in ("a", 'q"x', "é", "a\\b", "zz"):
            want = _model(path, "g", key)
            assert sm.sync.history("g", key, limit=1000) == want
            assert sm.sync.history("g", key, limit=limit) == want[-limit:]
            for after in sorted({0, *(c["seq"] - 1 for c in want), *(c["seq"] for c in want)}):
                assert sm.sync.history("g", key, since=after, limit=limit) == [c for c in want if c["seq"] > after][:limit]
            for c in want[:3]:  # since a time: at or after it
                at = datetime.fromisoformat(c["at"])
                assert sm.sync.history("g", key, since=at, limit=limit) == [w for w in want if datetime.fromisoformat(w["at"]) >= at][:limit]
    finally:
        sm.close()


def test_a_value_nested_deeper_than_one_json_loads_can_take_still_reads(tmp_path):
    sm = StateManager(str(tmp_path / "s.db"))
    try:
        deep: Any = 1
        for _ in range(500):
            deep = [deep]
        sm.sync.set("g", "k", deep)
        sm.sync.set("g", "k", 2)
        got = sm.sync.history("g", "k")
        assert [c["new_value"] for c in got] == [deep, 2] and got[1]["old_value"] == deep
    finally:
        sm.close()


def test_the_datetime_since_compares_as_utc(tmp_path):
    sm = StateManager(str(tmp_path / "s.db"))
    try:
        sm.sync.set("g", "k", 1)
        first = sm.sync.history("g", "k")[0]
        assert sm.sync.history("g", "k", since=datetime.fromisoformat(first["at"]).astimezone(timezone.utc)) == [first]
    finally:
        sm.close()


def test_the_recorder_pages_a_hot_item_and_a_schema_5_file_is_paged_after_its_upgrade(tmp_path, monkeypatch):
    """Filing (the recorder's) writes pages for an item changed PAGE_MIN+ times in a pass, none
    for the others; a file of schema 5 (no pages) reads the same before and after it is
    filed again."""
    from motia_nb.state.backends.sqlite.recorder import Recorder

    monkeypatch.setattr(Recorder, "_start_pruner", lambda self: None)  # nothing filed but by file_history(): one pass
    path = str(tmp_path / "s.db")
    sm = StateManager(path, history_keep="all")
    try:
        for i in range(pages.PAGE_MIN + 3):
            sm.sync.set("g", "hot", i)
            sm.sync.set("g", f"cold{i}", i)
        sm.backend.file_history()
        want = _model(path, "g", "hot")
        assert sm.sync.history("g", "hot", limit=1000) == want and len(want) == pages.PAGE_MIN + 3
    finally:
        sm.close()
    con = sqlite3.connect(path, isolation_level=None)
    try:
        assert con.execute("SELECT DISTINCT key FROM changes_pages").fetchall() == [("hot",)]
        con.executescript("DROP TABLE changes_pages; PRAGMA user_version = 5;")  # as schema 5 left it
    finally:
        con.close()
    try:
        sm = StateManager(path, history_keep="all")
        assert sm.sync.history("g", "hot", limit=1000) == want  # all in the tail again
        assert sm.sync.history("g", "hot", since=3, limit=5) == [c for c in want if c["seq"] > 3][:5]
        sm.backend.file_history()
        assert sm.sync.history("g", "hot", limit=1000) == want  # from its pages
        assert sm.sync.history("g", "cold1", limit=1000) == _model(path, "g", "cold1")
    finally:
        sm.close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT sum(n) FROM changes_pages WHERE key = 'hot'").fetchone()[0] == len(want)
    finally:
        con.close()
