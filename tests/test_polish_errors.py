"""User-facing errors found by the polish pass: each refuses or reports in one clear line,
names what it is about, and shows no password or machine path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from motia_nb import state_manager
from motia_nb.state.errors import StateError, StoredValueError
from motia_nb.testing import in_ci, run_cell

from machine_paths import machine_paths


# --------------------------------------------------------------------------- %config: passwords


@pytest.mark.redis
def test_config_never_echoes_the_databases_password(ip, fresh_db, redis_url, capsys, caplog):
    # the private server's default user takes any password: a URL with one opens
    url = redis_url.replace("redis://", "redis://default:hunter2@")
    try:
        assert run_cell(ip, f"%config MotiaNB.database = {url!r}").success
        assert state_manager.url == url  # the real URL is what is used
        assert ip.run_line_magic("config", "MotiaNB.database") == url
        shown = repr(ip.run_line_magic("config", "MotiaNB.database"))  # a cell's Out[]
        assert "hunter2" not in shown and "default:***@" in shown
        run_cell(ip, "%config MotiaNB")  # the options list: "Current: ..."
        run_cell(ip, "%config MotiaNB.database = 'redis://user:hunter2@127.0.0.1:1/0'")  # refused
        out, err = capsys.readouterr().out, caplog.text  # (IPython's %config logs its error)
        assert "Current: 'redis://default:***@" in out
        assert "cannot use 'redis://user:***@127.0.0.1:1/0'" in err
        assert "hunter2" not in out + err
    finally:
        run_cell(ip, f"%state use {fresh_db}")


@pytest.mark.parametrize("url", ["redis://u:hunter2@127.0.0.1:notaport/0", "postgres://u:hunter2@db.example/app"])
def test_a_refused_database_url_never_echoes_its_password(ip, fresh_db, url, caplog):
    from motia_nb.notebook.magics import StateMagicError
    from motia_nb.state.errors import StateError

    run_cell(ip, f"%config MotiaNB.database = {url!r}")
    assert "cannot use" in caplog.text and "u:***@" in caplog.text and "hunter2" not in caplog.text
    with pytest.raises((StateError, StateMagicError)) as info:
        ip.run_line_magic("state", f"use {url}")
    assert "u:***@" in str(info.value) and "hunter2" not in str(info.value)
    assert state_manager.url == fresh_db


# --------------------------------------------------------------------------- %reload_ext: refused settings


@pytest.fixture
def reloads(ip):
    yield ip
    ip.config.MotiaNB.pop("display_max_rows", None)
    ip.config.MotiaNB.pop("history_keep", None)
    run_cell(ip, "%reload_ext motia_nb")


def _reload(ip) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        assert run_cell(ip, "%reload_ext motia_nb").success
    return [warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in seen]


def test_a_setting_refused_by_config_is_not_warned_about_again_on_reload(reloads, caplog):
    ip = reloads
    run_cell(ip, "%config MotiaNB.display_max_rows = -3")
    assert "must be >= 0, got -3" in caplog.text  # refused, and said so (IPython logs it), once
    assert _reload(ip) == []
    assert _reload(ip) == []
    assert ip.run_line_magic("config", "MotiaNB.display_max_rows") is None


def test_a_bad_shell_config_value_is_warned_about_once_without_a_machine_path(reloads):
    ip = reloads
    ip.config.MotiaNB.history_keep = "bogus"  # as ipython_config.py would set it
    first = _reload(ip)
    assert len(first) == 1 and "MotiaNB.history_keep = 'bogus' ignored" in first[0]
    assert machine_paths(first[0]) == [], first[0]
    assert _reload(ip) == []
    # taken out, then put back: a new mistake, reported again
    del ip.config.MotiaNB["history_keep"]
    assert _reload(ip) == []
    ip.config.MotiaNB.history_keep = "bogus"
    assert len(_reload(ip)) == 1


# --------------------------------------------------------------------------- Redis: a group that is not a hash


@pytest.mark.redis
def test_reading_a_group_whose_redis_key_is_not_a_hash_names_the_group(redis_manager, redis_client):
    from motia_nb.state.backends.redis.layout import RedisBackendError

    redis_client.set("state:inbox", "written by another tool")
    sync = redis_manager.sync
    for read in (lambda: sync.get("inbox", "k"), lambda: sync.exists("inbox", "k"), lambda: sync.list("inbox"),
                 lambda: sync.count("inbox"), lambda: sync.frame("inbox")):  # fmt: skip
        with pytest.raises(StoredValueError) as info:
            read()
        err = info.value
        assert isinstance(err, RedisBackendError)  # what it always was
        assert err.group_id == "inbox" and err.key is None
        assert str(err).startswith("group 'inbox' in Redis cannot be read: state:inbox (or its order index)")
        assert "\n" not in str(err) and "script:" not in str(err)
    assert redis_client.get("state:inbox") == "written by another tool"


# --------------------------------------------------------------------------- a step's input= schema

ROOT = Path(__file__).resolve().parent.parent
MOTIA_PYTHON = ROOT / ".venv-motia" / "bin" / "python"

TYPED_STEP = """%%step
from motia import queue
config = {"name": "Typed", "triggers": [queue("typed", input={
    "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})]}
def handler(data, ctx):
    print("ran with", data)
"""


def test_data_that_fails_a_json_schema_input_is_one_line_naming_the_field(steps_ip, capsys):
    pytest.importorskip("jsonschema")
    ip = steps_ip
    assert run_cell(ip, TYPED_STEP).success
    capsys.readouterr()
    run_cell(ip, 'import motia\nmotia.enqueue({"topic": "typed", "data": {"n": "x"}})')
    run_cell(ip, 'motia.enqueue({"topic": "typed", "data": {"m": 1}})')
    out = capsys.readouterr()
    assert "ran with" not in out.out
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 4, out.err  # each: the headline, then one line
    assert lines[0].startswith("✖ step 'Typed' failed (queue typed;")
    # (was "motia_nb.steps.errors.StepInputError: …": the type is named as IPython names it)
    assert lines[1] == ("StepInputError: step 'Typed': data on queue 'typed' does not match its input schema: "
                        "input.n: 'x' is not of type 'integer'")  # fmt: skip
    assert lines[3] == "StepInputError: step 'Typed': data on queue 'typed' does not match its input schema: input: 'n' is a required property"
    assert "site-packages" not in out.err and "Traceback" not in out.err


@pytest.mark.parametrize("world", ["standin", "real"])
def test_data_that_fails_a_pydantic_input_model_is_one_line_naming_the_field(world: str):
    # a Motia step file's pydantic input model, in both worlds: the stand-in (motia_nb's .venv,
    # where `make lab` and `make test` install pydantic) and the real SDK (.venv-motia)
    python = sys.executable if world == "standin" else str(MOTIA_PYTHON)
    if world == "real" and not MOTIA_PYTHON.exists():
        if in_ci():
            pytest.fail(f"CI=true but {MOTIA_PYTHON} is missing", pytrace=False)
        pytest.skip("needs .venv-motia (real motia)")
    code = textwrap.dedent(
        """
        from pydantic import BaseModel
        from motia_nb.motia import _world
        from motia_nb.session import enqueue
        motia = _world.ensure_motia()

        class Order(BaseModel):
            id: str
            qty: int

        got = []
        _world.register_motia_step({"name": "Typed", "triggers": [motia.queue("typed", input=Order)]},
                                   lambda data, ctx: got.append(data))
        enqueue.sync({"topic": "typed", "data": {"id": "a", "qty": "many"}})
        enqueue.sync({"topic": "typed", "data": {"qty": "many"}})
        enqueue.sync({"topic": "typed", "data": {"id": "a", "qty": 2}})
        print(got)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MOTIA_NB_DB": ":memory:"}
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[Order(id='a', qty=2)]"
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 4, out.stderr
    assert lines[1].endswith("data on queue 'typed' does not match its input schema: "
                             "input.qty: Input should be a valid integer, unable to parse string as an integer")  # fmt: skip
    assert lines[3].endswith("input.id: Field required (and 1 more)")
    assert "site-packages" not in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- %state restore: a value that is not JSON


@pytest.mark.redis
def test_restoring_a_value_another_tool_wrote_as_plain_text_is_refused_naming_the_change(ip, fresh_db, redis_url,
                                                                                           redis_client):  # fmt: skip
    from motia_nb.notebook.magics import StateMagicError

    run_cell(ip, f"%state use {redis_url}")
    redis_client.hset("state:g", "k", "hello there")  # another tool: plain text, not JSON
    state_manager.sync.set("g", "k", {"a": 1})  # recorded: old value the text, new value {"a": 1}
    first = int(ip.run_line_magic("state", "history g k").seq.iloc[0])
    for to in ("-1", str(first - 1)):
        with pytest.raises(StateMagicError) as info:
            ip.run_line_magic("state", f"restore g k --to {to}")
        message = str(info.value)
        assert message.startswith(f"%state restore: the value of 'g'/'k' before change {first} cannot be read: ")
        assert "it starts 'hello there'" in message and message.endswith("nothing was written")
        assert "\n" not in message and "Overwrite it" not in message  # the item as it is now is fine
    assert redis_client.hget("state:g", "k") == '{"a":1}'
    assert len(ip.run_line_magic("state", "history g k")) == 1
    # get(at=...) reads the same past value: the same error, naming the change
    with pytest.raises(StoredValueError, match=rf"'g'/'k' before change {first} cannot be read"):
        state_manager.sync.get("g", "k", at=first - 1)


# --------------------------------------------------------------------------- Redis: a write that was never sent


@pytest.mark.redis
@pytest.mark.parametrize("how", ["sync", "awaited", "gathered"])
def test_the_first_write_after_the_server_stopped_says_it_was_not_applied(how: str) -> None:
    """The kept connection of each write path (the direct one's, the writer task's) was closed
    by the server as it stopped: the first write after that connects again, is refused, and
    says it was not applied (it was never sent), not that it may have been."""
    import asyncio

    from motia_nb._threads import get_loop_thread
    from motia_nb.state import StateManager
    from motia_nb.testing.fixtures import require_binary
    from motia_nb.testing.redis_server import running_redis_server

    async def gathered(n: int) -> list[Any]:
        return await asyncio.gather(*(m.set("g", f"k{i}", n) for i in range(50)), return_exceptions=True)

    async def awaited(n: int) -> list[Any]:
        return [await m.set("g", "k", n)]

    def write(n: int) -> list[Any]:
        if how == "sync":
            try:
                return [m.sync.set("g", "k", n)]
            except StateError as exc:
                return [exc]
        try:
            return asyncio.run(gathered(n) if how == "gathered" else awaited(n))
        except StateError as exc:
            return [exc]

    binary = require_binary("redis-server", "a server of its own, stopped mid-test")
    with running_redis_server(binary) as server:
        m = StateManager(server.url)
        try:
            assert not any(isinstance(r, BaseException) for r in write(1))  # (the path's connection kept)
            server.stop()  # (its connections' ends are in their sockets once it exited)
            get_loop_thread().submit(asyncio.sleep(0)).result()  # a turn of motia_nb's loop: the writer's read it
            got = write(2)
            assert got and all(isinstance(r, StateError) for r in got), got
            for r in got:
                assert re.search(r"failed before it was sent \(ConnectionError: .*connecting.*\); it was not applied$", str(r)), r
        finally:
            m.close()


@pytest.mark.redis
def test_a_write_refused_at_connect_says_it_was_not_applied():
    import asyncio

    from motia_nb.state import StateManager
    from motia_nb.testing.fixtures import require_binary
    from motia_nb.testing.redis_server import running_redis_server

    binary = require_binary("redis-server", "a server of its own, stopped mid-test")
    with running_redis_server(binary) as server:  # not the session's: this one is stopped
        m = StateManager(server.url)
        try:
            m.sync.set("g", "k", 1)  # the direct path keeps this connection
            server.stop()
            # the kept connection, closed by the server as it stopped, is seen closed before
            # anything is sent on it; connecting again is refused: nothing was sent
            not_sent = r"failed before it was sent \(ConnectionError: .*connecting.*\); it was not applied$"
            with pytest.raises(StateError, match=not_sent):
                m.sync.set("g", "k", 2)
            with pytest.raises(StateError, match=not_sent):
                m.sync.set("g", "k", 3)
            with pytest.raises(StateError, match=not_sent):  # its read fails first
                m.sync.update("g", "k", [{"type": "increment", "path": "", "by": 1}])

            async def writes() -> None:
                with pytest.raises(StateError, match=not_sent):
                    await m.set("g", "k", 4)
                with pytest.raises(StateError, match=not_sent):
                    await m.update("g", "k", [{"type": "set", "path": "", "value": 5}])

            asyncio.run(writes())
        finally:
            m.close()
