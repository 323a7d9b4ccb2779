"""motia_nb.testing: the Redis server, shell and binary rule shared by tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from motia_nb.testing import BinaryMissing, RedisServer, find_binary, running_redis_server
from motia_nb.testing.fixtures import require_binary

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_package_does_not_import_pytest() -> None:
    code = "import sys, motia_nb.testing as t; t.RedisServer; print('pytest' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_missing_binary_is_named_with_how_to_install_it() -> None:
    with pytest.raises(BinaryMissing, match=r"^motia-nb-nope is not installed \(why\); install it with: apt-get"):
        find_binary("motia-nb-nope", "why")


@pytest.mark.redis
def test_running_redis_server_starts_a_private_server_and_stops_it() -> None:
    binary = require_binary("redis-server", "the private server helper starts one")
    with running_redis_server(binary) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        c = server.client(decode_responses=True)
        try:
            c.hset("state:g", "k", "1")
            server.flushall()
            assert c.dbsize() == 0
            assert c.config_get("save")["save"] == "" and c.config_get("appendonly")["appendonly"] == "no"
        finally:
            c.close()
        proc = server.proc
        workdir = server.workdir
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None  # stopped
    assert not os.path.exists(workdir)  # and its directory removed
    RedisServer(binary, str(ROOT)).stop()  # stopping a server never started is a no-op
