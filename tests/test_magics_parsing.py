"""The one reader of magic text: tokens, strict JSON (notebook.parsing) and the command table (notebook.commands)."""

from __future__ import annotations

import argparse
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from motia_nb.notebook.commands import CommandTable, Tail
from motia_nb.notebook.parsing import (
    JSONInputError,
    MagicUsageError,
    load_json,
    read_value,
    tokenize,
)


def words(text: str) -> list[str]:
    return [w.text for w in tokenize(text).words]


# ----------------------------------------------------------------------------- tokenize
def test_words_quotes_and_escapes():
    assert words("get orders order-1") == ["get", "orders", "order-1"]
    assert words('  get "my group"   \'key 1\'  ') == ["get", "my group", "key 1"]
    assert words(r'"say \"hi\"" "a\\b" "c\d"') == ['say "hi"', "a\\b", "c\\d"]
    assert words("'no \\escapes'") == ["no \\escapes"]
    assert words(r"use C:\data\x.db") == ["use", r"C:\data\x.db"]  # backslashes are literal outside quotes
    assert words('a"b c"d') == ["ab cd"]  # quotes group inside a word too
    assert words('get "" k') == ["get", "", "k"]


def test_comments_start_a_word_outside_quotes():
    t = tokenize('set g k {"tag": "#1", "n": 2}  # a note')
    assert t.source[: t.end].rstrip() == 'set g k {"tag": "#1", "n": 2}'
    assert t.rest(3) == '{"tag": "#1", "n": 2}'
    assert words("steps   # the registered steps") == ["steps"]
    assert words("a#b") == ["a#b"]
    assert words("'#' x") == ["#", "x"]
    assert words("# only a comment") == []


def test_an_unclosed_quote_runs_to_the_end_and_is_marked():
    t = tokenize("get 'orders o1 # not a comment")
    assert [w.text for w in t.words] == ["get", "orders o1 # not a comment"]
    assert t.words[-1].unclosed == "'" and t.words[0].unclosed == ""
    assert t.end == len(t.source)
    assert t.touches_end()


def test_positions_and_rest_keep_the_raw_text():
    line = 'set "my group" k   {"a":  [1, 2]}  '
    t = tokenize(line)
    assert [line[w.start : w.end] for w in t.words[:3]] == ["set", '"my group"', "k"]
    assert t.rest(3) == '{"a":  [1, 2]}'
    assert t.rest(9) == ""
    assert not t.touches_end()


def _quoted(word: str) -> str:
    if word and not any(c.isspace() or c in "'\"#\\" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), max_size=6))
def test_any_words_round_trip_through_quoting(ws):
    assert words(" ".join(_quoted(w) for w in ws)) == ws


# ----------------------------------------------------------------------------- JSON
def test_load_json_is_strict_and_points_at_the_error():
    assert load_json('{"a": [1, 2.5, true, null]}') == {"a": [1, 2.5, True, None]}
    for bad in ("NaN", '{"x": Infinity}', "[-Infinity]"):
        with pytest.raises(JSONInputError, match="is not a JSON value"):
            load_json(bad)
    with pytest.raises(JSONInputError, match="the VALUE is empty"):
        load_json("  ", "the VALUE")
    with pytest.raises(JSONInputError) as exc:
        load_json('{"status": "paid",, "total": 1}', "the VALUE")
    first, snippet, caret = str(exc.value).splitlines()
    assert first.startswith("the VALUE is not valid JSON: Expecting property name")
    assert caret.index("^") == snippet.index(",,") + 1


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("{'a': 1}", "JSON strings and keys use double quotes"),
        ('{"a": True}', "JSON writes true, false and null"),
        ('{"a": {b}}', "to use a Python variable write :name"),
        ("$x", "to use a Python variable write :name"),
        # quotes a shell would take off, and a bare word: the magic takes the text as typed
        ("'{\"status\": \"new\"}'", re.escape('quotes around it are part of the text; write it without them: {"status": "new"}')),
        ('"{"status": 1}"', re.escape('write it without them: {"status": 1}')),
        ("'42'", re.escape('write it without them: 42 (or "42" for a text)')),
        ("'paid'", re.escape('the quotes are part of the text; a JSON string has double quotes: "paid"')),
        ("paid", re.escape('a JSON string has double quotes: "paid"; a notebook variable is :paid')),
    ],
)
def test_load_json_hints_at_the_usual_slips(text, hint):
    with pytest.raises(JSONInputError, match="hint: .*" + hint):
        load_json(text)


