"""An operations person's afternoon: a Motia app's state read for reports in a notebook.

Found by using ``frame()``, ``%state list`` / ``history`` and ``%state export`` on realistic
groups (10k-200k items; values with missing and extra fields, nested objects, lists, big ints,
unicode, numbers as strings). Each test pins a case that went wrong:

- ``frame()`` of a group whose values hold a long array of floats (``"readings": [0.1, …]``) or a
  long text full of dots, next to a nested object, took minutes: the check for dotted field names
  backtracked over every dot (quadratic in the value's length);
- that check missed a dotted field name holding a backslash (``"C:\\\\data\\\\a.csv"``): the
  value of the field it collides with was silently lost;
- a value with both a field ``key`` and a nested ``{"value": {"key": …}}`` (or a field
  ``value.key``) gave two columns named ``value.key``;
- ``%state history`` of a busy group showed the newest 100 changes, ``--since`` the first 100
  after it, and said nothing of the rest: a report of "every change since Monday" stopped at 100;
- ``%state export GROUP FOLDER`` wrote the whole export, then failed at the final rename naming
  its own temporary ``.part`` file.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

import motia_nb
from motia_nb import state_manager
from motia_nb.notebook.parsing import MagicUsageError
from motia_nb.state import StateManager
from motia_nb.state.errors import InvalidInputError
from motia_nb.state.transfer import export_jsonl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(motia_nb.__file__)))  # the code under test, in the child too


def state(ip, line: str):
    return ip.run_line_magic("state", line)


# ---------------------------------------------------------------- frame(): time and columns
def test_a_group_of_long_readings_frames_without_backtracking_over_every_dot(tmp_path):
    """One item of 100,000 readings (``[0.5, 0.5, …]``) and 200,000 dots of text next to a nested
    object: the dotted-name check was quadratic in them (16,000 dots: 2 s; 100,000: hours).
    Run in a child so a regression fails by the timeout instead of holding the test run."""
    db = str(tmp_path / "r.db")
    code = textwrap.dedent(f"""
        from motia_nb.state import StateManager
        m = StateManager({db!r})
        m.sync.set("sensors", "s1", {{"meta": {{"site": "north"}}, "readings": [0.5] * 100_000, "log": "." * 200_000}})
        m.sync.set("sensors", "s2", {{"meta": {{"site": "south"}}, "readings": [], "log": ""}})
        df = m.sync.frame("sensors")
        assert list(df.columns) == ["key", "readings", "log", "meta.site"], list(df.columns)
        assert len(df.readings[0]) == 100_000 and df["meta.site"].tolist() == ["north", "south"]
        print("ok")
        m.close()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_dotted_field_name_holding_a_backslash_keeps_both_values(sqlite_manager: StateManager):
    """``{"C:\\\\x\\\\a.csv": 1, "C:\\\\x\\\\a": {"csv": 2}}``: both flatten to one column name; the check
    for that stopped at the backslash and the 1 was lost. Now it is found, as for any dotted name."""
    s = sqlite_manager.sync
    s.set("files", "f1", {"C:\\x\\a.csv": 1, "C:\\x\\a": {"csv": 2}})
    with pytest.warns(UserWarning, match="field name with a dot"):
        df = s.frame("files")
    assert df.drop(columns="key").to_dict("records") == [{"C:\\x\\a.csv": 1, "C:\\x\\a": {"csv": 2}}]


