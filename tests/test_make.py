"""The two set-up commands: what `make lab` and `make test` would run (dry run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str, **env: str) -> str:
    out = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", target],  # -W: act as if pyproject changed (show the install too)
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}, **env},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_test_installs_the_test_extra_then_runs_pytest():
    out = dry_run("test")
    assert "pip install -q -e '.[test,bench]'" in out
    assert out.index("pip install -q -e '.[test,bench]'") < out.index("-m pytest")
    assert "'.[lab]'" not in out  # the test extra already holds JupyterLab


def test_the_test_extra_holds_everything_the_lab_extra_does():
    # make test installs only [test,bench]: the tutorials it runs need the lab's packages too
    # (JupyterLab; pydantic for the Motia step files that declare inputs as models)
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "pydantic>=2" in extras["lab"]
    assert set(extras["lab"]) <= set(extras["test"]), set(extras["lab"]) - set(extras["test"])


def test_make_lab_installs_only_what_the_lab_needs():
    out = dry_run("lab")
    assert "pip install -q -e '.[lab]'" in out
    assert out.index("pip install -q -e '.[lab]'") < out.index("jupyter lab")
    for extra in ("test", "bench", "playwright", "hypothesis"):
        assert extra not in out, extra


def fake_venv(tmp_path: Path, *stamps: str) -> Path:
    """A venv directory as make sees it: a python and the given stamps, newer than pyproject.toml."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    for stamp in stamps:
        (venv / stamp).write_text("")
    return venv


def installs(target: str, venv: Path) -> list[str]:
    out = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return [ln for ln in out.stdout.splitlines() if str(venv) in ln and "pip install" in ln]


def test_make_test_after_make_lab_installs_the_rest_into_the_same_venv(tmp_path):
    venv = fake_venv(tmp_path, ".installed-lab")  # `make lab` ran
    assert installs("lab", venv) == []  # nothing more for the lab
    (line,) = installs("test", venv)
    assert line.startswith(f"{venv}/bin/python -m pip install") and "'.[test,bench]'" in line
    done = fake_venv(tmp_path / "both", ".installed-lab", ".installed-test")
    assert installs("test", done) == [] and installs("lab", done) == []


def test_make_lab_opens_jupyterlab_on_the_tutorials_and_prints_the_url_without_a_screen():
    out = dry_run("lab")
    assert "jupyter lab --notebook-dir=notebooks" in out
    assert "--no-browser" in out  # no DISPLAY here: print the URL instead of opening a browser
    assert ("--allow-root" in out) == (os.getuid() == 0)
    assert "--no-browser" not in dry_run("lab", DISPLAY=":0")


def test_make_test_builds_the_real_worker_environments_before_pytest():
    out = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True).stdout
    for step in ("pip install -q -e . motia==1.0.4rc1 iii-sdk==0.9.0", "pip install -q iii-sdk==0.25.0", "npm install"):
        assert step in out and out.index(step) < out.index("-m pytest"), step
    assert ".venv-motia" in out and ".venv-iii" in out
