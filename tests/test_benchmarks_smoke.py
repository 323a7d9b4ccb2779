"""Smoke test of `make bench` (the benchmarks package) at a tiny size.

Proves every workload of every store runs and checks its own result (items
stored, keys read back, updates lost), that every issue-12 target is measured
side by side and gets a verdict, and that the tables, files and README section
render. It asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.chart import draw_chart  # noqa: E402
from benchmarks.core import GROUP, BenchError, Pairing, Sample, Workdir, key_of, value_of  # noqa: E402
from benchmarks.motia import IDLE_STEP  # noqa: E402
from benchmarks.plan import STORES, measure, run_benchmarks  # noqa: E402
from benchmarks.raw import RawSQLite, motia_made_db  # noqa: E402
from benchmarks.report import Cell, CheckResult, render_table, replace_readme_section, write_results  # noqa: E402
from benchmarks.targets import CHECKS, TINY_SIZES, Check  # noqa: E402

from motia_nb import StateManager, state_manager  # noqa: E402
from motia_nb.session import all_steps  # noqa: E402
from motia_nb.state.backends.sqlite.changelog import COLUMNS, changes_of  # noqa: E402
from motia_nb.testing import find_binary  # noqa: E402

N = 40
SIZES = {w: N for w in TINY_SIZES}
REPEATS = 2
#: two kept pairs after one warm-up pair, never extended: the tiny run checks the script, not the speed
PAIRING = Pairing(rounds=REPEATS, max_rounds=REPEATS, warmup=1)
#: (store, workload) pairs a store does not offer; every other cell must have run cleanly.
GAPS = {
    *(("%store", w) for w in ("set_gather", "set_sync", "incr", "incr_atomic", "list")),
    *(("motia_nb + idle step", w) for w in ("get", "incr", "incr_atomic", "list")),
    *((s, "set_sync") for s in ("raw sqlite3", "aiosqlite", "diskcache", "sqlitedict")),
    *((s, "incr_atomic") for s in STORES if s != "diskcache"),
    ("redis-py", "incr"),
    # the pair of each SQLite write target that runs the same statements as its subject
    *((s, w) for s in ("motia_nb history off", "raw sqlite3 + changelog") for w in ("set_sync", "get", "incr", "list")),
}


def _have_redis() -> bool:
    try:
        find_binary("redis-server", "")
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    """One tiny run of every store (the Redis ones when redis-server is installed)."""
    previous = state_manager.url
    stores = STORES if _have_redis() else [s for s in STORES if s not in ("motia_nb redis", "redis-py")]
    rep = run_benchmarks(SIZES, pairing=PAIRING, stores=stores, workdir=str(tmp_path_factory.mktemp("bench")))
    assert state_manager.url == previous  # the run switched the default manager back
    return rep


def test_every_cell_a_store_offers_ran_and_checked_itself(report) -> None:
    stores = [s for s in STORES if s in report.stores]
    for store in stores:
        for workload in SIZES:
            if workload == "frame_memory":
                continue
            cell = report.cell(store, workload)
            if (store, workload) in GAPS:
                assert cell is None, f"{store} / {workload} should not exist: {cell}"
                continue
            assert cell is not None, (store, workload)
            assert cell.ok, f"{store} / {workload}: {cell.error}"
            assert cell.n == N and cell.rounds >= 1 and cell.ops_per_s > 0


def test_every_target_is_measured_side_by_side_with_a_verdict(report) -> None:
    expected = [c for c in CHECKS if c.subject in report.stores and c.baseline in report.stores]
    assert [r.check for r in report.checks] == expected
    for r in report.checks:
        assert r.subject.rounds == REPEATS and r.baseline.rounds == REPEATS, r.check.id
        assert r.subject.warmup == 1 and r.baseline.warmup == 1, r.check.id  # run, and not counted
        assert len(r.subject.samples) == len(r.baseline.samples) == REPEATS
        assert r.verdict in ("PASS", "FAIL"), (r.check.id, r.reason)
        a, b = r.subject, r.baseline
        # the verdict's ratio is the median of the pairs' (two pairs: their mean); best/best is reported too
        pairs = [sa / sb if r.check.cost else sb / sa for sa, sb in zip(a.samples, b.samples)]
        assert r.ratio == pytest.approx(sum(pairs) / 2)
        assert r.best_ratio == pytest.approx(a.seconds / b.seconds if r.check.cost else a.ops_per_s / b.ops_per_s)
        assert a.seconds == min(a.samples) and b.seconds == min(b.samples)


def test_increments_lose_nothing_where_atomic_and_naive_losses_are_reported(report) -> None:
    for store in ("motia_nb", "raw sqlite3", "aiosqlite", "motia_nb redis"):
        if store in report.stores:
            assert report.cell(store, "incr").lost == 0, store
    assert report.cell("diskcache", "incr_atomic").lost == 0
    for store in ("diskcache", "sqlitedict"):  # naive get -> modify -> set from 8 threads
        lost = report.cell(store, "incr").lost
        assert lost is not None and 0 <= lost < N, store


def test_the_idle_step_is_gone_after_the_run(report) -> None:
    assert IDLE_STEP not in [s.name for s in all_steps()]


def test_frame_memory_is_reported_for_both_sides(report) -> None:
    assert report.memory is not None, report.memory_error
    for side in ("motia_nb", "raw sqlite3"):
        assert report.memory[side]["rows"] == N and report.memory[side]["peak_mb"] >= 0


@pytest.mark.redis
def test_the_redis_targets_ran_on_a_private_server(report) -> None:
    from motia_nb.testing.fixtures import require_binary

    require_binary("redis-server", "the Redis targets of make bench")
    ids = {r.check.id: r for r in report.checks}
    for cid in ("redis.set_gather", "redis.set_sync", "redis.get"):
        assert ids[cid].verdict in ("PASS", "FAIL"), ids[cid].reason


def test_table_files_chart_and_readme(report, tmp_path: Path) -> None:
    table = render_table(report)
    for r in report.checks:
        line = next(line for line in table.splitlines() if line.startswith(r.check.describe(N)))
        assert line.rstrip().endswith(r.verdict) and r.target_text() in line
    assert f"of {len(report.checks)} targets met; each ratio is the median of at least {REPEATS} paired" in table
    assert f"(paired {report.checks[0].paired.low:.2f}–" in table
    assert "frame() peak memory at 40 items" in table and "ops/s of every store" in table
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n<!-- bench:start -->\nold table\n<!-- bench:end -->\n\nrest\n")
    paths = write_results(report, str(tmp_path / "results"), readme=str(readme))
    data = json.loads(Path(paths["json"]).read_text())
    assert data["machine"]["nproc"] == os.cpu_count() and data["machine"]["sqlite"] == sqlite3.sqlite_version
    assert [c["check"]["id"] for c in data["checks"]] == [r.check.id for r in report.checks]
    assert all(c["verdict"] in ("PASS", "FAIL") for c in data["checks"])
    md = Path(paths["md"]).read_text()
    assert "| target (issue 12) |" in md and "How each store is driven:" in md
    text = readme.read_text()
    assert text.startswith("# title\n\n<!-- bench:start -->\n### Benchmarks\n")
    assert text.endswith("<!-- bench:end -->\n\nrest\n") and "old table" not in text
    assert "**median of the pairs' ratios**" in text  # the method is documented next to the figures
    assert "Each ratio is the median of at least 2 paired ratios" in text and "(paired " in text
    png = tmp_path / "chart.png"
    draw_chart(report, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def _cell(store: str, seconds: float | None, lost: int | None = None, error: str | None = None) -> Cell:
    samples = [] if seconds is None else [seconds]
    return Cell(store, "w", 100, seconds=seconds, lost=lost, rounds=len(samples), error=error, samples=samples)


@pytest.mark.parametrize(
    ("check", "subject", "baseline", "ratio", "verdict"),
    [
        (Check("s", "w", "a", "b", 0.6, "x"), _cell("a", 1.0), _cell("b", 0.6), 0.6, "PASS"),
        (Check("s", "w", "a", "b", 0.6, "x"), _cell("a", 1.0), _cell("b", 0.5), 0.5, "FAIL"),
        (Check("c", "w", "a", "b", 1.3, "x", cost=True), _cell("a", 1.3), _cell("b", 1.0), 1.3, "PASS"),
        (Check("c", "w", "a", "b", 1.3, "x", cost=True), _cell("a", 1.4), _cell("b", 1.0), 1.4, "FAIL"),
        (Check("i", "w", "a", "b", 1.5, "x", no_loss=True), _cell("a", 0.1, lost=1), _cell("b", 1.0, 0), 10.0, "FAIL"),
        (Check("e", "w", "a", "b", 1.0, "x"), _cell("a", None, error="boom"), _cell("b", 1.0), None, "n/a"),
    ],
)
def test_verdicts(check, subject, baseline, ratio, verdict) -> None:
    r = CheckResult(check, 100, subject, baseline)
    assert r.ratio == (None if ratio is None else pytest.approx(ratio))
    assert r.verdict == verdict
    if verdict == "n/a":
        assert r.reason == "a: boom"
    if check.no_loss and verdict == "FAIL":
        assert r.reason == "1 updates lost"


class _Fake:
    """A driver that records the order of its rounds; ``fail_at`` makes that round raise."""

    def __init__(self, name: str, log: list[str], fail_at: int | None = None) -> None:
        self.name, self.log, self.fail_at, self.calls = name, log, fail_at, 0

    def w(self, n: int):
        @contextlib.contextmanager
        def cm():
            def one() -> Sample:
                self.calls += 1
                self.log.append(self.name)
                return self.sample()

            yield one

        return cm()

    def sample(self) -> Sample:
        if self.calls == self.fail_at:
            raise BenchError("stored 1 items, expected 2")
        return Sample(1.0 / self.calls)


def test_pairs_are_interleaved_best_kept_and_a_wrong_round_is_reported() -> None:
    log: list[str] = []
    a, b = measure([_Fake("A", log), _Fake("B", log, fail_at=2)], "w", 10, rounds=3)
    assert log == ["A", "B", "B", "A", "A"]  # B's second round failed: it stops, A goes on
    assert a.ok and a.rounds == 3 and a.seconds == pytest.approx(1 / 3)
    assert a.samples == pytest.approx([1.0, 1 / 2, 1 / 3])
    assert not b.ok and b.error == "round 2 failed: benchmarks.core.BenchError: stored 1 items, expected 2"


def test_warm_up_pairs_are_discarded() -> None:
    log: list[str] = []
    a, b = measure([_Fake("A", log), _Fake("B", log)], "w", 10, rounds=2, warmup=1)
    assert log == ["A", "B", "B", "A", "A", "B"]
    assert a.warmup == b.warmup == 1 and a.rounds == b.rounds == 2
    assert a.samples == pytest.approx([1 / 2, 1 / 3]) and b.samples == pytest.approx([1 / 2, 1 / 3])


@pytest.mark.parametrize(
    ("a_times", "a_kept", "warm"),
    [
        ([2.0, 1.5, 1.2], [2.0, 1.5], 0),  # both warm-up rounds took >= 1 s: the pair is kept, as the first
        ([0.5, 1.5, 1.2], [1.5, 1.2], 1),  # one was short: the pair is a warm-up, discarded on both sides
    ],
)
def test_a_warm_up_pair_of_long_rounds_is_kept(a_times, a_kept, warm) -> None:
    log: list[str] = []
    a, b = measure([_Noisy("A", log, a_times), _Noisy("B", log, [1.5])], "w", 10, rounds=2, warmup=1, long_round=1.0)
    assert a.samples == a_kept and b.samples == [1.5, 1.5]
    assert a.warmup == b.warmup == warm and len(log) == 2 * (2 + warm)


class _Noisy(_Fake):
    """Round times from a list (the last repeats): a ratio that settles after some pairs."""

    def __init__(self, name: str, log: list[str], times: list[float]) -> None:
        super().__init__(name, log)
        self.times = times

    def sample(self) -> Sample:
        return Sample(self.times[min(self.calls, len(self.times)) - 1])


@pytest.mark.parametrize(
    ("a_times", "rounds", "max_rounds", "budget", "kept"),
    [
        ([1.0], 3, 8, 100.0, 3),  # pairs agree: no pair is added
        ([1.0, 2.0, 1.0, 2.0, 1.0], 3, 12, 100.0, 9),  # added until the two slow pairs leave the middle half
        ([1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0], 3, 5, 100.0, 5),  # never agrees: stops at max_rounds
        ([1.0, 2.0, 1.0, 2.0], 3, 8, 0.0, 3),  # no time left: the least number of pairs (LEAST) only
        ([1.0], 5, 8, 0.0, 3),  # ... even when more were asked for
        ([1.0], 2, 8, 0.0, 2),  # ... or fewer, if fewer were asked for
    ],
)
def test_pairs_are_added_while_their_ratios_disagree(a_times, rounds, max_rounds, budget, kept) -> None:
    log: list[str] = []
    a, b = measure([_Noisy("A", log, a_times), _Noisy("B", log, [1.0])], "w", 10, rounds=rounds,
                   max_rounds=max_rounds, settle=0.10, budget=budget)  # fmt: skip
    assert a.rounds == b.rounds == kept and len(log) == 2 * kept


def test_readme_section_replacement_rules() -> None:
    assert replace_readme_section("", "new") == "<!-- bench:start -->\nnew\n<!-- bench:end -->\n"
    out = replace_readme_section("# x\n", "new")
    assert out == "# x\n\n<!-- bench:start -->\nnew\n<!-- bench:end -->\n"
    assert replace_readme_section(out, "newer").count("<!-- bench:start -->") == 1
    with pytest.raises(ValueError, match="bench:start"):
        replace_readme_section("<!-- bench:end --> <!-- bench:start -->", "new")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown workload.*nope"):
        run_benchmarks({"nope": 1})
    with pytest.raises(ValueError, match="unknown store.*mongo"):
        run_benchmarks({"get": 1}, stores=["mongo"])
    with pytest.raises(ValueError, match="repeats"):
        run_benchmarks({"get": 1}, repeats=0)


def test_raw_baseline_runs_on_the_file_motia_nb_creates(tmp_path: Path) -> None:
    conn = motia_made_db(str(tmp_path / "raw.db"))
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        cols = [r[1] for r in conn.execute("PRAGMA table_info(items)")]
        assert {"grp", "key", "value"} <= set(cols)
    finally:
        conn.close()


def test_make_bench_entry_point_runs_and_prints_verdicts(tmp_path: Path) -> None:
    """`python benchmarks/run.py` (what `make bench` runs), tiny, one target, nothing written."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tiny", "--no-write", "--repeats", "1",
         "--workloads", "get", "list", "--stores", "motia_nb", "raw sqlite3", "aiosqlite", "--targets-only"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^60 gets vs raw point reads .*≥ 0\.8× +(PASS|FAIL)$", out.stdout, re.M), out.stdout
    assert re.search(r"^[012] of 2 targets met", out.stdout, re.M), out.stdout
    assert "aiosqlite" not in out.stdout.split("ops/s of every store")[1]  # --targets-only: no peers
    assert not list(tmp_path.iterdir())  # --no-write: nothing written, no .motia/ in the cwd


