"""Mistakes a new user makes on a first afternoon with motia_nb (found by trying them in a
real kernel, see each test): each gets a one-line error saying what was wrong and how to
write it, and nothing half-happens.
"""

from __future__ import annotations

import pytest

from motia_nb.session import all_steps
from motia_nb.steps.config import parse_config
from motia_nb.steps.errors import StepConfigError
from motia_nb.testing import assert_cell_line_and_one_line, error_lines, run_cell


def failed(ip, source: str) -> BaseException:
    res = run_cell(ip, source)
    assert res.error_in_exec is not None, source
    return res.error_in_exec


# A step file of Motia 0.x, as most tutorials on the web still show it: `type` / `path` /
# `method` / `subscribes` / `cron` at the top of the config, no `triggers`. Motia 1.0 refuses it
# (its StepConfig requires `triggers`); motia_nb said "✓ step 'OldApi' registered (no
# triggers)" and the step never ran (`request` answered 404), nor would `motia run` take the
# file `%motia export` then wrote.
OLD_API = '''%%step
config = {"type": "api", "name": "OldApi", "path": "/old", "method": "GET", "emits": ["old.seen"]}
async def handler(req, ctx):
    return {"status": 200, "body": {"ok": True}}
'''


@pytest.mark.parametrize("config, written", [
    ({"type": "api", "name": "S", "path": "/orders/:id", "method": "POST"}, '"triggers": [http("POST", "/orders/:id")]'),
    ({"type": "api", "name": "S", "path": "/orders"}, '"triggers": [http("GET", "/orders")]'),
    ({"type": "event", "name": "S", "subscribes": ["a", "b"]}, '"triggers": [queue("a"), queue("b")]'),
    ({"name": "S", "subscribes": ["a"]}, '"triggers": [queue("a")]'),
    ({"type": "cron", "name": "S", "cron": "0 9 * * *"}, '"triggers": [cron("0 9 * * *")]'),
    ({"type": "noop", "name": "S"}, '"triggers": []'),
])
def test_a_motia_0x_config_says_how_motia_1_writes_its_triggers(config, written):
    with pytest.raises(StepConfigError) as err:
        parse_config(config)
    message = str(err.value)
    assert message.startswith("step 'S': a Motia 0.x config ("), message
    assert ("'type': " in message) == ("type" in config), message  # it names what it saw
    assert written in message and "\n" not in message, message


def test_a_1x_config_with_triggers_is_still_taken():
    assert parse_config({"name": "S", "type": "api", "triggers": []}).triggers == []  # 1.0 keeps unknown keys
    # (a config with no 'triggers' at all is refused, as Motia 1.0's StepConfig requires it:
    # test_new_user_steps_afternoon.py)


def test_a_pasted_0x_step_file_is_refused_in_its_cell_not_registered_silently(steps_ip):
    err = failed(steps_ip, OLD_API)
    assert type(err).__name__ == "StepConfigError"
    assert str(err) == (
        "step 'OldApi': a Motia 0.x config ('type': 'api'); Motia 1.0 says when a step runs in its "
        "'triggers': write \"triggers\": [http(\"GET\", \"/old\")] (from motia import http), "
        "and 'enqueues' for 'emits'"
    )
    assert all_steps() == []


# `%state use redis://localhost:6379/O` (a letter O) or `/orders` (a path, not a database
# number): redis-py's URL reader drops a path it cannot read as a number, so motia_nb said
# "motia_nb state database: redis://127.0.0.1:6391/abc" and wrote to database 0; `/1/2` went to
# database 12. The URL is refused before anything connects, and the store in use stays.
@pytest.mark.parametrize("tail", ["/abc", "/O", "/1/2", "/-1", "/orders"])
def test_a_redis_url_whose_database_is_not_a_number_is_refused(ip, fresh_db, tail):
    from motia_nb.state import state_manager

    url = f"redis://127.0.0.1:1{tail}"  # nothing listens on port 1: refused before connecting
    err = failed(ip, f"%state use {url}")
    assert type(err).__name__ == "RedisBackendError"
    assert str(err) == (
        f"bad Redis URL {url!r}: the database after the port must be a number (redis://host:6379/0), "
        f"got {tail[1:]!r}"
    ), str(err)
    assert state_manager.url == fresh_db


