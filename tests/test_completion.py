"""Tab completion of ``%state`` through IPython's completer (the path a kernel uses)."""

from __future__ import annotations

import warnings

import pytest
from IPython.core.completer import provisionalcompleter

from motia_nb import state_manager
from motia_nb.notebook.completion import MATCHER_ID, MORE_KEYS, motia_completions, state_completions
from motia_nb.notebook.magics import SUBCOMMANDS
from motia_nb.notebook.step_magics import MOTIA_COMMANDS


@pytest.fixture
def data(ip, fresh_db):
    state_manager.sync.set("orders", "order-1", {"a": 1})
    state_manager.sync.set("orders", "order-2", {"a": 2})
    state_manager.sync.set("orders", "other", {"a": 3})
    state_manager.sync.set("order archive", "x", 1)
    state_manager.sync.set("users", "u1", {"n": "Ann"})


def complete(ip, line: str) -> list[str]:
    """Old-style API (``ip.complete``): the texts offered at the end of ``line``."""
    with warnings.catch_warnings():  # IPython marks this API "pending deprecation"
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        _, matches = ip.complete("", line, len(line))
    return matches


def completions(ip, code: str) -> list[str]:
    """New API (what ipykernel's do_complete uses): the completed cell texts."""
    with provisionalcompleter():
        found = list(ip.Completer.completions(code, len(code)))
    return sorted({code[: c.start] + c.text for c in found})


def test_subcommands_after_state(ip):
    assert complete(ip, "%state ") == sorted(SUBCOMMANDS)
    assert complete(ip, "%state u") == ["update", "use"]
    assert completions(ip, "%state gr") == ["%state groups"]


def test_group_names_after_a_subcommand(ip, data):
    assert complete(ip, "%state get ") == ['"order archive"', "orders", "users"]  # quoted: it has a space
    assert complete(ip, "%state list us") == ["users"]
    assert completions(ip, "%state clear ord") == ['%state clear "order archive"', "%state clear orders"]


def test_keys_after_a_group(ip, data):
    assert complete(ip, "%state get orders ") == ["order-1", "order-2", "other"]
    assert complete(ip, "%state delete orders order") == ["order-1", "order-2"]
    # a word containing '-': the whole word is replaced correctly
    assert completions(ip, "%state get orders order-") == ["%state get orders order-1", "%state get orders order-2"]
    assert not {"order-1", "order-2", "other"} & set(complete(ip, "%state list orders "))  # list takes no key


def test_assignment_form_and_cell_magic(ip, data):
    assert completions(ip, "df = %state list o") == ['df = %state list "order archive"', "df = %state list orders"]
    assert completions(ip, "%%state set users u") == ["%%state set users u1"]
    # %%state only on the first line of a cell
    assert not [c for c in completions(ip, 'x = 1\n%%state set users u') if "u1" in c]


def test_cell_magic_offers_only_subcommands_that_take_a_body(ip):
    """``%%state`` is for a value or ops in the body: ``set`` and ``update``, not ``list``."""
    assert completions(ip, "%%state ") == ["%%state set", "%%state update"]
    assert completions(ip, "%%state u") == ["%%state update"]
    assert "%state use" in completions(ip, "%state u")  # the line magic still offers them all


def test_options_and_help(ip):
    assert complete(ip, "%state list orders --") == ["--dict", "--no-flatten", "--values"]
    assert complete(ip, "%state help up") == ["update"]
    assert "%state use :memory:" in completions(ip, "%state use :m")


def test_no_completion_outside_state(ip, data):
    assert "orders" not in complete(ip, "print(")
    assert "order-1" not in complete(ip, "%time get orders ")


def test_keys_are_capped_by_completion_max_keys_with_a_hint_that_more_match(ip, data):
    before = ip.run_line_magic("config", "MotiaNB.completion_max_keys")
    ip.run_line_magic("config", "MotiaNB.completion_max_keys = 2")
    try:
        assert complete(ip, "%state get orders ") == ["", "order-1", "order-2"]  # "": the hint entry
        with provisionalcompleter():
            found = [(c.text, c.type) for c in ip.Completer.completions("%state get orders o", 19)]
        assert sorted(found) == [("o", MORE_KEYS), ("order-1", "key"), ("order-2", "key")]
        assert complete(ip, "%state get orders order-") == ["order-1", "order-2"]  # all of them: no hint
    finally:
        ip.run_line_magic("config", f"MotiaNB.completion_max_keys = {before}")


def test_pure_logic_only_reads_what_it_needs():
    calls: list[str] = []

    def groups():
        calls.append("groups")
        return ["a", "b"]

    def keys(group, prefix):
        calls.append(f"keys:{group}:{prefix}")
        return ["k1"]

    assert state_completions([], "g", groups, keys) == [("get", "subcommand"), ("groups", "subcommand")]
    assert calls == []
    assert state_completions(["get"], "", groups, keys) == [("a", "group"), ("b", "group")]
    assert state_completions(["get", "a"], "k", groups, keys) == [("k1", "key")]
    assert calls == ["groups", "keys:a:k"]
    assert state_completions(["groups"], "", groups, keys) == [("--counts", "option")]  # its option, no group read
    assert calls == ["groups", "keys:a:k"]


