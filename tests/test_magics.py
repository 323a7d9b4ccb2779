"""``%state`` / ``%%state`` on a real InteractiveShell and a real SQLite file.

Every subcommand, every error message, ``%config MotiaNB``, variable handling,
assignment of results, and the magics called while an event loop runs in the
thread (the kernel's situation).
"""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from motia_nb import state_manager
from motia_nb.notebook.display import JSONDict, StateFrame
from motia_nb.notebook.magics import SUBCOMMANDS, StateMagicError
from motia_nb.testing import run_cell

ORDER_1 = {"id": "order-1", "status": "pending", "total": 99.99, "shipping": {"city": "Lisbon", "zip": "1000"}}
ORDER_2 = {"id": "order-2", "status": "paid", "total": 20, "shipping": {"city": "Porto", "zip": "4000"}}


def state(ip, line: str, cell: str | None = None):
    """Call the magic the way IPython does for ``%state line`` / ``%%state line``."""
    if cell is None:
        return ip.run_line_magic("state", line)
    return ip.run_cell_magic("state", line, cell)


def plain_text(ip, obj) -> str:
    """What the notebook shows as text/plain for ``obj``."""
    data, _ = ip.display_formatter.format(obj)
    return data["text/plain"]


def seed_orders(ip) -> None:
    state(ip, f"set orders order-1 {json.dumps(ORDER_1)}")
    state(ip, f"set orders order-2 {json.dumps(ORDER_2)}")


# ----------------------------------------------------------------------------- subcommands
def test_set_returns_new_and_old_value_shown_as_json(ip, fresh_db):
    first = state(ip, f"set orders order-1 {json.dumps(ORDER_1)}")
    assert first == {"new_value": ORDER_1, "old_value": None}
    assert isinstance(first, dict) and isinstance(first, JSONDict)
    assert plain_text(ip, first) == json.dumps(first, indent=2)
    second = state(ip, 'set orders order-1 {"status": "paid"}')
    assert second == {"new_value": {"status": "paid"}, "old_value": ORDER_1}
    assert state_manager.sync.get("orders", "order-1") == {"status": "paid"}


def test_get_shows_value_as_readable_json(ip, fresh_db):
    seed_orders(ip)
    value = state(ip, "get orders order-1")
    assert value == ORDER_1
    text = plain_text(ip, value)
    assert json.loads(text) == ORDER_1
    assert '"shipping": {\n    "city": "Lisbon"' in text  # indented JSON, double quotes


def test_get_missing_item_prints_null_and_returns_none(ip, fresh_db, capsys):
    assert state(ip, "get orders nope") is None
    assert capsys.readouterr().out.strip() == "null"


def test_scalar_and_array_values_round_trip(ip, fresh_db):
    state(ip, 'set misc s "text with spaces"')
    state(ip, "set misc n 3.5")
    state(ip, "set misc b true")
    state(ip, 'set misc a [1, "two", null]')
    assert state(ip, "get misc s") == "text with spaces"
    assert state(ip, "get misc n") == 3.5
    assert state(ip, "get misc b") is True
    arr = state(ip, "get misc a")
    assert arr == [1, "two", None] and plain_text(ip, arr) == json.dumps([1, "two", None], indent=2)


def test_list_is_a_dataframe_with_key_column_and_dotted_columns(ip, fresh_db):
    seed_orders(ip)
    df = state(ip, "list orders")
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["key", "id", "status", "total", "shipping.city", "shipping.zip"]
    assert df["key"].tolist() == ["order-1", "order-2"]
    assert df["shipping.city"].tolist() == ["Lisbon", "Porto"]
    # derived frames are plain DataFrames
    assert type(df[df.status == "paid"]) is pd.DataFrame
    assert "Empty" not in plain_text(ip, df) and "order-2" in plain_text(ip, df)


def test_list_options_values_dict_no_flatten(ip, fresh_db):
    seed_orders(ip)
    assert state(ip, "list orders --values") == [ORDER_1, ORDER_2]
    assert state(ip, "list orders --dict") == {"order-1": ORDER_1, "order-2": ORDER_2}
    nested = state(ip, "list orders --no-flatten")
    assert "shipping" in nested.columns and "shipping.city" not in nested.columns
    assert nested.loc[0, "shipping"] == ORDER_1["shipping"]


def test_list_of_empty_group_has_a_key_column(ip, fresh_db):
    df = state(ip, "list nothing-here")
    assert list(df.columns) == ["key"] and len(df) == 0