@pytest.mark.parametrize("url, db", [
    ("redis://127.0.0.1:1", 0), ("redis://127.0.0.1:1/", 0), ("redis://127.0.0.1:1/3", 3),
    ("redis://127.0.0.1:1/3?db=4", 4), ("unix:///tmp/r.sock?db=2", 2), ("rediss://u:p@h:1/15", 15),
])
def test_a_redis_url_with_a_database_number_or_none_is_read_as_before(url, db):
    from motia_nb.state.backends.redis.layout import parse_db

    assert parse_db(url) == db


# `await request("GET", "orders/1")` (no leading slash), `start_scheduler(0)` or
# `engine.serve(port=99999)` in a plain cell showed a full traceback through session.py,
# runtime.py or endpoint.py; the other calls' bad input (`enqueue({"data": 1})`, a bad
# `@step` config) shows the cell's line and one line.
@pytest.mark.parametrize("source, message", [
    ('await request("GET", "orders/1")', "StepCallError\x1b[0m: request: path 'orders/1' must start with '/', as every HTTP request's path does: try '/orders/1'"),
    ('await request("FETCH", "/orders/1")', "StepCallError\x1b[0m: request: method must be one of GET, POST"),
    ("start_scheduler(0)", "StepCallError\x1b[0m: scheduler interval must be a number of seconds in (0, 3600], got 0"),
    ("engine.serve(port=99999)", "ServeError\x1b[0m: serve: port must be an int from 0 to 65535, got 99999"),
    ('engine.serve(host="")', "ServeError\x1b[0m: serve: host must be a non-empty str, got ''"),
])
def test_a_bad_argument_to_request_scheduler_or_serve_shows_the_cell_line_and_one_line(steps_ip, source, message):
    steps_ip.run_cell("from motia_nb import request, start_scheduler, engine")
    assert_cell_line_and_one_line(error_lines(steps_ip, source), message)
    assert isinstance(failed(steps_ip, source), ValueError)  # `except ValueError` still catches it


# `state_manager.subscribe(on_change())` (the function called, not passed: None), a name in
# quotes, a function of two arguments or an `async def` were all accepted; then every write of
# the session logged "state subscriber None failed" with a traceback into motia_nb's remote.py
# (the unsubscribe function was never kept), and an `async def` subscriber silently never ran
# ("coroutine was never awaited"). They are refused at the subscribe call, subscribing nothing.
async def _async_sub(event):
    pass


@pytest.mark.parametrize("fn, says", [
    (None, "subscribe: fn must be a function taking the event, got None"),
    ("on_change", "subscribe: fn must be a function taking the event, got str 'on_change'"),
    (lambda event, old: None, "subscribe: fn must take one argument (the event): "),
    (_async_sub, "subscribe: fn is an async def: subscribers run on a backend thread and cannot be awaited; "
                 "use a plain def, or a state step (@step with a state trigger) for async work"),
])
@pytest.mark.parametrize("remote", [False, True])
def test_subscribe_refuses_what_it_could_never_call(sqlite_manager, caplog, fn, says, remote):
    from motia_nb.state.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as err:
        sqlite_manager.subscribe(fn, remote=remote)
    assert str(err.value).startswith(says) and "\n" not in str(err.value), str(err.value)
    sqlite_manager.sync.set("g", "k", 1)
    assert "state subscriber" not in caplog.text


def test_subscribe_takes_any_callable_of_one_argument(sqlite_manager):
    seen: list = []

    class Collector:
        def __call__(self, event, extra=None):
            seen.append(("obj", event.item_id))

    unsubs = [sqlite_manager.subscribe(f) for f in (seen.append, Collector(), lambda *events: seen.append("var"))]
    sqlite_manager.sync.set("g", "k", 1)
    assert len(seen) == 3 and ("obj", "k") in seen and "var" in seen
    for u in unsubs:
        u()


# README: with history off, SQLite "run_remote_triggers(True) refuses with NotImplementedError".
# It did, with a traceback into manager.py; it shows the cell's line and one line now, and is
# still a NotImplementedError.
def test_remote_triggers_refused_on_sqlite_without_history_show_one_line(steps_ip, tmp_path):
    steps_ip.run_cell(f"from motia_nb.state import StateManager\nsm = StateManager({str(tmp_path / 'off.db')!r}, history_keep='off')")
    try:
        lines = error_lines(steps_ip, "sm.run_remote_triggers(True)")
        assert_cell_line_and_one_line(lines, "off.db: this backend does not publish changes between processes")
        assert lines[-1].endswith("(use Redis, or SQLite with history on)"), lines
        assert isinstance(failed(steps_ip, "sm.run_remote_triggers(True)"), NotImplementedError)
    finally:
        steps_ip.run_cell("sm.close()")


