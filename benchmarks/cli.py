"""``python -m benchmarks`` (and ``python benchmarks/run.py``, what ``make bench`` runs).

Prints every issue-12 target with its ratio and verdict, the frame() memory
report and every store's ops/s, then (a whole run: no --workloads or --stores) issue 16's
history targets; then writes ``benchmarks/results/latest.{json,md}``,
``chart.png`` and the README's bench section (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence

from .chart import draw_chart
from .core import Pairing
from .history import (
    HISTORY_SIZES,
    TINY_HISTORY_SIZES,
    outcomes_json,
    outcomes_markdown,
    render_outcomes,
    run_history_bench,
    write_pairing,
)
from .plan import STORES, run_benchmarks
from .report import machine_line, render_table, write_results
from .targets import SIZES, TINY_SIZES

__all__ = ["main"]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--tiny", action="store_true", help="60 items per workload: checks the script, not the speed")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (default 1.0)")
    d = Pairing()
    ap.add_argument("--repeats", type=int, default=d.rounds,
                    help=f"paired rounds per target, at least (default {d.rounds}); its ratio is their pairs' median")
    ap.add_argument("--max-repeats", type=int, default=d.max_rounds,
                    help=f"paired rounds per target, at most: added while the pairs disagree (default {d.max_rounds})")
    ap.add_argument("--warmup", type=int, default=d.warmup, help=f"pairs run first and discarded (default {d.warmup})")
    ap.add_argument("--settle", type=float, default=d.settle,
                    help=f"add pairs while their middle half spans more than this of the median (default {d.settle})")
    stores = ", ".join(STORES).replace("%", "%%")
    ap.add_argument("--stores", nargs="+", choices=STORES, metavar="STORE",
                    help=f"only these columns (a target needs both of its stores): {stores}")  # fmt: skip
    ap.add_argument("--workloads", nargs="+", choices=[*SIZES], metavar="W", help=f"only these: {', '.join(SIZES)}")
    ap.add_argument("--targets-only", action="store_true", help="only the targets' pairs (and memory): no peers")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"), help="README to update ('' = none)")
    ap.add_argument("--no-write", action="store_true", help="print the tables only; write nothing")
    ap.add_argument("--history", action="store_true",
                    help="only issue 16's history targets (history on vs off, one key's history, follower latency)")
    return ap


def _history(args: argparse.Namespace) -> list[str]:
    """Measure and print issue 16's targets, write history.json; their Markdown lines."""
    base = TINY_HISTORY_SIZES if args.tiny else HISTORY_SIZES
    sizes = {w: max(1, int(n * args.scale)) for w, n in base.items()}
    pairing = _pairing(args) if args.tiny else write_pairing(_pairing(args))  # (--tiny checks the script only)
    print(f"motia_nb history benchmarks: sizes {sizes}; on/off writes: {pairing.describe()}", flush=True)
    os.environ["MOTIA_NB_DB"] = os.path.join(tempfile.mkdtemp(prefix="motia-nb-bench-default-"), "state.db")
    outcomes = run_history_bench(sizes, repeats=args.repeats, pairing=pairing, progress=lambda s: print(s, flush=True))
    print()
    print(render_outcomes(outcomes))
    if not args.no_write:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "history.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(outcomes_json(outcomes) + "\n")
        print(f"wrote {os.path.relpath(path)}")
    return outcomes_markdown(outcomes)


def _pairing(args: argparse.Namespace) -> Pairing:
    return Pairing(rounds=args.repeats, max_rounds=max(args.repeats, args.max_repeats), warmup=args.warmup,
                   settle=args.settle)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.scale <= 0:
        _parser().error(f"--scale must be > 0, got {args.scale}")
    try:
        pairing = _pairing(args)
    except ValueError as exc:
        _parser().error(str(exc))
    if args.history:
        _history(args)
        return 0
    base = TINY_SIZES if args.tiny else SIZES
    sizes = {w: max(1, int(n * args.scale)) for w, n in base.items() if not args.workloads or w in args.workloads}
    print(f"motia_nb benchmarks: sizes {sizes}; {pairing.describe()}", flush=True)
    # motia_nb's default database (the default state_manager is switched per round) must not be the user's
    os.environ["MOTIA_NB_DB"] = os.path.join(tempfile.mkdtemp(prefix="motia-nb-bench-default-"), "state.db")
    t0 = time.perf_counter()
    report = run_benchmarks(sizes, pairing=pairing, stores=args.stores, others=not args.targets_only,
                            progress=lambda s: print(s, flush=True))  # fmt: skip
    print()
    print(render_table(report))
    print(f"\n{machine_line(report)}; {report.date}; {time.perf_counter() - t0:.0f} s")
    # a whole run measures issue 16's targets too, and the README shows both tables
    history = _history(args) if not (args.workloads or args.stores) else []
    if not args.no_write:
        paths = write_results(report, args.out, readme=args.readme or None, history=history)
        paths["png"] = os.path.join(args.out, "chart.png")
        draw_chart(report, paths["png"])
        print("wrote " + ", ".join(os.path.relpath(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
