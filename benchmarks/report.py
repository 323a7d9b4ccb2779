"""What a run produced, and how it is shown: verdicts, the text table, Markdown,
the README section and the results files."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .core import WORKLOADS, Paired, paired_ratio
from .targets import MEMORY, Check

__all__ = ["Cell", "CheckResult", "Report", "render_table", "render_markdown", "replace_readme_section",
           "readme_body", "write_results", "machine_line", "README_START", "README_END"]  # fmt: skip

#: How a ratio is taken (the README section's paragraph; benchmarks/core.py has the details).
METHOD = [
    "How a ratio is taken: this machine's speed swings about 2× from minute to minute, so a ratio of two",
    "bests taken at different moments measures the moment. Each ratio comes from *paired rounds*: a subject",
    "round right next to a baseline round, the order alternating (A B, B A, …), a warm-up pair discarded;",
    "the verdict takes the **median of the pairs' ratios**, and the table shows their range, e.g.",
    "`0.71× (paired 0.66–0.78 over 7 pairs)`. At least 3 pairs, 5 when they fit in 15 s, up to 7 while the",
    "middle half of the pairs' ratios spans more than 10% of their median (`--repeats`, `--max-repeats`,",
    "`--warmup`, `--settle`); garbage is collected before each round, never during. ops/s are each side's best round.",
]

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
NOT_MEASURED = "—"


@dataclass
class Cell:
    """One store x workload: every kept round's time, the best of them, the worst round's losses."""

    store: str
    workload: str
    n: int
    seconds: float | None = None  # the best kept round
    lost: int | None = None
    rounds: int = 0
    error: str | None = None
    samples: list[float] = field(default_factory=list)  # every kept round's seconds, in order
    warmup: int = 0  # rounds run first and discarded

    def add(self, seconds: float, lost: int | None = None) -> None:
        """Keep one round: its time, the best time, the worst loss."""
        self.samples.append(seconds)
        self.rounds += 1
        self.seconds = seconds if self.seconds is None else min(self.seconds, seconds)
        if lost is not None:  # report the worst loss seen, never the best
            self.lost = lost if self.lost is None else max(self.lost, lost)

    @property
    def ok(self) -> bool:
        return self.error is None and self.seconds is not None and self.seconds > 0

    @property
    def ops_per_s(self) -> float | None:
        return self.n / self.seconds if self.ok and self.seconds else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ops_per_s": self.ops_per_s}


@dataclass
class CheckResult:
    """A check's two cells, measured side by side, and its verdict."""

    check: Check
    n: int
    subject: Cell
    baseline: Cell

    @property
    def paired(self) -> Paired | None:
        """The paired ratios of the two sides' rounds (None unless both sides measured)."""
        a, b = self.subject, self.baseline
        if not (a.ok and b.ok):
            return None
        return paired_ratio(a.samples, b.samples, cost=self.check.cost, scale=a.n / b.n)

    @property
    def ratio(self) -> float | None:
        """The verdict's ratio: the median of the paired ratios."""
        p = self.paired
        return None if p is None else p.ratio

    @property
    def best_ratio(self) -> float | None:
        """Each side's best round against the other's (best of the rounds; a report, not the verdict)."""
        a, b = self.subject, self.baseline
        if not (a.ok and b.ok):
            return None
        assert a.seconds and b.seconds
        return a.seconds / b.seconds if self.check.cost else b.seconds / a.seconds * (a.n / b.n)

    @property
    def verdict(self) -> str:
        r = self.ratio
        if r is None:
            return "n/a"
        if self.check.no_loss and (self.subject.lost or 0) > 0:
            return "FAIL"
        return "PASS" if (r <= self.check.target if self.check.cost else r >= self.check.target) else "FAIL"

    @property
    def reason(self) -> str:
        """Why the verdict is what it is, when the ratio alone does not say."""
        errors = [f"{c.store}: {c.error}" for c in (self.subject, self.baseline) if c.error]
        if errors:
            return "; ".join(errors)
        if self.check.no_loss and (self.subject.lost or 0) > 0:
            return f"{self.subject.lost} updates lost"
        return ""

    def target_text(self) -> str:
        return f"{'≤' if self.check.cost else '≥'} {self.check.target}×"

    def ratio_text(self) -> str:
        p = self.paired
        if p is None:
            return NOT_MEASURED
        return f"{p.ratio:.2f}×" + (" cost" if self.check.cost else "") + f" ({p.text()})"

    def to_json(self) -> dict[str, Any]:
        p = self.paired
        return {"check": asdict(self.check), "n": self.n, "label": self.check.describe(self.n),
                "subject": self.subject.to_json(), "baseline": self.baseline.to_json(),
                "ratio": self.ratio, "paired_ratios": None if p is None else list(p.ratios),
                "best_ratio": self.best_ratio, "verdict": self.verdict, "reason": self.reason}  # fmt: skip