# `viewer(page_size=0)`, `viewer(group="")`, `viewer(poll_interval=0)`: the check's docstring
# promised "a one-line ValueError", the cell showed a traceback through panel.py and model.py.
@pytest.mark.parametrize("source, message", [
    ("viewer(page_size=0)", "viewer: page_size must be a positive int, got 0"),
    ('viewer(group="")', "viewer: group must be a non-empty str or None, got ''"),
    ("viewer(poll_interval=0)", "viewer: poll_interval must be > 0 seconds, got 0"),
    ('viewer(debounce="1s")', "viewer: debounce must be a non-negative number of seconds, got '1s'"),
])
def test_a_bad_viewer_option_shows_the_cell_line_and_one_line(steps_ip, source, message):
    steps_ip.run_cell("from motia_nb import viewer")
    lines = error_lines(steps_ip, source)
    assert_cell_line_and_one_line(lines, f"ViewerOptionError\x1b[0m: {message}")
    assert lines[-1].endswith(message), lines
    assert isinstance(failed(steps_ip, source), ValueError)


# Two kernels on one file, history off in this one only (retention belongs to each process): a
# change the other kernel made after it was turned off is in `%state history`, and the note
# under it said "these changes were recorded before, none since".
def test_history_off_here_does_not_claim_nothing_was_recorded_since(ip, fresh_db, capsys):
    from motia_nb.state import StateManager, state_manager

    ip.run_line_magic("state", "set orders o1 1")
    state_manager.history_keep = "off"
    other = StateManager(fresh_db)  # another process's kernel, history on
    try:
        other.sync.set("orders", "o2", 2)
        capsys.readouterr()
        df = ip.run_line_magic("state", "history orders")
        assert list(df.key) == ["o1", "o2"]
        err = capsys.readouterr().err
        assert "none since" not in err, err
        assert err == (
            "%state history: the state history is off in this kernel (MotiaNB.history_keep = 'off'): "
            "its changes since are not recorded; these were recorded before, or by another process\n"
        )
    finally:
        other.close()
        state_manager.history_keep = "100000"


# A sync handler (or a thread) calling `state_manager.set(...)` without `await`: in a cell the
# write happens (the call starts it, as a JavaScript promise), but where no loop runs it
# returned a coroutine that nothing awaited: the write was lost, silently but for a
# "RuntimeWarning: coroutine 'Writing._write_later' was never awaited" pointing into motia_nb.
def test_an_unawaited_write_where_no_loop_runs_is_made_not_lost(steps_ip, recwarn):
    from motia_nb.state import state_manager

    steps_ip.run_cell('''
from motia_nb import step, queue, enqueue, state_manager
@step({"name": "SyncWriter", "triggers": [queue("w")]})
def sync_writer(data, ctx):
    state_manager.set("orders", data["id"], {"n": data["n"]})
    state_manager.update("orders", data["id"], [{"type": "increment", "path": "n", "by": 1}])
''').raise_error()
    steps_ip.run_cell('await enqueue({"topic": "w", "data": {"id": "o1", "n": 1}})').raise_error()
    assert state_manager.sync.get("orders", "o1") == {"n": 2}
    import threading
    t = threading.Thread(target=lambda: state_manager.delete("orders", "o1"))
    t.start()
    t.join()
    assert state_manager.sync.get("orders", "o1") is None
    assert not [w for w in recwarn if "never awaited" in str(w.message)], [str(w.message) for w in recwarn]


def test_asyncio_run_of_a_write_still_answers_and_raises_at_the_await(sqlite_manager, capsys):
    import asyncio

    from motia_nb.state.errors import InvalidInputError

    assert asyncio.run(sqlite_manager.set("g", "k", 1)) == {"new_value": 1, "old_value": None}
    with pytest.raises(InvalidInputError, match=r"is a set; use a list"):
        asyncio.run(sqlite_manager.set("g", "k", {1, 2}))
    assert sqlite_manager.sync.get("g", "k") == 1
    capsys.readouterr()
    sqlite_manager.set("g", "k", {1, 2})  # not awaited, no loop: its error is said, not lost
    assert capsys.readouterr().err == (
        "✖ state_manager.set(...) was not awaited and failed: value for 'g'/'k' is not JSON: $ is a set; use a list\n"
    )