@pytest.mark.parametrize("text", ["True", "[1, 2", "'{'", "'{\"a\": 1'", "'[1, 2'"])
def test_no_quoting_hint_where_it_would_mislead(text):
    with pytest.raises(JSONInputError) as info:
        load_json(text)
    assert "no shell" not in str(info.value) and "notebook variable is" not in str(info.value)


def test_read_value_names_variables_json_and_python():
    ns = {"order": {"id": 1}, "n": 4}
    assert read_value(":order", "the VALUE", ns) is ns["order"]
    assert read_value(' {"a": 1} ', "the VALUE", ns) == {"a": 1}
    with pytest.raises(MagicUsageError, match="the VALUE: there is no variable 'nope'"):
        read_value(":nope", "the VALUE", ns)
    with pytest.raises(MagicUsageError, match="the VALUE is missing"):
        read_value("", "the VALUE", ns)
    with pytest.raises(MagicUsageError, match="the VALUE is not valid JSON"):
        read_value("n + 1", "the VALUE", ns)  # no evaluate: JSON only
    assert read_value("n + 1", "the DATA", ns, lambda s: eval(s, ns)) == 5
    with pytest.raises(MagicUsageError, match=r"cannot read 'n \+' as JSON or as a Python expression: SyntaxError"):
        read_value("n +", "the DATA", ns, lambda s: eval(s, ns))


# ----------------------------------------------------------------------------- the table
def make_table() -> tuple[CommandTable, list[tuple[str, argparse.Namespace]]]:
    ran: list[tuple[str, argparse.Namespace]] = []
    t = CommandTable("%demo", "A demo magic.", "Some notes.", defaults={"job": "job list"})

    def runner(name):
        return lambda m, a: ran.append((name, a))

    t.add("put", "store a value", "Store VALUE under NAME.", runner("put"),
          lambda p: p.add_argument("name", metavar="NAME"), Tail("VALUE", cell=True), ("%demo put x 1",))
    t.add("send", "send data", "Send DATA.", runner("send"),
          lambda p: p.add_argument("topic", metavar="TOPIC"), Tail("DATA", required=False, python=True))
    t.add("job run", "run a job", "Run the job NAME.", runner("job run"), lambda p: p.add_argument("name", metavar="NAME"))
    t.add("job list", "list jobs", "The jobs.", runner("job list"),
          lambda p: p.add_argument("--all", action="store_true", help="every job"))
    return t, ran


def read(raw, what, tail):
    return read_value(raw, what, {"v": 7}, (lambda s: eval(s, {"v": 7})) if tail.python else None)


def test_route_one_and_two_word_commands_and_group_defaults():
    t, _ = make_table()
    cmd, a = t.route('put "a b" {"x": [1, 2]}  # note', None, read)
    assert cmd.name == "put" and a.name == "a b" and a.value == {"x": [1, 2]}
    cmd, a = t.route("job run nightly", None, read)
    assert cmd.name == "job run" and a.name == "nightly"
    assert t.route("job", None, read)[0].name == "job list"
    assert t.route("job list --all", None, read)[1].all is True
    cmd, a = t.route("send t", None, read)
    assert a.data is None
    assert t.route("send t v * 6", None, read)[1].data == 42


def test_a_json_value_is_never_taken_for_a_name():
    t, _ = make_table()
    with pytest.raises(MagicUsageError) as exc:
        t.route('put {"x": 1}', None, read)
    assert str(exc.value) == "%demo put: the following arguments are required: NAME\n  usage: %demo put NAME VALUE"