def test_matcher_is_registered_once(ip):
    ids = [getattr(m, "matcher_identifier", None) for m in ip.Completer.custom_matchers]
    assert ids.count(MATCHER_ID) == 1


@pytest.fixture
def some_steps(ip):
    from motia_nb.steps import cron, queue
    from motia_nb.session import register, reset_steps

    reset_steps()
    register({"name": "Pay", "triggers": [queue("order.created")], "flows": ["orders"]}, lambda i: None)
    register({"name": "Report", "triggers": [cron("0 0 * * *")], "flows": ["reports"]}, lambda i: None)
    yield
    reset_steps()


def test_motia_subcommands_steps_and_flows(ip, some_steps):
    assert complete(ip, "%motia ") == sorted(MOTIA_COMMANDS.first_words())
    assert complete(ip, "%motia cr") == ["cron"]
    assert complete(ip, "%motia cron ") == ["list", "run", "start", "stop"]
    assert complete(ip, "%motia cron run ") == ["Report"]  # only the cron steps: Pay has none
    assert complete(ip, "%motia remove Pay ") == ["Report"]  # a name already given is not offered again
    assert complete(ip, "%motia logs R") == ["Report"]
    assert complete(ip, "%motia flow ") == ["orders", "reports"]
    assert completions(ip, "%motia help cron s") == ["%motia help cron start", "%motia help cron stop"]
    assert "Pay" not in complete(ip, "%motia enqueue ")
    assert "Pay" not in complete(ip, "%motia logs Pay ")  # logs takes one step


def test_motia_pure_logic_only_reads_what_it_needs():
    calls: list[str] = []

    def steps():
        calls.append("steps")
        return ["A"]

    def flows():
        calls.append("flows")
        return ["f"]

    assert motia_completions([], "re", steps, flows) == [("remove", "subcommand"), ("reset", "subcommand"),
                                                           ("request", "subcommand")]
    assert calls == []
    assert motia_completions(["steps"], "", steps, flows) == [("f", "flow")]
    assert motia_completions(["cron", "run"], "", steps, flows) == [("A", "step")]
    assert calls == ["flows", "steps"]
    assert motia_completions(["cron", "run"], "", steps, flows, lambda: ["C"]) == [("C", "step")]
    assert calls == ["flows", "steps"]  # with cron_steps given, steps() is not asked


def test_no_completion_inside_a_comment(ip, data):
    assert "orders" not in complete(ip, "%state get   # a note ")


def test_options_before_the_names_do_not_shift_them(ip, data):
    # `%state history --since 1 ` / `%state restore --to -1 ` / `%state list --values `: the
    # option and its value are not the GROUP; groups and then keys complete after them
    assert complete(ip, "%state history --since 1 ") == ['"order archive"', "orders", "users"]
    assert complete(ip, "%state history --limit 5 --since 2 orders order-") == ["order-1", "order-2"]
    assert complete(ip, "%state restore --to -1 us") == ["users"]
    assert complete(ip, "%state restore --to -1 orders o") == ["order-1", "order-2", "other"]
    assert complete(ip, "%state restore --to=3 orders oth") == ["other"]
    assert complete(ip, "%state list --values u") == ["users"]
    assert not {"orders", "users"} & set(complete(ip, "%state groups --counts "))
    # the value of an option is not a group: nothing of ours is offered there
    assert not {"orders", "users"} & set(complete(ip, "%state history --since "))


def test_a_name_with_a_space_or_a_quote_is_inserted_quoted_so_the_line_runs(ip, data):
    state_manager.sync.set("orders", "order 9", 1)
    state_manager.sync.set("orders", 'say "hi"', 2)
    state_manager.sync.set("order archive", "a-b c", 3)
    # not yet quoted: the whole name is quoted (as the magic's tokenizer reads it)
    assert "%state clear \"order archive\"" in completions(ip, "%state clear order")
    assert "%state get orders \"order 9\"" in completions(ip, "%state get orders order")
    assert completions(ip, "%state get orders say") == ['%state get orders "say \\"hi\\""']
    # a word with a '-'; were it cut there, the rest would be quoted from there (a-"b c" reads a-b c)
    assert completions(ip, '%state get "order archive" a-') == ['%state get "order archive" "a-b c"']
    # a quote already open: the rest of the name, then the closing quote
    assert completions(ip, '%state get orders "order ') == ['%state get orders "order 9"']
    assert completions(ip, "%state get 'order ar") == ["%state get 'order archive'"]
    # each completed line reads back the item it names
    for line, value in [('%state get orders "order 9"', 1), ('%state get orders "say \\"hi\\""', 2),
                        ('%state get "order archive" "a-b c"', 3), ('%state get "order archive" a-"b c"', 3)]:
        assert ip.run_line_magic("state", line.removeprefix("%state ")) == value
    # names that need no quotes are inserted as they are
    assert completions(ip, "%state get orders order-") == ["%state get orders order-1", "%state get orders order-2"]


