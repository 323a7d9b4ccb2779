"""What every workload shares: the data, the clock, a sample, and the driver protocol.

A *driver* (one per store) has a ``name``, a ``how`` sentence and one method per
workload it supports (names in :data:`WORKLOADS`). A workload method takes ``n``
and is a context manager that prepares what every round shares (a populated
database for reads) and yields a *round*: a callable that runs the workload once
and returns a :class:`Sample`. Writes start each round on an empty store, so
rounds can be repeated and interleaved with another driver's rounds. A round
checks its own result (items stored, keys read back, updates lost) and raises
:class:`BenchError` when it is wrong.

How a ratio is measured (this machine's speed swings about 2x from minute to
minute, so a ratio of two bests taken at different moments measures the moment):

- the two sides run in *pairs* of rounds back to back, the order alternating
  (A B, B A, A B, ...), so each pair's two rounds share one moment of the machine;
- the first pair is a warm-up and is discarded (unless each of its rounds took 1 s or
  more: first-use costs are nothing next to such rounds, and the pair is kept);
- each pair gives a *paired ratio* (subject ops/s over baseline ops/s from those two
  rounds; for a cost, subject time over baseline time); the verdict takes their
  **median** (:func:`paired_ratio`), and the report shows their range and count;
- at least 3 pairs are measured (:data:`LEAST`), 5 when they fit in a time budget
  (15 s per target: the long Redis reads stop at 3), and more (up to 7, within the
  budget) while the middle half of the paired ratios is wider than 10% of their
  median (:func:`settled`); all of these are :class:`Pairing`'s settings;
- garbage is collected before each round and the collector is off during it, on both
  sides (:class:`Timer`).

Each side's best round is still kept (its ops/s in the tables: "best of the rounds").
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "WORKLOADS",
    "GROUP",
    "COUNTER",
    "BenchError",
    "Sample",
    "Round",
    "Timer",
    "Workdir",
    "key_of",
    "value_of",
    "shuffled_keys",
    "expect",
    "supports",
    "Paired",
    "Pairing",
    "LEAST",
    "paired_ratio",
    "settled",
    "median",
]

#: Workload name -> what it does (``n`` is its size).
WORKLOADS: dict[str, str] = {
    "set_gather": "n sets issued at once (asyncio.gather / one batch)",
    "set_awaited": "n sets, each awaited before the next",
    "set_overwrite": "n sets of existing keys (a store of n items, each overwritten once), each awaited before the next",
    "set_sync": "n sets through the blocking (sync) API",
    "get": "n point reads of existing keys, shuffled",
    "incr": "n concurrent increments of one key (lost updates counted)",
    "incr_atomic": "n concurrent increments through the store's own atomic counter",
    "list": "every value of a group of n items",
}

GROUP = "bench"
#: kept pairs measured whatever the time budget says ("best of at least 3")
LEAST = 3
COUNTER = "counter"


class BenchError(RuntimeError):
    """A round produced a wrong result (so its time means nothing)."""


@dataclass
class Sample:
    """One timed round."""

    seconds: float
    lost: int | None = None  # increments: how many were lost


Round = Callable[[], Sample]


class Timer:
    """``with Timer() as t: ...`` -> ``t.seconds``; garbage is collected before, not during."""

    seconds: float = 0.0

    def __enter__(self) -> "Timer":
        gc.collect()
        gc.disable()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._t0
        gc.enable()


class Workdir:
    """Fresh directories under one root, one per store and round."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._n = 0

    @contextlib.contextmanager
    def fresh(self, label: str) -> Iterator[str]:
        self._n += 1
        safe = "".join(c if c.isalnum() else "_" for c in label)
        d = os.path.join(self.root, f"{self._n:04d}-{safe}")
        os.makedirs(d)
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)


def key_of(i: int) -> str:
    """The i-th key (an identifier, so ``%store`` can use it as a variable name)."""
    return f"k{i}"


def value_of(i: int) -> dict[str, Any]:
    """The i-th value: a small, flat JSON object."""
    return {"id": i, "name": f"user-{i}", "score": i * 0.5, "active": i % 2 == 0, "tier": "gold" if i % 3 else "std"}


def shuffled_keys(n: int, seed: int = 7) -> list[str]:
    """The first ``n`` keys in a fixed random order."""
    keys = [key_of(i) for i in range(n)]
    random.Random(seed).shuffle(keys)
    return keys


