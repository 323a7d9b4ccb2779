"""``%state export`` / ``%state import`` and motia_nb.state.transfer: JSON Lines in and out.

Round trips on every backend, all-or-nothing imports (bad lines with their numbers;
a failure inside the transaction), triggers only when asked, the progress bar past
10,000 items, and the magics' one-line answers.
"""

from __future__ import annotations

import json

import pytest
from motia_nb.testing import run_cell

from motia_nb import state_manager
from motia_nb.state import InvalidInputError, StateError, StateManager
from motia_nb.state.backends.sqlite import backend as sqlite_backend_module
from motia_nb.state.backends.sqlite import writer as sqlite_writer
from motia_nb.state.transfer import PROGRESS_MIN, export_jsonl, import_jsonl

ITEMS = [
    ("orders", "o2", {"total": 2, "shipping": {"city": "Porto"}}),
    ("orders", "o1", {"total": 1.5, "tags": ["a", "b"]}),
    ("weird \"group\"\n", "key with 'quotes' and é 😀", "text\nwith newline"),
    ("scalars", "n", None),
    ("scalars", "big", 2**64 - 1),  # the largest integer the engine holds (2**64 is refused)
]


def seed(sm: StateManager) -> None:
    for g, k, v in ITEMS:
        sm.sync.set(g, k, v)


def snapshot(sm: StateManager) -> dict:
    return {g: sm.sync.items(g) for g in sm.sync.list_groups()}


def test_export_all_then_import_gives_the_same_state_on_every_backend(sm, tmp_path):
    seed(sm)
    before = snapshot(sm)
    path = tmp_path / "all.jsonl"
    assert export_jsonl(sm, str(path)) == len(ITEMS)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(ln) for ln in lines][:2] == [
        {"group": "orders", "key": "o2", "value": ITEMS[0][2]},
        {"group": "orders", "key": "o1", "value": ITEMS[1][2]},
    ]  # one object per line, in insertion order
    for g in list(before):
        sm.sync.clear(g)
    report = import_jsonl(sm, str(path))
    assert report.items == len(ITEMS) and set(report.groups) == set(before) and not report.triggers
    assert snapshot(sm) == before  # values, keys and insertion order


def test_export_of_one_group_and_refusals(sm, tmp_path):
    seed(sm)
    path = tmp_path / "orders.jsonl"
    assert export_jsonl(sm, str(path), ["orders"]) == 2
    assert {json.loads(ln)["group"] for ln in path.read_text().splitlines()} == {"orders"}
    with pytest.raises(InvalidInputError, match="there is no group 'order'"):
        export_jsonl(sm, str(tmp_path / "x.jsonl"), ["order"])
    with pytest.raises(InvalidInputError, match="does not exist"):
        export_jsonl(sm, str(tmp_path / "missing" / "x.jsonl"))
    with pytest.raises(InvalidInputError, match="no such file"):
        import_jsonl(sm, str(tmp_path / "nope.jsonl"))
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "missing").exists()


BAD = [
    '{"group": "g", "key": "ok", "value": 1}',
    "",
    "[1, 2]",
    '{"group": "g", "key": "", "value": 1}',
    '{"group": "g", "key": "k", "value": 1, "extra": 2}',
    "{not json",
    '{"group": "g", "key": "k3", "value": NaN}',
    '{"group": "g", "key": "k4"}',
    '{"group": "g", "key": "fine", "value": {"a": [1]}}',
]


def test_a_file_with_bad_lines_imports_nothing_and_names_each_line(sm, tmp_path):
    sm.sync.set("g", "existing", 0)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(BAD) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        import_jsonl(sm, str(path))
    msg = str(info.value)
    assert msg.splitlines()[0].endswith("6 bad lines, nothing imported")
    assert [ln.split(":")[0].strip() for ln in msg.splitlines()[1:]] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8)]
    assert "unknown field extra" in msg and "missing field value" in msg and "NaN" in msg
    assert sm.sync.items("g") == [("existing", 0)]  # nothing of the good lines either


