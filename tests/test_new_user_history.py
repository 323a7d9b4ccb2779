"""A Motia user meeting the state history (SPEC §9) for the first time, in a real kernel (nbclient)
on the default SQLite file (``.motia/state.db`` under the kernel's folder).

What they ran into:

- ``%state history orders`` of changes made by a step and by a cell: the ``trace_id`` column
  held the step's trace and ``nan`` (pandas 3 made the column a string dtype), where
  ``history()`` gives ``None`` and the frame of only cell changes showed ``None``:
  ``df.to_dict("records") == await state_manager.history("orders")`` was False, and
  ``df.trace_id[i] is None`` depended on what else was in the frame.
- ``%state history --help`` (and ``-h``): "the following arguments are required: GROUP",
  ``-h`` with a hint to write ``%state history -- -h`` (a group named ``-h``); now the error
  says where the help is: ``%state help history``.
- Tab after ``%state history orders --since `` / ``%state restore orders o1 --to `` /
  ``--limit ``: the kernel offered Python's keywords and every magic (``and``, ``if``,
  ``%%bash``...), as motia_nb's matcher answered nothing there; now it answers one entry
  saying what the value is (the text as typed, so choosing it changes nothing).
- Tab after ``%state restore orders o1 `` (every name given): Python's keywords and magics
  again, where the command's next word is its option ``--to`` (``history``: ``--since``,
  ``--limit``); the options not given yet are offered now.
- Tab after ``%state restore orders `` (or ``history``) offered only the keys stored now: the
  key of an item deleted since, the one a user wants to see or bring back, had to be typed;
  the keys of the group's recent changes no longer stored are offered too (``deleted key``).
- ``%state history order`` (for ``orders``): "no recorded change of 'order'", where ``%state
  list order`` says "Did you mean 'orders'?"; history now names the closest group (or key).
- ``%state history orders --since 2026-12-01 20:00`` (a time as ``str(datetime)`` prints it):
  "unrecognized arguments: 20:00"; with the option before the names, ``20:00`` silently became
  the GROUP. Both now say to write the time as one word (quoted, or with a ``T``).
- ``since=changes[-1]`` (the change itself, not its seq), ``at=df.iloc[0]`` (a row of the
  frame) or ``at=df.seq``: the refusal printed the whole dict with its values, or the row or
  column as a table over many lines; it is one line now, saying to pass the seq. ``at=pd.NaT``
  was a bare ``ValueError: NaTType does not support timestamp``.
- ``%state restore orders o1 --to -0`` (or ``--to 1.5``): the error named a seq or an ISO time,
  not ``-N``, the form the command's usage offers.
"""

from __future__ import annotations

import json
import re

import pytest

from motia_nb.testing import cell_text
from test_new_user_unawaited_reads import run_in_kernel

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")

COMPLETE = (
    "from IPython.core.completer import provisionalcompleter\n"
    "def offered(line):\n"
    "    with provisionalcompleter():\n"
    "        return sorted({(c.text, c.type) for c in get_ipython().Completer.completions(line, len(line))})\n"
)