def test_value_and_ops_positions_offer_one_entry_not_python(ip, data):
    from motia_nb.notebook.completion import CURRENT_VALUE_MAX

    # VALUE of an item that exists: its value as JSON text (to edit); the line runs
    assert completions(ip, "%state set orders order-1 ") == ['%state set orders order-1 {"a": 1}']
    ip.run_line_magic("state", 'set orders order-1 {"a": 1}')
    # a new key, a VALUE being typed, OPS, the cell form's first line: the text as typed, no Python names
    for line in ["%state set orders new ", '%state set orders order-1 {"a', "%state set orders order-1 {",
                 "%state update orders order-1 ", '%state update orders order-1 [{"type": ',
                 "%%state set orders order-1 ", "%%state update orders order-1 "]:
        assert completions(ip, line) == [line], line
    # a value too long to edit on a line is not read out
    state_manager.sync.set("orders", "big", "x" * CURRENT_VALUE_MAX)
    assert completions(ip, "%state set orders big ") == ["%state set orders big "]


def test_a_name_starting_with_a_dash_is_offered_after_double_dash(ip, data):
    state_manager.sync.set("orders", "-k", 1)
    state_manager.sync.set("-g", "x", 2)
    assert completions(ip, "%state get orders -") == ["%state get orders -- -k"]
    assert "%state get orders -- -k" in completions(ip, "%state get orders ")
    assert completions(ip, "%state get orders -- -") == ["%state get orders -- -k"]
    assert completions(ip, "%state restore orders -") == ["%state restore orders -- -k", "%state restore orders --to"]
    assert completions(ip, "%state get -") == ["%state get -- -g"]
    assert ip.run_line_magic("state", "get orders -- -k") == 1
    # nothing starts with it: one entry, as typed (not every Python name)
    assert completions(ip, "%state get users -") == ["%state get users -"]


def test_a_name_with_a_line_break_is_not_inserted_raw(ip, data):
    state_manager.sync.set("orders", "or\nder", 1)
    found = completions(ip, "%state get orders or")
    assert not any("\n" in c for c in found)
    assert "%state get orders order-1" in found and "%state get orders or" in found  # the entry saying why


def test_tab_at_value_does_not_read_out_an_item_too_long_to_offer(ip, data, monkeypatch):
    """Tab at ``%state set GROUP KEY `` read the whole item and serialised it before finding it
    too long to offer (a 27 MB item: 0.9 s per Tab, for nothing); the stored text's length is
    asked first, on SQLite and Redis alike."""
    from motia_nb.notebook.completion import CURRENT_VALUE_MAX

    state_manager.sync.set("orders", "huge", ["x" * 1000] * 100)
    backend, reads = state_manager.backend, []
    real_get = backend.get
    monkeypatch.setattr(backend, "get", lambda g, k: reads.append((g, k)) or real_get(g, k))
    assert completions(ip, "%state set orders huge ") == ["%state set orders huge "]
    assert reads == []
    assert completions(ip, "%state set orders order-1 ") == ['%state set orders order-1 {"a": 1}']
    assert reads == [("orders", "order-1")]
    assert backend.value_size("orders", "nothing") is None and backend.value_size("nope", "x") is None
    assert CURRENT_VALUE_MAX < backend.value_size("orders", "huge")


def test_tab_at_value_of_an_item_that_cannot_be_read_offers_the_hint(ip, fresh_db):
    """An item whose stored text is not JSON (another tool's write): reading it for the VALUE
    entry raised, the matcher answered nothing, and IPython offered every magic, Python keyword
    and file name, at the very line that would set the item right. The hint entry is offered."""
    import sqlite3

    state_manager.sync.set("orders", "bad", 1)
    con = sqlite3.connect(state_manager.url)
    con.execute("UPDATE items SET value = '{not json' WHERE grp = 'orders' AND key = 'bad'")
    con.commit()
    con.close()
    assert completions(ip, "%state set orders bad ") == ["%state set orders bad "]


def test_tab_at_value_on_a_store_that_fails_offers_the_hint(ip, data, monkeypatch):
    """The store failing when asked the item's size (a Redis gone, a key of another type): the
    entry naming VALUE, not every Python name."""
    from motia_nb.state.errors import StateError

    def gone(group, key):
        raise StateError("the store went away")

    monkeypatch.setattr(state_manager.backend, "value_size", gone)
    assert completions(ip, "%state set orders order-1 ") == ["%state set orders order-1 "]