@dataclass
class Report:
    """Everything one run produced."""

    date: str
    machine: dict[str, Any]
    sizes: dict[str, int]
    repeats: int
    stores: dict[str, str] = field(default_factory=dict)  # name -> how it is driven
    cells: list[Cell] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    memory: dict[str, dict[str, Any]] | None = None
    memory_error: str | None = None
    seconds: float = 0.0
    pairing: str = ""  # how each ratio was taken (Pairing.describe())

    def cell(self, store: str, workload: str) -> Cell | None:
        return next((c for c in self.cells if c.store == store and c.workload == workload), None)

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date, "machine": self.machine, "sizes": self.sizes, "repeats": self.repeats,
                "pairing": self.pairing,
                "seconds": self.seconds, "workloads": WORKLOADS, "stores": self.stores,
                "checks": [c.to_json() for c in self.checks], "results": [c.to_json() for c in self.cells],
                "frame_memory": self.memory, "frame_memory_error": self.memory_error}  # fmt: skip


# ---------------------------------------------------------------------------- tables


def _ops(c: Cell | None) -> str:
    if c is None:
        return NOT_MEASURED
    if not c.ok:
        return "n/a"
    return f"{c.ops_per_s:,.0f}" + (f" (lost {c.lost})" if c.lost is not None else "")


def _check_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["target (issue 12)", "subject ops/s", "baseline ops/s", "ratio", "target", "verdict"]
    rows = [[r.check.describe(r.n), f"{r.check.subject}: {_ops(r.subject)}", f"{r.check.baseline}: {_ops(r.baseline)}",
             r.ratio_text(), r.target_text(), r.verdict] for r in report.checks]  # fmt: skip
    return header, rows


def _matrix_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    stores = [s for s in report.stores if any(c.store == s for c in report.cells)]
    header = ["workload (n)"] + stores
    rows = []
    for w in WORKLOADS:
        if any(c.workload == w for c in report.cells):
            rows.append([f"{w} ({report.sizes[w]:,})"] + [_ops(report.cell(s, w)) for s in stores])
    return header, rows


def memory_lines(report: Report) -> list[str]:
    n = report.sizes.get(MEMORY)
    if n is None:
        return []
    if report.memory is None:
        return [f"frame() peak memory at {n:,} items: n/a — {report.memory_error or 'not measured'}"]
    m, r = report.memory.get("motia_nb"), report.memory.get("raw sqlite3")
    if not m or not r:
        return [f"frame() peak memory at {n:,} items: n/a — a side is missing"]
    ratio = m["peak_mb"] / r["peak_mb"] if r["peak_mb"] > 0 else float("nan")
    return [
        f"frame() peak memory at {n:,} items (report only, no target): motia_nb {m['peak_mb']:,.0f} MB "
        f"in {m['seconds']:.2f} s, raw sqlite3 + pandas {r['peak_mb']:,.0f} MB in {r['seconds']:.2f} s "
        f"({ratio:.2f}× raw's peak; {m['method']}, each in a fresh process)"
    ]


def _notes(report: Report) -> list[str]:
    out = [f"{c.store} / {c.workload}: {c.error}" for c in report.cells if c.error]
    out += [f"{r.check.id}: {r.reason}" for r in report.checks if r.reason and r.verdict != "n/a"]
    return out


