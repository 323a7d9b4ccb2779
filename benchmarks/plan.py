"""The run: every check's pair side by side, then every other store once, then memory.

A check's two drivers run their rounds in pairs, interleaved (A B, B A, A B, ...),
so each pair shares one moment of a noisy machine; the ratio is the median of the
pairs' ratios (:mod:`benchmarks.core` says how many pairs, the warm-up and when more
are added); each side's best round and the worst loss are kept too. Every other
(store, workload) the drivers support runs once for the all-stores table. Redis columns need ``redis-server`` on PATH: a
private server is started for the run (:func:`motia_nb.testing.running_redis_server`)
and stopped afterwards; without it those cells say n/a with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import platform
import shutil
import sqlite3
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from motia_nb.testing import BinaryMissing, find_binary, running_redis_server

from .core import LEAST, WORKLOADS, Pairing, Workdir, paired_ratio, settled, supports
from .memory import measure_frame_memory
from .motia import MotiaDriver
from .peers import AioSQLite, DiskCache, SqliteDict, StoreMagic
from .raw import RawRedis, RawSQLite
from .report import Cell, CheckResult, Report
from .targets import CHECKS, MEMORY, SIZES

__all__ = ["STORES", "REDIS_STORES", "measure", "measure_pair", "run_benchmarks", "machine_info"]

#: Every store column, in table order.
STORES = ["motia_nb", "motia_nb history off", "motia_nb + idle step", "raw sqlite3", "raw sqlite3 + changelog",
          "aiosqlite", "diskcache", "sqlitedict", "%store", "motia_nb redis", "redis-py"]  # fmt: skip
REDIS_STORES = ("motia_nb redis", "redis-py")
LIBRARIES = ("pandas", "aiosqlite", "diskcache", "sqlitedict", "redis", "IPython")

Say = Callable[[str], None]


def _drivers(wd: Workdir, redis_url: str | None) -> dict[str, Any]:
    drivers: dict[str, Any] = {
        "motia_nb": MotiaDriver(wd),
        "motia_nb history off": MotiaDriver(wd, history=False),
        "motia_nb + idle step": MotiaDriver(wd, idle_step=True),
        "raw sqlite3": RawSQLite(wd),
        "raw sqlite3 + changelog": RawSQLite(wd, changelog=True),
        "aiosqlite": AioSQLite(wd),
        "diskcache": DiskCache(wd),
        "sqlitedict": SqliteDict(wd),
        "%store": StoreMagic(wd),
    }
    if redis_url is not None:  # one server, a database each: motia_nb's rounds start with FLUSHDB
        drivers["motia_nb redis"] = MotiaDriver(wd, redis_url.rsplit("/", 1)[0] + "/0")
        drivers["redis-py"] = RawRedis(redis_url.rsplit("/", 1)[0] + "/1")
    return drivers


def _failure(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]


@contextlib.contextmanager
def _guarded(cm: Any, cell: Cell) -> Iterator[Any]:
    """``cm``'s value; a failure while it cleans up marks ``cell`` instead of ending the run."""
    value = cm.__enter__()
    try:
        yield value
    finally:
        try:
            cm.__exit__(None, None, None)
        except Exception as exc:
            cell.error = f"clean-up failed: {_failure(exc)}"