class _FailsAtCleanUp(_Fake):
    def w(self, n: int):
        import contextlib

        inner = super().w(n)

        @contextlib.contextmanager
        def cm():
            with inner as one:
                yield one
            raise OSError("could not remove the database")

        return cm()


def test_a_failing_clean_up_marks_its_cell_and_the_run_goes_on() -> None:
    log: list[str] = []
    a, b = measure([_FailsAtCleanUp("A", log), _Fake("B", log)], "w", 10, rounds=1)
    assert log == ["A", "B"]
    assert a.error == "clean-up failed: OSError: could not remove the database"
    assert b.ok


class _KeptWorkdir(Workdir):
    """A Workdir whose rounds' directories stay, to look at what a round wrote."""

    @contextlib.contextmanager
    def fresh(self, label: str):
        d = os.path.join(self.root, f"{label.replace(' ', '_')}-{len(os.listdir(self.root))}")
        os.makedirs(d)
        yield d


def _changes(path: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        records = conn.execute(f"SELECT {COLUMNS} FROM changes ORDER BY seq").fetchall()
        shapes = conn.execute("SELECT n FROM changes WHERE grp = ? ORDER BY seq", (GROUP,)).fetchall()
    finally:
        conn.close()
    # a record (a gathered batch) as its changes: (seq, at_us, grp, key, old, new, trace_id, cause, pid, origin)
    rows = [c for c in changes_of(records) if c[2] == GROUP]
    return [(c[2], c[3], None if c[4] is None else json.loads(c[4]), json.loads(c[5]), c[6], c[7],
             type(c[1]).__name__, type(c[8]).__name__, type(c[9]).__name__) for c in rows] + [("records", [s for (s,) in shapes])]  # fmt: skip


@pytest.mark.parametrize("workload", ["set_awaited", "set_gather"])
def test_raw_with_changelog_records_what_motia_nb_records(tmp_path: Path, workload: str) -> None:
    """'raw sqlite3 + changelog' records what motia_nb (history on) records: the same changes, in the
    same shape (a row per awaited set, one record for a gathered batch)."""
    raw_wd = _KeptWorkdir(str(tmp_path / "raw"))
    os.makedirs(raw_wd.root)
    with getattr(RawSQLite(raw_wd, changelog=True), workload)(5) as one:
        one()
    (raw_dir,) = os.listdir(raw_wd.root)
    sm = StateManager(str(tmp_path / "motia.db"))
    try:
        if workload == "set_gather":

            async def gathered():
                await asyncio.gather(*(sm.set(GROUP, key_of(i), value_of(i)) for i in range(5)))

            asyncio.run(gathered())
        else:
            for i in range(5):
                sm.sync.set(GROUP, key_of(i), value_of(i))
    finally:
        sm.close()
    motia = _changes(str(tmp_path / "motia.db"))
    assert len(motia) == 6 and motia[0][:3] == (GROUP, key_of(0), None)  # created: no old value
    assert motia[-1] == ("records", [5] if workload == "set_gather" else [None] * 5)
    assert _changes(os.path.join(raw_wd.root, raw_dir, "raw.db")) == motia
