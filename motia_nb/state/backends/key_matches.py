"""The answer of a substring key search that may stop early (:meth:`Backend.search_keys`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError
from ..numbers import as_number

__all__ = ["KeySearch", "search_args"]


@dataclass(frozen=True)
class KeySearch:
    """Keys of a group containing a text, in key order.

    Complete (``through`` is None): the first ``limit`` such keys, as ``keys_containing``
    answers. Partial (a time budget ran out first): every such key up to ``through`` in key
    order, fewer than ``limit``; the rest follows from a search ``after=through``.
    """

    keys: list[str] = field(default_factory=list)
    through: str | None = None

    @property
    def complete(self) -> bool:
        return self.through is None


def search_args(after: Any, budget: Any) -> tuple[str | None, float | None]:
    """The checked ``after`` (None or a key) and ``budget`` (None or seconds >= 0) of ``search_keys``."""
    if after is not None and not isinstance(after, str):
        raise InvalidInputError(f"after must be None or a key (str), got {after!r}")
    seconds = None if budget is None else as_number(budget)
    if budget is not None and (seconds is None or not seconds >= 0):
        raise InvalidInputError(f"budget must be None or a number of seconds >= 0, got {budget!r}")
    return after, None if seconds is None else float(seconds)