def measure(drivers: Sequence[Any], workload: str, n: int, rounds: int, *, warmup: int = 0,
            max_rounds: int | None = None, settle: float | None = None, budget: float | None = None,
            long_round: float | None = None) -> list[Cell]:  # fmt: skip
    """Rounds of each driver, interleaved (A B, B A, A B, ...); one cell per driver.

    The first ``warmup`` rounds of each side are run and discarded (kept, when every
    round of such a pair took at least ``long_round`` seconds); then ``rounds`` rounds
    of each side are kept. With two drivers and ``settle``, more rounds follow (up to
    ``max_rounds``) while the paired ratios of the kept rounds are not
    :func:`~benchmarks.core.settled` within ``settle``. Once ``budget`` seconds have
    passed, no round is added beyond the first :data:`~benchmarks.core.LEAST` (or
    ``rounds``, if fewer). Each cell keeps every kept round's time (``samples``), its
    best, and the worst loss. A driver whose set-up or round fails gets a cell with the
    error; the others go on.
    """
    t0 = time.perf_counter()
    cells = [Cell(d.name, workload, n) for d in drivers]
    limit = max(rounds, max_rounds or rounds)
    with contextlib.ExitStack() as stack:
        rounds_of: list[Any] = []
        for d, cell in zip(drivers, cells, strict=True):
            try:
                rounds_of.append(stack.enter_context(_guarded(getattr(d, workload)(n), cell)))
            except Exception as exc:
                cell.error = f"set-up failed: {_failure(exc)}"
                rounds_of.append(None)
        r = kept = 0
        while kept < limit:
            warming = r < warmup
            if not warming:
                out_of_time = budget is not None and time.perf_counter() - t0 >= budget
                if kept >= min(LEAST, rounds) and out_of_time:
                    break  # the least number of pairs is enough
                if kept >= rounds and not _unsettled(cells, settle):
                    break
            got: list[tuple[Cell, Any]] = []
            order = range(len(drivers)) if r % 2 == 0 else reversed(range(len(drivers)))
            for i in order:
                cell, one = cells[i], rounds_of[i]
                if one is None or cell.error:
                    continue
                try:
                    got.append((cell, one()))
                except Exception as exc:
                    cell.error = f"round {r + 1} failed: {_failure(exc)}"
            if warming and not (long_round is not None and got and all(s.seconds >= long_round for _, s in got)):
                for cell, _ in got:
                    cell.warmup += 1
            else:  # a warm-up pair of long rounds counts: first-use costs are nothing next to them
                for cell, sample in got:
                    cell.add(sample.seconds, sample.lost)
                kept += 1
            r += 1
    return cells


def measure_pair(drivers: Sequence[Any], workload: str, n: int, pairing: Pairing) -> list[Cell]:
    """:func:`measure` with ``pairing``'s rounds, warm-up, extension and budget."""
    return measure(drivers, workload, n, pairing.rounds, warmup=pairing.warmup, max_rounds=pairing.max_rounds,
                   settle=pairing.settle, budget=pairing.budget, long_round=pairing.long_round)  # fmt: skip


def _unsettled(cells: list[Cell], settle: float | None) -> bool:
    """Whether a pair's paired ratios still disagree by more than ``settle``."""
    if settle is None or len(cells) != 2 or not all(c.ok for c in cells):
        return False
    return not settled(paired_ratio(cells[0].samples, cells[1].samples).ratios, settle)


def _progress(c: Cell) -> str:
    if not c.ok:
        return f"  {c.workload:<12} {c.store:<21} n/a: {c.error}"
    lost = f"  lost {c.lost}" if c.lost is not None else ""
    return f"  {c.workload:<12} {c.store:<21} {c.ops_per_s:>12,.0f} ops/s  ({c.seconds:.3f} s){lost}"


def _start_redis(stack: contextlib.ExitStack, wanted: Sequence[str], say: Say) -> tuple[str | None, str | None]:
    """(url, None) of a private server that ``stack`` stops, or (None, why there is none)."""
    if not any(s in wanted for s in REDIS_STORES):
        return None, "not selected"
    try:
        binary = find_binary("redis-server", "the Redis columns of make bench")
        server = stack.enter_context(running_redis_server(binary))
    except BinaryMissing as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"cannot start redis-server: {_failure(exc)}"
    say(f"a private redis-server on {server.url}")
    return server.url, None