def test_the_values_key_field_never_shares_a_column_with_another_field(sqlite_manager: StateManager):
    """A field ``key`` is column ``value.key`` (the item's key is ``key``); a nested
    ``{"value": {"key": …}}`` or a field named ``value.key`` made a second column of that name
    (``df["value.key"]`` a frame, ``to_dict`` dropping one)."""
    s = sqlite_manager.sync
    s.set("tickets", "t1", {"key": "JIRA-1", "value": {"key": 3}})
    s.set("tickets", "t2", {"key": "JIRA-2", "value": {"key": 4}})
    with pytest.warns(UserWarning, match="'value.value.key'"):
        df = s.frame("tickets")
    assert df.columns.is_unique
    assert df["value.key"].tolist() == [3, 4] and df["value.value.key"].tolist() == ["JIRA-1", "JIRA-2"]
    s.set("literal", "a", {"key": "x", "value.key": 5})
    for flatten in (True, False):
        with pytest.warns(UserWarning, match="'value.value.key'"):
            df = s.frame("literal", flatten=flatten)
        assert df.drop(columns="key").to_dict("records") == [{"value.value.key": "x", "value.key": 5}]
    s.set("plain", "p", {"key": "x", "n": 1})  # the usual case: value.key, and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(s.frame("plain").columns) == ["key", "value.key", "n"]


# ---------------------------------------------------------------- %state history of a busy group
def test_history_says_when_changes_are_left_out(ip, fresh_db, capsys):
    for i in range(12):
        state_manager.sync.set("orders", f"o{i}", {"n": i})
    whole = state(ip, "history orders")
    assert len(whole) == 12 and "left out" not in capsys.readouterr().err
    newest = state(ip, "history orders --limit 5")
    assert newest.seq.tolist() == whole.seq.tolist()[-5:]
    err = capsys.readouterr().err
    assert "the newest 5 changes of 'orders'; older ones are kept: --limit N shows more" in err
    first = int(whole.seq.iloc[0])
    after = state(ip, f"history orders --since {first} --limit 4")
    assert after.seq.tolist() == whole.seq.tolist()[1:5]
    last = int(after.seq.iloc[-1])
    assert f"the first 4 changes of 'orders' since {first}; more follow: --since {last} shows the next" in capsys.readouterr().err
    rest = state(ip, f"history orders --since {last} --limit 7")  # exactly what is left: no note
    assert rest.seq.tolist() == whole.seq.tolist()[5:] and capsys.readouterr().err == ""
    one = state(ip, "history orders o3")
    assert len(one) == 1 and capsys.readouterr().err == ""
    with pytest.raises(MagicUsageError, match="limit must be an int >= 1, got 0"):
        state(ip, "history orders --limit 0")


# ---------------------------------------------------------------- %state export
def test_an_export_to_a_folder_is_refused_before_anything_is_read(ip, fresh_db, tmp_path, capsys):
    state_manager.sync.set("orders", "o1", {"n": 1})
    folder = tmp_path / "reports"
    folder.mkdir()
    with pytest.raises(InvalidInputError, match=r"reports is a folder: give the file to write, e\.g\. .*state\.jsonl"):
        export_jsonl(state_manager, str(folder), ["orders"])
    with pytest.raises(MagicUsageError, match="%state export: .*reports is a folder") as err:
        state(ip, f"export orders {folder}")
    assert ".part" not in str(err.value) and "\n" not in str(err.value)
    assert list(folder.iterdir()) == [] and not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


# ---------------------------------------------------------------- the file, read with pandas
def test_the_readme_query_of_the_items_reads_a_group_as_frame_does(sqlite_manager: StateManager, db_path: str):
    """The README said "the changelog is the `changes` table of the state file (schema 4)": a
    gather's changes are one row of it (its key a JSON array) and a busy item's are packed in
    ``changes_pages``, so ``pandas.read_sql`` on it miscounted. It now says to read the history
    with ``history()``, and gives the items' query, which this runs as a user would."""
    import asyncio
    import json
    import re
    import sqlite3

    import pandas as pd

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "the changelog is the `changes` table" not in readme
    query = re.search(r"`(SELECT key, value FROM items WHERE grp = \? ORDER BY id)`", readme)
    assert query, "the README gives the items' query"
    m = sqlite_manager

    async def fill() -> None:
        await asyncio.gather(*(m.set("orders", f"o{i}", {"n": i, "city": "Kraków" if i % 2 else None}) for i in range(50)))

    asyncio.run(fill())
    m.sync.set("orders", "o3", {"n": -3})  # an overwrite keeps its place
    m.sync.delete("orders", "o4")
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as con:
        raw = pd.read_sql(query.group(1), con, params=("orders",))
        changes = pd.read_sql("SELECT count(*) AS n FROM changes", con).n[0]
    assert raw.key.tolist() == m.sync.frame("orders").key.tolist()
    assert [json.loads(v) for v in raw.value] == m.sync.list("orders")
    assert len(m.sync.history("orders", limit=1000)) == 52 and changes < 52  # why the README says so