# A helper defined in an earlier cell and used in a `%%step` handler: the cell runs as its own
# module (like a step file), so the name is not there, and nothing said so until the step
# fired, maybe cells later: "NameError: name 'compute_total' is not defined". The %%step cell
# says it when it runs, naming what to do; the step is still registered.
HELPER_STEP = '''%%step
from motia import queue, state
config = {"name": "UsesHelper", "triggers": [queue("h"), state(condition=lambda e: e.new_value == LIMIT)]}
def handler(d, ctx):
    ctx.logger.info("total", {"t": compute_total(d)})
    return [TAX for _ in range(1)]
'''


def test_a_step_cell_using_the_notebooks_names_says_so_when_it_runs(steps_ip, capsys):
    steps_ip.run_cell("from motia_nb import logger\nTAX = 0.2\nLIMIT = 3\ndef compute_total(x): return x * (1 + TAX)")
    capsys.readouterr()
    steps_ip.run_cell(HELPER_STEP).raise_error()
    captured = capsys.readouterr()
    assert captured.out == "✓ step 'UsesHelper' registered (queue h, state (condition))\n"
    assert captured.err == (
        "⚠ step 'UsesHelper': LIMIT, compute_total, TAX are names of the notebook, not of this cell: a %%step "
        "cell runs as its own module, like a Motia step file, so they are not defined there; define or import "
        "them in the cell\n"
    ), captured.err
    assert [s.name for s in all_steps()] == ["UsesHelper"]


def test_a_step_cell_defining_what_it_uses_says_nothing(steps_ip, capsys):
    steps_ip.run_cell("from motia_nb import logger\nTAX = 0.2\nLIMIT = 3\ndef compute_total(x): return x")
    capsys.readouterr()
    source = HELPER_STEP.replace("config =", "TAX, LIMIT = 0.1, 2\ndef compute_total(x): return x\nconfig =")
    steps_ip.run_cell(source).raise_error()
    assert capsys.readouterr().err == ""


# The VALUE written before the KEY: `%state set orders {"a": 1} o1` said "the following
# arguments are required: KEY" though a key was given. The message says where it went.
@pytest.mark.parametrize("line, hint", [
    ('set orders {"a": 1} o1',
     '  hint: the names come before the VALUE: {"a": 1} was read as the VALUE, so o1 after it was not read as a '
     'name; write: %state set orders o1 {"a": 1}'),
    ('set {"a": 1} orders o1  # the new order',
     '  hint: the names come before the VALUE: {"a": 1} was read as the VALUE, so orders o1 after it were not read '
     'as names; write: %state set orders o1 {"a": 1}'),
    ('update orders [{"type": "set", "path": "a", "value": 1}] o1',
     '  hint: the names come before the OPS: [{"type": "set", "path": "a", "value": 1}] was read as the OPS, so o1 '
     'after it was not read as a name; write: %state update orders o1 [{"type": "set", "path": "a", "value": 1}]'),
])
def test_a_value_written_before_the_key_says_the_names_come_first(ip, fresh_db, line, hint):
    from motia_nb.notebook.parsing import MagicUsageError

    with pytest.raises(MagicUsageError) as err:
        ip.run_line_magic("state", line)
    lines = str(err.value).splitlines()
    assert lines[0].endswith("the following arguments are required: KEY") or lines[0].endswith("GROUP, KEY"), lines
    assert lines[-1] == hint, lines
    assert ip.run_line_magic("state", "groups") == []  # nothing was written


def test_a_missing_key_with_nothing_after_the_value_has_no_such_hint(ip, fresh_db):
    from motia_nb.notebook.parsing import MagicUsageError

    with pytest.raises(MagicUsageError) as err:
        ip.run_line_magic("state", 'set orders {"a": 1}')
    assert "hint" not in str(err.value)


