"""Issue 12's speed targets: which pair each ratio compares, at which size, against what.

A :class:`Check` compares a *subject* store with a *baseline* store on one workload,
both measured in the same run in paired rounds (:mod:`benchmarks.core`): its ratio is
the median of the pairs' ratios. A speed check passes when that ratio of
``subject ops/s / baseline ops/s`` is ``>= target``; a cost check (the idle step) when
its ratio of ``subject seconds / baseline seconds`` is ``<= target``.

The two SQLite write targets have two rows each, so a baseline always runs the
same statements as its subject: motia_nb with history off against raw sqlite3,
and motia_nb as shipped (history on: one changelog row per change, in the same
transaction) against raw sqlite3 that inserts that same row with motia_nb's own
statement.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Check", "CHECKS", "SIZES", "TINY_SIZES", "MEMORY"]

#: The workload sizes of the default run (about 5 minutes on a quiet 2-core machine).
SIZES: dict[str, int] = {
    "set_gather": 20_000,
    "set_awaited": 5_000,
    "set_sync": 5_000,
    "get": 20_000,
    "incr": 2_000,
    "incr_atomic": 2_000,
    "list": 100_000,
    "frame_memory": 1_000_000,  # issue 12's group: ~15 s and ~1 GB per side, each in a fresh process
}
#: The smoke test's sizes: prove every workload runs and checks itself, not the speed.
TINY_SIZES: dict[str, int] = {w: 60 for w in SIZES}

#: The size key of the frame() peak-memory report (not a workload: no rounds, no target).
MEMORY = "frame_memory"


@dataclass(frozen=True)
class Check:
    """One target of issue 12 §3."""

    id: str
    workload: str
    subject: str
    baseline: str
    target: float
    what: str
    cost: bool = False  # True: subject time / baseline time must stay <= target
    no_loss: bool = False  # True: a lost update fails the check whatever the speed

    def describe(self, n: int) -> str:
        return f"{n:,}{'' if self.what.startswith('-') else ' '}{self.what}"


CHECKS: list[Check] = [
    Check("sqlite.set_gather", "set_gather", "motia_nb history off", "raw sqlite3", 0.6,
          "gathered sets, history off, vs raw: the same rows in ONE transaction"),
    Check("sqlite.set_gather.history", "set_gather", "motia_nb", "raw sqlite3 + changelog", 0.6,
          "gathered sets, history on, vs raw + the same changelog rows, ONE transaction"),
    Check("sqlite.set_awaited", "set_awaited", "motia_nb history off", "raw sqlite3", 0.8,
          "awaited sets, history off, vs raw commit-per-op (read old, upsert)"),
    Check("sqlite.set_awaited.history", "set_awaited", "motia_nb", "raw sqlite3 + changelog", 0.8,
          "awaited sets, history on, vs raw commit-per-op + the same changelog row"),
    Check("sqlite.get", "get", "motia_nb", "raw sqlite3", 0.8, "gets vs raw point reads"),
    Check("sqlite.incr", "incr", "motia_nb", "raw sqlite3", 1.5,
          "gathered increments of one key vs raw, none lost", no_loss=True),
    Check("sqlite.list", "list", "motia_nb", "raw sqlite3", 1.0, "-item list vs raw SELECT + json.loads"),
    Check("steps.idle_step", "set_sync", "motia_nb + idle step", "motia_nb", 1.3,
          "sync sets, idle state step vs no step (cost)", cost=True),
    Check("redis.set_gather", "set_gather", "motia_nb redis", "redis-py", 0.25,
          "Redis gathered sets vs one pipelined HSET batch"),
    Check("redis.set_sync", "set_sync", "motia_nb redis", "redis-py", 0.4, "Redis sync sets vs HSET round trips"),
    Check("redis.get", "get", "motia_nb redis", "redis-py", 0.7, "Redis gets vs HGET + json.loads"),
]  # fmt: skip
