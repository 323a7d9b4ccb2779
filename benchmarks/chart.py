"""The PNG chart: each target's ratio against its bar, and every store's ops/s."""

from __future__ import annotations

from .core import WORKLOADS
from .report import Report, machine_line

__all__ = ["draw_chart"]


def draw_chart(report: Report, path: str) -> None:
    """Left: issue 12's ratios (green PASS, red FAIL, black tick = target). Right: ops/s, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(17, 7), gridspec_kw={"width_ratios": [1, 1.4]})
    checks = [r for r in report.checks if r.ratio is not None]
    for i, r in enumerate(checks):
        color = "tab:green" if r.verdict == "PASS" else "tab:red"
        ax1.barh(i, r.ratio, color=color)
        ax1.plot([r.check.target] * 2, [i - 0.4, i + 0.4], color="black", lw=2)
        ax1.text(max(r.ratio, r.check.target) * 1.03, i, f"{r.ratio_text()} ({r.verdict}, {r.target_text()})",
                 va="center", fontsize=7.5)  # fmt: skip
    ax1.set_yticks(range(len(checks)))
    ax1.set_yticklabels([f"{r.check.id} (n={r.n:,})" for r in checks], fontsize=8)
    ax1.invert_yaxis()
    top = max([r.ratio for r in checks if r.ratio] + [r.check.target for r in checks] + [1.0])
    ax1.set_xlim(0, top * 1.8)
    ax1.set_xlabel("subject / baseline (speed: ops/s ratio; idle step: cost ratio)")
    ax1.set_title("issue 12 targets (black tick = target)")

    stores = [s for s in report.stores if any(c.store == s and c.ok for c in report.cells)]
    workloads = [w for w in WORKLOADS if any(c.workload == w and c.ok for c in report.cells)]
    height = 0.8 / max(1, len(stores))
    cmap = plt.get_cmap("tab10")
    labelled: set[str] = set()
    for si, s in enumerate(stores):
        for wi, w in enumerate(workloads):
            c = report.cell(s, w)
            if c is not None and c.ok and c.ops_per_s:
                y = wi + si * height
                ax2.barh(y, c.ops_per_s, height=height, color=cmap(si % 10), label=None if s in labelled else s)
                labelled.add(s)
                tag = f"{c.ops_per_s:,.0f}" + (f"  lost {c.lost}" if c.lost else "")
                ax2.text(c.ops_per_s * 1.05, y, tag, va="center", fontsize=6)
    ax2.set_yticks([wi + height * (len(stores) - 1) / 2 for wi in range(len(workloads))])
    ax2.set_yticklabels([f"{w}\n(n={report.sizes[w]:,})" for w in workloads], fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xscale("log")
    best = max((c.ops_per_s or 0.0) for c in report.cells) or 1.0
    ax2.set_xlim(right=best * 8)
    ax2.set_xlabel("ops/s (log scale, higher is better)")
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax2.grid(axis="x", alpha=0.3)
    ax2.set_title("every store")
    fig.suptitle(f"{report.date} · {machine_line(report)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
