"""Counts and seconds given to a public call: a Python or a numpy number, never a bool (pure).

A count read from a DataFrame (``df.seq.iloc[0]``, ``len``-like sums) is a ``numpy.int64``,
a measured time a ``numpy.float64`` or ``numpy.float32``: every call taking an int or a
number accepts them as the Python number they stand for, through these two checks. A bool
(``True``, ``numpy.True_``) is refused wherever a count or a number is taken, as before.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

__all__ = ["as_int", "as_number", "is_bool"]


def is_bool(value: Any) -> bool:
    """Whether ``value`` is a bool: Python's or numpy's (``numpy.bool_``, ``numpy.True_``)."""
    cls = type(value)
    return cls is bool or isinstance(value, bool) or (cls.__name__ in ("bool_", "bool") and cls.__module__ == "numpy")


def as_int(value: Any) -> int | None:
    """``value`` as an int when it is one: a Python int or a numpy integer; None for a bool
    (numpy's too), a float, a str or anything else (the caller says what it wanted)."""
    if is_bool(value):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def as_number(value: Any) -> int | float | None:
    """``value`` as an int or a float when it is a number: a Python int or float, or a numpy
    integer or floating scalar; None for a bool (numpy's too), a str, a complex or anything else."""
    n = as_int(value)
    if n is not None:
        return n
    if is_bool(value):
        return None
    if isinstance(value, float):
        return float(value)
    if type(value).__module__ == "numpy" and isinstance(value, numbers.Real):
        return float(value)
    return None