# `cron("0 9 31 4 *")` (April has no 31st) said "Bad day-of-month", as if 31 were not a day;
# the same date in 6 fields says "the expression never fires". And "Bad minute" for
# `61 * * * *` did not say what a minute may be.
@pytest.mark.parametrize("expression, says", [
    ("0 9 31 4 *", "bad cron expression '0 9 31 4 *': the expression never fires (no month it names has that day)"),
    ("0 0 30 2 *", "bad cron expression '0 0 30 2 *': the expression never fires (no month it names has that day)"),
    ("61 * * * *", "bad cron expression '61 * * * *': Bad minute (a minute is 0-59)"),
    ("0 24 * * *", "bad cron expression '0 24 * * *': Bad hour (an hour is 0-23)"),
    ("0 0 0 * *", "bad cron expression '0 0 0 * *': Bad day-of-month (a day-of-month is 1-31)"),
    ("0 0 * 13 *", "bad cron expression '0 0 * 13 *': Bad month (a month is 1-12 or JAN-DEC)"),
    ("0 0 * * 8", "bad cron expression '0 0 * * 8': Bad day-of-week (a day-of-week is 0-7 or SUN-SAT, 0 and 7 are Sunday)"),
])
def test_a_bad_five_field_cron_says_what_is_wrong(expression, says):
    from motia_nb.steps import cron

    with pytest.raises(StepConfigError) as err:
        parse_config({"name": "C", "triggers": [cron(expression)]})
    assert str(err.value) == f"cron: {says}", str(err.value)


# `engine.serve(port=N)` on a port another program (or another kernel) listens on: a traceback
# into endpoint.py around the one line that says so.
def test_serve_on_a_busy_port_shows_the_cell_line_and_one_line(steps_ip):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        steps_ip.run_cell("from motia_nb import engine")
        lines = error_lines(steps_ip, f"engine.serve(port={port})")
        assert_cell_line_and_one_line(lines, f"Error\x1b[0m: serve: cannot listen on 127.0.0.1:{port}: ")
        assert lines[-1].endswith(f"address ('127.0.0.1', {port}): address already in use"), lines
        assert isinstance(failed(steps_ip, f"engine.serve(port={port})"), OSError)


# `%state restore --to :at1 g k` (the `:name` of VALUE and OPS, tried for --to / --since) said only
# "--to takes a change's seq … got ':at1'"; {at1} and $at1 got a hint, :at1 none. Now all say it in
# one line (tests/test_magics_variable_values.py).
@pytest.mark.parametrize("line, said, takes", [("restore --to :at1 orders o1", "%state restore: --to :at1", "--to SEQ|TIME|-N"),
                                               ("history --since :seq orders", "%state history: --since :seq", "--since SEQ|TIME")])
def test_a_variable_written_as_name_for_to_or_since_gets_the_hint(ip, fresh_db, line, said, takes):
    from motia_nb.notebook.parsing import MagicUsageError

    ip.run_line_magic("state", "set orders o1 1")
    with pytest.raises(MagicUsageError) as err:
        ip.run_line_magic("state", line)
    assert str(err.value) == (
        f"{said} reads as a variable of the notebook, but %state takes {takes} as written, never from a variable "
        "({var}, $var, :name): write the value itself"
    ), str(err.value)


# `%state set reports r1 :df` or `state_manager.set("r", "k", df)`: the error quoted the
# DataFrame's repr, lines and all ("one line" became six, cut mid-table), and said only "not a
# JSON type"; a pandas.Timestamp (a datetime) did not get the datetime's `isoformat()` hint.
def _pandas_cases():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": range(100), "b": ["x"] * 100})
    return [
        (df, "$ is a pandas.DataFrame; store df.to_dict('records') (a list of rows) or df.to_dict() instead"),
        ({"rows": df}, "$.rows is a pandas.DataFrame; store df.to_dict('records') (a list of rows) or df.to_dict() instead"),
        (df.a, "$ is a pandas.Series; store s.tolist() or s.to_dict() instead"),
        (pd.Timestamp("2026-05-01T12:00"), "$ is a pandas.Timestamp; store v.isoformat() instead"),
        ([pd.NaT], "$[0] is pandas.NaT (a missing time); store None instead"),
        ({"n": pd.NA}, "$.n is pandas.NA (a missing value); store None instead"),
    ]


def test_a_pandas_value_is_refused_in_one_line_saying_what_to_store():
    from motia_nb.state.value_checks import find_json_problem

    for value, says in _pandas_cases():
        assert find_json_problem(value) == says


class Table:
    def __repr__(self):
        return "   a  b\n0  1  x\n1  2  y"


