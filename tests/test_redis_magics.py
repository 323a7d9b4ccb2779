"""Choosing Redis is one setting: %state use, %config MotiaNB.database, MOTIA_NB_DB."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys

import pytest

from motia_nb import state_manager
from motia_nb.testing import run_cell

pytestmark = pytest.mark.redis


def test_state_use_and_config_select_redis(ip, fresh_db, redis_url):  # noqa: F811
    res = run_cell(ip, f"%state use {redis_url}")
    assert res.success, res.error_in_exec
    assert state_manager.url.startswith("redis://")
    run_cell(ip, '%state set orders o1 {"status": "paid"}')
    import redis

    raw = redis.Redis.from_url(redis_url)
    assert raw.hget("state:orders", "o1") == b'{"status":"paid"}'  # Motia's engine layout
    df = run_cell(ip, "%state list orders").result
    assert df["key"].tolist() == ["o1"] and df["status"].tolist() == ["paid"]
    # back to SQLite, then to Redis again through %config
    assert run_cell(ip, f"%state use {fresh_db}").success
    assert state_manager.sync.get("orders", "o1") is None
    res = run_cell(ip, f"%config MotiaNB.database = {redis_url!r}")
    assert res.success, res.error_in_exec
    assert state_manager.sync.get("orders", "o1") == {"status": "paid"}
    raw.close()


def test_motia_nb_db_env_selects_redis(redis_url):
    code = "from motia_nb import state_manager as s; s.sync.set('g', 'k', [1]); print(s.url.split('://')[0], s.sync.get('g', 'k'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "MOTIA_NB_DB": redis_url}, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "redis [1]"


def test_an_unreachable_redis_is_a_clear_error_and_keeps_the_current_store(ip, fresh_db):  # noqa: F811
    before = state_manager.url
    res = run_cell(ip, "%state use redis://127.0.0.1:1/0")
    assert not res.success
    assert "127.0.0.1:1" in str(res.error_in_exec)
    assert state_manager.url == before


UNREACHABLE = "redis://127.0.0.1:1/0"


def shown(ip, code: str) -> list[str]:
    """What the shell prints for a cell (its traceback included), colours removed, blank lines dropped."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        run_cell(ip, code)
    return [line for line in re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).splitlines() if line.strip()]


@pytest.mark.parametrize(
    "call",
    [
        f"state_manager.use({UNREACHABLE!r})",
        f"StateManager({UNREACHABLE!r}).sync.set('g', 'k', 1)",
        f"await StateManager({UNREACHABLE!r}).set('g', 'k', 1)",
        f"StateManager({UNREACHABLE!r}).sync.get('g', 'k')",
        f"await StateManager({UNREACHABLE!r}).items('g')",
    ],
)
def test_an_unreachable_redis_from_python_in_a_cell_is_the_users_line_and_one_error_line(ip, fresh_db, call):  # noqa: F811
    """No chained redis-py traceback and none of motia_nb's frames: where in the cell, then why."""
    before = state_manager.url
    lines = shown(ip, f"from motia_nb import state_manager\nfrom motia_nb.state import StateManager\n{call}")
    assert len(lines) == 3, "\n".join(lines)
    where, source, error = lines
    assert where.startswith("Cell In[") and where.endswith(", line 3, in <module>")
    assert source.strip() == call
    assert error.startswith(f"RedisBackendError: cannot connect to Redis at {UNREACHABLE}: ") and "refused" in error
    assert state_manager.url == before


def test_an_unreachable_redis_through_the_magic_is_still_one_line(ip, fresh_db):  # noqa: F811
    lines = shown(ip, f"%state use {UNREACHABLE}")
    assert len(lines) == 1 and lines[0].startswith(f"RedisBackendError: cannot connect to Redis at {UNREACHABLE}: ")
