"""The state history (SPEC §9): every committed change recorded with its cause, on SQLite and Redis.

Each test runs on both backends unless it is about one store's layout (migration, pruning).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from datetime import date, datetime, timedelta, timezone

import hypothesis
import pytest
from hypothesis import strategies as st

from motia_nb.state import StateManager, state_manager
from motia_nb.state.cause import acting_as, current_cause
from motia_nb.state.errors import InvalidInputError, StateError, StoredValueError, UpdateOpError
from motia_nb.state.history import CHANGE_KEYS, Retention
from motia_nb.state.transfer import import_jsonl

BACKENDS = ["sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("redis_url")


@pytest.fixture
def sm(url):
    m = StateManager(url)
    m.backend  # open now
    yield m
    m.close()


def kinds(rows):
    return [(r["event_type"], r["key"], r["old_value"], r["new_value"]) for r in rows]


# ------------------------------------------------------------------ recording
def test_every_write_kind_is_recorded_with_old_and_new_values(sm):
    s = sm.sync
    s.set("orders", "o1", {"status": "new", "n": 12345678901234567890})
    s.set("orders", "o1", {"status": "paid", "n": 0.1})
    s.update("orders", "o1", [{"type": "increment", "path": "retries", "by": 1}])
    s.update("orders", "o2", [{"type": "set", "path": "x", "value": None}])  # a missing item: created
    s.set("orders", "o3", None)  # a stored null is a value, not an absence
    with pytest.raises(UpdateOpError):  # refused whole: no row
        s.update("orders", "o1", [{"type": "increment", "path": "status", "by": 1}])
    assert s.delete("orders", "missing") is None  # nothing deleted: no row
    s.delete("orders", "o2")
    assert s.clear("orders") == 2  # one row per removed item
    assert s.clear("orders") == 0
    rows = s.history("orders")
    assert kinds(rows) == [
        ("state:created", "o1", None, {"status": "new", "n": 12345678901234567890}),
        ("state:updated", "o1", {"status": "new", "n": 12345678901234567890}, {"status": "paid", "n": 0.1}),
        ("state:updated", "o1", {"status": "paid", "n": 0.1}, {"status": "paid", "n": 0.1, "retries": 1}),
        ("state:created", "o2", None, {"x": None}),
        ("state:created", "o3", None, None),
        ("state:deleted", "o2", {"x": None}, None),
        ("state:deleted", "o1", {"status": "paid", "n": 0.1, "retries": 1}, None),
        ("state:deleted", "o3", None, None),
    ]
    assert all(tuple(r) == CHANGE_KEYS for r in rows)
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for r in rows:
        assert r["group_id"] == "orders" and r["cause"] == "cell" and r["trace_id"] is None
        assert r["pid"] == os.getpid()
        at = datetime.fromisoformat(r["at"])
        assert at.utcoffset() == timedelta(0) and abs((datetime.now(timezone.utc) - at).total_seconds()) < 600


def test_gathered_writes_get_one_row_each_in_commit_order(sm):
    async def main():
        await asyncio.gather(*[sm.set("g", f"k{i}", i) for i in range(300)])
        failed = await asyncio.gather(
            *[sm.update("g", f"k{i}", [{"type": "set", "path": "x", "value": 1}]) for i in range(3)], return_exceptions=True
        )
        assert all(isinstance(f, UpdateOpError) for f in failed)
        await asyncio.gather(*[sm.set("g", "k0", {"v": j}) for j in range(20)])  # one item, many writes in a batch
        return await sm.history("g", limit=1000), await sm.history("g", "k0")

    rows, k0 = asyncio.run(main())
    assert len(rows) == 320
    assert [r["new_value"] for r in rows[:300]] == list(range(300))
    # a field set on a number is refused: the three updates failed whole and left no row
    assert [r["new_value"] for r in k0] == [0] + [{"v": j} for j in range(20)]
    assert [r["old_value"] for r in k0][1:] == [0] + [{"v": j} for j in range(19)]


def test_an_import_records_every_item_with_its_cause(sm, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"group": "imp", "key": f"k{i}", "value": {"i": i}}) + "\n" for i in range(5)))
    with acting_as("magic"):
        import_jsonl(sm, str(path))
    rows = sm.sync.history("imp")
    assert [(r["key"], r["new_value"], r["cause"]) for r in rows] == [(f"k{i}", {"i": i}, "magic") for i in range(5)]


def test_history_filters_by_key_since_a_seq_or_a_time_and_limits(sm):
    s = sm.sync
    for i in range(6):
        s.set("g", "a" if i % 2 == 0 else "b", i)
    everything = s.history("g")
    assert [r["new_value"] for r in everything] == [0, 1, 2, 3, 4, 5]
    assert [r["new_value"] for r in s.history("g", "a")] == [0, 2, 4]
    assert [r["new_value"] for r in s.history("g", limit=2)] == [4, 5]  # the newest, oldest first
    third = everything[2]["seq"]
    assert [r["new_value"] for r in s.history("g", since=third, limit=2)] == [3, 4]  # the first after it
    assert [r["new_value"] for r in s.history("g", "b", since=third)] == [3, 5]
    when = datetime.fromisoformat(everything[4]["at"])
    assert [r["new_value"] for r in s.history("g", since=when)] == [4, 5]
    assert s.history("nothing-here") == [] and s.history("g", "zzz") == []
    assert asyncio.run(sm.history("g", "b", limit=1))[0]["new_value"] == 5


def test_get_at_reads_the_value_as_it_was(sm):
    s = sm.sync
    s.set("g", "old", "before history ran")  # recorded too; the point is the item's own changes
    s.set("g", "k", {"v": 1})
    t1 = datetime.now(timezone.utc)
    time.sleep(0.01)
    s.update("g", "k", [{"type": "set", "path": "v", "value": 2}])
    s.delete("g", "k")
    s.set("g", "k", {"v": 3})
    seqs = [r["seq"] for r in s.history("g", "k")]
    assert [s.get("g", "k", at=q) for q in seqs] == [{"v": 1}, {"v": 2}, None, {"v": 3}]
    assert s.get("g", "k", at=seqs[0] - 1) is None  # before it was created
    assert s.get("g", "k", at=t1) == {"v": 1}
    assert s.get("g", "k", at=datetime.now(timezone.utc)) == {"v": 3}
    assert s.get("g", "never", at=seqs[-1]) is None
    assert asyncio.run(sm.get("g", "k", at=seqs[1])) == {"v": 2}
    assert s.get("g", "old", at=seqs[2]) == "before history ran"


def test_since_and_at_take_the_times_a_user_has_at_hand(sm):
    # a change's own `at` (ISO text) and a date were refused ("must be ... a datetime"), though
    # %state history --since takes both; naive datetime.min failed with a bare ValueError
    # ("year 0 is out of range") from datetime.timestamp()
    s = sm.sync
    today = date.today()
    for i in range(3):
        s.set("g", "k", i)
    rows = s.history("g")
    assert s.history("g", since=rows[1]["at"]) == rows[1:]  # the change itself included, as with a datetime
    assert s.history("g", since=rows[1]["at"]) == s.history("g", since=datetime.fromisoformat(rows[1]["at"]))
    assert s.get("g", "k", at=rows[1]["at"]) == 1
    assert s.history("g", since=today) == rows  # local midnight, as --since 2026-05-01 reads it
    assert s.history("g", since=today + timedelta(days=2)) == []
    assert s.history("g", since=datetime.min) == rows and s.history("g", since=datetime.max) == []
    assert s.get("g", "k", at=datetime.min) is None and s.get("g", "k", at=datetime.max) == 2
    for bad in ("yesterday", "42", ""):
        with pytest.raises(InvalidInputError, match="since must be a change's seq .*ISO-8601") as err:
            s.history("g", since=bad)
        assert "\n" not in str(err.value)


def test_bad_history_arguments_are_refused_in_one_line(sm):
    for kwargs in ({"since": "yesterday"}, {"since": -1}, {"since": True}, {"limit": 0}, {"limit": "5"}):
        with pytest.raises(InvalidInputError):
            sm.sync.history("g", **kwargs)
    with pytest.raises(InvalidInputError, match="at must be"):
        sm.sync.get("g", "k", at=1.5)
    with pytest.raises(InvalidInputError, match="group_id"):
        sm.sync.history("")


# ------------------------------------------------------------------ causes
def test_the_cause_is_a_contextvar_with_a_default():
    assert current_cause() == ("cell", None)
    with acting_as("viewer"):
        assert current_cause() == ("viewer", None)
        with acting_as("S", "trace-1"):
            assert current_cause() == ("S", "trace-1")
        assert current_cause() == ("viewer", None)
    assert current_cause() == ("cell", None)
    with pytest.raises(ValueError):
        with acting_as(""):
            pass


@pytest.fixture
def default_store(tmp_path):
    from motia_nb.session import clear_logs, clear_traces, reset_steps

    previous = state_manager.url
    state_manager.use(str(tmp_path / "state.db"))
    reset_steps()
    clear_logs()
    clear_traces()
    yield state_manager
    reset_steps()
    state_manager.use(previous)


def test_a_steps_writes_carry_its_name_and_trace_id_in_every_world(default_store):
    from motia_nb.motia import _world
    from motia_nb.session import step, trace_frame
    from motia_nb.steps import state

    motia = _world.ensure_motia()

    @step({"name": "AsyncAudit", "triggers": [state(lambda e: e.group_id == "orders")]})
    async def audit(event):
        await state_manager.set("audit", event.key, {"seen": event.new_value})

    @step({"name": "PlainCount", "triggers": [state(lambda e: e.group_id == "audit")]})
    def count(event):
        state_manager.sync.update("counts", "audits", [{"type": "increment", "path": "n", "by": 1}])
        motia.stateManager.set("sdk", event.key, {"via": "sdk"})  # the SDK stand-in's sync call

    asyncio.run(state_manager.set("orders", "o1", {"total": 3}))
    s = state_manager.sync
    (order,) = s.history("orders")
    (audit_row,) = s.history("audit")
    (count_row,) = s.history("counts")
    (sdk_row,) = s.history("sdk")
    assert order["cause"] == "cell" and order["trace_id"] is None
    assert audit_row["cause"] == "AsyncAudit" and count_row["cause"] == "PlainCount" and sdk_row["cause"] == "PlainCount"
    trace = audit_row["trace_id"]
    assert trace and count_row["trace_id"] == trace and sdk_row["trace_id"] == trace
    assert set(trace_frame().trace_id) == {trace}


def test_a_connected_workers_calls_are_recorded_as_worker_name(default_store):
    from motia_nb.engine import EngineFunctions

    fns = EngineFunctions()
    asyncio.run(fns.call("state::set", {"scope": "w", "key": "k", "value": 1}, caller="worker:billing"))
    asyncio.run(fns.call("state::set", {"scope": "w", "key": "k", "value": 2}, caller="motia-sdk"))
    assert [r["cause"] for r in state_manager.sync.history("w")] == ["worker:billing", "cell"]


# ------------------------------------------------------------------ retention
def test_retention_syntax():
    assert Retention.parse("10000") == Retention(max_count=10000)
    assert Retention.parse("7d") == Retention(max_age=7 * 86400)
    assert Retention.parse(" 10_000 , 12h ") == Retention(max_count=10000, max_age=12 * 3600)
    assert Retention.parse("off") == Retention(enabled=False) and not Retention.parse("off").prunes
    assert Retention.parse("all") == Retention() and not Retention.parse("all").prunes
    assert str(Retention.parse("10000,7d")) == "10000,7d" and str(Retention.parse("90s")) == "90s"
    for bad in ("", "7x", "0", "-5", "1,2", "1d,2d", "off,5", "lots"):
        with pytest.raises(InvalidInputError, match="history_keep") as err:
            Retention.parse(bad)
        assert "\n" not in str(err.value)


def test_an_age_past_a_floats_range_is_one_line_and_leaves_the_setting(fresh_db):
    # '999…9d' (400 digits) read as an infinite age: str() (and so %config, a store's
    # pruning) raised a bare "OverflowError: cannot convert float infinity to integer"
    state_manager.history_keep = "10000,7d"
    for spec in ("9" * 400 + "d", "10000," + "9" * 306 + "w", "2" + "0" * 308 + "s"):
        with pytest.raises(InvalidInputError, match="^history_keep: the age .* is too large") as err:
            state_manager.history_keep = spec
        assert "\n" not in str(err.value) and len(str(err.value)) < 200
        assert state_manager.history_keep == "10000,7d"
    assert str(Retention.parse("9" * 300 + "d")).endswith("d")  # a finite one still reads back


def test_a_retention_reads_back_as_it_shows():
    # an age under 1e-4 s showed as '1e-05s' (the :g format), which history_keep then refused
    for spec in ("0.00001s", "0.0000001s", "0.5s", "1.5h", "10000,7d", "100000000000w", "all", "off"):
        shown = str(Retention.parse(spec))
        assert Retention.parse(shown) == Retention.parse(spec), (spec, shown)


def test_history_off_writes_no_rows_and_can_be_turned_back_on(url):
    m = StateManager(url, history_keep="off")
    try:
        m.sync.set("g", "a", 1)
        m.sync.clear("g")
        assert m.sync.history("g") == []
        with pytest.raises(StateError, match="history is off"):  # a guess is refused
            m.sync.get("g", "a", at=0)
        m.history_keep = "all"
        m.sync.set("g", "b", 2)
        assert [r["key"] for r in m.sync.history("g")] == ["b"]
        assert m.history_keep == "all"
    finally:
        m.close()


def test_sqlite_retention_by_count_prunes_the_oldest_off_the_writers_path(tmp_path):
    m = StateManager(str(tmp_path / "s.db"), history_keep="100")
    try:
        async def burst():
            await asyncio.gather(*[m.set("g", f"k{i}", i) for i in range(1000)])
        asyncio.run(burst())
        # the pruning thread was woken by the burst; wait for it (no timing claim: a deadline only)
        deadline = time.monotonic() + 30
        while len(m.sync.history("g", limit=10_000)) > 110 and time.monotonic() < deadline:
            time.sleep(0.05)
        m.backend.prune_history()
        rows = m.sync.history("g", limit=10_000)
        assert [r["new_value"] for r in rows] == list(range(900, 1000))  # exactly the newest 100
        assert m.sync.count("g") == 1000  # pruning history never touches state
        # the value before the kept history is unknowable: refused, not guessed
        with pytest.raises(StateError, match="pruned"):
            m.sync.get("g", "k5", at=rows[0]["seq"] - 50)
        assert m.sync.get("g", "k950", at=rows[0]["seq"]) is None  # after the horizon: answered
    finally:
        m.close()


def test_a_pruned_time_is_named_as_a_time_not_unix_seconds(tmp_path):
    # "the history of 'g'/'x' at 946684800.0 was pruned": the time as unix seconds
    m = StateManager(str(tmp_path / "s.db"), history_keep="2")
    try:
        for i in range(5):
            m.sync.set("g", "x", i)
        m.backend.prune_history()
        with pytest.raises(StateError, match=r"^the history of 'g'/'x' at 2000-01-01T00:00:00\+00:00 was pruned"):
            m.sync.get("g", "x", at=datetime(2000, 1, 1, tzinfo=timezone.utc))
        with pytest.raises(StateError, match=r"^the history of 'g'/'x' at 1 was pruned"):
            m.sync.get("g", "x", at=1)
    finally:
        m.close()


def test_sqlite_retention_by_age(tmp_path):
    path = str(tmp_path / "s.db")
    m = StateManager(path, history_keep="1h")
    try:
        for i in range(5):
            m.sync.set("g", f"k{i}", i)
        con = sqlite3.connect(path)
        con.execute("UPDATE changes SET at_us = at_us - 7200000000 WHERE key IN ('k0', 'k1', 'k2')")  # made two hours old
        con.commit()
        con.close()
        # the pruning thread may get there first (it wakes periodically for an age): either way,
        # after one more prune exactly the two young rows remain
        assert m.backend.prune_history() in (0, 3)
        assert [r["key"] for r in m.sync.history("g")] == ["k3", "k4"]
    finally:
        m.close()


def test_redis_retention_trims_each_groups_stream(redis_url):
    m = StateManager(redis_url, history_keep="10")
    try:
        async def burst():
            for j in range(5):
                await asyncio.gather(*[m.set("g", f"k{i}", j) for i in range(200)])
        asyncio.run(burst())
        kept = m.sync.history("g", limit=100_000)
        # a script call's changes are one stream entry, kept or dropped whole: the stream keeps the
        # newest 10 with the rest of their gather's set_many call (200 changes), never an older
        # call's; reads show the newest 10 (tests/test_history_retention_exact.py)
        assert [(r["key"], r["new_value"]) for r in kept] == [(f"k{i}", 4) for i in range(190, 200)]
        assert m.backend._sync.xlen("motia_nb:history:g") == 1
    finally:
        m.close()


def test_redis_retention_by_age(redis_url):
    m = StateManager(redis_url, history_keep="1s")
    try:
        for i in range(5):
            m.sync.set("g", f"k{i}", i)
        time.sleep(1.2)
        m.sync.set("g", "fresh", 1)  # the write trims what is older than the age
        assert [r["key"] for r in m.sync.history("g")] == ["fresh"]
    finally:
        m.close()


# ------------------------------------------------------------------ the SQLite file
def test_a_schema_1_file_is_upgraded_and_keeps_its_items(tmp_path):
    path = str(tmp_path / "v1.db")
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
        "UNIQUE (grp, key)); CREATE INDEX items_grp_id ON items (grp, id);"
        "INSERT INTO items (grp, key, value) VALUES ('orders', 'o1', '{\"total\": 1}'), ('orders', 'o2', '2');"
        "PRAGMA user_version = 1;"
    )
    con.close()
    m = StateManager(path)
    try:
        assert m.sync.list("orders") == [{"total": 1}, 2]
        m.sync.set("orders", "o2", 3)
        (row,) = m.sync.history("orders")
        assert (row["old_value"], row["new_value"]) == (2, 3)
        assert m.sync.get("orders", "o2", at=row["seq"] - 1) == 2  # from the change's old value
        assert m.sync.get("orders", "o1", at=0) == {"total": 1}  # never changed since: as it is
    finally:
        m.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 6  # schema 6: pages of the hot items
    con.close()


def test_sqlite_rows_are_written_in_the_changes_transaction(tmp_path):
    """An import that fails midway leaves neither items nor history rows."""
    m = StateManager(str(tmp_path / "s.db"))
    try:
        from motia_nb.state.requests import set_write, update_write

        writes = [set_write("g", f"k{i}", i) for i in range(10)] + [update_write("g", "k1", [{"type": "append", "path": "x", "value": 1}])]
        with pytest.raises(UpdateOpError):
            m.backend.write_all(writes)
        assert m.sync.count("g") == 0 and m.sync.history("g") == []
        m.backend.write_all(writes[:10])
        assert len(m.sync.history("g")) == 10
    finally:
        m.close()


def test_a_mixed_batchs_rows_are_exactly_its_events(sm):
    """Gathered writes of every kind commit as batches (SQLite: the json_each statement): the
    history holds one row per event the subscribers saw, same order, same values."""
    seen = []
    unsubscribe = sm.subscribe(seen.append)

    async def main():
        await sm.set("m", "keep", {"n": 0})
        writes = []
        for i in range(12):
            writes.append(sm.set("m", f"k{i}", {"n": i, "big": 2**64 - 1, "f": 1.5}))
            writes.append(sm.update("m", "keep", [{"type": "increment", "path": "n", "by": i}]))
            if i % 3 == 0:
                writes.append(sm.delete("m", f"k{i}"))
            if i % 5 == 4:
                writes.append(sm.update("m", "keep", [{"type": "append", "path": "n", "value": 1}]))  # refused
        await asyncio.gather(*writes, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        unsubscribe()
    rows = sm.sync.history("m", limit=1000)
    assert [(r["event_type"], r["key"], r["old_value"], r["new_value"]) for r in rows] == [
        (e.event_type, e.key, e.old_value, e.new_value) for e in seen
    ]
    assert len(rows) == 1 + 12 + 12 + 4


@pytest.mark.parametrize("others", [2, 12], ids=["small-batch", "set-based-batch"])
def test_a_batch_with_one_bad_write_records_exactly_the_writes_that_stood(tmp_path, others):
    """SQLite: one write's failure (a value over SQLite's length limit) is retried write by
    write; the changelog holds the rows of the writes that committed, and none of the failed
    one, whichever executor ran the batch. An update over a stored value SQLite holds but
    Python cannot decode (another tool's) fails alone too, and records nothing."""
    path = str(tmp_path / "s.db")
    m = StateManager(path)
    try:
        m.sync.set("g", "seed", 0)
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("UPDATE items SET value = ? WHERE grp = 'g' AND key = 'seed'", ("1" + "0" * 5000,))
        raw.close()
        m.backend._wconn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 6000)  # type: ignore[attr-defined]

        async def batch():
            writes = [m.set("g", f"k{i}", {"i": i}) for i in range(others)]
            writes.insert(1, m.set("g", "huge", "x" * 7000))  # over the length limit
            writes.insert(2, m.update("g", "seed", [{"type": "set", "path": "y", "value": 1}]))  # cannot read it
            return await asyncio.gather(*writes, return_exceptions=True)

        out = asyncio.run(batch())
        assert isinstance(out[1], StateError) and "'g'/'huge'" in str(out[1]) and "size limit" in str(out[1])
        assert isinstance(out[2], StoredValueError) and "'g'/'seed'" in str(out[2])
        assert all(isinstance(r, dict) for r in out[:1] + out[3:]), out
        rows = m.sync.history("g", limit=100)
        assert kinds(rows) == [("state:created", "seed", None, 0)] + [
            ("state:created", f"k{i}", None, {"i": i}) for i in range(others)
        ]
    finally:
        m.close()


@hypothesis.settings(max_examples=1000, deadline=None)  # 3000 cost ~10 s of hypothesis overhead for a one-line check
@hypothesis.given(st.one_of(
    st.floats(min_value=-2e9, max_value=4e9, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=4_000_000_000).map(lambda s: s + 0.5e-6),  # half-microsecond ties
    st.integers(min_value=0, max_value=4_000_000_000).map(float),  # whole seconds: no fraction shown
))
def test_iso_time_is_datetime_isoformat_exactly(at: float) -> None:
    from motia_nb.state.history import iso_time

    assert iso_time(at) == datetime.fromtimestamp(at, timezone.utc).isoformat()
