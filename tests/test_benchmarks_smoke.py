"""Smoke test of `make bench` (benchmarks/run.py) at a tiny size.

Proves the script runs end to end and that its counts are right (items stored,
keys read back, lost updates); it asserts nothing about speed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("motia_nb_bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


bench = _load_bench()

N = 200
LOCAL_STORES = ["motia_nb", "raw sqlite3", "aiosqlite", "diskcache", "sqlitedict", "%store"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    """One tiny run of every local store (Redis is covered by its own test below)."""
    wd = tmp_path_factory.mktemp("bench")
    return bench.run_benchmarks({w: N for w in bench.WORKLOADS}, repeats=2, stores=LOCAL_STORES, workdir=str(wd))


def test_every_applicable_cell_ran_and_verified(report) -> None:
    for store in LOCAL_STORES:
        for workload in bench.WORKLOADS:
            m = report.cell(store, workload)
            assert m is not None, (store, workload)
            if m.error is not None:
                # only the documented gaps may be n/a
                allowed = (store == "%store" and workload in ("set_concurrent", "incr")) or (
                    workload == "incr_atomic" and store != "diskcache"
                )
                assert allowed, f"{store} / {workload} failed: {m.error}"
            else:
                assert m.n == N and m.seconds is not None and m.seconds > 0 and m.ops_per_s > 0


def test_motia_and_atomic_stores_lose_no_increment(report) -> None:
    assert report.cell("motia_nb", "incr").lost == 0
    assert report.cell("raw sqlite3", "incr").lost == 0
    assert report.cell("aiosqlite", "incr").lost == 0
    assert report.cell("diskcache", "incr_atomic").lost == 0


def test_naive_increments_report_their_losses_honestly(report) -> None:
    for store in ("diskcache", "sqlitedict"):
        m = report.cell(store, "incr")
        assert m.ok and m.lost is not None and 0 <= m.lost < N, (store, m)


def test_verdicts_cover_each_target(report) -> None:
    verdicts = {v["workload"]: v for v in report.verdicts()}
    assert set(verdicts) == set(bench.TARGETS)
    for w, v in verdicts.items():
        assert v["verdict"] in ("PASS", "MISS")
        assert v["ratio"] == pytest.approx(
            report.cell("motia_nb", w).ops_per_s / report.cell("raw sqlite3", w).ops_per_s
        )


def test_results_files_table_and_readme(report, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\nintro\n\n<!-- bench:start -->\nold table\n<!-- bench:end -->\n\nrest\n")
    paths = bench.write_results(report, str(tmp_path / "results"), readme=str(readme))
    data = json.loads(Path(paths["json"]).read_text())
    assert data["machine"]["nproc"] == os.cpu_count()
    assert data["machine"]["sqlite"] == sqlite3.sqlite_version
    assert {r["store"] for r in data["results"]} == set(LOCAL_STORES)
    motia_incr = next(r for r in data["results"] if r["store"] == "motia_nb" and r["workload"] == "incr")
    assert motia_incr["lost"] == 0
    png = Path(paths["png"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    md = Path(paths["md"]).read_text()
    assert "| workload (n) |" in md and "raw sqlite3" in md
    text = readme.read_text()
    assert text.startswith("# title\n\nintro\n\n<!-- bench:start -->\n### Benchmarks")
    assert text.endswith("<!-- bench:end -->\n\nrest\n") and "old table" not in text
    table = bench.render_table(report)
    assert "motia/raw" in table and "n/a" in table  # %store's concurrent cells say n/a, with the reason
    assert "line magic" in table


def test_readme_section_replacement_rules() -> None:
    body = "new"
    assert bench.replace_readme_section("", body) == "<!-- bench:start -->\nnew\n<!-- bench:end -->\n"
    out = bench.replace_readme_section("# x\n", body)
    assert out == "# x\n\n<!-- bench:start -->\nnew\n<!-- bench:end -->\n"
    assert bench.replace_readme_section(out, "newer").count("<!-- bench:start -->") == 1
    with pytest.raises(ValueError, match="bench:start"):
        bench.replace_readme_section("<!-- bench:end --> <!-- bench:start -->", body)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown workload.*nope"):
        bench.run_benchmarks({"nope": 1})
    with pytest.raises(ValueError, match="unknown store.*mongo"):
        bench.run_benchmarks({"get": 1}, stores=["mongo"])
    with pytest.raises(ValueError, match="repeats"):
        bench.run_benchmarks({"get": 1}, repeats=0)


def test_raw_baseline_uses_motia_nb_schema_and_file_settings(tmp_path: Path) -> None:
    """The raw sqlite3 baseline must run on the very table motia_nb creates."""
    from motia_nb.state.manager import StateManager

    sm = StateManager(str(tmp_path / "motia.db"))
    sm.sync.set("g", "k", 1)
    sm.close()
    raw = bench.RawSQLite.connect(str(tmp_path / "raw.db"))
    raw.close()

    def ddl(path: Path) -> list[str]:
        with sqlite3.connect(path) as c:
            rows = c.execute("SELECT sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
            return [" ".join(r[0].split()) for r in rows]

    def settings(conn: sqlite3.Connection) -> tuple[str, int]:
        return conn.execute("PRAGMA journal_mode").fetchone()[0], conn.execute("PRAGMA synchronous").fetchone()[0]

    assert ddl(tmp_path / "raw.db") == ddl(tmp_path / "motia.db")
    raw = bench.RawSQLite.connect(str(tmp_path / "raw.db"))
    try:
        assert settings(raw) == ("wal", 1)  # WAL, synchronous=NORMAL
    finally:
        raw.close()


@pytest.mark.redis
def test_redis_column_runs_and_stops_its_server(tmp_path: Path) -> None:
    from conftest import require_binary

    require_binary("redis-server", "the Redis column of make bench")
    report = bench.run_benchmarks(
        {"set_concurrent": N, "incr": N, "list_frame": N}, repeats=1, stores=["motia_nb redis"], workdir=str(tmp_path)
    )
    incr = report.cell("motia_nb redis", "incr")
    if incr.error is not None and "not importable" in incr.error:
        pytest.skip(f"Redis backend not available yet: {incr.error}")
    for w in ("set_concurrent", "incr", "list_frame"):
        m = report.cell("motia_nb redis", w)
        assert m.ok, f"motia_nb redis / {w}: {m.error}"
    assert incr.lost == 0
    # the private server was stopped: no redis-server left running with our temp dir
    assert shutil.which("redis-server")
    leftover = [p for p in Path("/proc").glob("[0-9]*") if _cmdline_mentions(p, str(tmp_path))]
    assert not leftover, leftover


def _cmdline_mentions(proc: Path, text: str) -> bool:
    try:
        return text in (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
