"""README claims checked against behaviour, as a new user reading it top to bottom meets them.

Each test quotes the README (so a claim that is edited away fails here) and runs what it
says. The 30-second example is in ``test_readme.py``; every command's usage line is in
``test_docs.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import motia_nb
from motia_nb.state import StateManager

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def paragraph_after(marker: str) -> str:
    """The README text from ``marker`` to the end of its paragraph, joined into one line."""
    assert marker in README, f"the README no longer says {marker!r}"
    rest = README.split(marker, 1)[1]
    return " ".join(rest.split("\n\n", 1)[0].split())


def test_the_readmes_python_calls_for_export_and_import_run_as_written(tmp_path):
    """README, Export and import: "From Python: ..." -- each code span run as written.

    Was ``motia_nb.state.transfer.export_jsonl(...)``: ``motia_nb.state`` is the ``state``
    trigger function (``from motia_nb import state``), so the spelled-out path raised
    ``AttributeError: 'function' object has no attribute 'transfer'``.
    """
    spans = re.findall(r"`([^`]+)`", paragraph_after("From Python:"))
    imports = [s for s in spans if s.startswith(("from ", "import "))]
    calls = [s for s in spans if re.match(r"[\w.]+\(", s)]
    assert [re.match(r"[\w.]+", c).group(0).rsplit(".", 1)[-1] for c in calls] == ["export_jsonl", "import_jsonl"], calls
    sm = StateManager(str(tmp_path / "from_python.db"))
    try:
        sm.sync.set("orders", "order-1", {"total": 1})
        sm.sync.set("orders", "order-2", {"total": 2})
        ns = {"motia_nb": motia_nb, "state_manager": sm, "path": str(tmp_path / "backup.jsonl"), "groups": ["orders"]}
        for line in imports:
            exec(line, ns)  # noqa: S102 -- the README's own line
        exported = eval(calls[0], ns)  # noqa: S307
        assert exported == 2
        sm.sync.clear("orders")
        report = eval(calls[1], ns)  # noqa: S307
        assert report.items == 2 and report.triggers is False
        assert sm.sync.items("orders") == [("order-1", {"total": 1}), ("order-2", {"total": 2})]
    finally:
        sm.close()


WRITER = """
import sys
from motia_nb.state import StateManager
sm = StateManager(sys.argv[1], history_keep="off")
sm.sync.set("orders", "from-elsewhere", 1)
sm.close()
"""


def test_history_off_on_sqlite_refuses_remote_triggers_and_subscribe_hears_only_this_process(tmp_path):
    """README, Other kernels' changes: with history off, what says so and what does not."""
    said = paragraph_after("With history `off`, SQLite cannot tell other processes' changes apart")
    assert "`run_remote_triggers(True)` refuses with `NotImplementedError`" in said, said
    assert "`subscribe(fn, remote=True)` hears only this process's changes" in said, said
    assert "`change_token()` still moves when another process commits" in said, said
    db = str(tmp_path / "off.db")
    sm = StateManager(db, history_keep="off")
    try:
        with pytest.raises(NotImplementedError, match="does not publish changes between processes"):
            sm.run_remote_triggers(True)
        heard: list = []
        unsubscribe = sm.subscribe(heard.append, remote=True)  # accepted: the viewer relies on it
        assert sm.backend.publishes_remote is False
        before = sm.change_token()
        subprocess.run([sys.executable, "-c", WRITER, db], check=True, timeout=120)
        assert sm.change_token() != before
        sm.sync.set("orders", "here", 2)
        assert [(e.item_id, e.new_value) for e in heard] == [("here", 2)]
        unsubscribe()
    finally:
        sm.close()