def _method(report: Report) -> str:
    """How the ratios were taken, one sentence without its full stop."""
    how = report.pairing or f"median of {report.repeats} paired ratios"
    return (f"each ratio is the {how}, each pair a subject round next to a baseline round (order alternating), "
            "the range of the pairs in brackets; ops/s are each side's best round")  # fmt: skip


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)).rstrip()

    return [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def render_table(report: Report) -> str:
    """Plain text: the targets with ratios and verdicts, memory, then every store's ops/s."""
    out = _text_table(*_check_rows(report))
    passed = sum(r.verdict == "PASS" for r in report.checks)
    out.append(f"{passed} of {len(report.checks)} targets met; {_method(report)}")
    out += ["", *memory_lines(report), "", "ops/s of every store (higher is better):"]
    out += _text_table(*_matrix_rows(report))
    notes = _notes(report)
    if notes:
        out += ["", "n/a and failures:", *("  " + n for n in notes)]
    return "\n".join(out)


def machine_line(report: Report) -> str:
    mi = report.machine
    libs = mi.get("libraries", {})
    return (f"{mi['nproc']} cores, {mi['cpu']}, Python {mi['python']}, SQLite {mi['sqlite']}"
            + (f", redis-server {libs['redis-server']}" if "redis-server" in libs else "")
            + (f", load average {mi['loadavg']:.1f} at start" if mi.get("loadavg") is not None else ""))  # fmt: skip


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]  # fmt: skip


def render_markdown(report: Report, history: Sequence[str] = ()) -> str:
    """The results as Markdown (results/latest.md and the README section).

    ``history``: issue 16's targets as Markdown lines (``benchmarks.history.outcomes_markdown``),
    put after issue 12's table when the run measured them.
    """
    md = [f"Measured {report.date} on {machine_line(report)}. {_method(report)[0].upper()}{_method(report)[1:]}.", ""]
    md += _md_table(*_check_rows(report))
    if history:
        md += ["", "History on (issue 16), each ratio against the same store with history off:", "", *history]
    md += ["", *memory_lines(report), "", "ops/s of every store (higher is better):", ""]
    md += _md_table(*_matrix_rows(report))
    md += ["", "How each store is driven:", ""]
    md += [f"- **{s}**: {how}" for s, how in report.stores.items() if any(c.store == s for c in report.cells)]
    notes = _notes(report)
    if notes:
        md += ["", "n/a and failures:", "", *(f"- {n}" for n in notes)]
    return "\n".join(md) + "\n"


# ---------------------------------------------------------------------------- files


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


def readme_body(report: Report, history: Sequence[str] = ()) -> str:
    """The README section: what `make bench` measures, the tables, machine and date."""
    return "\n".join([
        "### Benchmarks",
        "",
        "`make bench` (`python -m benchmarks`, about 5 minutes on 2 cores) measures motia_nb's state core against",
        "raw stdlib sqlite3 on the same file, redis-py on the same server, and the stores people use instead,",
        "prints each issue-12 and issue-16 target with its verdict (`--history`: only issue 16's), and reports",
        "frame()'s peak memory on a 1,000,000-item group next to raw sqlite3 + pandas.",
        "Full results: [`benchmarks/results/latest.md`](benchmarks/results/latest.md),",
        "[`latest.json`](benchmarks/results/latest.json), chart: [`chart.png`](benchmarks/results/chart.png).",
        "",
        *METHOD,
        "",
        render_markdown(report, history),
    ])  # fmt: skip


def write_results(report: Report, outdir: str, readme: str | None = None,
                  history: Sequence[str] = ()) -> dict[str, str]:  # fmt: skip
    """Write latest.json and latest.md to ``outdir`` (and the README section); returns the paths.

    ``history``: issue 16's targets as Markdown lines, written into latest.md and the README too.
    """
    os.makedirs(outdir, exist_ok=True)
    paths = {"json": os.path.join(outdir, "latest.json"), "md": os.path.join(outdir, "latest.md")}
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(report.to_json(), f, indent=2)
        f.write("\n")
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write("# motia_nb benchmarks (latest run)\n\n" + render_markdown(report, history))
        f.write("\n```\n" + render_table(report) + "\n```\n")
    if readme is not None:
        old = ""
        if os.path.exists(readme):
            with open(readme, encoding="utf-8") as f:
                old = f.read()
        with open(readme, "w", encoding="utf-8") as f:
            f.write(replace_readme_section(old, readme_body(report, history)))
        paths["readme"] = readme
    return paths
