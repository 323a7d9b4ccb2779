"""Tests that need a system binary skip on a user's machine and fail in CI (CI=true)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MISSING = "motia-nb-no-such-binary"


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    test = tmp_path / "test_needs_binary.py"
    test.write_text(
        textwrap.dedent(
            f"""
            from conftest import require_binary  # the project's tests/conftest.py

            def test_needs_it():
                require_binary({MISSING!r}, "a test that drives it")
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent)])  # this checkout's motia_nb
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", os.devnull, "-rs", "-q", str(test)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=120,
    )


def test_missing_binary_skips_with_its_reason_on_a_users_machine(tmp_path):
    out = run_pytest(tmp_path, ci=None)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 skipped" in out.stdout
    assert f"{MISSING} is not installed (a test that drives it); install it with: apt-get install {MISSING}" in out.stdout


def test_missing_binary_fails_in_ci(tmp_path):
    out = run_pytest(tmp_path, ci="true")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 failed" in out.stdout and f"CI=true but {MISSING} is not installed" in out.stdout
