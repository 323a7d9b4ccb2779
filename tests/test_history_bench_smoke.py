"""Smoke test of ``python -m benchmarks --history`` at a tiny size: every history target is
measured (none n/a), gets a verdict and is printed. Nothing about speed is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.history import TINY_HISTORY_SIZES, render_outcomes, run_history_bench  # noqa: E402

from motia_nb import state_manager  # noqa: E402

pytestmark = pytest.mark.slow


def test_every_history_target_is_measured_and_gets_a_verdict(tmp_path: Path) -> None:
    keep = state_manager.history_keep
    outcomes = run_history_bench(TINY_HISTORY_SIZES, repeats=2, workdir=str(tmp_path))
    assert [o.id for o in outcomes] == ["history.set_gather", "history.set_awaited", "history.read", "history.follow"]
    assert [o.error for o in outcomes] == ["", "", "", ""]
    assert all(o.verdict in ("PASS", "FAIL") for o in outcomes)
    text = render_outcomes(outcomes)
    assert "history targets met" in text and text.count("PASS") + text.count("FAIL") == 4
    assert state_manager.history_keep == keep  # the rounds switched history off and back


def test_the_cli_runs_only_the_history_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.cli import main

    assert main(["--history", "--tiny", "--repeats", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "target (issue 16)" in out and "follower" in out and "target (issue 12)" not in out
    assert (tmp_path / "history.json").exists()
