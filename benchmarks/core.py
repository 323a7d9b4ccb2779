"""What every workload shares: the data, the clock, a sample, and the driver protocol.

A *driver* (one per store) has a ``name``, a ``how`` sentence and one method per
workload it supports (names in :data:`WORKLOADS`). A workload method takes ``n``
and is a context manager that prepares what every round shares (a populated
database for reads) and yields a *round*: a callable that runs the workload once
and returns a :class:`Sample`. Writes start each round on an empty store, so
rounds can be repeated and interleaved with another driver's rounds. A round
checks its own result (items stored, keys read back, updates lost) and raises
:class:`BenchError` when it is wrong.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
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
]

#: Workload name -> what it does (``n`` is its size).
WORKLOADS: dict[str, str] = {
    "set_gather": "n sets issued at once (asyncio.gather / one batch)",
    "set_awaited": "n sets, each awaited before the next",
    "set_sync": "n sets through the blocking (sync) API",
    "get": "n point reads of existing keys, shuffled",
    "incr": "n concurrent increments of one key (lost updates counted)",
    "incr_atomic": "n concurrent increments through the store's own atomic counter",
    "list": "every value of a group of n items",
}

GROUP = "bench"
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