def run_benchmarks(
    sizes: dict[str, int] | None = None,
    *,
    repeats: int | None = None,
    pairing: Pairing | None = None,
    stores: Sequence[str] | None = None,
    workdir: str | None = None,
    progress: Say | None = None,
    others: bool = True,
) -> Report:
    """Measure every check (paired rounds, see :class:`~benchmarks.core.Pairing`), then the other cells
    once, then memory.

    ``repeats`` (if given) is the least number of kept pairs (``pairing.rounds``).

    ``sizes`` maps workloads (and ``frame_memory``) to sizes; a workload left out is
    not run. ``stores`` restricts the columns (a check needs both of its stores).
    ``others=False`` measures the targets' pairs (and memory) only.
    """
    sizes = dict(SIZES if sizes is None else sizes)
    unknown = set(sizes) - set(WORKLOADS) - {MEMORY}
    if unknown:
        raise ValueError(f"unknown workload(s) in sizes: {sorted(unknown)}; known: {[*WORKLOADS, MEMORY]}")
    wanted = list(STORES if stores is None else stores)
    bad = [s for s in wanted if s not in STORES]
    if bad:
        raise ValueError(f"unknown store(s): {bad}; known: {STORES}")
    pairing = pairing or Pairing()
    if repeats is not None:
        pairing = dataclasses.replace(pairing, rounds=repeats, max_rounds=max(repeats, pairing.max_rounds))
    t0 = time.perf_counter()
    say: Say = lambda msg: (progress or (lambda _m: None))(f"[{time.perf_counter() - t0:5.0f}s] {msg}")  # noqa: E731
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    report = Report(now, machine_info(), sizes, pairing.rounds, pairing=pairing.describe())
    root = workdir or tempfile.mkdtemp(prefix="motia-nb-bench-")
    try:
        wd = Workdir(root)
        with contextlib.ExitStack() as stack:
            url, why_not = _start_redis(stack, wanted, say)
            drivers = _drivers(wd, url)
            report.stores = {s: drivers[s].how if s in drivers else f"n/a: {why_not}" for s in wanted}
            _run_checks(report, drivers, wanted, why_not, say, pairing)
            if others:
                _run_others(report, drivers, wanted, why_not, say)
        if MEMORY in sizes and {"motia_nb", "raw sqlite3"} <= set(wanted):
            say(f"frame() peak memory at {sizes[MEMORY]:,} items (a fresh process per side)")
            try:
                report.memory = measure_frame_memory(wd, sizes[MEMORY])
            except Exception as exc:
                report.memory_error = _failure(exc)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


def _unavailable(store: str, workload: str, n: int, why_not: str | None) -> Cell:
    return Cell(store, workload, n, error=f"redis-server unavailable: {why_not}")


def _run_checks(report: Report, drivers: dict[str, Any], wanted: list[str], why_not: str | None, say: Say,
                pairing: Pairing) -> None:  # fmt: skip
    for check in CHECKS:
        n = report.sizes.get(check.workload)
        if n is None or check.subject not in wanted or check.baseline not in wanted:
            continue
        say(f"{check.id}: {check.describe(n)}")
        pair = [check.subject, check.baseline]
        if all(s in drivers for s in pair):
            cells = measure_pair([drivers[s] for s in pair], check.workload, n, pairing)
        else:  # only the Redis pair can be missing, and then both of its stores are
            cells = [_unavailable(s, check.workload, n, why_not) for s in pair]
        for c in cells:
            say(_progress(c))
            if report.cell(c.store, c.workload) is None:
                report.cells.append(c)
        result = CheckResult(check, n, cells[0], cells[1])
        report.checks.append(result)
        if result.ratio is not None:
            say(f"  ratio {result.ratio_text()}")


def _run_others(report: Report, drivers: dict[str, Any], wanted: list[str], why_not: str | None, say: Say) -> None:
    say("the other stores, once each")
    for workload, n in report.sizes.items():
        if workload == MEMORY:
            continue
        for store in wanted:
            if report.cell(store, workload) is not None:
                continue
            if store not in drivers:
                cell = _unavailable(store, workload, n, why_not)
            elif not supports(drivers[store], workload):
                continue  # the store has no such operation: the table shows "—"
            else:
                cell = measure([drivers[store]], workload, n, 1)[0]
            report.cells.append(cell)
            say(_progress(cell))


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, load average, Python, SQLite, redis-server and library versions."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.lower().startswith("model name")), cpu)
    libs: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            libs[name] = getattr(__import__(name), "__version__", "?")
        except Exception as exc:  # reported, not fatal
            libs[name] = f"missing ({exc.__class__.__name__})"
    redis_bin = shutil.which("redis-server")
    if redis_bin:
        with contextlib.suppress(Exception):
            out = subprocess.run([redis_bin, "--version"], capture_output=True, text=True, timeout=10).stdout
            libs["redis-server"] = out.split("v=")[1].split()[0] if "v=" in out else out.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"nproc": os.cpu_count(), "cpu": cpu, "loadavg": load, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform(), "libraries": libs}  # fmt: skip
