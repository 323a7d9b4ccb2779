"""The paired statistic behind every ratio of `make bench` (benchmarks/core.py): pure functions, table tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.core import Pairing, median, paired_ratio, quartiles, settled  # noqa: E402


@pytest.mark.parametrize(
    ("xs", "want"),
    [([3.0], 3.0), ([2.0, 1.0], 1.5), ([5.0, 1.0, 3.0], 3.0), ([4.0, 1.0, 3.0, 2.0], 2.5)],
)
def test_median(xs, want) -> None:
    assert median(xs) == want


@pytest.mark.parametrize(
    ("xs", "want"),
    [([1.0], (1.0, 1.0)), ([1.0, 2.0], (1.0, 2.0)), ([1.0, 2.0, 3.0, 4.0, 5.0], (2.0, 4.0)),
     ([4.0, 1.0, 3.0, 2.0], (1.5, 3.5))],
)  # fmt: skip
def test_quartiles(xs, want) -> None:
    assert quartiles(xs) == want


@pytest.mark.parametrize(
    ("subject", "baseline", "cost", "scale", "ratio", "low", "high"),
    [
        # speed: subject ops/s over baseline ops/s = baseline time / subject time, pair by pair
        ([1.0, 2.0, 1.0], [0.5, 1.0, 0.6], False, 1.0, 0.5, 0.5, 0.6),
        # a slow moment hits both sides of its pair: the ratio does not move (best/best would say 0.25)
        ([1.0, 4.0, 1.0, 4.0, 1.0], [0.5, 2.0, 0.5, 2.0, 0.5], False, 1.0, 0.5, 0.5, 0.5),
        # one disturbed pair is outvoted by the median but shows in the range
        ([1.0, 1.0, 3.0, 1.0, 1.0], [0.7, 0.72, 0.7, 0.68, 0.7], False, 1.0, 0.7, 0.7 / 3, 0.72),
        # cost: subject time over baseline time
        ([1.2, 1.1, 1.3], [1.0, 1.0, 1.0], True, 1.0, 1.2, 1.1, 1.3),
        # sides of different sizes: scaled by subject n / baseline n
        ([1.0, 1.0], [1.0, 1.0], False, 2.0, 2.0, 2.0, 2.0),
        # an even count: the mean of the middle two; extra rounds of one side have no pair and are ignored
        ([1.0, 1.0, 1.0, 1.0, 9.0], [0.5, 0.6, 0.7, 0.8], False, 1.0, 0.65, 0.5, 0.8),
    ],
)
def test_paired_ratio(subject, baseline, cost, scale, ratio, low, high) -> None:
    p = paired_ratio(subject, baseline, cost=cost, scale=scale)
    assert p.ratio == pytest.approx(ratio)
    assert (p.low, p.high) == (pytest.approx(low), pytest.approx(high))
    assert p.pairs == min(len(subject), len(baseline))
    assert p.text() == f"paired {low:.2f}–{high:.2f} over {p.pairs} pairs"


@pytest.mark.parametrize(
    ("subject", "baseline", "match"),
    [([], [], "no paired rounds"), ([1.0], [], "no paired rounds"), ([0.0], [1.0], "<= 0"), ([1.0], [-1.0], "<= 0")],
)
def test_paired_ratio_refuses_no_pairs_and_zero_times(subject, baseline, match) -> None:
    with pytest.raises(ValueError, match=match):
        paired_ratio(subject, baseline)


@pytest.mark.parametrize(
    ("ratios", "tolerance", "want"),
    [
        ([0.7], 0.5, False),  # one pair says nothing about the spread
        ([0.70, 0.71, 0.72, 0.70, 0.71], 0.10, True),
        ([0.5, 0.7, 0.9, 0.6, 0.8], 0.10, False),  # the middle half spans 0.6-0.8: 29% of 0.7
        ([0.5, 0.7, 0.9, 0.6, 0.8], 0.30, True),
        ([0.70, 0.71, 2.0, 0.70, 0.71, 0.1, 0.70], 0.05, True),  # outliers beyond the middle half do not count
    ],
)
def test_settled(ratios, tolerance, want) -> None:
    assert settled(ratios, tolerance) is want


def test_pairing_is_validated_and_described() -> None:
    assert Pairing().describe().startswith("median of at least 5 paired ratios")
    assert Pairing(rounds=3, max_rounds=3, warmup=0).describe() == "median of at least 3 paired ratios"
    for bad, match in (({"rounds": 0}, "repeats"), ({"warmup": -1}, "warm-up"), ({"settle": -0.1}, "settle")):
        with pytest.raises(ValueError, match=match):
            Pairing(**bad)