def test_result_assignment_in_a_cell(ip, fresh_db):
    seed_orders(ip)
    res = run_cell(ip, "orders = %state list orders\none = %state get orders order-2\nn = len(orders)")
    assert res.success, res.error_in_exec
    assert isinstance(ip.user_ns["orders"], pd.DataFrame)
    assert ip.user_ns["one"] == ORDER_2 and ip.user_ns["n"] == 2


def test_delete_returns_deleted_value(ip, fresh_db, capsys):
    seed_orders(ip)
    assert state(ip, "delete orders order-1") == ORDER_1
    assert state_manager.sync.get("orders", "order-1") is None
    capsys.readouterr()
    assert state(ip, "delete orders order-1") is None
    assert capsys.readouterr().out.strip() == "null"
    assert state(ip, "list orders")["key"].tolist() == ["order-2"]


def test_clear_returns_count_and_empties_group(ip, fresh_db):
    seed_orders(ip)
    state(ip, 'set other x {"a": 1}')
    assert state(ip, "clear orders") == 2
    assert state(ip, "groups") == ["other"]
    assert state(ip, "clear orders") == 0


def test_update_line_and_single_op(ip, fresh_db):
    seed_orders(ip)
    res = state(
        ip,
        'update orders order-1 [{"type": "set", "path": "status", "value": "shipped"}, '
        '{"type": "increment", "path": "retries", "by": 2}, {"type": "merge", "path": "shipping", "value": {"city": "Faro"}}]',
    )
    assert res["old_value"] == ORDER_1
    assert res["new_value"]["status"] == "shipped" and res["new_value"]["retries"] == 2
    assert res["new_value"]["shipping"] == {"city": "Faro", "zip": "1000"}
    single = state(ip, 'update orders order-1 {"type": "decrement", "path": "retries", "by": 1}')
    assert single["new_value"]["retries"] == 1


def test_update_missing_item_starts_empty(ip, fresh_db):
    res = state(ip, 'update counters c1 [{"type": "increment", "path": "n", "by": 1}]')
    assert res == {"new_value": {"n": 1}, "old_value": None}


def test_cell_magic_set_and_update(ip, fresh_db):
    body = json.dumps(ORDER_1, indent=4)
    assert state(ip, "set orders order-1", body)["new_value"] == ORDER_1
    ops = '[\n  {"type": "set", "path": "status", "value": "paid"},\n  {"type": "append", "path": "log", "value": {"status": "paid"}}\n]'
    res = state(ip, "update orders order-1", ops)
    assert res["new_value"]["status"] == "paid" and res["new_value"]["log"] == [{"status": "paid"}]
    # through run_cell too: the %% form as a user types it
    out = run_cell(ip, '%%state set orders order-9\n{"status": "new",\n "total": 1}\n')
    assert out.success, out.error_in_exec
    assert state_manager.sync.get("orders", "order-9") == {"status": "new", "total": 1}


def test_groups_and_counts(ip, fresh_db):
    seed_orders(ip)
    state(ip, 'set users u1 {"name": "Ann"}')
    assert state(ip, "groups") == ["orders", "users"]
    counts = state(ip, "groups --counts")
    assert counts.to_dict("records") == [{"group": "orders", "items": 2}, {"group": "users", "items": 1}]


def test_quoted_names_with_spaces(ip, fresh_db):
    state(ip, "set \"my group\" 'key 1' {\"a\": 1}")
    assert state_manager.sync.get("my group", "key 1") == {"a": 1}
    assert state(ip, 'get "my group" "key 1"') == {"a": 1}


def test_use_switches_database_and_memory(ip, fresh_db, tmp_path, capsys):
    seed_orders(ip)
    state(ip, "use :memory:")
    assert state_manager.url == ":memory:"
    assert ip.run_line_magic("config", "MotiaNB.database") == ":memory:"
    assert state(ip, "groups") == []
    state(ip, 'set mem k {"x": 1}')
    other = str(tmp_path / "other.db")
    state(ip, f"use {other}")
    assert state(ip, "groups") == []
    state(ip, f"use {fresh_db}")
    assert state(ip, "groups") == ["orders"]
    capsys.readouterr()
    state(ip, "use")
    assert capsys.readouterr().out.strip() == f"motia_nb state database: {fresh_db}"


