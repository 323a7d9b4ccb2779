"""Helpers for the engine endpoint tests: real worker processes, polling, venv checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from motia_nb.session import get_step, remove_step
from motia_nb.steps.errors import StepNotFoundError

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ROOT / "tests" / "workers"
MOTIA_STEPS = WORKERS / "motia_steps"
WORKER_VENV = ROOT / ".venv-motia"  # make test builds it (binder/postBuild builds .venv-worker)
III_VENV = ROOT / ".venv-iii"
NODE_DIR = WORKERS / "node"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(msg: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {msg}", pytrace=False)
    pytest.skip(msg)


def motia_cli() -> Path:
    """``.venv-motia/bin/motia`` (motia 1.0.4rc1 + iii-sdk 0.9.0), or skip / fail in CI.

    ``.venv-worker`` (the same pins, what binder/postBuild builds) serves as well.
    """
    for venv in (WORKER_VENV, ROOT / ".venv-worker"):
        exe = venv / "bin" / "motia"
        if exe.exists():
            return exe
    _missing(f"{WORKER_VENV / 'bin' / 'motia'} is missing (the real Motia worker); build it with: make workers")
    raise AssertionError("unreachable")


def iii_python() -> Path:
    exe = III_VENV / "bin" / "python"
    if not exe.exists():
        _missing(f"{exe} is missing (a bare iii-sdk 0.25 worker); build it with: make workers")
    return exe


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        _missing("node is not installed (the Node iii-sdk worker); install it with: apt-get install nodejs npm")
    if not (NODE_DIR / "node_modules" / "iii-sdk").exists():
        _missing(f"{NODE_DIR}/node_modules/iii-sdk is missing; install it with: make workers")
    return exe  # type: ignore[return-value]


def wait_for(cond: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``cond()`` until truthy (generous deadline: workers start slowly on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Proc:
    """A worker process whose output is kept for failure messages."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._fh = open(log, "w")
        self.p = subprocess.Popen([str(a) for a in argv], env=env, cwd=str(cwd), stdout=self._fh, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._fh.flush()
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(30)
        self._fh.close()

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(15)
        self._fh.close()


def start_motia(url: str, tmp: Path, steps: Path = MOTIA_STEPS, name: str = "motia") -> Proc:
    """``III_URL=url motia run --dir steps``, as a Motia user starts a project."""
    env = dict(os.environ, III_URL=url)
    env.pop("PYTHONPATH", None)
    return Proc([motia_cli(), "run", "--dir", steps], env, tmp, tmp / f"{name}.log")


def start_iii(url: str, tmp: Path, name: str) -> Proc:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return Proc([iii_python(), WORKERS / "iii_worker.py", url, name], env, tmp, tmp / f"{name}.log")


def start_node(url: str, tmp: Path, name: str) -> Proc:
    return Proc([node(), NODE_DIR / "worker.mjs", url, name], dict(os.environ), NODE_DIR, tmp / f"{name}.log")


def worker_with_steps(server: Any, steps: set[str]) -> dict[str, Any] | None:
    for w in server.workers:
        if steps <= set(w["steps"]):
            return w
    return None


def frames(ws: Any, n: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The next ``n`` JSON frames a raw client receives."""
    return [json.loads(ws.recv(timeout)) for _ in range(n)]


#: The steps of tests/workers/motia_steps/ (what a real ``motia run`` worker registers).
MOTIA_STEPS = {"OrderAudit", "ShipOrder", "Stuck", "Broken", "OrderStatus"}


def key() -> str:
    """A fresh item key."""
    return f"o-{uuid.uuid4().hex[:8]}"


def has_step(name: str) -> bool:
    """Whether the default session has a step called ``name``."""
    try:
        get_step(name)
        return True
    except StepNotFoundError:
        return False


@pytest.fixture
def notebook_steps() -> Iterator[list[str]]:
    """A list a test appends its notebook steps' names to; they are removed afterwards."""
    names: list[str] = []
    yield names
    for n in names:
        if has_step(n):
            remove_step(n)


def client(argv: list[str], cwd: str, url: str) -> Callable[..., list[Any]]:
    """Run calls through a real iii-sdk client connected to ``url``; returns their answers."""

    def run(*pairs: Any) -> list[Any]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        lines = "".join(json.dumps(p) + "\n" for p in pairs)
        p = subprocess.run([*argv, url], input=lines, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
        out = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        assert len(out) == len(pairs), p.stdout + p.stderr
        return out

    return run


@pytest.fixture(scope="module")
def calls(served: Any) -> Callable[..., list[Any]]:
    """A bare iii-sdk 0.25 Python client (of the module's ``served`` endpoint)."""
    return client([str(iii_python()), str(WORKERS / "iii_calls.py")], str(WORKERS), served.url)


@pytest.fixture(scope="module", params=["python", "node"])
def any_client(request: Any, served: Any) -> Callable[..., list[Any]]:
    """The Python client, and a Node client on npm's iii-sdk."""
    if request.param == "python":
        return client([str(iii_python()), str(WORKERS / "iii_calls.py")], str(WORKERS), served.url)
    return client([node(), str(NODE_DIR / "calls.mjs")], str(NODE_DIR), served.url)
