"""binder/: what Binder (repo2docker) needs to run the tutorials.

- The folder's own files are consistent (fast checks).
- A fresh virtualenv built from ``binder/requirements.txt`` alone, installed from the
  repository root as repo2docker does, runs every tutorial under nbval.
- ``repo2docker --no-build`` accepts the repository and renders the expected Dockerfile.
  A dry run needs no Docker daemon: the test points ``DOCKER_HOST`` at a socket that does
  not exist to prove it.

The slow tests install packages from the package index (pip's cache makes reruns quick)
and work on a copy of the repository holding the files git would ship (tracked plus
untracked-but-not-ignored), so nothing of the developer's ``.venv`` or ``.motia`` leaks in.

Their commands (the copy, both virtualenvs, each tutorial's nbval run, the dry run) take
minutes: they run one after another in a background thread started by the module's first
test, while the rest of the suite goes on (tests/conftest.py runs the slow tests of this
module last). Each slow test waits for its own command and checks its result as before; a
command that failed fails the test that needs it, with the command's output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import tomllib
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))

#: What the test environment adds on top of binder/ to *check* the tutorials (not to run them).
TEST_TOOLS = ["pytest>=8", "nbval>=0.11", "pytest-timeout>=2.3"]

#: Excluded when git cannot list the shipped files (e.g. an unpacked sdist).
_NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", ".motia", "__pycache__", "*.egg-info", "build", "dist",
    ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", "node_modules", "test-output",
)

LAUNCH_LINK = re.compile(
    r"https://mybinder\.org/v2/gh/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)/HEAD"
    r"\?urlpath=lab/tree/(?P<path>[\w./-]+\.ipynb)"
)


# ---------------------------------------------------------------------- helpers
def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, fail the test with its output (not a bare CalledProcessError)."""
    proc = _BACKGROUND.run(cmd, cwd=cwd, env=env, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return proc


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would point a child at the project's venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTEST_ADDOPTS")}
    env.update(extra)
    return env


def _copy_shipped_files(dest: Path) -> None:
    """Copy what a clone of the repository would hold (what Binder sees) to ``dest``."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True,
        ).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO, dest, ignore=_NOT_SHIPPED)
        return
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():  # listed but deleted in the work tree: skip
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def _make_venv(path: Path) -> Path:
    """A fresh virtualenv (no system site-packages) with an up-to-date pip; returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True, system_site_packages=False).create(path)
    return path / "bin" / "python"


def _runtime_python() -> str:
    """The ``x.y`` version binder/runtime.txt asks for."""
    text = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+\.\d+)", text)
    assert m, f"binder/runtime.txt must read python-X.Y, got {text!r}"
    return m.group(1)


class _Background:
    """The slow tests' commands, run one after another in a daemon thread.

    ``start(steps)`` runs each ``(name, fn)`` in order; ``result(name)`` waits for that step and
    returns its value, or raises what it raised (``pytest.fail`` from :func:`_run` included),
    so the test that needs it fails as if it had run the command itself. ``stop()`` (at the end
    of the session) ends the command running then and the steps not yet run.
    """

    def __init__(self) -> None:
        self._done: dict[str, threading.Event] = {}
        self._results: dict[str, tuple[bool, Any]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self, steps: list[tuple[str, Callable[[], Any]]]) -> None:
        self._done = {name: threading.Event() for name, _ in steps}
        self._thread = threading.Thread(target=self._work, args=(steps,), name="binder-background", daemon=True)
        self._thread.start()

    def _work(self, steps: list[tuple[str, Callable[[], Any]]]) -> None:
        for name, fn in steps:
            try:
                if self._stopping:
                    raise RuntimeError("the test session ended before this step ran")
                self._results[name] = (True, fn())
            except BaseException as exc:  # pytest.fail raises an OutcomeException (a BaseException)
                self._results[name] = (False, exc)
            self._done[name].set()

    def result(self, name: str) -> Any:
        self._done[name].wait()
        ok, value = self._results[name]
        if not ok:
            raise value
        return value

    def run(self, cmd: list[str], *, cwd: Path, env: dict[str, str] | None, timeout: float) -> subprocess.CompletedProcess[str]:
        """``subprocess.run(cmd, capture_output=True, text=True)``, ended by ``stop()``."""
        with self._lock:
            if self._stopping and threading.current_thread() is self._thread:
                raise RuntimeError("the test session ended")
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if threading.current_thread() is self._thread:
                self._proc = proc
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.communicate()
            raise
        finally:
            with self._lock:
                if self._proc is proc:
                    self._proc = None
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=60)


