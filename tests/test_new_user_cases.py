"""What a new user types first, checked as they would meet it (found by trying it).

Each test pins a case that once went wrong: the completer inserting a second pair
of quotes after a closed quoted name, and ``%config MotiaNB.history_keep = 10000``
(an int, as the setting's help invites) being refused as "not a unicode string".
"""

from __future__ import annotations

import logging

import pytest
from IPython.core.completer import provisionalcompleter

from motia_nb import state_manager


def completions(ip, code: str) -> list[str]:
    """The completed cell texts offered at the end of ``code`` (what a kernel answers)."""
    with provisionalcompleter():
        found = list(ip.Completer.completions(code, len(code)))
    return sorted({code[: c.start] + c.text for c in found})


@pytest.fixture
def names(ip, fresh_db):
    state_manager.sync.set("my group", "key one", 1)
    state_manager.sync.set("orders", "o1", 2)


@pytest.mark.parametrize(
    "line",
    ['%state get "my group"', "%state get 'my group'", '%state get "my group" "key one"',
     '%state get orders "o1"', '%state get ""', '%motia remove "x"'],
)
def test_tab_right_after_a_closing_quote_leaves_the_line_as_it_is(ip, names, line):
    # the name is complete; offering `""` (or a file name) would corrupt the line
    assert completions(ip, line) == [line]


def test_tab_after_the_closed_name_and_a_space_still_offers_the_next_name(ip, names):
    assert completions(ip, '%state get "my group" ') == ['%state get "my group" "key one"']
    assert completions(ip, '%state get "my group" "k') == ['%state get "my group" "key one"']


@pytest.fixture
def config_errors(ip, caplog):
    """IPython's %config logs a refused value (logging.error) instead of raising."""
    caplog.set_level(logging.ERROR)
    yield caplog
    ip.run_line_magic("config", "MotiaNB.history_keep = '100000'")


def test_history_keep_takes_an_int_count_from_config(ip, fresh_db, config_errors):
    ip.run_line_magic("config", "MotiaNB.history_keep = 500")
    assert not config_errors.records
    assert state_manager.history_keep == "500"
    ip.run_line_magic("config", "MotiaNB.history_keep = 0")  # a count of 0 is refused, in one line
    assert [r.getMessage() for r in config_errors.records] == [
        "MotiaNB.history_keep: a count must be at least 1 (use 'off' for no history); got '0'"
    ]
    assert state_manager.history_keep == "500"


def test_history_keep_refuses_a_bool_or_a_float_naming_what_it_takes(ip, fresh_db, config_errors):
    for bad in ("True", "1.5"):
        ip.run_line_magic("config", f"MotiaNB.history_keep = {bad}")
    messages = [r.getMessage() for r in config_errors.records]
    assert len(messages) == 2 and all("a count (int) or a str such as" in m for m in messages), messages
    assert state_manager.history_keep == "100000"


def test_a_name_starting_with_a_dash_is_a_name_where_a_value_follows(ip, fresh_db):
    # %state set/update take no options: "-k" and "-1" are a key and a group, not options
    state = lambda line: ip.run_line_magic("state", line)  # noqa: E731
    assert state("set g -k 1") == {"new_value": 1, "old_value": None}
    assert state("set -- g -k 2") == {"new_value": 2, "old_value": 1}  # the usual `--` is accepted
    assert state('set -1 "-2" 3') == {"new_value": 3, "old_value": None}
    assert state('update g -k [{"type": "increment", "path": "", "by": 1}]')["new_value"] == 3
    assert state_manager.sync.items("g") == [("-k", 3)] and state_manager.sync.get("-1", "-2") == 3
    assert state("get g -- -k") == 3  # argparse's own `--` where options exist


def test_a_dash_name_read_as_an_option_says_how_to_write_it(ip, fresh_db):
    from motia_nb.notebook.parsing import MagicUsageError

    with pytest.raises(MagicUsageError) as info:
        ip.run_line_magic("state", "get g -k")
    assert str(info.value).splitlines()[-1] == "  hint: a name starting with '-' goes after --: %state get g -- -k"
    with pytest.raises(MagicUsageError) as info:  # a real option's typo gets no such hint
        ip.run_line_magic("state", "list --valeus g")
    assert "hint" not in str(info.value)


def test_frame_never_loses_a_literal_dotted_field_to_a_nested_one():
    # the engine's paths are literal: "x.y" is one field, x -> y another; flattened, both
    # would be column "x.y" and pandas would keep one of them
    from motia_nb.state.sync import to_frame

    rows = [("a", '{"x.y": 1, "x": {"y": 2}}'), ("b", '{"x": {"y": 3}, "z": 4}')]
    with pytest.warns(UserWarning, match="a field name with a dot equals a nested field"):
        df = to_frame(rows, flatten=True)
    assert sorted(df.columns) == ["key", "x", "x.y", "z"]
    assert (df.loc[0, "x.y"], df.loc[0, "x"], df.loc[1, "x"], df.loc[1, "z"]) == (1, {"y": 2}, {"y": 3}, 4)
    # without such a clash, nested objects still flatten (and a dotted name alone is fine)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = to_frame([("a", '{"x.w": 1, "x": {"y": 2}}')], flatten=True)
    assert list(flat.columns) == ["key", "x.w", "x.y"] and flat.loc[0, "x.w"] == 1 and flat.loc[0, "x.y"] == 2


def test_engine_state_set_without_a_value_is_refused_as_the_engine_does(tmp_path):
    # state::set's input is {scope, key, value: Value (alias data)}: a worker that forgets the
    # value gets the engine's deserialization_error, not a silently stored null
    import asyncio

    from motia_nb.engine import EngineFunctionError, EngineFunctions
    from motia_nb.state import StateManager

    m = StateManager(str(tmp_path / "s.db"))
    try:
        fns = EngineFunctions(m)
        with pytest.raises(EngineFunctionError) as info:
            asyncio.run(fns.call("state::set", {"scope": "a", "key": "k"}))
        assert (info.value.code, str(info.value.to_body()["message"])) == (
            "deserialization_error", "Failed to deserialize input for state::set: missing field `value`")  # the engine's words
        assert asyncio.run(m.list_groups()) == []
        assert asyncio.run(fns.call("state::set", {"scope": "a", "key": "k", "value": None})) == {
            "old_value": None, "new_value": None}  # an explicit null is a value
    finally:
        m.close()


def test_a_name_cut_off_by_a_comment_says_to_quote_it(ip, fresh_db):
    from motia_nb.notebook.parsing import MagicUsageError

    with pytest.raises(MagicUsageError) as info:
        ip.run_line_magic("state", "set g #12 1")
    assert str(info.value).splitlines()[-1] == "  hint: '#' starts a comment; quote a name that starts with it: \"#12\""
    with pytest.raises(MagicUsageError) as info:
        ip.run_line_magic("state", "get g #12")
    assert "quote a name" in str(info.value)
    assert ip.run_line_magic("state", 'set g "#12" 1')["new_value"] == 1
    assert ip.run_line_magic("state", 'get g "#12"  # a real comment') == 1