def test_the_cell_body_holds_the_tail():
    t, _ = make_table()
    assert t.route("put k", '{"from": "cell"}\n', read)[1].value == {"from": "cell"}
    with pytest.raises(MagicUsageError, match="either on the line or in the cell body, not both"):
        t.route("put k 1", "2", read)
    with pytest.raises(MagicUsageError, match="%%demo job run takes no cell body"):
        t.route("job run x", "body", read)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "%demo needs a subcommand: put, send, job run, job list (see %demo help)"),
        ("putt x 1", "%demo: unknown subcommand 'putt'. Did you mean 'put'?"),
        ("job rn x", "%demo: unknown subcommand 'job rn'. Did you mean 'job run'? Subcommands: job run, job list"),
        ("job run", "%demo job run: the following arguments are required: NAME\n  usage: %demo job run NAME"),
        ("job run a b", "unrecognized arguments: b"),
        ("put 'k 1", "%demo put: unclosed ' quote in: 'k 1"),
        ("put k", "%demo put k: the VALUE is missing"),
        # the help option read as the name of a VALUE command (which takes no options)
        ("put --help", "%demo put --help: the VALUE is missing\n  hint: for help on this command write %demo help put"),
        ("put -h", "%demo put -h: the VALUE is missing\n  hint: for help on this command write %demo help put"),
        ("put k {bad", "%demo put k: the VALUE is not valid JSON"),
        ("send t {bad", "%demo send t: the DATA: cannot read '{bad' as JSON or as a Python expression"),
    ],
)
def test_errors_are_one_usage_error_naming_the_command(line, message):
    t, _ = make_table()
    with pytest.raises(MagicUsageError) as exc:
        t.route(line, None, read)
    assert message in str(exc.value)
    assert exc.value._render_traceback_() == [f"\x1b[0;31mMagicUsageError\x1b[0m: {exc.value}"]


def test_help_lists_every_command_with_usage_and_summary():
    t, _ = make_table()
    overview = t.overview()
    assert overview.startswith("A demo magic.\n\nusage:\n")
    for name, usage, summary in [
        ("put", "%demo put NAME VALUE", "store a value"),
        ("send", "%demo send TOPIC [DATA]", "send data"),
        ("job run", "%demo job run NAME", "run a job"),
        ("job list", "%demo job list [--all]", "list jobs"),
    ]:
        line = next(ln for ln in overview.splitlines() if ln.strip().startswith(usage + " "))
        assert line.rstrip().endswith(summary)
        assert t.help(name.split()).startswith(f"usage: {usage}\n")
    assert "Some notes." in overview and overview.endswith("Some notes.\nMore:     %demo help SUBCOMMAND")
    assert "or the cell body of %%demo put" in t.help(["put"])
    assert "or a Python expression" in t.help(["send"])
    assert "examples:\n  %demo put x 1" in t.help(["put"])
    assert t.help(["job"]).count("usage: %demo job") == 2
    with pytest.raises(MagicUsageError, match="%demo help: unknown subcommand 'nope'"):
        t.help(["nope"])


def test_load_json_reads_back_what_json_dumps_writes():
    # every JSON document json.dumps writes (finite numbers) reads back the same
    doc = {"s": "é \"q\" #", "n": [1, -2.5e10, 0], "t": True, "z": None, "nested": {"a": []}}
    assert load_json(json.dumps(doc)) == doc


def test_a_comment_may_end_any_line_of_a_json_value():
    # README: "a # comment may end any line" -- cell bodies too (JSON has no '#' outside
    # strings, so dropping comments never changes a valid document)
    body = '# the order\n{"color": "#fff",   # a hex colour\n "tag": "a # b"}  # done\n'
    assert load_json(body) == {"color": "#fff", "tag": "a # b"}
    assert load_json('["\\"#", 1] # c') == ['"#', 1]
    with pytest.raises(JSONInputError, match="is empty"):
        load_json("# nothing but a comment\n")
    # an error still points at the right line and column of the text as typed
    with pytest.raises(JSONInputError, match=r"line 2, column 7\)\n    \{\"a\": \}  # c\n          \^"):
        load_json('# c\n{"a": }  # c')
    assert read_value(":x  # the variable", "VALUE", {"x": 5}) == 5