@pytest.mark.parametrize("expression", ["0 0 0 1 1 * 2020", "0 0 0 * * * 1999-2001", "@yearly"])
def test_a_cron_expression_that_never_fires_again_is_refused(expression):
    """README, Where motia_nb differs: "a never-firing expression is refused".

    Was checked from 1970 only: a 7-field expression whose years are all past
    (``0 0 0 1 1 * 2020``) was accepted and never ran, as on the engine.
    """
    row = next(line for line in README.splitlines() if line.startswith("| 6/7-field cron only"))
    assert "a never-firing expression is refused" in row, row
    from motia_nb import cron

    if expression == "@yearly":  # fires again: still accepted
        assert cron(expression)["expression"] == expression
        return
    with pytest.raises(motia_nb.StepConfigError, match=r"never fires again.*20(20|01)"):
        cron(expression)
    session = motia_nb.Session(StateManager(":memory:"))
    try:  # a step's config (a %%step cell, a worker's registration) is read the same way
        with pytest.raises(motia_nb.StepConfigError, match="never fires again"):
            session.step({"name": "Old", "triggers": [{"type": "cron", "expression": expression}]})(lambda: None)
    finally:
        session.close()


def test_a_cron_expression_with_a_year_still_to_come_is_accepted():
    from motia_nb import cron

    assert cron("0 0 0 1 1 * 2099")["expression"] == "0 0 0 1 1 * 2099"


STEP_CELL = '%%step\nfrom motia import queue\nconfig = {{"name": "{name}", "triggers": [queue("t")]}}\ndef handler(d): pass'


