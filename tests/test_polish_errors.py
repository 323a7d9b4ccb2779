"""User-facing errors found by the polish pass: each refuses or reports in one clear line,
names what it is about, and shows no password or machine path."""

from __future__ import annotations

import warnings

import pytest

from motia_nb import state_manager
from motia_nb.testing import run_cell

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
    from motia_nb.state.errors import StoredValueError

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