def test_a_report_script_that_only_reads_deletes_no_history_its_writer_keeps(tmp_path):
    """A kernel keeping more history than the default, and a report script opening the file with
    ``StateManager(path)`` (the default keep, 100,000; here 50 stands for it) to read a frame: the
    script's pruning pass at open deleted every change past its own count, for good. A process
    that only reads now deletes nothing; once it writes, its retention applies as before."""
    import asyncio
    import sqlite3

    path = str(tmp_path / "state.db")
    kernel = StateManager(path, history_keep="all")

    async def day() -> None:
        await asyncio.gather(*(kernel.set("orders", f"o{i % 40}", {"n": i}) for i in range(300)))

    asyncio.run(day())
    kernel.close()

    def stored() -> int:
        with sqlite3.connect(path) as con:
            return con.execute("SELECT sum(coalesce(n, 1)) FROM changes").fetchone()[0]

    assert stored() == 300
    report = StateManager(path, history_keep="50")
    try:
        assert len(report.sync.frame("orders")) == 40
        assert len(report.sync.history("orders", limit=1000)) == 50  # reads show what its keep keeps
        assert report.backend._recorder.passed.wait(15)  # the pass at open has run
        assert stored() == 300 and report.backend._recorder.pruned == 0
        report.sync.set("orders", "o1", {"n": -1})  # a write: its retention applies again
        report.backend.prune_history()
        assert stored() == 50
    finally:
        report.close()


# ---------------------------------------------------------------- %state list --values / --dict, groups
def shown_text(ip, value) -> str:
    """The text/plain a notebook gets for a cell's result."""
    return ip.display_formatter.format(value)[0]["text/plain"]


def test_a_big_group_as_json_shows_its_first_and_last_entries_not_every_one(ip, fresh_db):
    """``%state list orders --values`` of a 200,000-item group sent 60 MB of JSON text to the
    notebook (``--dict`` 63 MB, 5 s to format): the frame's display is cut to pandas' rows, the
    JSON views were not. They now show the first and last entries and how many are left out, as
    the frame does; the value itself holds every item."""
    import asyncio
    import json

    async def fill() -> None:
        await asyncio.gather(*(state_manager.set("orders", f"o{i}", {"n": i, "city": "Łódź"}) for i in range(500)))

    asyncio.run(fill())
    values = state(ip, "list orders --values")
    assert values == state_manager.sync.list("orders") and len(values) == 500
    text = shown_text(ip, values)
    assert "\u2026 490 more items (500 in all; the value holds every one) \u2026" in text
    assert text.startswith('[\n  {\n    "n": 0,\n    "city": "Łódź"\n  },') and text.endswith('"n": 499,\n    "city": "Łódź"\n  }\n]')
    assert len(text) < 2_000
    as_dict = state(ip, "list orders --dict")
    assert len(as_dict) == 500 and as_dict["o250"] == {"n": 250, "city": "Łódź"}
    text = shown_text(ip, as_dict)
    assert '"o0": {' in text and '"o499": {' in text and '"o250"' not in text and "490 more entries" in text
    ip.run_line_magic("config", "MotiaNB.display_max_rows = 4")
    try:
        text = shown_text(ip, state(ip, "list orders --values"))
        assert text.count('"n"') == 4 and "496 more items" in text
        for i in range(70):
            state_manager.sync.set(f"g{i:02}", "k", i)
        groups = state(ip, "groups")
        assert len(groups) == 71 and '"g00"' in shown_text(ip, groups) and "67 more items" in shown_text(ip, groups)
    finally:
        ip.run_line_magic("config", "MotiaNB.display_max_rows = None")
    small = state(ip, "list g01 --values")  # up to the rows a frame shows: the whole JSON text
    assert shown_text(ip, small) == json.dumps([1], indent=2)
    text = shown_text(ip, state(ip, "groups"))  # 71 groups, past pandas' 60 rows: its 10 (min_rows)
    assert text.count('"g') + text.count('"orders"') == 10 and "61 more items (71 in all" in text