def _run(kc, code: str, cell_id: str | None = None) -> str:
    """Run ``code`` in the kernel as a frontend does (with ``cellId`` metadata when given); its stdout."""
    msg = kc.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                             "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
                         metadata={"cellId": cell_id} if cell_id else {})
    kc.shell_channel.send(msg)
    out = []
    while True:
        m = kc.get_iopub_msg(timeout=60)
        if m["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        elif m["msg_type"] == "error":
            raise AssertionError(f"{code!r} failed: {m['content']['evalue']}")
        elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return "".join(out)


@pytest.mark.slow
def test_a_renamed_step_cell_drops_its_old_step_only_when_the_frontend_sends_the_cell_id(tmp_path, monkeypatch):
    """README, %%step: "this needs the cell id JupyterLab, Notebook 7, VS Code send; nbclient, nbval
    and a terminal send none, so there both steps stay"."""
    said = paragraph_after("`%%step [--quiet]` — a cell holding a Motia step file")
    assert "nbclient, nbval and a terminal send none, so there both steps stay" in said, said
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("MOTIA_NB_DB", str(tmp_path / "cells.db"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's motia_nb in the kernel
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        _run(kc, "%load_ext motia_nb\nfrom motia_nb import all_steps")
        # as JupyterLab runs an edited cell: the same cellId both times
        _run(kc, STEP_CELL.format(name="Watch"), cell_id="cell-1")
        out = _run(kc, STEP_CELL.format(name="Watcher"), cell_id="cell-1")
        assert "✓ step 'Watch' removed: this cell no longer defines it" in out, out
        # as nbclient / nbval run it: no cellId, so nothing tells the two runs are one cell
        _run(kc, STEP_CELL.format(name="Old"))
        out = _run(kc, STEP_CELL.format(name="New"))
        assert "removed" not in out, out
        names = _run(kc, "print(sorted(s.name for s in all_steps()))")
        assert names.strip() == "['New', 'Old', 'Watcher']", names
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_test_run_uses_a_throwaway_database_even_when_the_users_environment_names_one(tmp_path, monkeypatch):
    """README, Working on motia_nb: "Every test run uses a throwaway `MOTIA_NB_DB`".

    The README's Storage section tells a user to export ``MOTIA_NB_DB`` for their own
    database; the root conftest only *defaulted* it (``os.environ.setdefault``), so
    ``make test`` in that shell ran the tutorials (which clear their groups) against it.
    """
    assert "Every test run uses a throwaway `MOTIA_NB_DB`" in README
    mine = str(tmp_path / "my_own_state.db")
    monkeypatch.setenv("MOTIA_NB_DB", mine)  # as `export MOTIA_NB_DB=...` in the user's shell
    conftest = ROOT / "conftest.py"
    exec(compile(conftest.read_text(encoding="utf-8"), str(conftest), "exec"), {"__name__": "root_conftest"})  # noqa: S102
    used = os.environ["MOTIA_NB_DB"]
    assert used != mine
    assert Path(used).parent.name.startswith("motia-nb-tests-") and not Path(used).exists()


def test_the_intro_names_the_calls_that_give_a_dataframe(tmp_path):
    """README, intro: the bullet promising "a pandas DataFrame for reports".

    It said "`list()` as a pandas DataFrame", but ``state_manager.list`` is Motia's call and
    returns the values as a list; the DataFrame is ``frame()`` (and ``%state list``).
    """
    import pandas as pd

    bullet = next(line for line in README.splitlines() if line.startswith("- ") and "pandas DataFrame" in line)
    calls = re.findall(r"`(\w+)\(\)`", bullet)
    assert calls, bullet
    sm = StateManager(str(tmp_path / "intro.db"))
    try:
        sm.sync.set("orders", "order-1", {"total": 1})
        for name in calls:
            got = getattr(sm.sync, name)("orders")
            assert isinstance(got, pd.DataFrame), f"README: `{name}()` gives a DataFrame, but it returned {type(got).__name__}"
    finally:
        sm.close()


def test_every_setting_and_environment_variable_is_in_the_readme():
    """Docs cover every setting: each ``MotiaNB`` trait (``%config MotiaNB``) and each
    ``MOTIA_NB_*`` variable the code reads is named in the README (``MOTIA_NB_BUSY_TIMEOUT``
    and five of the nine settings were not)."""
    from motia_nb.notebook.config import MotiaNB

    settings = sorted(MotiaNB.class_own_traits(config=True))
    assert settings, "MotiaNB has no settings?"
    listed = paragraph_after("`%config MotiaNB` lists every setting")
    missing = [name for name in settings if f"`{name}`" not in listed]
    assert not missing, f"settings not in the README's %config MotiaNB list: {missing}"
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "motia_nb").rglob("*.py"))
    variables = sorted(set(re.findall(r"\bMOTIA_NB_[A-Z_]+\b", source)))
    assert "MOTIA_NB_DB" in variables
    undocumented = [v for v in variables if v not in README]
    assert not undocumented, f"environment variables the README does not name: {undocumented}"


def test_a_note_from_state_list_points_at_no_file_of_motia_nb(steps_ip):
    """Running the README's `%state list GROUP` on a group where a field named "x.y" meets a nested
    x.y: the frame's note (nested objects kept whole) was a warning located at
    ``.../motia_nb/notebook/magics.py:101`` with that source line under it -- motia_nb's own code,
    and a machine path left in a saved notebook. It is now located in no file, as the settings'
    warnings are."""
    import warnings

    ip = steps_ip  # the test shell, with motia_nb loaded, on a fresh database
    ip.run_line_magic("state", 'set g k {"x.y": 1, "x": {"y": 2}}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = ip.run_line_magic("state", "list g")
    assert list(df.columns) == ["key", "x.y", "x"]
    notes = [w for w in caught if "dotted column name" in str(w.message)]
    assert len(notes) == 1, [str(w.message) for w in caught]
    assert notes[0].filename == "motia_nb", notes[0].filename


def _printed(ip, magic: str, line: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ip.run_line_magic(magic, line)
    return out.getvalue()


BAD_LINES = [
    ("state", "get orders"),  # a missing name: the usage follows
    ("state", "lst orders"),  # an unknown subcommand
    ("state", "set orders o1 '{\"status\": \"new\"}'"),  # shell quotes: the text, a caret, a hint
    ("state", "history orders --since 2026-12-01 10:00"),  # a time with a space: a hint
    ("motia", "cron frobnicate"),
    ("motia", "enqueue"),  # a missing TOPIC: the usage follows
]


@pytest.mark.parametrize(("magic", "line"), BAD_LINES)
def test_a_line_the_magic_cannot_read_fails_as_the_readme_says(steps_ip, magic, line):
    """README, Magics: how a line the magic cannot read fails the cell. It said "with one line
    (two when it adds the usage)", but a bad JSON VALUE also quotes the text with a caret under
    the fault and a hint; each added line is one of the kinds the README names."""
    from motia_nb.notebook.parsing import MagicUsageError

    said = paragraph_after("A line the magic cannot read fails the cell")
    assert "no traceback" in said and "the usage" in said and "`hint: …`" in said and "caret" in said, said
    with pytest.raises(MagicUsageError) as caught:
        steps_ip.run_line_magic(magic, line)
    first, *more = str(caught.value).splitlines()
    assert first.startswith(f"%{magic}"), first
    for extra in more:  # the usage, a hint, or the quoted text and its caret (indented under the first line)
        assert extra.startswith(("  usage: ", "  hint: ", "    ")), (line, extra)
    if magic == "motia" and any(extra.startswith("  usage: ") for extra in more):  # %motia help says so too
        assert "fail the cell with one line (then the usage" in _printed(steps_ip, "motia", "help")


def test_a_change_has_the_keys_the_readme_lists_in_its_order_and_the_history_frame_those_columns(steps_ip):
    """README, History: "each a dict with `seq`, `at` ..., and `pid`" -- the dict's keys, in
    order, and ``%state history``'s columns ("shows the same as a DataFrame")."""
    said = paragraph_after("**History.**")
    listed = re.findall(r"`(\w+)`", said.split("each a dict with", 1)[1].split("; without", 1)[0])
    listed = [k for k in listed if k not in ("cell", "magic", "viewer")]  # the causes named in brackets
    from motia_nb import state_manager

    state_manager.sync.set("orders", "order-1", {"status": "new"})
    change = state_manager.sync.history("orders", "order-1")[-1]
    assert list(change) == listed, (list(change), listed)
    assert change["cause"] == "cell" and "`cell`" in said
    frame = steps_ip.run_line_magic("state", "history orders order-1")
    assert list(frame.columns) == listed


def test_a_write_is_awaited_as_the_readme_says_motias_coroutines_are(tmp_path):
    """README, the contract's API: "A write is awaited as Motia's coroutines are" -- each way it
    names runs a write, and `asyncio.wait` refuses it (the Unreleased breaking change)."""
    import asyncio

    said = paragraph_after("A write is awaited as Motia's")
    assert "`asyncio.create_task(...)`" in said and "`asyncio.wait([...])` refuses writes" in said, said
    sm = StateManager(str(tmp_path / "coroutines.db"))

    async def main():
        await sm.set("orders", "o1", 1)
        await asyncio.gather(sm.set("orders", "o2", 2), sm.set("orders", "o3", 3))
        await asyncio.create_task(sm.set("orders", "o4", 4))
        write = sm.set("orders", "o5", 5)
        with pytest.raises(TypeError, match="coroutines is forbidden"):
            await asyncio.wait([write])
        await write  # refused by wait, still a write to await
        return await sm.items("orders")

    try:
        assert asyncio.run(main()) == [(f"o{i}", i) for i in range(1, 6)]
    finally:
        sm.close()


def test_the_readmes_bounds_of_the_log_and_the_traces_are_the_kept_ones():
    """README, %motia: "`%motia logs [STEP]` ... (the newest 20,000 lines, about 64 MB of data ...)"
    and "`%motia trace` ... (the newest 20,000 ...)": the numbers the stores keep (their dropping
    is run in tests/test_new_user_observability.py)."""
    from motia_nb.steps import logs, trace

    line = next(x for x in README.splitlines() if x.startswith("- `%motia logs [STEP]` — "))
    assert f"the newest {logs.MAX_RECORDS:,} lines" in line and f"about {logs.MAX_BYTES >> 20} MB" in line, line
    assert "`error` line" in line, line
    line = next(x for x in README.splitlines() if x.startswith("- `%motia trace [last|TRACE_ID]` — "))
    assert f"the newest {trace.MAX_RECORDS:,}" in line, line


def test_a_history_of_a_mistyped_group_notes_the_closest_and_returns_the_empty_frame(steps_ip, capsys):
    """README, Typos: "`%state history GROUP [KEY]` does the same for a group or key with no
    recorded change" -- a one-line note on stderr naming the closest group, the empty frame returned."""
    said = paragraph_after("Typos are reported, not acted on")
    assert "`%state history GROUP [KEY]` does the same" in said, said
    steps_ip.run_line_magic("state", "set orders o1 1")
    capsys.readouterr()
    frame = steps_ip.run_line_magic("state", "history order")
    err = capsys.readouterr().err
    assert len(frame) == 0 and list(frame.columns)[:2] == ["seq", "at"]
    assert err.count("\n") == 1 and "'orders'" in err, err


def test_every_history_keep_form_the_readme_lists_is_read_and_its_units_are_the_codes():
    """README, History: "Retention is `%config MotiaNB.history_keep` ...: `'100000'` (the default ...),
    `'7d'` (an age; units `s m h d w`), `'100000,7d'` (both), `'all'`, or `'off'`"."""
    from motia_nb.state import history

    said = paragraph_after("Retention is")
    forms = re.findall(r"`'([^']+)'`", said.split(" Old changes are pruned", 1)[0])
    assert forms[:5] == ["100000", "7d", "100000,7d", "all", "off"], forms
    for form in forms[:5]:
        history.Retention.parse(form)  # each is read (a bad one raises InvalidInputError)
    assert history.DEFAULT_KEEP == forms[0] and "(the default" in said
    units = re.search(r"units `([a-z ]+)`", said).group(1).split()
    assert units == list(history._UNITS), units


def test_the_redis_write_failures_the_readme_quotes_are_the_errors_a_write_answers():
    """README, Storage: "On Redis a write that fails says whether it ran" -- each quoted ending is
    the one :func:`io_error` gives for that failure (the real failures, a proxy losing the reply
    and an ACL user, run in tests/test_redis_history_parity_user.py)."""
    from redis.exceptions import ConnectionError as LostConnection
    from redis.exceptions import NoPermissionError, ReadOnlyError

    from motia_nb.state.backends.redis.layout import io_error, not_sent

    said = paragraph_after("On Redis a write that fails says whether it ran")
    unrun, maybe = re.findall(r"`(it [^`]+)`", said)[:2]
    url = "redis://localhost:6379/0"
    for exc in (NoPermissionError("NOPERM no permissions"), ReadOnlyError("READONLY a replica"),
                not_sent(LostConnection("Connection refused"))):
        assert str(io_error(exc, url, "orders")).endswith(unrun), exc
    assert str(io_error(LostConnection("Connection reset by peer"), url, "orders")).endswith(maybe)


def test_cron_list_shows_a_next_run_only_while_the_scheduler_runs(steps_ip, capsys):
    """README, %motia: "`%motia cron list` — cron steps and their next run (`None` until `cron start`...)"."""
    line = next(x for x in README.splitlines() if x.startswith("- `%motia cron list` — "))
    assert "(`None` until `cron start`" in line, line
    steps_ip.run_cell(
        "from motia_nb import step, cron\n"
        "@step({'name': 'Nightly', 'triggers': [cron('0 3 * * *')]})\n"
        "def nightly(inp, ctx): pass\n"
    ).raise_error()
    assert steps_ip.run_line_magic("motia", "cron list")["next_run"].tolist() == [None]
    steps_ip.run_line_magic("motia", "cron start")
    try:
        assert steps_ip.run_line_magic("motia", "cron list")["next_run"].notna().all()
    finally:
        steps_ip.run_line_magic("motia", "cron stop")
    assert steps_ip.run_line_magic("motia", "cron list")["next_run"].tolist() == [None]
