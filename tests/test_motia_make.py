"""`make test` builds the second venv (the real Motia SDK) before running pytest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def test_make_test_builds_the_real_motia_venv_before_pytest():
    out = subprocess.run(["make", "-n", "-W", "pyproject.toml", "test"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "-m venv .venv-motia" in text
    assert ".venv-motia/bin/python -m pip install -q -e . motia==1.0.4rc1 iii-sdk==0.9.0" in text
    assert text.index("motia==1.0.4rc1") < text.index("-m pytest")
