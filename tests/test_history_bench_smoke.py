"""Smoke test of ``python -m benchmarks --history`` at a tiny size: every history target is
measured (none n/a), gets a verdict and is printed. Nothing about speed is asserted."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.history import (  # noqa: E402
    TINY_HISTORY_SIZES,
    Outcome,
    outcomes_markdown,
    render_outcomes,
    run_history_bench,
)

from motia_nb import state_manager  # noqa: E402

pytestmark = pytest.mark.slow


def test_every_history_target_is_measured_and_gets_a_verdict(tmp_path: Path) -> None:
    keep = state_manager.history_keep
    outcomes = run_history_bench(TINY_HISTORY_SIZES, repeats=2, workdir=str(tmp_path))
    assert state_manager.history_keep == keep  # the rounds switched history off and back
    assert [o.id for o in outcomes] == ["history.set_gather", "history.set_awaited", "history.set_overwrite", "history.read",
                                        "history.read_records", "history.redis_set_gather", "history.redis_set_awaited",
                                        "history.redis_set_overwrite", "history.read_redis", "history.follow"]  # fmt: skip
    redis = [o for o in outcomes if "redis" in o.id]
    assert [o.error for o in outcomes if o not in redis] == [""] * 6
    for o in outcomes[:3]:  # the SQLite on/off rows carry raw sqlite3's own ratio, for scale
        assert re.search(r"; raw sqlite3 with vs without the same rows: \d+\.\d\d×$", o.measured), o.measured
    if shutil.which("redis-server") is None:  # the Redis rows say why they are n/a
        assert all(o.verdict == "n/a" and "redis-server" in o.error for o in redis)
        return
    assert [o.error for o in redis] == [""] * 4
    assert all(o.verdict in ("PASS", "FAIL") for o in outcomes)
    for o in (outcomes[3], outcomes[4], redis[3]):  # the first read of each fresh store, then the best once filed
        m = re.fullmatch(r"(\d+\.\d) ms \(first read right after the writes, median of 2: (\d+\.\d), (\d+\.\d); filed (\d+\.\d)\)", o.measured)
        assert m, o.measured
        first_a, first_b, filed = (float(m[i]) for i in (2, 3, 4))
        assert float(m[1]) == pytest.approx(max((first_a + first_b) / 2, filed), abs=0.11)  # the worse of median and filed
    assert "on Redis" in redis[3].what
    text = render_outcomes(outcomes)
    assert "history targets met" in text and text.count("PASS") + text.count("FAIL") == 10


def test_the_cli_runs_only_the_history_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.cli import main

    assert main(["--history", "--tiny", "--repeats", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "target (issue 16)" in out and "follower" in out and "target (issue 12)" not in out
    assert (tmp_path / "history.json").exists()


def test_a_whole_run_puts_the_history_targets_in_the_readme_section() -> None:
    """``make bench`` (a whole run) measures issue 16's targets too: the README section shows
    their table, with each verdict, after issue 12's."""
    from benchmarks.report import Report, readme_body

    outcomes = [Outcome("history.read", "history of one key", "41.0 ms", "< 50 ms", True),
                Outcome("history.follow", "follower latency", "—", "≤ 200 ms", None, "no second process")]  # fmt: skip
    lines = outcomes_markdown(outcomes)
    assert lines[0] == "| target (issue 16) | measured | target | verdict |"
    assert "| history of one key | 41.0 ms | < 50 ms | PASS |" in lines
    assert "| follower latency | — | ≤ 200 ms | n/a |" in lines and "history.follow: n/a, no second process" in lines
    machine = {"nproc": 2, "cpu": "cpu", "python": "3.11", "sqlite": "3.40"}
    report = Report(date="2026-12-01", machine=machine, repeats=3, sizes={}, stores={}, cells=[], checks=[])
    body = readme_body(report, lines)
    assert body.index("| target (issue 12) |") < body.index("| target (issue 16) |")
    assert "| target (issue 16) |" not in readme_body(report)
