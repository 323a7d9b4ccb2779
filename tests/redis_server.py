"""A real ``redis-server`` for the tests: started on a free 127.0.0.1 port, stopped afterwards.

Fixtures (import them into a test module, or list this module in ``pytest_plugins``):

- ``redis_server`` (session): a running :class:`RedisServer` (``.url``, ``.port``, ``.client()``).
- ``redis_url`` (function): ``redis://127.0.0.1:<port>/0`` on an *empty* server (FLUSHALL
  before each test), the fixture to parametrize the state contract suite with.

The server keeps nothing on disk (``--save '' --appendonly no``) and runs in a temp dir.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["RedisServer", "redis_server", "redis_url"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, owned by the test run."""

    def __init__(self, binary: str, workdir: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts: int = 5) -> None:
        """Start on a free port (retrying if another process grabbed it) and wait for PING."""
        last = ""
        for _ in range(attempts):
            self.port = _free_port()
            log = os.path.join(self.workdir, f"redis-{self.port}.log")
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--bind", "127.0.0.1",
                    "--port", str(self.port),
                    "--dir", self.workdir,
                    "--save", "",
                    "--appendonly", "no",
                    "--daemonize", "no",
                    "--protected-mode", "yes",
                    "--logfile", log,
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(timeout=10):
                return
            self.stop()
            try:
                with open(log, encoding="utf-8", errors="replace") as f:
                    last = f.read()[-2000:]
            except OSError:
                last = "(no log)"
        raise RuntimeError(f"redis-server did not start after {attempts} attempts; last log:\n{last}")

    def _wait_ready(self, timeout: float) -> bool:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                c = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
                try:
                    if c.ping():
                        return True
                finally:
                    c.close()
            except redis.RedisError:
                time.sleep(0.05)
        return False

    def client(self, **kwargs: Any) -> Any:
        """A synchronous redis-py client on db 0 (the caller closes it)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server for the whole session (skipped / failed in CI if the binary is missing)."""
    from conftest import require_binary  # imported late: conftest imports this module

    binary = require_binary("redis-server", "the Redis backend tests run against a real server")
    with tempfile.TemporaryDirectory(prefix="motia-nb-redis-") as workdir:
        server = RedisServer(binary, workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of an empty Redis database (every database of the server is flushed first)."""
    c = redis_server.client()
    try:
        c.flushall()
    finally:
        c.close()
    return redis_server.url