def test_an_object_whose_repr_has_lines_is_named_on_one_line(sqlite_manager):
    from motia_nb.state.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as err:
        sqlite_manager.sync.set("g", "k", {"t": Table()})
    assert "\n" not in str(err.value), str(err.value)
    assert str(err.value).endswith("$.t is a test_new_user_mistakes.Table instance (a b 0 1 x 1 2 y), not a JSON type")


# `db = "/tmp/x.db"` then `%state use {db}` (IPython's expansion, which other magics do) or
# `%state use :db` (the `:name` of VALUE): %state takes the URL as written, so it opened a NEW,
# empty database in a file literally named `{db}` (or `:db`) in the working folder, said
# "motia_nb state database: {db}", and every later write went there. `%state export orders
# {path}` wrote a file named `{path}`. They are refused, nothing created, the store in use kept.
@pytest.mark.parametrize("line, what", [
    ("use {db}", "URL"), ("use :db", "URL"), ("use $DB", "URL"), ("use data/{name}.db", "URL"),
    ("export orders {path}", "FILE"), ("export --all :path", "FILE"), ("import {path}", "FILE"),
])
def test_a_url_or_file_written_as_a_variable_is_refused_not_created(ip, fresh_db, tmp_path, monkeypatch, line, what):
    from motia_nb.notebook.parsing import MagicUsageError
    from motia_nb.state import state_manager

    monkeypatch.chdir(tmp_path)
    ip.run_line_magic("state", "set orders o1 1")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MagicUsageError) as err:
        ip.run_line_magic("state", line)
    word = line.split()[-1]
    sub = line.split()[0]
    assert str(err.value) == (
        f"%state {sub}: {word!r} reads as a variable of the notebook, but %state takes the {what} as written, "
        "never from a variable ({var}, $var, :name): write it out"
    ), str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert state_manager.url == fresh_db


def test_memory_and_plain_paths_are_still_used(ip, fresh_db, tmp_path):
    from motia_nb.state import state_manager

    ip.run_line_magic("state", f"use {tmp_path / 'plain.db'}")
    assert state_manager.url == str(tmp_path / "plain.db")
    ip.run_line_magic("state", "use :memory:")
    assert state_manager.url == ":memory:"


# The same for `%motia export {out}`: it wrote the steps into a folder named `{out}` (or `:out`).
@pytest.mark.parametrize("word", ["{out}", ":out", "$OUT/steps"])
def test_motia_export_to_a_folder_written_as_a_variable_is_refused(steps_ip, tmp_path, monkeypatch, word):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    steps_ip.run_cell('%%step\nfrom motia import queue\nconfig = {"name": "Q", "triggers": [queue("q")]}\n'
                      "def handler(d, ctx): pass").raise_error()
    err = failed(steps_ip, f"%motia export {word}")
    assert str(err) == (
        f"%motia export: {word!r} reads as a variable of the notebook, but %motia takes the DIR as written, "
        "never from a variable ({var}, $var, :name): write it out"
    )
    assert list(work.iterdir()) == []


# `%state clear {grp}` / `%state delete orders {key}` (IPython's expansion, which %state never
# does): "cleared 0" / null, the user's group untouched while they believed it gone. Unquoted,
# a whole name written as {var} is refused as `%state set {grp} k 1` already is; quoted, it is
# the name as written.
@pytest.mark.parametrize("line", ["clear {grp}", "delete orders {key}", "get orders {key}", "list {grp}",
                                  "history {grp}", "restore --to -1 orders {key}"])
def test_a_name_written_as_a_variable_is_refused_by_every_subcommand(ip, fresh_db, line):
    from motia_nb.notebook.parsing import MagicUsageError
    from motia_nb.state import state_manager

    ip.run_line_magic("state", "set orders o1 1")
    with pytest.raises(MagicUsageError) as err:
        ip.run_line_magic("state", line)
    word = line.split()[-1]
    sub = line.split()[0]
    assert str(err.value) == (
        f"%state {sub}: {word} reads as a variable of the notebook, but %state takes names as written, never from "
        f'a variable ({{var}}, $var): write the name itself (quoted, "{word}", to mean it literally)'
    ), str(err.value)
    assert state_manager.sync.get("orders", "o1") == 1


def test_a_quoted_brace_name_is_the_name_as_written(ip, fresh_db):
    from motia_nb.state import state_manager

    state_manager.sync.set("{grp}", "k", 1)
    assert ip.run_line_magic("state", 'clear "{grp}"') == 1