def test_one_value_shown_by_get_stays_whole(ip, fresh_db):
    import json

    wide = {f"field{i}": i for i in range(100)}  # one item's value: shown whole, as before
    state_manager.sync.set("config", "c", wide)
    assert shown_text(ip, state(ip, "get config c")) == json.dumps(wide, indent=2)


def test_history_since_a_point_past_the_retention_says_changes_are_missing(ip, fresh_db, capsys):
    """``%state history orders --since 2026-12-01`` where the retention no longer keeps the changes
    of that day showed the ones kept from Wednesday on, as if they were every change since Monday
    (``get(at=)`` of such a point is refused; this was silent). It now says so on stderr."""
    ip.run_line_magic("config", "MotiaNB.history_keep = 50")
    try:
        for i in range(100):
            state_manager.sync.set("orders", f"o{i}", {"n": i})
        state_manager.backend.prune_history()
        kept = state(ip, "history orders --limit 1000")
        first = int(kept.seq.iloc[0])
        assert len(kept) == 50 and capsys.readouterr().err == ""
        since = state(ip, "history orders --since 3 --limit 1000")
        assert since.seq.tolist() == kept.seq.tolist()
        assert (f"%state history: changes before seq {first} are no longer kept (MotiaNB.history_keep = '50'): "
                "some after --since 3 may be among them") in capsys.readouterr().err
        state(ip, "history orders --since 2000-01-01T00:00+00:00 --limit 1000")
        assert f"changes before seq {first} are no longer kept" in capsys.readouterr().err
        state(ip, f"history orders --since {first - 1} --limit 1000")  # from the first kept: nothing missing
        at = kept["at"].iloc[0]
        state(ip, f"history orders --since {at} --limit 1000")
        assert capsys.readouterr().err == ""
    finally:
        ip.run_line_magic("config", "MotiaNB.history_keep = '100000'")


def test_a_frame_of_documents_does_not_search_their_text_for_big_integers(sqlite_manager: StateManager, monkeypatch):
    """2,000 documents of 100 KB (title, body, tags): frame() took 5.8 s where pandas on the same
    rows took 1.0, 4.7 of them searching the 200 MB of text for 16-digit runs (integers pandas could
    round) though no column was of floats, the only ones pandas rounds them in. The search is made
    only when a float column is there (one of documents now: about pandas' time)."""
    sync_module = importlib.import_module("motia_nb.state.sync")

    searched: list[int] = []

    class Counting:
        def __init__(self, pattern):
            self.pattern = pattern

        def search(self, text):
            searched.append(len(text))
            return self.pattern.search(text)

    monkeypatch.setattr(sync_module, "_LONG_DIGITS", Counting(sync_module._LONG_DIGITS))
    s = sqlite_manager.sync
    for i in range(20):
        s.set("docs", f"d{i}", {"title": f"doc {i}", "body": "lorem ipsum. " * 100, "tags": [1, 2], "n": i})
    df = s.frame("docs")
    assert len(df) == 20 and df.n.dtype.kind == "i" and searched == []
    s.set("docs", "d20", {"title": "big", "n": 2**60 + 1, "ratio": 0.5})  # a float column: searched, kept exact
    df = s.frame("docs")
    assert len(searched) == 1 and df.n.tolist()[-1] == 2**60 + 1
