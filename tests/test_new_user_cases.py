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