def test_an_integer_past_the_engines_64_bits_is_a_bad_line(sm, tmp_path):
    # Motia's engine would read 18446744073709551617 as the float 1.8446744073709552e+19: refused
    # on import as on set, naming the line, the group, the key and the number; nothing imported
    path = tmp_path / "big.jsonl"
    path.write_text('{"group": "g", "key": "ok", "value": 18446744073709551615}\n'
                    '{"group": "g", "key": "big", "value": {"n": 18446744073709551617}}\n', encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        import_jsonl(sm, str(path))
    lines = str(info.value).splitlines()
    assert lines[0].endswith("1 bad line, nothing imported"), lines
    assert lines[1].strip().startswith("line 2:") and "'g'/'big'" in lines[1] and "$.n is 18446744073709551617" in lines[1]
    assert sm.sync.items("g") == []


def test_a_failure_inside_the_transaction_leaves_nothing_on_sqlite(tmp_path, monkeypatch):
    sm = StateManager(str(tmp_path / "s.db"))
    try:
        sm.sync.set("g", "before", 1)
        path = tmp_path / "many.jsonl"
        path.write_text("".join(json.dumps({"group": "g", "key": f"k{i}", "value": i}) + "\n" for i in range(100)))
        monkeypatch.setattr(sqlite_backend_module, "WRITE_ALL_CHUNK", 10)
        real, calls = sqlite_writer.batch_steps, []

        def failing(writes, **kwargs):  # the disk fills up on the fourth chunk
            calls.append(len(writes))
            if len(calls) == 4:
                raise OSError("disk full")
            return real(writes, **kwargs)

        monkeypatch.setattr(sqlite_writer, "batch_steps", failing)
        with pytest.raises(StateError, match="rolled back"):
            import_jsonl(sm, str(path))
        assert calls == [10, 10, 10, 10]  # three chunks were applied inside the transaction...
        assert sm.sync.items("g") == [("before", 1)]  # ...and none of them stands
        monkeypatch.setattr(sqlite_writer, "batch_steps", real)
        assert import_jsonl(sm, str(path)).items == 100 and sm.sync.count("g") == 101
    finally:
        sm.close()


def test_triggers_run_only_when_asked(tmp_path):
    sm = StateManager(str(tmp_path / "s.db"))
    seen: list = []
    changes: list = []
    sm.set_dispatcher(lambda events: seen.extend(events))
    sm.subscribe(changes.append)
    try:
        path = tmp_path / "t.jsonl"
        path.write_text('{"group": "tasks", "key": "t1", "value": 1}\n{"group": "tasks", "key": "t2", "value": 2}\n')
        import_jsonl(sm, str(path))
        assert seen == [] and len(changes) == 2  # no triggers; subscribers (the viewer) still see the change
        import_jsonl(sm, str(path), triggers=True)
        assert [(e.event_type, e.item_id, e.new_value) for e in seen] == [
            ("state:updated", "t1", 1), ("state:updated", "t2", 2),
        ]  # fmt: skip
    finally:
        sm.close()


@pytest.mark.parametrize("n, shown", [(PROGRESS_MIN, False), (PROGRESS_MIN + 1, True)])
def test_a_progress_bar_past_10000_items(tmp_path, capsys, n, shown):
    sm = StateManager(str(tmp_path / "s.db"))
    try:
        path = tmp_path / "big.jsonl"
        path.write_text("".join(f'{{"group": "big", "key": "k{i}", "value": {i}}}\n' for i in range(n)))
        capsys.readouterr()
        assert import_jsonl(sm, str(path)).items == n
        err = capsys.readouterr().err
        assert (f"{n}/{n}" in err) == shown, err[-300:]
        assert export_jsonl(sm, str(tmp_path / "out.jsonl")) == n
        assert (f"{n}/{n}" in capsys.readouterr().err) == shown
    finally:
        sm.close()


# ----------------------------------------------------------------------------- the magics
def test_export_and_import_magics(ip, fresh_db, tmp_path, capsys):
    ip.run_line_magic("state", 'set orders o1 {"total": 1}')
    ip.run_line_magic("state", 'set users u1 {"name": "Ana"}')
    out = tmp_path / "backup.jsonl"
    capsys.readouterr()
    ip.run_line_magic("state", f"export --all {out}")
    assert capsys.readouterr().out.strip() == f"exported 2 items (every group) to {out}"
    ip.run_line_magic("state", "clear orders")
    ip.run_line_magic("state", "clear users")
    ip.run_line_magic("state", f"import {out}")
    assert capsys.readouterr().out.strip() == (
        f"imported 2 items into 2 groups (orders, users) from {out}; no triggers fired (--triggers runs them)"
    )
    assert state_manager.sync.get("users", "u1") == {"name": "Ana"}
    for line, expected in (
        (f"export {out}", "give one GROUP or --all"),
        (f"export --all orders {out}", "give one GROUP or --all"),
        (f"import {tmp_path / 'nope.jsonl'}", "no such file"),
    ):
        res = run_cell(ip, f"%state {line}")
        assert res.error_in_exec is not None and expected in str(res.error_in_exec), line


def test_an_import_is_one_commit_that_subscribers_see_on_every_backend(sm, tmp_path):
    sm.sync.set("g", "a", 0)
    seen: list = []
    sm.subscribe(seen.append)
    path = tmp_path / "i.jsonl"
    path.write_text("".join(json.dumps({"group": "g", "key": k, "value": i}) + "\n" for i, k in enumerate("abc")))
    assert sm.backend.atomic_write_all is True
    token = sm.change_token()
    import_jsonl(sm, str(path))
    assert [(e.event_type, e.item_id, e.old_value, e.new_value) for e in seen] == [
        ("state:updated", "a", 0, 0), ("state:created", "b", None, 1), ("state:created", "c", None, 2),
    ]  # fmt: skip
    assert sm.sync.items("g") == [("a", 0), ("b", 1), ("c", 2)]
    assert sm.change_token() != token


def test_a_file_saved_with_a_bom_and_crlf_lines_imports(sm, tmp_path):
    # Windows editors (Notepad, Excel's "UTF-8" CSV/JSON) write a byte-order mark and CRLF
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"group": "g", "key": "a", "value": "\xc3\xa9"}\r\n\r\n{"group": "g", "key": "b", "value": 2}\r\n')
    report = import_jsonl(sm, str(path))
    assert report.items == 2 and sm.sync.items("g") == [("a", "é"), ("b", 2)]
