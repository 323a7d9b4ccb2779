"""Peak memory of ``frame()`` on a big group, next to the raw way, each in a fresh process.

The parent fills one database (through motia_nb's file, with raw executemany) and
runs ``python -m benchmarks.memory <side> <db> <n>`` once per side. The child
imports everything and opens the database, resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``), builds the DataFrame and prints, as JSON, how far
its resident memory peaked above where it stood just before the call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from .core import GROUP, BenchError, Workdir, key_of, value_of

__all__ = ["SIDES", "measure_frame_memory", "main"]

MiB = 1024 * 1024
#: side -> how it builds the DataFrame
SIDES: dict[str, str] = {
    "motia_nb": "StateManager(path).sync.frame(group)",
    "raw sqlite3": "SELECT key, value ORDER BY id + json.loads each + pd.DataFrame.from_records + key column",
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _raw_frame(path: str) -> Any:
    import sqlite3

    import pandas as pd

    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT key, value FROM items WHERE grp = ? ORDER BY id", (GROUP,)).fetchall()
        loads = json.loads
        df = pd.DataFrame.from_records([loads(v) for _, v in rows])
        df.insert(0, "key", [k for k, _ in rows])
        return df
    finally:
        conn.close()


def _child(side: str, path: str, n: int) -> dict[str, Any]:
    import pandas  # noqa: F401  (imported before the baseline is taken)

    from motia_nb import StateManager

    sm = StateManager(path)
    if side == "motia_nb":
        sm.sync.count(GROUP)  # open before the baseline

        def build() -> Any:
            return sm.sync.frame(GROUP)

    else:
        sm.close()

        def build() -> Any:
            return _raw_frame(path)

    exact = _reset_peak()
    before = _status_kb("VmRSS")
    t0 = time.perf_counter()
    df = build()
    secs = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    sm.close()
    if before is None or peak is None:
        raise SystemExit("no /proc/self/status: peak memory is measured on Linux only")
    return {
        "side": side,
        "rows": len(df),
        "columns": list(df.columns),
        "seconds": secs,
        "peak_mb": (peak - before) / 1024,
        "method": "VmHWM - VmRSS" + ("" if exact else " (peak not reset: an upper bound)"),
    }


def _fill(path: str, n: int) -> None:
    from .raw import UPSERT, motia_made_db

    conn = motia_made_db(path)
    try:
        conn.execute("BEGIN")
        conn.executemany(UPSERT, ((GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)))
        conn.execute("COMMIT")
    finally:
        conn.close()


def measure_frame_memory(wd: Workdir, n: int, timeout: float = 900) -> dict[str, dict[str, Any]]:
    """``{side: {"peak_mb", "seconds", "rows", ...}}`` for a group of ``n`` items.

    Raises :class:`BenchError` if a child fails or its DataFrame has the wrong shape.
    """
    out: dict[str, dict[str, Any]] = {}
    with wd.fresh("frame-memory") as d:
        path = os.path.join(d, "state.db")
        _fill(path, n)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        for side in SIDES:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.memory", side, path, str(n)],
                capture_output=True,
                text=True,
                env=env,
                cwd=d,
                timeout=timeout,
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise BenchError(f"{side}: the memory probe failed: {tail[0]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            if res["rows"] != n:
                raise BenchError(f"{side}: frame has {res['rows']} rows, expected {n}")
            out[side] = res
    cols = {tuple(r["columns"]) for r in out.values()}
    if len(cols) != 1:
        raise BenchError(f"the two frames have different columns: {sorted(cols)}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Child entry: ``python -m benchmarks.memory <side> <db> <n>`` prints one JSON line."""
    side, path, n = argv if argv is not None else sys.argv[1:]
    if side not in SIDES:
        raise SystemExit(f"unknown side {side!r}; known: {list(SIDES)}")
    print(json.dumps(_child(side, path, int(n))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
