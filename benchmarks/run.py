"""`make bench`: motia_nb's state core against raw sqlite3 and the stores users would pick instead.

Workloads (issue 3 / 7 / 8), each on a fresh temp database per store:

- ``set_concurrent``  20,000 concurrent ``set`` calls
- ``set_sequential``  20,000 sets, each awaited before the next
- ``get``             20,000 point reads of existing keys (shuffled order)
- ``incr``            2,000 concurrent increments of one key (lost updates counted)
- ``incr_atomic``     the same through a store's own atomic counter (diskcache ``incr``)
- ``list_frame``      a group of 100,000 items into a pandas DataFrame

How each store is driven (``DRIVERS`` below, printed in the report):

- **motia_nb** (SQLite, and Redis when ``redis-server`` is on PATH): the async API,
  "concurrent" = ``asyncio.gather`` of the calls on one loop.
- **raw sqlite3**: one stdlib connection, the same schema and file settings (WAL,
  synchronous=NORMAL), written plainly: commit per op (``INSERT … ON CONFLICT`` +
  ``commit``), point read (``SELECT`` by key + ``json.loads``), increments as
  ``BEGIN IMMEDIATE; SELECT; UPDATE; COMMIT`` per op, list as ``SELECT value`` +
  ``json.loads`` each + ``pd.DataFrame``. It has no concurrency of its own: the
  concurrent workloads run the same one-thread loop, which is the baseline the
  targets are stated against.
- **aiosqlite** (reference): one connection in autocommit mode, ``gather`` of
  ``execute`` calls, i.e. commit per op with one thread hop per call.
- **diskcache**, **sqlitedict**: no async API, so a thread pool of 8 threads, each
  taking 1/8 of the keys; increments are a naive ``get → modify → set`` of a JSON
  document and lost updates are counted, not hidden.
- **%store**: IPython's ``StoreMagics`` on the real ``InteractiveShell`` (its
  pickleshare db pointed at a temp dir). Sequential only: it is a line magic.

Targets (issue 3) are ratios to raw sqlite3 measured in the same run; the motia/raw
pair of each workload runs back to back, ``--repeats`` times, best of each kept.
Figures on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import gc
import io
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # `python benchmarks/run.py` from a checkout without an install
    sys.path.insert(0, ROOT)

import pandas as pd  # noqa: E402

# The raw baseline runs on the very table motia_nb's SQLite backend creates.
from motia_nb.state.backends.sqlite import SCHEMA as RAW_SCHEMA  # noqa: E402

__all__ = [
    "SIZES",
    "TINY_SIZES",
    "WORKLOADS",
    "STORES",
    "TARGETS",
    "Measure",
    "Report",
    "run_benchmarks",
    "render_table",
    "render_markdown",
    "draw_chart",
    "write_results",
    "replace_readme_section",
    "main",
]

# ---------------------------------------------------------------------------- settings

#: Full sizes, as the issues state them.
SIZES: dict[str, int] = {
    "set_concurrent": 20_000,
    "set_sequential": 20_000,
    "get": 20_000,
    "incr": 2_000,
    "incr_atomic": 2_000,
    "list_frame": 100_000,
}
#: A smoke-test size: proves the script and the counts, not the speed.
TINY_SIZES: dict[str, int] = {w: 200 for w in SIZES}

WORKLOADS: dict[str, str] = {
    "set_concurrent": "concurrent set",
    "set_sequential": "sequential awaited set",
    "get": "get (point read)",
    "incr": "concurrent increments of one key",
    "incr_atomic": "concurrent increments, store's atomic op",
    "list_frame": "list -> DataFrame (items/s)",
}

#: Store columns, in table order.
STORES: list[str] = ["motia_nb", "raw sqlite3", "aiosqlite", "diskcache", "sqlitedict", "%store", "motia_nb redis"]

#: issue 3: minimum ratio motia_nb / raw sqlite3 for each workload.
TARGETS: dict[str, float] = {
    "set_concurrent": 2.5,
    "set_sequential": 0.33,
    "get": 0.5,
    "incr": 1.0,
    "list_frame": 1.0,
}

DRIVERS: dict[str, str] = {
    "motia_nb": "async API; concurrent = asyncio.gather on one loop; list -> await frame(group)",
    "raw sqlite3": "one connection, one thread: commit per op; point read + json.loads; "
    "BEGIN IMMEDIATE/SELECT/UPDATE/COMMIT per increment; SELECT value + json.loads + pd.DataFrame",
    "aiosqlite": "one connection, autocommit (commit per op), asyncio.gather; increments under an asyncio.Lock",
    "diskcache": "Cache (WAL, synchronous=NORMAL by default), thread pool of 8; naive get->modify->set increments",
    "sqlitedict": "autocommit=True, journal_mode=WAL, synchronous set to NORMAL; thread pool of 8; "
    "naive get->modify->set increments",
    "%store": "IPython StoreMagics (pickleshare db in a temp dir), one variable per key, sequential; "
    "list = one %store'd list restored with %store -r",
    "motia_nb redis": "motia_nb StateManager('redis://127.0.0.1:PORT/0') on a private redis-server "
    "(--save '' --appendonly no); same driving as motia_nb",
}

THREADS = 8
GROUP = "bench"
COUNTER = "counter"

RAW_UPSERT = (
    "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value"
)
RAW_GET = "SELECT value FROM items WHERE grp = ? AND key = ?"
RAW_LIST = "SELECT value FROM items WHERE grp = ? ORDER BY id"


def key_of(i: int) -> str:
    """The i-th key (an identifier, so %store can use it as a variable name)."""
    return f"k{i}"


def value_of(i: int) -> dict[str, Any]:
    """The i-th value: a small, flat JSON object."""
    return {"id": i, "name": f"user-{i}", "score": i * 0.5, "active": i % 2 == 0, "tier": "gold" if i % 3 else "std"}


# ---------------------------------------------------------------------------- results


@dataclass
class Measure:
    """One store x workload cell."""

    store: str
    workload: str
    n: int
    seconds: float | None = None
    lost: int | None = None
    note: str = ""
    error: str | None = None  # set => "n/a" with this reason

    @property
    def ok(self) -> bool:
        return self.error is None and self.seconds is not None

    @property
    def ops_per_s(self) -> float | None:
        if not self.ok or not self.seconds:
            return None
        return self.n / self.seconds

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ops_per_s"] = self.ops_per_s
        return d


@dataclass
class Report:
    """Everything one run produced."""

    date: str
    machine: dict[str, Any]
    sizes: dict[str, int]
    repeats: int
    measures: list[Measure] = field(default_factory=list)

    def cell(self, store: str, workload: str) -> Measure | None:
        for m in self.measures:
            if m.store == store and m.workload == workload:
                return m
        return None

    def ratio(self, workload: str, store: str = "motia_nb") -> float | None:
        """ops/s of ``store`` divided by raw sqlite3's, for one workload."""
        a, b = self.cell(store, workload), self.cell("raw sqlite3", workload)
        if a is None or b is None or a.ops_per_s is None or b.ops_per_s is None:
            return None
        return a.ops_per_s / b.ops_per_s

    def verdicts(self) -> list[dict[str, Any]]:
        """PASS/MISS of motia_nb (SQLite) against each issue-3 target."""
        out = []
        for w, target in TARGETS.items():
            r = self.ratio(w)
            m = self.cell("motia_nb", w)
            lost_ok = True if w != "incr" else (m is not None and m.lost == 0)
            verdict = "n/a" if r is None else ("PASS" if r >= target and lost_ok else "MISS")
            out.append({"workload": w, "target": target, "ratio": r, "verdict": verdict,
                        "lost": m.lost if m is not None else None})  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "machine": self.machine,
            "sizes": self.sizes,
            "repeats": self.repeats,
            "stores": STORES,
            "workloads": WORKLOADS,
            "drivers": DRIVERS,
            "results": [m.to_json() for m in self.measures],
            "ratios_vs_raw_sqlite3": {
                s: {w: self.ratio(w, s) for w in WORKLOADS} for s in STORES if s != "raw sqlite3"
            },
            "targets": self.verdicts(),
        }


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, Python and SQLite versions, library versions."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    libs = {}
    for name in ("pandas", "diskcache", "sqlitedict", "aiosqlite", "redis", "IPython"):
        try:
            mod = __import__(name)
            libs[name] = getattr(mod, "__version__", "?")
        except Exception as exc:  # reported, not fatal
            libs[name] = f"missing ({exc.__class__.__name__})"
    redis_bin = shutil.which("redis-server")
    if redis_bin:
        try:
            out = subprocess.run(
                [redis_bin, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
            libs["redis-server"] = out.split("v=")[1].split()[0] if "v=" in out else out.strip()
        except Exception:
            libs["redis-server"] = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "libraries": libs,
    }


# ---------------------------------------------------------------------------- helpers


class Timer:
    """``with Timer() as t: ...`` -> ``t.seconds`` (garbage collected before, not during)."""

    seconds: float = 0.0

    def __enter__(self) -> "Timer":
        gc.collect()
        gc.disable()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._t0
        gc.enable()


def _slices(n: int, parts: int = THREADS) -> list[range]:
    step = -(-n // parts)
    return [range(i, min(n, i + step)) for i in range(0, n, step)]


def _threaded(pool: ThreadPoolExecutor, fn: Callable[[range], None], n: int) -> float:
    """Run ``fn`` on 8 slices of ``range(n)`` in the pool; seconds until all are done."""
    list(pool.map(lambda _: None, range(THREADS)))  # threads started before timing
    with Timer() as t:
        futures = [pool.submit(fn, s) for s in _slices(n)]
        for f in futures:
            f.result()
    return t.seconds


def _best_of(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """Time ``fn()`` ``rounds`` times; (fastest seconds, last result)."""
    best, out = float("inf"), None
    for _ in range(max(1, rounds)):
        out = None  # drop the previous result before timing the next round
        with Timer() as t:
            out = fn()
        best = min(best, t.seconds)
    return best, out


async def _best_of_async(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """:func:`_best_of` for a coroutine function."""
    best, out = float("inf"), None
    for _ in range(max(1, rounds)):
        out = None
        with Timer() as t:
            out = await fn()
        best = min(best, t.seconds)
    return best, out


def _rounds_note(rounds: int) -> str:
    return f"best of {rounds} rounds on one database" if rounds > 1 else ""


def _shuffled(n: int, seed: int = 7) -> list[str]:
    keys = [key_of(i) for i in range(n)]
    random.Random(seed).shuffle(keys)
    return keys


class Workdir:
    """A fresh temp directory per workload and store."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._n = 0

    @contextlib.contextmanager
    def fresh(self, label: str) -> Iterator[str]:
        self._n += 1
        d = os.path.join(self.root, f"{self._n:03d}-{label.replace(' ', '_').replace('%', 'pct')}")
        os.makedirs(d)
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------- motia_nb


async def _gather_chunks(calls: Callable[[int], Any], n: int, chunk: int = 5_000) -> list[Any]:
    """Setup helper: await ``calls(i)`` for i < n, ``chunk`` at a time."""
    out: list[Any] = []
    for lo in range(0, n, chunk):
        out += await asyncio.gather(*(calls(i) for i in range(lo, min(n, lo + chunk))))
    return out


class MotiaStore:
    """motia_nb's StateManager (SQLite file, or Redis when ``url`` is given)."""

    name = "motia_nb"

    def __init__(self, wd: Workdir, url: str | None = None) -> None:
        self.wd = wd
        self.url = url
        if url is not None:
            self.name = "motia_nb redis"

    @contextlib.contextmanager
    def manager(self) -> Iterator[Any]:
        from motia_nb.state.manager import StateManager

        with self.wd.fresh(self.name) as d:
            url = self.url or os.path.join(d, "state.db")
            sm = StateManager(url)
            try:
                if self.url is not None:
                    asyncio.run(sm.clear(GROUP))  # a shared server: start empty
                yield sm
            finally:
                if self.url is not None:
                    with contextlib.suppress(Exception):
                        asyncio.run(sm.clear(GROUP))
                sm.close()

    def set_concurrent(self, n: int) -> Measure:
        with self.manager() as sm:

            async def go() -> float:
                await sm.get(GROUP, "warm")  # open the database before timing
                with Timer() as t:
                    await asyncio.gather(*(sm.set(GROUP, key_of(i), value_of(i)) for i in range(n)))
                return t.seconds

            secs = asyncio.run(go())
            return self._check_count(sm, "set_concurrent", n, secs)

    def set_sequential(self, n: int) -> Measure:
        with self.manager() as sm:

            async def go() -> float:
                await sm.get(GROUP, "warm")
                with Timer() as t:
                    for i in range(n):
                        await sm.set(GROUP, key_of(i), value_of(i))
                return t.seconds

            secs = asyncio.run(go())
            return self._check_count(sm, "set_sequential", n, secs)

    def get(self, n: int, rounds: int = 1) -> Measure:
        with self.manager() as sm:
            keys = _shuffled(n)

            async def go() -> tuple[float, int]:
                await _gather_chunks(lambda i: sm.set(GROUP, key_of(i), value_of(i)), n)
                best, found = float("inf"), 0
                for _ in range(rounds):
                    found = 0
                    with Timer() as t:
                        for k in keys:
                            if await sm.get(GROUP, k) is not None:
                                found += 1
                    best = min(best, t.seconds)
                return best, found

            secs, found = asyncio.run(go())
            m = Measure(self.name, "get", n, secs, note=_rounds_note(rounds))
            if found != n:
                m.error = f"read {found} of {n} keys back"
            return m

    def incr(self, n: int) -> Measure:
        with self.manager() as sm:
            op = [{"type": "increment", "path": "n", "by": 1}]

            async def go() -> tuple[float, Any]:
                await sm.set(GROUP, COUNTER, {"n": 0})
                with Timer() as t:
                    await asyncio.gather(*(sm.update(GROUP, COUNTER, op) for _ in range(n)))
                return t.seconds, await sm.get(GROUP, COUNTER)

            secs, final = asyncio.run(go())
            return Measure(self.name, "incr", n, secs, lost=n - int(final["n"]), note="update(increment)")

    def list_frame(self, n: int, rounds: int = 1) -> Measure:
        with self.manager() as sm:

            async def go() -> tuple[float, pd.DataFrame]:
                await _gather_chunks(lambda i: sm.set(GROUP, key_of(i), value_of(i)), n)

                async def once() -> pd.DataFrame:
                    return await sm.frame(GROUP)

                return await _best_of_async(once, rounds)

            secs, df = asyncio.run(go())
            m = Measure(self.name, "list_frame", n, secs, note="frame(group): key column + fields")
            _check_frame(m, df, n)
            return m

    def _check_count(self, sm: Any, workload: str, n: int, secs: float) -> Measure:
        m = Measure(self.name, workload, n, secs)
        got = sm.sync.count(GROUP)
        if got != n:
            m.error = f"stored {got} items, expected {n}"
        elif sm.sync.get(GROUP, key_of(n - 1)) != value_of(n - 1):
            m.error = "the last value read back differs from what was set"
        return m


def _check_frame(m: Measure, df: pd.DataFrame, n: int) -> None:
    if len(df) != n:
        m.error = f"DataFrame has {len(df)} rows, expected {n}"
    elif "score" not in df.columns or float(df["score"].iloc[-1]) != value_of(n - 1)["score"]:
        m.error = f"DataFrame columns/values are wrong: {list(df.columns)}"


# ---------------------------------------------------------------------------- raw sqlite3


class RawSQLite:
    """Plain stdlib sqlite3: the baseline the targets are stated against."""

    name = "raw sqlite3"

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

    @staticmethod
    def connect(path: str, isolation_level: str | None = "") -> sqlite3.Connection:
        """Same file settings as motia_nb: WAL, synchronous=NORMAL, same schema."""
        conn = sqlite3.connect(path, isolation_level=isolation_level)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(RAW_SCHEMA)
        conn.commit()
        return conn

    @contextlib.contextmanager
    def conn(self, isolation_level: str | None = "") -> Iterator[sqlite3.Connection]:
        with self.wd.fresh(self.name) as d:
            conn = self.connect(os.path.join(d, "raw.db"), isolation_level)
            try:
                yield conn
            finally:
                conn.close()

    def _commit_per_op(self, workload: str, n: int) -> Measure:
        with self.conn() as conn:
            dumps = json.dumps
            with Timer() as t:
                for i in range(n):
                    conn.execute(RAW_UPSERT, (GROUP, key_of(i), dumps(value_of(i))))
                    conn.commit()
            m = Measure(self.name, workload, n, t.seconds, note="commit per op, one thread")
            got = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            if got != n:
                m.error = f"stored {got} rows, expected {n}"
            return m

    def set_concurrent(self, n: int) -> Measure:
        return self._commit_per_op("set_concurrent", n)

    def set_sequential(self, n: int) -> Measure:
        return self._commit_per_op("set_sequential", n)

    def get(self, n: int, rounds: int = 1) -> Measure:
        with self.conn() as conn:
            conn.executemany(RAW_UPSERT, ((GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)))
            conn.commit()
            keys, loads = _shuffled(n), json.loads

            def once() -> int:
                found = 0
                for k in keys:
                    row = conn.execute(RAW_GET, (GROUP, k)).fetchone()
                    if row is not None and loads(row[0]) is not None:
                        found += 1
                return found

            secs, found = _best_of(once, rounds)
            m = Measure(self.name, "get", n, secs, note="SELECT by key + json.loads")
            if found != n:
                m.error = f"read {found} of {n} keys back"
            return m

    def incr(self, n: int) -> Measure:
        with self.conn(isolation_level=None) as conn:
            conn.execute(RAW_UPSERT, (GROUP, COUNTER, json.dumps({"n": 0})))
            with Timer() as t:
                for _ in range(n):
                    conn.execute("BEGIN IMMEDIATE")
                    doc = json.loads(conn.execute(RAW_GET, (GROUP, COUNTER)).fetchone()[0])
                    doc["n"] += 1
                    conn.execute(
                        "UPDATE items SET value = ? WHERE grp = ? AND key = ?", (json.dumps(doc), GROUP, COUNTER)
                    )
                    conn.execute("COMMIT")
            final = json.loads(conn.execute(RAW_GET, (GROUP, COUNTER)).fetchone()[0])
            return Measure(self.name, "incr", n, t.seconds, lost=n - final["n"], note="BEGIN IMMEDIATE per op")

    def list_frame(self, n: int, rounds: int = 1) -> Measure:
        with self.conn() as conn:
            conn.executemany(RAW_UPSERT, ((GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)))
            conn.commit()
            loads = json.loads

            def once() -> pd.DataFrame:
                rows = conn.execute(RAW_LIST, (GROUP,)).fetchall()
                return pd.DataFrame([loads(r[0]) for r in rows])

            secs, df = _best_of(once, rounds)
            m = Measure(self.name, "list_frame", n, secs, note="SELECT value, json.loads each, pd.DataFrame")
            _check_frame(m, df, n)
            return m


# ---------------------------------------------------------------------------- aiosqlite


class AioSQLite:
    """aiosqlite, commit per op: one thread hop per call (why motia_nb has its own writer)."""

    name = "aiosqlite"

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

    async def _open(self, d: str) -> Any:
        import aiosqlite

        db = await aiosqlite.connect(os.path.join(d, "aio.db"), isolation_level=None)
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.executescript(RAW_SCHEMA)
        return db

    def _run(self, body: Callable[[Any], Any]) -> Any:
        with self.wd.fresh(self.name) as d:

            async def go() -> Any:
                db = await self._open(d)
                try:
                    return await body(db)
                finally:
                    await db.close()

            return asyncio.run(go())

    async def _count(self, db: Any) -> int:
        return (await db.execute_fetchall("SELECT count(*) FROM items"))[0][0]

    def _sets(self, workload: str, n: int, concurrent: bool) -> Measure:
        async def body(db: Any) -> Measure:
            with Timer() as t:
                if concurrent:
                    await asyncio.gather(
                        *(db.execute(RAW_UPSERT, (GROUP, key_of(i), json.dumps(value_of(i)))) for i in range(n))
                    )
                else:
                    for i in range(n):
                        await db.execute(RAW_UPSERT, (GROUP, key_of(i), json.dumps(value_of(i))))
            m = Measure(self.name, workload, n, t.seconds, note="autocommit execute per op")
            if (got := await self._count(db)) != n:
                m.error = f"stored {got} rows, expected {n}"
            return m

        return self._run(body)

    def set_concurrent(self, n: int) -> Measure:
        return self._sets("set_concurrent", n, True)

    def set_sequential(self, n: int) -> Measure:
        return self._sets("set_sequential", n, False)

    def get(self, n: int) -> Measure:
        async def body(db: Any) -> Measure:
            await db.executemany(RAW_UPSERT, [(GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)])
            found = 0
            with Timer() as t:
                for k in _shuffled(n):
                    rows = await db.execute_fetchall(RAW_GET, (GROUP, k))
                    if rows and json.loads(rows[0][0]) is not None:
                        found += 1
            m = Measure(self.name, "get", n, t.seconds, note="execute_fetchall + json.loads")
            if found != n:
                m.error = f"read {found} of {n} keys back"
            return m

        return self._run(body)

    def incr(self, n: int) -> Measure:
        async def body(db: Any) -> Measure:
            await db.execute(RAW_UPSERT, (GROUP, COUNTER, json.dumps({"n": 0})))
            lock = asyncio.Lock()  # one connection: transactions must not interleave

            async def one() -> None:
                async with lock:
                    await db.execute("BEGIN IMMEDIATE")
                    rows = await db.execute_fetchall(RAW_GET, (GROUP, COUNTER))
                    doc = json.loads(rows[0][0])
                    doc["n"] += 1
                    await db.execute(
                        "UPDATE items SET value = ? WHERE grp = ? AND key = ?", (json.dumps(doc), GROUP, COUNTER)
                    )
                    await db.execute("COMMIT")

            with Timer() as t:
                await asyncio.gather(*(one() for _ in range(n)))
            final = json.loads((await db.execute_fetchall(RAW_GET, (GROUP, COUNTER)))[0][0])
            return Measure(self.name, "incr", n, t.seconds, lost=n - final["n"], note="asyncio.Lock + BEGIN IMMEDIATE")

        return self._run(body)

    def list_frame(self, n: int) -> Measure:
        async def body(db: Any) -> Measure:
            await db.executemany(RAW_UPSERT, [(GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)])
            with Timer() as t:
                rows = await db.execute_fetchall(RAW_LIST, (GROUP,))
                df = pd.DataFrame([json.loads(r[0]) for r in rows])
            m = Measure(self.name, "list_frame", n, t.seconds)
            _check_frame(m, df, n)
            return m

        return self._run(body)


# ---------------------------------------------------------------------------- diskcache


class _MappingStore:
    """A store driven through the dict protocol (``m[k] = v``, ``m[k]``, ``len(m)``)
    by a pool of 8 threads (diskcache and sqlitedict have no async API).
    Subclasses open the mapping; the shared workloads live here."""

    name = ""

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

    def opened(self) -> contextlib.AbstractContextManager[tuple[Any, ThreadPoolExecutor]]:
        raise NotImplementedError

    def set_concurrent(self, n: int) -> Measure:
        with self.opened() as (m, pool):

            def work(r: range) -> None:
                for i in r:
                    m[key_of(i)] = value_of(i)

            secs = _threaded(pool, work, n)
            out = Measure(self.name, "set_concurrent", n, secs, note="8 threads")
            if len(m) != n:
                out.error = f"stored {len(m)} items, expected {n}"
            return out

    def set_sequential(self, n: int) -> Measure:
        with self.opened() as (m, _):
            with Timer() as t:
                for i in range(n):
                    m[key_of(i)] = value_of(i)
            out = Measure(self.name, "set_sequential", n, t.seconds)
            if len(m) != n:
                out.error = f"stored {len(m)} items, expected {n}"
            return out

    def incr(self, n: int) -> Measure:
        with self.opened() as (m, pool):
            m[COUNTER] = {"n": 0}

            def work(r: range) -> None:
                for _ in r:
                    doc = dict(m[COUNTER])
                    doc["n"] += 1
                    m[COUNTER] = doc

            secs = _threaded(pool, work, n)
            lost = n - m[COUNTER]["n"]
            return Measure(self.name, "incr", n, secs, lost=lost, note="8 threads, naive get->modify->set")

    def _timed_get(self, m: Any, n: int) -> Measure:
        found = 0
        with Timer() as t:
            for k in _shuffled(n):
                if m[k] is not None:
                    found += 1
        out = Measure(self.name, "get", n, t.seconds)
        if found != n:
            out.error = f"read {found} of {n} keys back"
        return out


# ---------------------------------------------------------------------------- diskcache


class DiskCacheStore(_MappingStore):
    """diskcache.Cache driven by a pool of 8 threads (it has no async API)."""

    name = "diskcache"

    @contextlib.contextmanager
    def opened(self) -> Iterator[tuple[Any, ThreadPoolExecutor]]:
        import diskcache

        with self.wd.fresh(self.name) as d:
            # diskcache's defaults are already WAL + synchronous=NORMAL; say so explicitly.
            cache = diskcache.Cache(d, sqlite_journal_mode="wal", sqlite_synchronous=1)
            pool = ThreadPoolExecutor(THREADS)
            try:
                yield cache, pool
            finally:
                pool.shutdown()
                cache.close()

    def get(self, n: int) -> Measure:
        with self.opened() as (cache, _):
            with cache.transact():  # setup, not timed
                for i in range(n):
                    cache.set(key_of(i), value_of(i))
            return self._timed_get(cache, n)

    def incr_atomic(self, n: int) -> Measure:
        with self.opened() as (cache, pool):
            cache.set(COUNTER, 0)

            def work(r: range) -> None:
                for _ in r:
                    cache.incr(COUNTER)

            secs = _threaded(pool, work, n)
            return Measure(self.name, "incr_atomic", n, secs, lost=n - cache.get(COUNTER), note="8 threads, Cache.incr")

    def list_frame(self, n: int) -> Measure:
        with self.opened() as (cache, _):
            with cache.transact():  # setup, not timed
                for i in range(n):
                    cache.set(key_of(i), value_of(i))
            with Timer() as t:
                df = pd.DataFrame([cache[k] for k in cache.iterkeys()])
            m = Measure(self.name, "list_frame", n, t.seconds, note="iterkeys + cache[k] each")
            _check_frame(m, df.sort_values("id", ignore_index=True), n)
            return m


# ---------------------------------------------------------------------------- sqlitedict


class SqliteDictStore(_MappingStore):
    """sqlitedict with autocommit (each write blocks until committed), 8 threads."""

    name = "sqlitedict"

    @contextlib.contextmanager
    def opened(self) -> Iterator[tuple[Any, ThreadPoolExecutor]]:
        from sqlitedict import SqliteDict

        with self.wd.fresh(self.name) as d:
            sd = SqliteDict(os.path.join(d, "sd.sqlite"), autocommit=True, journal_mode="WAL")
            # sqlitedict hard-codes synchronous=OFF; put it on motia_nb's setting.
            sd.conn.execute("PRAGMA synchronous = NORMAL")
            sd.conn.commit()
            pool = ThreadPoolExecutor(THREADS)
            try:
                yield sd, pool
            finally:
                pool.shutdown()
                sd.close()

    def get(self, n: int) -> Measure:
        with self.opened() as (sd, _):
            sd.update((key_of(i), value_of(i)) for i in range(n))
            return self._timed_get(sd, n)

    def list_frame(self, n: int) -> Measure:
        with self.opened() as (sd, _):
            sd.update((key_of(i), value_of(i)) for i in range(n))
            with Timer() as t:
                df = pd.DataFrame(list(sd.values()))
            m = Measure(self.name, "list_frame", n, t.seconds, note="values()")
            _check_frame(m, df, n)
            return m


# ---------------------------------------------------------------------------- %store


class StoreMagicStore:
    """IPython's %store (StoreMagics) on the real InteractiveShell, sequential only."""

    name = "%store"
    na: ClassVar[dict[str, str]] = {
        "set_concurrent": "a line magic on the kernel thread: no async or thread-safe API",
        "incr": "no atomic update and no concurrent API (a line magic on the kernel thread)",
    }

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

    @contextlib.contextmanager
    def shell(self) -> Iterator[Any]:
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.external.pickleshare import PickleShareDB
        from traitlets.config import Config

        if InteractiveShell.initialized():
            ip = InteractiveShell.instance()
        else:
            cfg = Config()
            cfg.HistoryManager.hist_file = ":memory:"
            ip = InteractiveShell.instance(config=cfg)
        if "store" not in ip.magics_manager.magics["line"]:
            ip.run_line_magic("load_ext", "storemagic")
        with self.wd.fresh(self.name) as d:
            saved_db = ip._db  # never touch the user's profile db
            ip.db = PickleShareDB(os.path.join(d, "db"))
            added: list[str] = []
            try:
                yield ip, d, added
            finally:
                ip.db = saved_db
                for name in added:
                    ip.user_ns.pop(name, None)

    @staticmethod
    def _fresh_db(ip: Any, d: str) -> None:
        """A new db object on the same directory: reads come from disk, as in a new session."""
        from IPython.external.pickleshare import PickleShareDB

        ip.db = PickleShareDB(os.path.join(d, "db"))

    def set_sequential(self, n: int) -> Measure:
        with self.shell() as (ip, _d, added), contextlib.redirect_stdout(io.StringIO()):
            ns, magic = ip.user_ns, ip.run_line_magic
            added += [key_of(i) for i in range(n)]
            with Timer() as t:
                for i in range(n):
                    k = key_of(i)
                    ns[k] = value_of(i)
                    magic("store", k)
            m = Measure(self.name, "set_sequential", n, t.seconds, note="one variable per key")
            got = len(ip.db.keys("autorestore/*"))
            if got != n:
                m.error = f"stored {got} variables, expected {n}"
            return m

    def get(self, n: int) -> Measure:
        with self.shell() as (ip, d, added), contextlib.redirect_stdout(io.StringIO()):
            for i in range(n):
                ip.db["autorestore/" + key_of(i)] = value_of(i)  # setup: what %store k would write
            self._fresh_db(ip, d)
            ns, magic, found = ip.user_ns, ip.run_line_magic, 0
            keys = _shuffled(n)
            added += keys
            with Timer() as t:
                for k in keys:
                    magic("store", "-r " + k)
                    if ns.get(k) is not None:
                        found += 1
            m = Measure(self.name, "get", n, t.seconds, note="%store -r name")
            if found != n:
                m.error = f"restored {found} of {n} variables"
            return m

    def list_frame(self, n: int) -> Measure:
        with self.shell() as (ip, d, added), contextlib.redirect_stdout(io.StringIO()):
            name = "bench_items"
            added.append(name)
            ip.user_ns[name] = [value_of(i) for i in range(n)]
            ip.run_line_magic("store", name)
            del ip.user_ns[name]
            self._fresh_db(ip, d)
            with Timer() as t:
                ip.run_line_magic("store", "-r " + name)
                df = pd.DataFrame(ip.user_ns[name])
            m = Measure(self.name, "list_frame", n, t.seconds, note="one %store'd list, %store -r")
            _check_frame(m, df, n)
            return m


# ---------------------------------------------------------------------------- redis-server


class RedisServer:
    """A private redis-server on a free 127.0.0.1 port, in a temp dir, nothing saved."""

    def __init__(self, binary: str, workdir: str) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.workdir,
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with code {self.proc.returncode} (see {self.workdir}/redis.log)"
                )
            try:
                if redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---------------------------------------------------------------------------- the run

PAIRED = ("motia_nb", "raw sqlite3")


READS = ("get", "list_frame")


def _measure(store: Any, workload: str, n: int, rounds: int = 1) -> Measure:
    """Run one cell; any failure becomes an "n/a" cell with the reason.

    Read workloads time ``rounds`` passes over one populated database (best kept).
    """
    na = getattr(store, "na", {}).get(workload)
    fn = getattr(store, workload, None)
    if na is not None or fn is None:
        return Measure(store.name, workload, n, error=na or NOT_APPLICABLE)
    try:
        return fn(n, rounds=rounds) if workload in READS and rounds > 1 else fn(n)
    except Exception as exc:
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Measure(store.name, workload, n, error=f"failed: {detail}"[:300])


def _best(ms: Sequence[Measure]) -> Measure:
    good = [m for m in ms if m.ok]
    if not good:
        return ms[0]
    best = min(good, key=lambda m: m.seconds or 0.0)
    lost = [m.lost for m in good if m.lost is not None]
    if lost:  # report the worst loss seen, never the best
        best.lost = max(lost)
    return best


def run_benchmarks(
    sizes: dict[str, int] | None = None,
    *,
    repeats: int = 3,
    stores: Sequence[str] | None = None,
    workdir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run every workload for every store; returns a :class:`Report`.

    The motia_nb / raw sqlite3 pair runs back to back ``repeats`` times per
    workload (best of each kept); the other stores run once.
    """
    sizes = dict(SIZES if sizes is None else sizes)
    unknown = set(sizes) - set(WORKLOADS)
    if unknown:
        raise ValueError(f"unknown workload(s) in sizes: {sorted(unknown)}; known: {list(WORKLOADS)}")
    wanted = list(STORES if stores is None else stores)
    bad = [s for s in wanted if s not in STORES]
    if bad:
        raise ValueError(f"unknown store(s): {bad}; known: {STORES}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    t_start = time.perf_counter()
    _say = progress or (lambda _msg: None)

    def say(msg: str) -> None:
        _say(f"[{time.perf_counter() - t_start:5.0f}s]{msg}")

    report = Report(
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        machine=machine_info(),
        sizes=sizes,
        repeats=repeats,
    )
    own_root = workdir is None
    root = workdir or tempfile.mkdtemp(prefix="motia-nb-bench-")
    wd = Workdir(root)
    try:
        impls: dict[str, Any] = {
            "motia_nb": MotiaStore(wd),
            "raw sqlite3": RawSQLite(wd),
            "aiosqlite": AioSQLite(wd),
            "diskcache": DiskCacheStore(wd),
            "sqlitedict": SqliteDictStore(wd),
            "%store": StoreMagicStore(wd),
        }
        for workload, n in sizes.items():
            pair = [s for s in PAIRED if s in wanted]
            runs: dict[str, list[Measure]] = {s: [] for s in pair}
            # writes: `repeats` fresh back-to-back pairs; reads: one pair, `repeats` rounds each
            outer, rounds = (1, repeats) if workload in READS else (repeats, 1)
            for _ in range(outer if pair else 0):
                for s in reversed(pair):  # raw first, then motia_nb, back to back
                    runs[s].append(_measure(impls[s], workload, n, rounds))
            for s in pair:
                report.measures.append(_best(runs[s]))
                say(_progress_line(report.measures[-1]))
            for s in wanted:
                if s in PAIRED or s == "motia_nb redis":
                    continue
                report.measures.append(_measure(impls[s], workload, n))
                say(_progress_line(report.measures[-1]))
        if "motia_nb redis" in wanted:
            report.measures += _run_redis(wd, sizes, say)
    finally:
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
    return report


def _run_redis(wd: Workdir, sizes: dict[str, int], say: Callable[[str], None]) -> list[Measure]:
    name = "motia_nb redis"

    def all_na(reason: str) -> list[Measure]:
        say(f"  {'(all)':<15} {name:<15} n/a: {reason}")
        return [Measure(name, w, n, error=reason) for w, n in sizes.items()]

    binary = shutil.which("redis-server")
    if binary is None:
        return all_na("redis-server is not on PATH (apt-get install redis-server)")
    try:
        import motia_nb.state.backends.redis  # noqa: F401
    except Exception as exc:
        return all_na(f"motia_nb's Redis backend is not importable: {exc}")
    out: list[Measure] = []
    with wd.fresh("redis-server") as d:
        server = RedisServer(binary, d)
        try:
            server.start()
        except Exception as exc:
            return all_na(f"cannot start redis-server: {exc}")
        try:
            store = MotiaStore(wd, server.url)
            for w, n in sizes.items():
                if w == "incr_atomic":
                    out.append(Measure(name, w, n, error=NOT_APPLICABLE))
                    continue
                out.append(_measure(store, w, n))
                say(_progress_line(out[-1]))
        finally:
            server.stop()
    return out


def _progress_line(m: Measure) -> str:
    if not m.ok:
        return f"  {m.workload:<15} {m.store:<15} n/a: {m.error}"
    lost = f"  lost {m.lost}" if m.lost is not None else ""
    return f"  {m.workload:<15} {m.store:<15} {m.ops_per_s:>12,.0f} ops/s ({m.seconds:.3f} s){lost}"


# ---------------------------------------------------------------------------- rendering


NOT_APPLICABLE = "does not apply"


def _fmt_ops(m: Measure | None) -> str:
    if m is None or m.error == NOT_APPLICABLE:
        return "—"
    if not m.ok:
        return "n/a"
    s = f"{m.ops_per_s:,.0f}"
    if m.lost is not None:
        s += f" (lost {m.lost})"
    return s


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def _rows(report: Report) -> tuple[list[str], list[list[str]]]:
    stores = [s for s in STORES if any(m.store == s for m in report.measures)]
    header = ["workload (n)"] + stores + ["motia/raw", "target", "verdict"]
    verdicts = {v["workload"]: v for v in report.verdicts()}
    rows = []
    for w, label in WORKLOADS.items():
        if w not in report.sizes:
            continue
        v = verdicts.get(w)
        row = [f"{label} ({report.sizes[w]:,})"] + [_fmt_ops(report.cell(s, w)) for s in stores]
        row += [_fmt_ratio(report.ratio(w)), f"≥ {v['target']}×" if v else "—", v["verdict"] if v else "—"]
        rows.append(row)
    return header, rows


def _na_notes(report: Report) -> list[str]:
    return [
        f"{m.store} / {m.workload}: n/a — {m.error}" for m in report.measures if not m.ok and m.error != NOT_APPLICABLE
    ]


def render_table(report: Report) -> str:
    """A plain-text table: ops/s per store per workload, ratio vs raw sqlite3, PASS/MISS."""
    header, rows = _rows(report)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))  # noqa: E731
    out = [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    ratios = []
    for s in STORES:
        if s in ("motia_nb", "raw sqlite3"):
            continue
        rs = [f"{w} {_fmt_ratio(report.ratio(w, s))}" for w in WORKLOADS if report.ratio(w, s) is not None]
        if rs:
            ratios.append(f"  {s} vs raw sqlite3: " + ", ".join(rs))
    if ratios:
        out += ["", "ratios of the other stores to raw sqlite3:", *ratios]
    notes = _na_notes(report)
    if notes:
        out += ["", "n/a:", *("  " + n for n in notes)]
    return "\n".join(out)


def _machine_line(report: Report) -> str:
    mi = report.machine
    return f"{mi['nproc']} cores, {mi['cpu']}, Python {mi['python']}, SQLite {mi['sqlite']}" + (
        f", redis-server {mi['libraries']['redis-server']}" if "redis-server" in mi.get("libraries", {}) else ""
    )


def render_markdown(report: Report) -> str:
    """The results as Markdown (results/latest.md and the README section)."""
    header, rows = _rows(report)
    md = [
        (
            f"Measured {report.date} on {_machine_line(report)} "
            f"(best of {report.repeats} back-to-back motia_nb/raw runs; other stores once). "
            "ops/s, higher is better; the machine is shared, so figures are noisy."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        "How each store is driven:",
        "",
        *(f"- **{s}**: {d}" for s, d in DRIVERS.items() if any(m.store == s for m in report.measures)),
    ]
    notes = _na_notes(report)
    if notes:
        md += ["", "Not measured:", "", *(f"- {n}" for n in notes)]
    return "\n".join(md) + "\n"


def draw_chart(report: Report, path: str) -> None:
    """A PNG: ops/s per workload and store (log scale), and motia_nb/raw ratios vs targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = [w for w in WORKLOADS if w in report.sizes]
    stores = [s for s in STORES if any(m.store == s and m.ok for m in report.measures)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(16, 6.5), gridspec_kw={"width_ratios": [2.3, 1]})
    height = 0.8 / max(1, len(stores))
    cmap = plt.get_cmap("tab10")
    for si, s in enumerate(stores):
        ys, xs = [], []
        for wi, w in enumerate(workloads):
            m = report.cell(s, w)
            if m is not None and m.ok:
                ys.append(wi + si * height)
                xs.append(m.ops_per_s)
        ax.barh(ys, xs, height=height, label=s, color=cmap(si))
        for y, x, w in zip(ys, xs, [w for w in workloads if (c := report.cell(s, w)) is not None and c.ok]):
            lost = report.cell(s, w).lost  # type: ignore[union-attr]
            tag = f"{x:,.0f}" + (f"  lost {lost}" if lost else "")
            ax.text(x * 1.05, y, tag, va="center", fontsize=6.5)
    ax.set_yticks([wi + height * (len(stores) - 1) / 2 for wi in range(len(workloads))])
    ax.set_yticklabels([f"{WORKLOADS[w]}\n(n={report.sizes[w]:,})" for w in workloads], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    top = max((m.ops_per_s or 0.0) for m in report.measures) or 1.0
    ax.set_xlim(right=top * 6)  # room for the labels
    ax.set_xlabel("ops/s (log scale, higher is better)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("motia_nb vs raw sqlite3 and peers")

    verdicts = [v for v in report.verdicts() if v["ratio"] is not None]
    names = [WORKLOADS[v["workload"]] for v in verdicts]
    ratios = [v["ratio"] for v in verdicts]
    colors = ["tab:green" if v["verdict"] == "PASS" else "tab:red" for v in verdicts]
    ax2.barh(range(len(verdicts)), ratios, color=colors)
    for i, v in enumerate(verdicts):
        ax2.plot([v["target"], v["target"]], [i - 0.4, i + 0.4], color="black", lw=2)
        ax2.text(max(v["ratio"], v["target"]) * 1.03, i, f"{v['ratio']:.2f}× ({v['verdict']}, target {v['target']}×)",
                 va="center", fontsize=7.5)  # fmt: skip
    ax2.set_yticks(range(len(verdicts)))
    ax2.set_yticklabels(names, fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xlim(0, max(ratios + [v["target"] for v in verdicts] + [1]) * 1.9)
    ax2.set_xlabel("motia_nb / raw sqlite3 (black bar = target)")
    ax2.set_title("targets (issue 3)")
    fig.suptitle(f"{report.date} · {_machine_line(report)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def replace_readme_section(text: str, body: str) -> str:
    """``text`` with everything between the bench markers replaced by ``body``.

    Text without the markers gets them (and ``body``) appended at the end.
    """
    start, end = text.find(README_START), text.find(README_END)
    if (start == -1) != (end == -1) or (start != -1 and end < start):
        raise ValueError(f"README has a broken benchmark section: need {README_START} before {README_END}")
    block = f"{README_START}\n{body.rstrip()}\n{README_END}"
    if start == -1:
        return text + ("" if not text or text.endswith("\n") else "\n") + ("\n" if text else "") + block + "\n"
    return text[:start] + block + text[end + len(README_END) :]


def readme_body(report: Report) -> str:
    """The README section: the table, machine and date, and how to reproduce."""
    return "\n".join(
        [
            "### Benchmarks",
            "",
            "`make bench` (1–3 minutes) measures motia_nb's state core next to raw stdlib sqlite3 with the same",
            "file settings (WAL, synchronous=NORMAL) and the stores people use instead. Full results:",
            (
                "[`benchmarks/results/latest.md`](benchmarks/results/latest.md), "
                "[`latest.json`](benchmarks/results/latest.json), chart: "
                "[`chart.png`](benchmarks/results/chart.png)."
            ),
            "",
            render_markdown(report),
        ]
    )


def write_results(report: Report, outdir: str, readme: str | None = None) -> dict[str, str]:
    """Write latest.json, latest.md and chart.png to ``outdir`` (and the README section)."""
    os.makedirs(outdir, exist_ok=True)
    paths = {
        "json": os.path.join(outdir, "latest.json"),
        "md": os.path.join(outdir, "latest.md"),
        "png": os.path.join(outdir, "chart.png"),
    }
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(report.to_json(), f, indent=2)
        f.write("\n")
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write("# motia_nb benchmarks (latest run)\n\n" + render_markdown(report))
        f.write("\n```\n" + render_table(report) + "\n```\n")
    draw_chart(report, paths["png"])
    if readme is not None:
        old = ""
        if os.path.exists(readme):
            with open(readme, encoding="utf-8") as f:
                old = f.read()
        with open(readme, "w", encoding="utf-8") as f:
            f.write(replace_readme_section(old, readme_body(report)))
        paths["readme"] = readme
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python benchmarks/run.py [--tiny] [--repeats N] [--stores ...]``."""
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tiny", action="store_true", help="200 items per workload: checks the script, not the speed")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (default 1.0)")
    ap.add_argument("--repeats", type=int, default=3, help="motia_nb/raw pairs per workload (default 3)")
    ap.add_argument("--stores", nargs="+", choices=STORES, metavar="STORE", help="subset of: " + ", ".join(STORES).replace("%", "%%"))
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), metavar="W", help=f"subset of {list(WORKLOADS)}")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"), help="README to update ('' = none)")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    args = ap.parse_args(argv)
    if args.scale <= 0:
        ap.error(f"--scale must be > 0, got {args.scale}")
    base = TINY_SIZES if args.tiny else SIZES
    sizes = {w: max(1, int(n * args.scale)) for w, n in base.items() if not args.workloads or w in args.workloads}
    t0 = time.perf_counter()
    print(f"motia_nb benchmarks: sizes {sizes}, repeats {args.repeats}", flush=True)
    report = run_benchmarks(sizes, repeats=args.repeats, stores=args.stores, progress=lambda s: print(s, flush=True))
    print()
    print(render_table(report))
    print(f"\n{_machine_line(report)}; {report.date}; {time.perf_counter() - t0:.0f} s")
    if not args.no_write:
        paths = write_results(report, args.out, readme=args.readme or None)
        print("wrote " + ", ".join(os.path.relpath(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