_BACKGROUND = _Background()


# ---------------------------------------------------------------------- the folder itself (fast)
def test_requirements_install_this_repository() -> None:
    lines = [ln.split("#", 1)[0].strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    assert "-e ." in lines or "." in lines, f"binder/requirements.txt does not install the repository itself: {lines}"
    # what the tutorials need beyond motia_nb's own dependencies
    names = {re.split(r"[<>=!~\[ ]", ln, maxsplit=1)[0].lower().replace("_", "-") for ln in lines if not ln.startswith(("-", "."))}
    assert {"jupyterlab", "jupyter-client", "matplotlib"} <= names, names


def test_postbuild_builds_the_motia_worker_outside_the_notebook_env() -> None:
    post = (BINDER / "postBuild").read_text()
    assert os.access(BINDER / "postBuild", os.X_OK), "binder/postBuild must be executable"
    assert "python -m venv .venv-worker" in post and "motia==1.0.4rc1" in post and "iii-sdk==0.9.0" in post


def test_runtime_python_satisfies_pyproject() -> None:
    from packaging.specifiers import SpecifierSet

    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert _runtime_python() in SpecifierSet(requires), (
        f"binder/runtime.txt asks for Python {_runtime_python()}, but pyproject.toml requires {requires}"
    )


def test_launch_link_opens_the_first_tutorial_in_lab() -> None:
    links = list(LAUNCH_LINK.finditer((BINDER / "README.md").read_text()))
    assert links, "binder/README.md holds no mybinder.org launch link"
    for link in links:
        assert link["path"] == "notebooks/01_state_basics.ipynb", link.group(0)
        assert (REPO / link["path"]).is_file(), f"the launch link opens {link['path']}, which does not exist"


# ---------------------------------------------------------------------- a fresh environment from binder/ (slow)
def _make_checkout(dest: Path) -> Path:
    _copy_shipped_files(dest)
    assert (dest / "binder" / "requirements.txt").is_file()
    return dest


def _make_binder_env(checkout: Path, venv_dir: Path) -> Path:
    """Python of a fresh venv holding binder/requirements.txt (installed as repo2docker does)."""
    python = _make_venv(venv_dir)
    env = _clean_env()
    # repo2docker: WORKDIR ${REPO_DIR}; pip install -r "binder/requirements.txt"
    _run([str(python), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], cwd=checkout, env=env, timeout=600)
    # repo2docker then runs binder/postBuild from the repository root, with the environment's python first on PATH
    post_env = _clean_env(PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    _run(["bash", "binder/postBuild"], cwd=checkout, env=post_env, timeout=600)
    _run([str(python), "-m", "pip", "install", "-q", *TEST_TOOLS], cwd=checkout, env=env, timeout=300)
    return python


def _run_tutorial(notebook: str, python: Path, checkout: Path, db_dir: Path) -> subprocess.CompletedProcess[str]:
    """One tutorial under nbval with the binder environment's kernel (its own state file)."""
    env = _clean_env(MOTIA_NB_DB=str(db_dir / "state.db"))
    return _run(
        # the project's own nbval settings, spelled out (addopts emptied so nothing doubles)
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
         "--nbval", "--nbval-current-env", "--nbval-cell-timeout=180",
         "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", f"notebooks/{notebook}"],
        cwd=checkout, env=env, timeout=600,
    )


def _repo2docker_dry_run(checkout: Path, venv_dir: Path) -> subprocess.CompletedProcess[str]:
    python = _make_venv(venv_dir)
    _run([str(python), "-m", "pip", "install", "-q", "jupyter-repo2docker"], cwd=checkout, env=_clean_env(), timeout=300)
    r2d = python.parent / "repo2docker"
    # No Docker daemon is needed (nor reachable) for --no-build.
    env = _clean_env(DOCKER_HOST=f"unix://{checkout}/no-such-docker.sock")
    return _run(
        [str(r2d), "--no-build", "--no-run", "--user-id", "1000", "--user-name", "jovyan", str(checkout)],
        cwd=checkout, env=env,
    )


def _slow_tests_selected(session: pytest.Session) -> bool:
    here = Path(__file__).resolve()
    return any(Path(item.path).resolve() == here and item.get_closest_marker("slow") for item in session.items)


@pytest.fixture(scope="session", autouse=True)
def _binder_background(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """From this module's first test on, the slow tests' commands run in the background (see the
    module's docstring); ended with the session."""
    if not _slow_tests_selected(request.session):
        yield
        return
    checkout = tmp_path_factory.mktemp("binder-checkout") / "repo"
    binder_venv = tmp_path_factory.mktemp("binder-venv") / "venv"
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("checkout", lambda: _make_checkout(checkout)),
        ("binder-env", lambda: _make_binder_env(_BACKGROUND.result("checkout"), binder_venv)),
    ]
    for notebook in NOTEBOOKS:
        db_dir = tmp_path_factory.mktemp(f"binder-{notebook.split('_')[0]}")
        steps.append((f"nbval:{notebook}", lambda nb=notebook, d=db_dir: _run_tutorial(
            nb, _BACKGROUND.result("binder-env"), _BACKGROUND.result("checkout"), d)))
    r2d_venv = tmp_path_factory.mktemp("r2d-venv") / "venv"
    steps.append(("repo2docker", lambda: _repo2docker_dry_run(_BACKGROUND.result("checkout"), r2d_venv)))
    _BACKGROUND.start(steps)
    yield
    _BACKGROUND.stop()


@pytest.fixture(scope="session")
def checkout() -> Path:
    return _BACKGROUND.result("checkout")


@pytest.fixture(scope="session")
def binder_python() -> Path:
    """Python of a fresh venv holding binder/requirements.txt (installed as repo2docker does)."""
    return _BACKGROUND.result("binder-env")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_binder_env_uses_motia_nb_from_the_repository(binder_python: Path, checkout: Path) -> None:
    out = _run(
        [str(binder_python), "-c", "import motia_nb, sys; print(motia_nb.__file__); print(sys.prefix)"],
        cwd=checkout / "notebooks", env=_clean_env(),
    ).stdout.split()
    assert Path(out[0]).resolve() == (checkout / "motia_nb" / "__init__.py").resolve(), out
    assert Path(out[1]).resolve() == binder_python.parent.parent.resolve(), out
    _run([str(binder_python), "-m", "pip", "check"], cwd=checkout, env=_clean_env())


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_tutorial_runs_in_binder_env(notebook: str, binder_python: Path) -> None:
    """Each tutorial passes nbval (outputs compared) with the binder environment's kernel."""
    proc = _BACKGROUND.result(f"nbval:{notebook}")  # _run_tutorial, in the background
    assert re.search(r"\b[1-9]\d* passed\b", proc.stdout), proc.stdout  # cells really ran


# ---------------------------------------------------------------------- repo2docker's dry run (slow)
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_repo2docker_dry_run_accepts_binder(checkout: Path) -> None:
    proc = _BACKGROUND.result("repo2docker")  # _repo2docker_dry_run, in the background
    dockerfile, log = proc.stdout, proc.stderr

    assert f"python={_runtime_python()}" in log, log  # runtime.txt was read
    assert dockerfile.lstrip().startswith("FROM "), dockerfile[:500]

    lines = dockerfile.splitlines()
    install = next((i for i, ln in enumerate(lines) if 'pip install --no-cache-dir -r "binder/requirements.txt"' in ln), None)
    assert install is not None, "repo2docker does not install binder/requirements.txt:\n" + dockerfile
    # "-e ." is a local reference: the whole repository must be in the image before pip runs.
    copy_all = [i for i, ln in enumerate(lines) if re.match(r"COPY .*\bsrc/ \$\{REPO_DIR\}/$", ln)]
    assert copy_all and copy_all[0] < install, "the repository is not copied in before binder/requirements.txt is installed"
    post = next((i for i, ln in enumerate(lines) if "postBuild" in ln and ln.startswith("RUN")), None)
    assert post is not None and post > install, "repo2docker does not run binder/postBuild after the install"
    workdir = [i for i, ln in enumerate(lines) if ln.strip() == "WORKDIR ${REPO_DIR}"]
    assert workdir and workdir[0] < install, "pip would not run from the repository root"