def expect(got: Any, want: Any, what: str) -> None:
    """Raise :class:`BenchError` ``"<what>: got <got>, expected <want>"`` unless equal."""
    if got != want:
        raise BenchError(f"{what}: got {got!r}, expected {want!r}")


def supports(driver: Any, workload: str) -> bool:
    """Whether ``driver`` runs ``workload`` (it has the method, and ``only`` does not exclude it)."""
    return hasattr(driver, workload) and workload in getattr(driver, "only", WORKLOADS)


@dataclass(frozen=True)
class Pairing:
    """How a pair of drivers is measured (see the module's docstring)."""

    rounds: int = 5  # kept pairs, at least (within the budget; LEAST whatever the budget)
    max_rounds: int = 7  # kept pairs, at most (extended while not settled, within the budget)
    warmup: int = 1  # pairs run first and discarded...
    long_round: float | None = 1.0  # ...unless each of its rounds took this long (then it is kept)
    settle: float | None = 0.10  # stop extending once the middle half spans <= this of the median
    budget: float = 15.0  # seconds per pair of drivers after which no pair is added beyond LEAST

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"repeats must be >= 1, got {self.rounds}")
        if self.warmup < 0:
            raise ValueError(f"warm-up rounds must be >= 0, got {self.warmup}")
        if self.settle is not None and self.settle < 0:
            raise ValueError(f"settle must be >= 0, got {self.settle}")

    def describe(self) -> str:
        fixed = self.max_rounds <= self.rounds or self.settle is None
        more = "" if fixed else f" (up to {self.max_rounds} while they disagree by more than {self.settle:.0%})"
        warm = f" after {self.warmup} warm-up pair{'s' if self.warmup != 1 else ''}" if self.warmup else ""
        return f"median of at least {self.rounds} paired ratios{more}{warm}"


def median(xs: Sequence[float]) -> float:
    """The median of ``xs`` (the mean of the middle two for an even count); ``xs`` non-empty."""
    s = sorted(xs)
    if not s:
        raise ValueError("median of no values")
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def quartiles(xs: Sequence[float]) -> tuple[float, float]:
    """(lower, upper) quartile as Tukey's hinges: the medians of the lower and upper halves (an odd count
    puts the middle value in both)."""
    s = sorted(xs)
    half = (len(s) + 1) // 2
    return median(s[:half]), median(s[len(s) - half :])


@dataclass(frozen=True)
class Paired:
    """A ratio measured from paired rounds: the median of the paired ratios, their range and count."""

    ratio: float
    low: float
    high: float
    ratios: tuple[float, ...]

    @property
    def pairs(self) -> int:
        return len(self.ratios)

    @property
    def spread(self) -> float:
        """The middle half's width (upper minus lower quartile) relative to the median."""
        lo, hi = quartiles(self.ratios)
        return (hi - lo) / self.ratio if self.ratio > 0 else float("inf")

    def text(self) -> str:
        """``"0.71× (paired 0.66–0.78 over 7 pairs)"``-style, without the ×-value's own suffix."""
        return f"paired {self.low:.2f}–{self.high:.2f} over {self.pairs} pairs"


def paired_ratio(subject: Sequence[float], baseline: Sequence[float], *, cost: bool = False,
                 scale: float = 1.0) -> Paired:  # fmt: skip
    """The ratio of ``subject`` to ``baseline`` from rounds taken in pairs (``subject[i]`` next to ``baseline[i]``).

    Both are round times in seconds. A speed ratio (``cost=False``) is subject ops/s over
    baseline ops/s: ``baseline[i] / subject[i] * scale`` (``scale`` = subject n / baseline n);
    a cost ratio is ``subject[i] / baseline[i]``. The ratio is the median of the pairs'.
    Pairs beyond the shorter list are ignored; no pair (or a time <= 0) is a ``ValueError``.
    """
    pairs = list(zip(subject, baseline))
    if not pairs:
        raise ValueError("no paired rounds")
    if any(a <= 0 or b <= 0 for a, b in pairs):
        raise ValueError(f"a round time <= 0 in {pairs}")
    ratios = tuple(a / b if cost else b / a * scale for a, b in pairs)
    return Paired(median(ratios), min(ratios), max(ratios), ratios)


def settled(ratios: Sequence[float], tolerance: float) -> bool:
    """Whether paired ratios agree well enough to stop adding pairs: the middle half
    (interquartile range) spans at most ``tolerance`` of their median."""
    if len(ratios) < 2:
        return False
    m = median(ratios)
    lo, hi = quartiles(ratios)
    return m > 0 and (hi - lo) <= tolerance * m