# `%motia serve` starts the cron scheduler (the engine runs cron triggers), so a notebook's own
# cron step, defined to be run by hand (`%motia cron run`), began firing on its schedule, into
# the serving cell, and nothing had said so. The serve output names them.
def test_serving_says_which_cron_steps_now_run_on_their_schedule(steps_ip):
    from motia_nb import engine
    from motia_nb.notebook.engine_magics import serve_cmd

    try:
        assert "cron" not in repr(serve_cmd([]))  # no cron step: nothing to say
        engine.stop_all()
        steps_ip.run_cell('from motia_nb import cron, step\n@step({"name": "Nightly", "triggers": [cron("0 3 * * *")]})\n'
                          "def nightly(d, ctx): pass").raise_error()
        shown = serve_cmd([])
        assert shown.server.owns_scheduler
        assert repr(shown).splitlines()[-1] == (
            "serving starts the cron scheduler (the engine runs cron triggers): Nightly now runs on its schedule; "
            "%motia cron stop stops it"
        ), repr(shown)
    finally:
        engine.stop_all()


# `ctx.enqueue(...)` / `enqueue(...)` without `await` (Motia 1.0.4's SDK `enqueue` is a plain
# call): it returned a coroutine nothing awaited, so the message went nowhere, nothing ran,
# and all that showed (once per place, then never again) was "RuntimeWarning: coroutine
# 'Runtime.enqueue' was never awaited" pointing into motia_nb. Where no loop runs (a sync
# handler, a thread) the call is made at once, as `.sync(...)` would; where one runs (a cell,
# an async handler) it says in one line that nothing ran and how to write it.
SYNC_ENQUEUER = '''
from motia_nb import step, queue, enqueue
seen = []
@step({"name": "Next", "triggers": [queue("next")]})
def nxt(d, ctx):
    seen.append(d)
@step({"name": "SyncEnqueuer", "triggers": [queue("start")]})
def sync_enqueuer(d, ctx):
    ctx.enqueue({"topic": "next", "data": d})
    ctx.emit({"topic": "next", "data": d + 1})
    enqueue({"topic": "next", "data": d + 2})
'''


def test_enqueue_without_await_in_a_sync_handler_or_a_thread_is_made(steps_ip, recwarn):
    import threading

    steps_ip.run_cell(SYNC_ENQUEUER).raise_error()
    steps_ip.run_cell('await enqueue({"topic": "start", "data": 1})').raise_error()
    assert steps_ip.user_ns["seen"] == [1, 2, 3]
    t = threading.Thread(target=lambda: steps_ip.user_ns["enqueue"]({"topic": "next", "data": "thread"}))
    t.start()
    t.join()
    assert steps_ip.user_ns["seen"][-1] == "thread"
    assert not [w for w in recwarn if "never awaited" in str(w.message)], [str(w.message) for w in recwarn]


def test_enqueue_or_request_without_await_where_a_loop_runs_says_nothing_ran(steps_ip, capsys, recwarn):
    import asyncio

    steps_ip.run_cell(SYNC_ENQUEUER).raise_error()
    from motia_nb import enqueue, request

    async def cell() -> None:  # a kernel cell: a loop runs
        enqueue({"topic": "next", "data": "dropped"})
        request("GET", "/nothing")
        await asyncio.sleep(0)

    capsys.readouterr()
    asyncio.run(cell())
    assert steps_ip.user_ns["seen"] == []
    assert capsys.readouterr().err == (
        "✖ enqueue(...) was not awaited, so nothing ran: write await enqueue(...) (or enqueue.sync(...))\n"
        "✖ request(...) was not awaited, so nothing ran: write await request(...) (or request.sync(...))\n"
    )
    assert not [w for w in recwarn if "never awaited" in str(w.message)], [str(w.message) for w in recwarn]

    async def awaited() -> None:  # awaited, gathered or scheduled: as before, silently
        await enqueue({"topic": "next", "data": "a"})
        await asyncio.gather(enqueue({"topic": "next", "data": "b"}))
        await asyncio.ensure_future(enqueue({"topic": "next", "data": "c"}))

    asyncio.run(awaited())
    assert steps_ip.user_ns["seen"] == ["a", "b", "c"] and capsys.readouterr().err == ""