CELLS = {
    "setup": "%load_ext motia_nb\n"
             "import json, os\n"
             "from motia_nb import state_manager, step, http, queue, enqueue, request\n"
             "print(state_manager.url)",
    "steps": '@step({"name": "Pay", "triggers": [http("POST", "/pay/{id}")], "enqueues": ["paid"]})\n'
             "async def pay(req, ctx):\n"
             '    await state_manager.set("orders", req.path_params["id"], {"status": "paid"})\n'
             '    await enqueue({"topic": "paid", "data": {"id": req.path_params["id"]}})\n'
             '    return {"status": 200, "body": {}}\n'
             '@step({"name": "Ship", "triggers": [queue("paid")]})\n'
             "async def ship(data, ctx):\n"
             '    await state_manager.update("orders", data["id"], [{"type": "set", "path": "shipped", "value": True}])\n'
             'await request("POST", "/pay/o1")\n'
             "import threading  # a thread starts with an empty context: its write has no trace (a cell's has its run's)\n"
             'writer = threading.Thread(target=lambda: state_manager.sync.set("orders", "o2", {"status": "new"}))\n'
             "writer.start(); writer.join()\n"
             "None",
    "frame": "df = %state history orders\n"
             'rows = await state_manager.history("orders")\n'
             "print(json.dumps({'causes': df.cause.tolist(), 'nones': [t is None for t in df.trace_id],\n"
             "                  'api_nones': [r['trace_id'] is None for r in rows],\n"
             "                  'same': df.to_dict('records') == rows, 'pid': df.pid.tolist() == [os.getpid()] * len(rows)}))",
    "help_long": "%state history --help",
    "help_short": "%state history -h",
    "restore_help": "%state restore orders o1 --help",
    "set_help": "%state set --help",
    "deleted": 'await state_manager.set("orders", "old one", {"status": "new"})\n'
               'await state_manager.delete("orders", "old one")\n'
               'await state_manager.set("orders", "gone", 1)\n'
               'await state_manager.delete("orders", "gone")\n'
               'await state_manager.set("orders", "gone", 2)  # back: a key again\n'
               "None",
    "complete": COMPLETE + "print(json.dumps({l: offered(l) for l in (\n"
                "    '%state history orders --since ', '%state history orders o1 --since 1', '%state restore orders o1 --to ',\n"
                "    '%state history orders --limit ', '%state history orders ', '%state history --since ',\n"
                "    '%state restore orders o1 ', '%state history orders o1 ', '%state history orders o1 --limit 5 ',\n"
                "    '%state restore orders ', '%state history orders \"ol', '%state get orders ')}))",
    "to_minus_zero": "%state restore orders o1 --to -0",
    "typo_group": "%state history order\nNone",
    "typo_key": "%state history orders o-1\nNone",
    "typo_both": "%state history order o1\nNone",
    "typo_since": "%state history orders o1 --since 999999\nNone",
    "time_after": "%state history orders --since 2026-12-01 20:00",
    "time_before": "%state history --since 2026-12-01 20:00:00.5+01:00 orders",
    "restore_time_before": "%state restore --to 2026-12-01 20:00 orders",
    "time_quoted": '%state history orders --since "2026-12-01 00:00"\nNone',
    "since_a_change": 'changes = await state_manager.history("orders", "o1")\n'
                      'await state_manager.history("orders", since=changes[0])',
    "at_a_row": 'await state_manager.get("orders", "o1", at=df.iloc[0])',
    "at_a_column": 'await state_manager.get("orders", "o1", at=df.seq)',
    "at_nat": 'import pandas as pd\nawait state_manager.get("orders", "o1", at=pd.NaT)',
    "to_float": "%state restore orders o1 --to 1.5",
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_in_kernel(CELLS, tmp_path_factory.mktemp("new-user-history"), default_db=True)


def shown(cell) -> str:
    return ANSI.sub("", cell_text(cell))


def printed(cell) -> dict:
    return json.loads(shown(cell).strip().splitlines()[-1])


def test_the_kernel_uses_the_default_sqlite_file(ran):
    assert shown(ran["setup"]).strip() == ".motia/state.db", shown(ran["setup"])
    assert shown(ran["steps"]) == "", shown(ran["steps"])


def test_the_history_frame_holds_none_for_a_change_without_a_trace_as_history_does(ran):
    got = printed(ran["frame"])
    assert got["causes"] == ["Pay", "Ship", "cell"]  # the step's name, or cell
    assert got["api_nones"] == [False, False, True]
    assert got["nones"] == got["api_nones"]  # was [False, False, False]: the cell's change read nan
    assert got["same"] and got["pid"]


def test_help_asked_of_a_subcommand_says_where_the_help_is(ran):
    for name in ("help_long", "help_short"):
        text = shown(ran[name])
        assert "hint: for help on this command write %state help history" in text, text
        assert "goes after --" not in text, text  # -h is not a group to quote
    assert "hint: for help on this command write %state help restore" in shown(ran["restore_help"])
    # a command with a VALUE takes no option: its names come after a `--` of the router's
    assert "hint: for help on this command write %state help set" in shown(ran["set_help"])


def test_tab_after_an_option_that_takes_a_value_offers_no_python_keywords_or_magics(ran):
    got = printed(ran["complete"])
    for line in ("%state history orders --since ", "%state restore orders o1 --to ", "%state history --since "):
        texts = [t for t, _ in got[line]]
        assert not {"and", "if", "%%bash", "%cd"} & set(texts), (line, got[line])
        assert got[line] == [["", "SEQ|TIME" if "--since" in line else "SEQ|TIME|-N"]], (line, got[line])
    assert got["%state history orders o1 --since 1"] == [["1", "SEQ|TIME"]]  # the typed text, unchanged
    assert got["%state history orders --limit "] == [["", "N"]]
    assert got["%state history orders "] == [['"old one"', "deleted key"], ["gone", "key"], ["o1", "key"], ["o2", "key"]]


def test_tab_offers_a_deleted_key_where_its_past_is_asked_for(ran):
    got = printed(ran["complete"])
    # restoring a deleted item is what restore is for: its key is offered (quoted: it has a space)
    assert got["%state restore orders "] == [['"old one"', "deleted key"], ["gone", "key"], ["o1", "key"], ["o2", "key"]]
    assert got['%state history orders "ol'] == [['old one"', "deleted key"]]
    assert got["%state get orders "] == [["gone", "key"], ["o1", "key"], ["o2", "key"]]  # only the stored ones


def test_tab_after_every_name_offers_the_options_left_not_python(ran):
    got = printed(ran["complete"])
    assert got["%state restore orders o1 "] == [["--to", "option"]]  # restore's required option
    assert got["%state history orders o1 "] == [["--limit", "option"], ["--since", "option"]]
    assert got["%state history orders o1 --limit 5 "] == [["--since", "option"]]


def test_a_bad_restore_point_names_every_form_the_usage_offers(ran):
    for name, bad in (("to_minus_zero", "'-0'"), ("to_float", "'1.5'")):
        text = shown(ran[name])
        assert f"--to takes a change's seq (e.g. 42), an ISO time (e.g. 2026-05-01T12:00) or -N (before the item's last N changes, e.g. -1), got {bad}" in text, text


def error(cell) -> str:
    (err,) = [o for o in cell.outputs if o.output_type == "error"]
    return f"{err.ename}: {ANSI.sub('', err.evalue)}"


def test_a_whole_change_given_as_since_or_at_is_refused_in_one_line_naming_its_seq(ran):
    """A change of ``history()`` (a dict), a row or a column of the frame: the refusal printed the
    whole value (the dict with its values; a row or a column as a table, over many lines)."""
    assert error(ran["since_a_change"]) == (
        "InvalidInputError: since must be a change's seq (an int >= 0) or a datetime, "
        "got a whole change (a dict of history()): pass its seq, since=change['seq']")
    assert error(ran["at_a_row"]) == (
        "InvalidInputError: at must be a change's seq (an int >= 0) or a datetime, "
        "got a whole change (a row of the history frame): pass its seq, at=row['seq']")
    assert error(ran["at_a_column"]) == (
        "InvalidInputError: at must be a change's seq (an int >= 0) or a datetime, "
        "got a pandas Series of 3 values: pass one seq, e.g. at=df.seq.iloc[-1]")  # the frame of 3 changes
    # pandas' missing time: a ValueError from datetime.timestamp() ("NaTType does not support timestamp")
    assert error(ran["at_nat"]) == "InvalidInputError: at must be a change's seq (an int >= 0) or a datetime, got NaT (no time)"


def test_a_time_written_with_a_space_says_to_write_it_as_one_word(ran):
    """``--since 2026-12-01 20:00`` (as ``str(datetime)`` and pandas print a time): after the names,
    "unrecognized arguments: 20:00"; before them, ``20:00`` silently became the GROUP (an empty
    history, and restore looked up the item '20:00'/'orders')."""
    hint = 'hint: a time with a space is two words here; write it as one: {o} "{t}" (or {o} {u})'
    assert shown(ran["time_after"]).endswith(hint.format(o="--since", t="2026-12-01 20:00", u="2026-12-01T20:00")), shown(ran["time_after"])
    assert "unrecognized arguments: 20:00" in shown(ran["time_after"])
    text = shown(ran["time_before"])
    assert "%state history: --since 2026-12-01 20:00:00.5+01:00: '20:00:00.5+01:00' was read as a name" in text, text
    assert text.endswith(hint.format(o="--since", t="2026-12-01 20:00:00.5+01:00", u="2026-12-01T20:00:00.5+01:00"))
    text = shown(ran["restore_time_before"])
    assert "%state restore: --to 2026-12-01 20:00: '20:00' was read as a name" in text, text
    assert "nothing written" not in text and "did not exist" not in text
    assert shown(ran["time_quoted"]) == "", shown(ran["time_quoted"])  # quoted: one word, read as a time


def test_no_change_of_a_misspelt_name_names_the_closest_as_list_does(ran):
    """``%state list order`` says "Did you mean 'orders'?"; ``%state history order`` said only that
    no change of 'order' was recorded."""
    assert shown(ran["typo_group"]) == "%state history: no recorded change of 'order'. Did you mean 'orders'?\n"
    assert shown(ran["typo_key"]) == "%state history: no recorded change of 'orders'/'o-1'. Did you mean 'orders'/'o1'?\n"
    assert shown(ran["typo_both"]) == "%state history: no recorded change of 'order'/'o1'. Did you mean 'orders'/'o1'?\n"
    # nothing since a seq is no typo
    assert shown(ran["typo_since"]) == "%state history: no recorded change of 'orders'/'o1'\n"


def test_the_past_keys_are_read_only_where_a_past_is_asked_for():
    from motia_nb.notebook.completion import state_completions

    calls: list[str] = []

    def past(group, prefix):
        calls.append(f"{group}:{prefix}")
        return ["k9", "x"]

    def live(group, prefix):
        return ["k1"]

    assert state_completions(["get", "g"], "k", list, live, past_keys=past) == [("k1", "key")]
    assert calls == []
    assert state_completions(["restore", "g"], "k", list, live, past_keys=past) == [("k1", "key"), ("k9", "deleted key")]
    assert calls == ["g:k"]