def test_use_names_a_store_under_the_working_directory_by_its_relative_path(ip, fresh_db, tmp_path, monkeypatch,
                                                                             capsys):
    """A saved notebook shows `.motia/state.db`, not the machine path of the folder it ran in."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    state(ip, "use .motia/here.db")
    state(ip, 'set orders o1 {"x": 1}')  # opened: the store's own URL is now absolute
    assert state_manager.url == str(tmp_path / ".motia" / "here.db")
    state(ip, "use")
    assert capsys.readouterr().out.split("\n")[:2] == ["motia_nb state database: .motia/here.db"] * 2
    state(ip, f"use {fresh_db}")


def test_help_subcommand_and_question_mark(ip, capsys):
    state(ip, "help")
    out = capsys.readouterr().out
    for name in ("set", "get", "list", "delete", "clear", "update", "groups", "use", "viewer", "help"):
        assert f"%state {name}" in out
    for command in SUBCOMMANDS.values():  # every subcommand: its usage and its one-line summary
        row = next(ln for ln in out.splitlines() if ln.strip().startswith(command.usage() + " "))
        assert row.rstrip().endswith(command.summary)
    state(ip, "help update")
    out = capsys.readouterr().out
    assert out.startswith("usage: %state update GROUP KEY OPS") and '"type": "increment"' in out
    run_cell(ip, "%state?")
    out = capsys.readouterr().out
    assert "%state update GROUP KEY OPS" in out and ":name" in out
    assert ip.find_line_magic("state").__doc__.startswith("Motia State Management")


def test_viewer_uses_the_viewer_module_or_says_it_is_missing(ip, fresh_db):
    try:
        import motia_nb.notebook.viewer  # noqa: F401
    except ImportError:
        with pytest.raises(StateMagicError, match="state viewer is not available"):
            state(ip, "viewer orders")
    else:
        seed_orders(ip)
        view = state(ip, "viewer orders")
        try:
            assert type(view).__name__ == "Viewer"
        finally:
            view.close()


# ----------------------------------------------------------------------------- variables
def test_json_braces_and_dollar_are_not_expanded(ip, fresh_db):
    ip.user_ns.update(y="EXPANDED", status="EXPANDED", n=5)
    res = run_cell(ip, '%state set g k {"t": "{y} and $n", "nested": {"status": 1}}')
    assert res.success, res.error_in_exec
    assert state_manager.sync.get("g", "k") == {"t": "{y} and $n", "nested": {"status": 1}}
    res = run_cell(ip, '%%state set g k2\n{"t": "{y}"}')
    assert res.success, res.error_in_exec
    assert state_manager.sync.get("g", "k2") == {"t": "{y}"}


def test_colon_name_brings_in_python_values(ip, fresh_db):
    ip.user_ns["order"] = {"status": "new", "items": [1, 2]}
    ip.user_ns["ops"] = [{"type": "set", "path": "status", "value": "paid"}]
    assert run_cell(ip, "%state set orders o1 :order").success
    assert state_manager.sync.get("orders", "o1") == {"status": "new", "items": [1, 2]}
    assert run_cell(ip, "%state update orders o1 :ops").success
    assert state_manager.sync.get("orders", "o1")["status"] == "paid"
    assert run_cell(ip, "%%state set orders o2\n:order").success
    assert state_manager.sync.get("orders", "o2") == {"status": "new", "items": [1, 2]}


# ----------------------------------------------------------------------------- errors
ERRORS = [
    ("%state sett orders k", "unknown subcommand 'sett'. Did you mean 'set'?"),
    ("%state frobnicate", "unknown subcommand 'frobnicate'"),
    ('%state set orders o1 {"a": 1 "b": 2}', "the VALUE is not valid JSON: Expecting ',' delimiter (line 1, column 9)"),
    ("%state set orders o1 {'a': True}", "hint: JSON strings and keys use double quotes; JSON writes true, false and null"),
    ("%state set orders o1 $x", "the VALUE $x reads as a variable of the notebook, but %state never expands {var} or $var: "
                                "write :x for its value"),
    ('%state set orders o1 {"a": NaN}', "NaN is not a JSON value"),
    ("%state set orders o1", "%state set orders o1: the VALUE is missing"),
    ('%state set orders {"a": 1}', "%state set: the following arguments are required: KEY"),
    ("%state get orders", "%state get: the following arguments are required: KEY\n  usage: %state get GROUP KEY"),
    ("%state get", "the following arguments are required: GROUP, KEY"),
    ("%state get orders a b", "unrecognized arguments: b"),
    ("%state clear", "%state clear: the following arguments are required: GROUP"),
    ("%state update orders o1", "%state update orders o1: the OPS is missing"),
    ('%state update orders o1 [{"type": "explode", "path": "a"}]', "op 0"),
    ('%state update orders o1 [{"type": "set", "path": "a", "value": 1}, {"type": "append", "path": "a", "value": 2}]',
     "op 1 (append.type_mismatch)"),
    ('%state update orders o1 [{"type": "increment"}]', "op 0"),
    ("%state update orders o1 :no_such_variable", "there is no variable 'no_such_variable' in the notebook"),
    ("%state list orders --values --dict", "--dict: not allowed with argument --values"),
    ("%state list orders --bogus", "unrecognized arguments: --bogus"),
    ('%state get "" k', "%state get:"),
    ("%state set 'orders o1", "unclosed ' quote"),
    ('%state get "orders o1', 'unclosed " quote'),
    ("%state help nothing", "unknown subcommand 'nothing'"),
    ("%%state get orders o1\n{\"a\": 1}", "%%state get takes no cell body"),
    ('%%state set orders o1 {"a": 1}\n{"a": 2}', "either on the line or in the cell body, not both"),
]


@pytest.mark.parametrize(("code", "message"), ERRORS)
def test_errors_fail_the_cell_with_one_clear_message(ip, fresh_db, capsys, code, message):
    state_manager.sync.set("orders", "o1", {"a": "text"})
    capsys.readouterr()
    res = run_cell(ip, code)
    out = capsys.readouterr()
    assert not res.success
    assert isinstance(res.error_in_exec, StateMagicError)
    assert message in str(res.error_in_exec)
    shown = out.out + out.err
    assert message.splitlines()[0] in shown
    assert "Traceback" not in shown and "File " not in shown
    assert shown.count("MagicUsageError") == 1
    # nothing half-happened
    assert state_manager.sync.items("orders") == [("o1", {"a": "text"})]


def test_bad_json_message_points_at_the_error(ip, fresh_db):
    with pytest.raises(StateMagicError) as exc:
        state(ip, 'set orders o1 {"status": "paid",, "total": 1}')
    lines = str(exc.value).splitlines()
    assert lines[1].strip() == '{"status": "paid",, "total": 1}'
    assert lines[2].index("^") == lines[1].index(",,") + 1


def test_bad_op_message_names_group_key_and_index(ip, fresh_db):
    state(ip, 'set orders o1 {"status": "pending"}')
    with pytest.raises(StateMagicError) as exc:
        state(ip, 'update orders o1 [{"type": "set", "path": "x", "value": 1}, {"type": "increment", "path": "status", "by": 1}]')
    msg = str(exc.value)
    assert "'orders'/'o1'" in msg and "op 1" in msg and "increment" in msg
    assert state_manager.sync.get("orders", "o1") == {"status": "pending"}


# ----------------------------------------------------------------------------- %config
def test_config_lists_options(ip, capsys):
    run_cell(ip, "%config")
    assert "MotiaNB" in capsys.readouterr().out
    run_cell(ip, "%config MotiaNB")
    out = capsys.readouterr().out
    for trait in ("MotiaNB.database", "MotiaNB.display_max_rows", "MotiaNB.display_max_columns",
                  "MotiaNB.flatten", "MotiaNB.json_indent", "MotiaNB.completion_max_keys"):
        assert trait in out


def test_config_database_switches_database(ip, fresh_db, tmp_path):
    seed_orders(ip)
    other = str(tmp_path / "configured.db")
    res = run_cell(ip, f"%config MotiaNB.database = '{other}'")
    assert res.success
    assert state_manager.url == other
    assert state(ip, "groups") == []
    run_cell(ip, f"%config MotiaNB.database = '{fresh_db}'")
    assert state(ip, "groups") == ["orders"]


def test_config_display_and_json_options(ip, fresh_db):
    for i in range(30):
        state(ip, f'set many k{i:02d} {{"i": {i}, "deep": {{"x": {i}}}}}')
    try:
        run_cell(ip, "%config MotiaNB.display_max_rows = 6")
        text = plain_text(ip, state(ip, "list many"))
        assert "k00" in text and "k29" in text and "k15" not in text
        assert "[30 rows x 3 columns]" in text
        html = ip.display_formatter.format(state(ip, "list many"))[0]["text/html"]
        assert "k15" not in html and "30 rows" in html
        run_cell(ip, "%config MotiaNB.flatten = False")
        assert list(state(ip, "list many").columns) == ["key", "i", "deep"]
        run_cell(ip, "%config MotiaNB.json_indent = 0")
        assert plain_text(ip, state(ip, "get many k01")) == '{"i": 1, "deep": {"x": 1}}'
    finally:
        run_cell(ip, "%config MotiaNB.display_max_rows = None")
        run_cell(ip, "%config MotiaNB.flatten = True")
        run_cell(ip, "%config MotiaNB.json_indent = 2")
    assert "k15" in plain_text(ip, state(ip, "list many")) or pd.get_option("display.max_rows") < 30


def test_config_rejects_bad_values(ip, fresh_db, tmp_path):
    before = ip.run_line_magic("config", "MotiaNB.display_max_rows")
    run_cell(ip, "%config MotiaNB.display_max_rows = -3")
    assert ip.run_line_magic("config", "MotiaNB.display_max_rows") == before
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    run_cell(ip, f"%config MotiaNB.database = '{blocker}/sub/state.db'")
    assert ip.run_line_magic("config", "MotiaNB.database") == fresh_db
    assert state_manager.url == fresh_db


# ----------------------------------------------------------------------------- event loop
def test_magics_work_while_an_event_loop_runs_in_this_thread(ip, fresh_db):
    async def cell() -> dict:
        # what a kernel cell is: code running while the thread's loop runs
        asyncio.get_running_loop()
        state(ip, 'set orders o1 {"status": "pending", "n": 0}')
        state(ip, 'update orders o1 [{"type": "increment", "path": "n", "by": 1}]')
        res = run_cell(ip, "%%state update orders o1\n[{\"type\": \"set\", \"path\": \"status\", \"value\": \"paid\"}]")
        assert res.success, res.error_in_exec
        frame = state(ip, "list orders")
        assert state(ip, "groups") == ["orders"]
        assert state(ip, "delete orders o1")["n"] == 1
        return {"frame": frame}

    out = asyncio.run(asyncio.wait_for(cell(), timeout=30))
    assert out["frame"].to_dict("records") == [{"key": "o1", "status": "paid", "n": 1}]


def test_top_level_await_and_magics_share_state(ip, fresh_db):
    res = run_cell(ip, "from motia_nb import state_manager as sm\nawait sm.set('orders', 'a1', {'total': 5})")
    assert res.success, res.error_in_exec
    assert state(ip, "get orders a1") == {"total": 5}


# ----------------------------------------------------------------------------- scale
def test_list_of_100000_items_displays_truncated(ip, fresh_db):
    """Display stays quick because it is pandas' own truncated repr, never 100,000 rows."""
    async def fill() -> None:
        await asyncio.gather(
            *(state_manager.set("big", f"order-{i:06d}", {"status": "paid" if i % 3 else "pending",
                                                          "total": i, "shipping": {"city": "Lisbon"}})
              for i in range(100_000))
        )

    asyncio.run(fill())
    df = state(ip, "list big")
    data, _ = ip.display_formatter.format(df)
    assert isinstance(df, StateFrame) and df.shape == (100_000, 4)
    assert "[100000 rows x 4 columns]" in data["text/plain"]
    assert len(data["text/plain"].splitlines()) < 100  # truncated, not 100,000 lines
    assert len(data["text/html"]) < 20_000  # truncated, not 100,000 rows of HTML


def test_trailing_comments_are_ignored_but_hashes_in_json_and_names_are_kept(ip, fresh_db):
    assert run_cell(ip, '%state set g k {"tag": "#1", "q": "it\'s #2"}  # a note').success
    assert state_manager.sync.get("g", "k") == {"tag": "#1", "q": "it's #2"}
    assert run_cell(ip, "%state set 'my # group' key#1 2   # another note").success
    assert state_manager.sync.get("my # group", "key#1") == 2
    res = run_cell(ip, "orders = %state list g  # as a DataFrame")
    assert res.success, res.error_in_exec
    assert ip.user_ns["orders"]["key"].tolist() == ["k"]
    assert run_cell(ip, '%%state update g k  # body below\n[{"type": "set", "path": "n", "value": 1}]').success
    assert state_manager.sync.get("g", "k")["n"] == 1
