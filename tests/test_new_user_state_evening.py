"""A Motia user's evening with the state side of motia_nb (found by trying it, see each test).

- ``%state use redis:localhost:6379`` (the ``//`` forgotten), ``%state use localhost:6379`` (the
  scheme forgotten): "motia_nb state database: redis:localhost:6379", an SQLite file of that
  name made in the notebook's folder and every write going there while the user thought they
  were on Redis. Both are refused now in one line saying what to write (``./name`` for a file
  that really has such a name), and the notebook stays on the store it was on.
- ``%state use data/`` (a folder meant) made an SQLite file named ``data``; ``%state use
  file:state.db?mode=ro`` (sqlite3's URI filename) a file named ``file:state.db?mode=ro``. Both
  are refused in one line saying what to write.
- ``%state use Redis://host:6379/0`` (a URL scheme in capitals: RFC 3986 says schemes are
  case-insensitive, and redis-py agrees): "the folder …/Redis:/host:6379 does not exist";
  ``SQLite:///path`` likewise. The scheme is read in any case now.
- ``frame()`` / ``%state list`` of a group of mixed shapes: an item ``{"key": "K"}`` and an item
  ``{"value": {"key": 1}}`` gave two columns both named ``value.key`` (``df["value.key"]`` a
  DataFrame, ``to_dict`` keeping one of them); a value ``5`` and a value ``{"value": 5}`` gave
  the same row, the object's field in the column of values that are not objects. Each field
  keeps a column of its own now (``value.value``, ``value.value.key``).
- ``history_keep = 50``, 54 writes: ``history()`` showed the newest 50 and ``get(at=3)`` said
  "was pruned"; then ``history_keep = 'all'`` (or a larger count) and the 4 "pruned" changes were
  back, and ``get(at=3)`` answered. Pruning lags the retention (SQLite's pass waits for the
  writers to pause; Redis trims once a tenth over the count, up to 100 changes a group), and
  reads hid what it had not deleted yet only while the stricter retention was in force. What a
  retention hid stays hidden when it is loosened, on both backends.
- Tab after a complete ``%state get orders o1 `` (or ``delete``, ``clear orders ``, ``groups
  --counts ``, ``restore --to -1 orders o1 ``): IPython offered every Python keyword, builtin and
  magic (~140 entries: ``and``, ``%%bash``, ``ZeroDivisionError``…) as if they could follow. One
  entry now says nothing more is to be typed, the text as typed.
- ``get(at=pd.Timestamp.now())`` (or ``history(since=pd.Timestamp("2026-12-02 09:00"))``) in New
  York: the value of five hours before, where ``at=datetime.now()`` gave the value now. A naive
  time is local time (as ``datetime.timestamp`` reads it); pandas' ``Timestamp.timestamp()``
  reads a naive one as UTC, and that was what was asked.
- ``%state restore --to -1 orders -k`` (a key starting with '-'): the hint said to write
  ``%state restore --to orders -- -1 -k``, the ``-1`` of ``--to`` taken for a name and moved
  after ``--`` (which fails again); it says ``%state restore --to -1 orders -- -k`` now, and that
  runs.
- JSON text nested 5,000 deep in ``%state set`` / ``%%state set`` / ``%state update`` (600 deep
  said "nests deeper than 512 levels"), or on a line of ``%state import``: a bare
  ``RecursionError: maximum recursion depth exceeded while decoding a JSON array``; the same
  one line as 600 deep now, nothing stored. In the viewer, Save with such a text showed the raw
  ``RecursionError: …`` as its status; it says "not saved: … nests deeper than 512 levels".
- ``%config MotiaNB.history_keep = 10**20`` ("keep everything", as a count) was taken, and then on
  SQLite every ``history()`` / ``get(at=)`` / ``%state history`` failed with a bare ``OverflowError:
  Python int too large to convert to SQLite INTEGER``. A count past every seq a store can give
  (2**63-1) is that count. And a retention change the store refused left ``history_keep`` saying
  the new value while the store kept the old one; it stays as it was now.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pandas as pd
import pytest

from IPython.core.completer import provisionalcompleter

from motia_nb import StateManager, state_manager
from motia_nb.notebook.completion import NOTHING_MORE
from motia_nb.state.errors import StateError
from motia_nb.testing import error_lines, run_cell


# ---------------------------------------------------------------- database URLs mistyped
TYPOS = [
    ("redis:localhost:6379", "(a URL's scheme is followed by '//'): write redis://localhost:6379"),
    ("redis:/127.0.0.1:6379/0", "(a URL's scheme is followed by '//'): write redis://127.0.0.1:6379/0"),
    ("rediss:cache.example.com:6380", "write rediss://cache.example.com:6380"),
    ("unix:/tmp/redis.sock", "write unix:///tmp/redis.sock"),
    ("sqlite:state.db", "(an SQLite path needs no scheme): write state.db"),
    ("localhost:6379", "looks like a Redis address without its scheme: write redis://localhost:6379"),
    ("127.0.0.1:6379/1", "looks like a Redis address without its scheme: write redis://127.0.0.1:6379/1"),
    ("file:state.db?mode=ro", "is an SQLite URI filename, and motia_nb takes a path: write state.db"),
]


@pytest.mark.parametrize("url, message", TYPOS)
def test_a_mistyped_url_is_refused_not_made_a_file(tmp_path, monkeypatch, url, message):
    monkeypatch.chdir(tmp_path)
    sm = StateManager(str(tmp_path / "state.db"))
    try:
        sm.sync.set("g", "k", 1)
        with pytest.raises(StateError) as info:
            sm.use(url)
        assert message in str(info.value) and "\n" not in str(info.value)
        assert f"for a file at that path, write ./{url}" in str(info.value)
        assert sorted(os.listdir(tmp_path)) == ["state.db", "state.db-shm", "state.db-wal"]  # nothing made
        assert sm.sync.get("g", "k") == 1  # still on the same store
    finally:
        sm.close()


def test_a_path_ending_with_a_slash_is_a_folder_not_a_file(tmp_path, monkeypatch):
    # was: `%state use data/` made an SQLite FILE named data
    monkeypatch.chdir(tmp_path)
    sm = StateManager(":memory:")
    try:
        with pytest.raises(StateError) as info:
            sm.use("data/")
        assert str(info.value) == (
            "'data/' names a folder (it ends with '/'), and the state database is a file: name a file in it, e.g. data/state.db"
        )
        assert os.listdir(tmp_path) == []
        os.mkdir(tmp_path / "data")
        with pytest.raises(StateError, match="it is a folder; name a file inside it"):
            sm.use("data/")
        assert sm.use("data/state.db") == str(tmp_path / "data" / "state.db")
    finally:
        sm.close()


def test_the_file_of_such_a_name_is_one_dot_slash_away(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sm = StateManager(":memory:")
    try:
        assert sm.use("./localhost:6379") == str(tmp_path / "localhost:6379")
        sm.sync.set("g", "k", 1)
        assert os.path.exists(tmp_path / "localhost:6379")
    finally:
        sm.close()


def test_a_password_in_a_mistyped_url_is_not_shown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (before the fix: a file of that name, made here)
    sm = StateManager(str(tmp_path / "state.db"))
    try:
        with pytest.raises(StateError) as info:
            sm.use("redis:user:s3cret@cache:6379")
        assert "s3cret" not in str(info.value) and "write redis://user:***@cache:6379" in str(info.value)
    finally:
        sm.close()


def test_state_use_with_a_typo_fails_the_cell_in_one_line(ip, fresh_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cell(ip, "%state set orders o1 1")
    lines = error_lines(ip, "%state use redis:localhost:6379")
    assert len(lines) == 1 and "StateError" in lines[0] and "write redis://localhost:6379;" in lines[0], lines
    assert not os.path.exists(tmp_path / "redis:localhost:6379")
    assert state_manager.url == fresh_db and state_manager.sync.get("orders", "o1") == 1


@pytest.mark.parametrize("scheme", ["Redis", "REDIS"])
def test_a_redis_url_scheme_is_read_in_any_case(redis_url, scheme):
    sm = StateManager(":memory:")
    try:
        assert sm.use(scheme + redis_url[len("redis"):]) == redis_url
        sm.sync.set("evening", "k", 1)
        assert sm.backend.__class__.__name__ == "RedisBackend" and sm.sync.get("evening", "k") == 1
        sm.sync.delete("evening", "k")
    finally:
        sm.close()


def test_an_sqlite_url_scheme_is_read_in_any_case(tmp_path):
    sm = StateManager(":memory:")
    try:
        assert sm.use(f"SQLite://{tmp_path}/x.db") == str(tmp_path / "x.db")
        sm.sync.set("g", "k", 1)
        assert os.path.exists(tmp_path / "x.db")
    finally:
        sm.close()


# ---------------------------------------------------------------- retention loosened
@pytest.fixture(params=["sqlite", "redis"])
def any_manager(request, tmp_path):
    if request.param == "sqlite":
        url = str(tmp_path / "state.db")
    else:
        url = request.getfixturevalue("redis_url")
        request.getfixturevalue("redis_server").flushall()
    m = StateManager(url, history_keep="50")
    yield m
    m.close()


@pytest.mark.parametrize("looser", ["all", "100000", "1000,7d"])
def test_what_a_retention_hid_stays_hidden_when_it_is_loosened(any_manager, looser):
    sm = any_manager
    for i in range(54):
        sm.sync.set("orders", "o1", {"n": i})
    before = sm.sync.history("orders", limit=1000)
    assert [c["seq"] for c in before] == list(range(5, 55))
    with pytest.raises(StateError, match="at 3 was pruned"):
        sm.sync.get("orders", "o1", at=3)
    sm.history_keep = looser
    assert sm.sync.history("orders", limit=1000) == before  # was: seqs 1-4 back
    assert sm.sync.history("orders", "o1", since=0, limit=1000) == before
    with pytest.raises(StateError, match="at 3 was pruned"):
        sm.sync.get("orders", "o1", at=3)
    assert sm.sync.get("orders", "o1", at=4) == {"n": 3}  # the state after 4 is the old value of 5
    sm.sync.set("orders", "o1", {"n": 54})  # later changes are kept as the new retention says
    assert [c["seq"] for c in sm.sync.history("orders", limit=1000)] == list(range(5, 56))


def test_off_and_on_again_keeps_hidden_what_was_hidden(any_manager):
    sm = any_manager
    for i in range(54):
        sm.sync.set("orders", "o1", i)
    sm.history_keep = "off"
    sm.history_keep = "all"
    assert [c["seq"] for c in sm.sync.history("orders", limit=1000)] == list(range(5, 55))


# ---------------------------------------------------------------- frames of mixed shapes
@pytest.fixture
def sm(tmp_path):
    m = StateManager(str(tmp_path / "state.db"))
    yield m
    m.close()


def test_a_key_field_and_a_nested_key_field_get_a_column_each(sm):
    sm.sync.set("g", "a", {"key": "K"})
    sm.sync.set("g", "b", {"value": {"key": 1}})
    with pytest.warns(UserWarning, match="'value.value.key'"):  # a name nobody would guess is said
        df = sm.sync.frame("g")
    assert list(df.columns) == ["key", "value.value.key", "value.key"]  # was: value.key twice
    assert df.to_dict("list")["value.value.key"][0] == "K" and df["value.key"].tolist()[1] == 1


def test_a_value_field_is_not_taken_for_a_value_that_is_no_object(sm):
    sm.sync.set("g", "plain", 5)
    sm.sync.set("g", "object", {"value": 5})
    df = sm.sync.frame("g")
    assert list(df.columns) == ["key", "value", "value.value"]
    rows = {r["key"]: r for r in df.to_dict("records")}
    assert rows["plain"]["value"] == 5 and rows["object"]["value.value"] == 5
    assert rows["plain"]["value.value"] != 5 and rows["object"]["value"] != 5  # (NaN where absent)


def test_mixed_shapes_keep_the_documented_columns(sm):
    # the columns that were right stay: a key field beside scalars is value.key, fields are theirs
    sm.sync.set("s", "a", 1)
    sm.sync.set("s", "b", {"key": "inner", "x": 2, "shipping": {"city": "Oslo"}})
    df = sm.sync.frame("s")
    assert list(df.columns) == ["key", "value", "value.key", "x", "shipping.city"]
    assert df["value"].tolist()[0] == 1 and df["value.key"].tolist()[1] == "inner"
    assert list(sm.sync.frame("s", flatten=False).columns) == ["key", "value", "value.key", "x", "shipping"]
    sm.sync.set("o", "1", {"value": 1})  # only objects: a field called value is just "value"
    assert list(sm.sync.frame("o").columns) == ["key", "value"]


def test_state_list_shows_the_columns_apart(ip, fresh_db):
    run_cell(ip, "%state set g plain 5")
    run_cell(ip, '%state set g object {"value": 5}')
    df = run_cell(ip, "%state list g").result
    assert list(df.columns) == ["key", "value", "value.value"]


# ---------------------------------------------------------------- Tab after the last word
def offered(ip, line):
    with provisionalcompleter():
        return sorted({(c.text, c.type) for c in ip.Completer.completions(line, len(line))})


@pytest.mark.parametrize("line, typed", [
    ("%state get orders o1 ", ""), ("%state delete orders o1 ", ""), ("%state clear orders ", ""),
    ("%state groups --counts ", ""), ("%state restore --to -1 orders o1 ", ""), ("%state get orders o1 x", "x"),
    ("%state get 'my group 🎉' 'key: \"one\"' ", ""), ("%state help get ", ""),
])
def test_tab_after_the_last_word_offers_no_python_names(ip, fresh_db, line, typed):
    state_manager.sync.set("orders", "o1", 1)
    state_manager.sync.set("my group 🎉", 'key: "one"', 1)
    assert offered(ip, line) == [(typed, NOTHING_MORE)]  # was: and, if, %%bash, ZeroDivisionError, ...


def test_tab_where_an_option_may_come_still_offers_it(ip, fresh_db):
    state_manager.sync.set("orders", "o1", 1)
    assert offered(ip, "%state list orders ") == [("--dict", "option"), ("--no-flatten", "option"), ("--values", "option")]
    assert offered(ip, "%state restore orders o1 ") == [("--to", "option")]


# ---------------------------------------------------------------- naive pandas times are local
@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_naive_pandas_timestamp_is_local_time_as_a_naive_datetime_is(new_york, sm):
    sm.sync.set("orders", "o1", "old")
    time.sleep(0.01)  # (the clock must move between the change and the moment taken)
    between = dt.datetime.now()  # naive, local (New York)
    time.sleep(0.01)
    sm.sync.set("orders", "o1", "new")
    assert sm.sync.get("orders", "o1", at=between) == "old"
    assert sm.sync.get("orders", "o1", at=pd.Timestamp(between)) == "old"  # was None: five hours before
    assert sm.sync.get("orders", "o1", at=pd.Timestamp.now()) == "new"
    after = [c["new_value"] for c in sm.sync.history("orders", since=pd.Timestamp(between))]
    assert after == ["new"]  # was: both (since five hours before)
    aware = pd.Timestamp(between).tz_localize("America/New_York")
    assert sm.sync.get("orders", "o1", at=aware) == "old" and sm.sync.get("orders", "o1", at=aware.tz_convert("UTC")) == "old"


# ---------------------------------------------------------------- the '--' hint keeps option values
def test_the_dash_hint_keeps_an_options_value_with_it(ip, fresh_db):
    state_manager.sync.set("orders", "-k", "first")
    state_manager.sync.set("orders", "-k", "second")
    lines = error_lines(ip, "%state restore --to -1 orders -k")
    assert lines[-1] == "  hint: a name starting with '-' goes after --: %state restore --to -1 orders -- -k", lines
    run_cell(ip, "%state restore --to -1 orders -- -k")  # the hinted line runs
    assert state_manager.sync.get("orders", "-k") == "first"
    lines = error_lines(ip, "%state history --limit 5 orders -k")
    assert lines[-1] == "  hint: a name starting with '-' goes after --: %state history --limit 5 orders -- -k", lines


# ---------------------------------------------------------------- JSON text nested past Python's reader
DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("cell", [
    f"%state set deep k {DEEP}",
    f"%%state set deep k\n{DEEP}",
    f'%state update deep k [{{"type": "set", "path": "a", "value": {DEEP}}}]',
    f"%state set deep k '{DEEP}'",  # (the quoting hint parses the inside too)
])
def test_json_text_nested_thousands_deep_is_one_line(ip, fresh_db, cell):
    lines = error_lines(ip, cell)
    assert "RecursionError" not in "".join(lines) and "MagicUsageError" in lines[0], lines[:3]
    if "'" not in cell:
        assert len(lines) == 1 and lines[0].endswith("nests deeper than 512 levels (the limit is MAX_DEPTH)"), lines
    assert state_manager.sync.count("deep") == 0


def test_an_import_line_nested_thousands_deep_is_a_bad_line(ip, fresh_db, tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"group": "deep", "key": "a", "value": 1}\n' f'{{"group": "deep", "key": "k", "value": {DEEP}}}\n')
    lines = error_lines(ip, f"%state import {path}")
    assert lines[-2:] == [
        f"\x1b[0;31mMagicUsageError\x1b[0m: %state import: {path}: 1 bad line, nothing imported",
        "  line 2: nests deeper than 512 levels (the limit is MAX_DEPTH)",
    ], lines
    assert state_manager.sync.count("deep") == 0


def test_the_viewer_refuses_json_text_nested_thousands_deep_in_its_status(sm):
    from motia_nb.notebook.viewer import viewer

    sm.sync.set("orders", "o1", {"n": 1})
    v = viewer("orders", manager=sm, live=False)
    try:
        v.items.value = "o1"
        v.value_text.value = DEEP
        v.save_button.click()  # was: the status 'RecursionError: maximum recursion depth exceeded ...'
        assert "not saved" in v.message and "nests deeper than 512 levels" in v.message, v.message
        assert sm.sync.get("orders", "o1") == {"n": 1}
    finally:
        v.close()


# ---------------------------------------------------------------- a count past every seq
def test_a_count_past_every_seq_keeps_everything_and_reads_work(any_manager):
    sm = any_manager
    sm.history_keep = 10**20
    assert sm.history_keep == str(2**63 - 1)
    sm.sync.set("orders", "o1", 1)
    sm.sync.set("orders", "o1", 2)
    assert [c["new_value"] for c in sm.sync.history("orders")] == [1, 2]  # was: OverflowError on SQLite
    assert sm.sync.get("orders", "o1", at=1) == 1
    sm.history_keep = "all"
    assert sm.history_keep == "all" and len(sm.sync.history("orders")) == 2


def test_a_retention_change_the_store_refuses_leaves_the_setting_as_it_was(sm, monkeypatch):
    sm.sync.set("orders", "o1", 1)
    sm.history_keep = "100"

    def refuse(retention):
        raise StateError("the store could not take it")

    monkeypatch.setattr(sm.backend, "set_history_keep", refuse)
    with pytest.raises(StateError, match="could not take it"):
        sm.history_keep = "all"
    assert sm.history_keep == "100"  # was: 'all', the store still on 100
