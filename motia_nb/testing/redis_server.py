"""A real, private ``redis-server``: started on a free 127.0.0.1 port, stopped afterwards.

The server runs in a directory of its own and keeps nothing on disk (``--save ''
--appendonly no``); :meth:`RedisServer.start` waits until it answers ``PING``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from .binaries import find_binary

__all__ = ["RedisServer", "running_redis_server"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, owned by its creator."""

    def __init__(self, binary: str, workdir: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts: int = 5, timeout: float = 10.0) -> None:
        """Start on a free port (retrying if another process grabbed it) and wait for PING.

        Raises RuntimeError with the end of the server's log if it never answers.
        """
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
            if self._wait_ready(timeout):
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
            if self.proc is None or self.proc.poll() is not None:
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

    def flushall(self) -> None:
        """Empty every database of the server."""
        c = self.client()
        try:
            c.flushall()
        finally:
            c.close()

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s); idempotent."""
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@contextlib.contextmanager
def running_redis_server(binary: str | None = None) -> Iterator[RedisServer]:
    """A started :class:`RedisServer` in a temp directory, stopped and removed on exit.

    ``binary`` defaults to ``redis-server`` on PATH (:class:`~.binaries.BinaryMissing`
    if there is none).
    """
    binary = binary or find_binary("redis-server", "a private Redis server for tests and benchmarks")
    with tempfile.TemporaryDirectory(prefix="motia-nb-redis-") as workdir:
        server = RedisServer(binary, workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()
