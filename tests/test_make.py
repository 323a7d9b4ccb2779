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
    assert "pip install" in out and "[lab,test,bench]" in out
    assert out.index("pip install") < out.index("-m pytest")


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
