"""The one place where a committed write becomes its API result and its events.

Every backend, and every apply path inside a backend, answers through these
three functions, so ``set``/``update`` always return ``{"new_value", "old_value"}``,
``delete`` the old value, ``clear`` a count, and the events (SPEC §4) always match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..events import CREATED, DELETED, UPDATED, StateEvent
from .base import WriteResult

__all__ = ["written", "deleted", "cleared"]


def written(group_id: str, key: str, old: Any, new: Any, *, existed: bool, events: bool = True) -> WriteResult:
    """A ``set`` or ``update`` that stored ``new`` (``existed``: the item was there before).

    ``events=False``: the result only (nobody listens: no event object is built)."""
    if not existed:
        old = None
    if not events:
        return WriteResult({"new_value": new, "old_value": old}, [])
    ev = StateEvent(UPDATED if existed else CREATED, group_id, key, old, new)
    return WriteResult({"new_value": new, "old_value": old}, [ev])


def deleted(group_id: str, key: str, old: Any, *, existed: bool, events: bool = True) -> WriteResult:
    """A ``delete``: the old value and one event, or None and no event for a missing item."""
    if not existed:
        return WriteResult(None, [])
    return WriteResult(old, [StateEvent(DELETED, group_id, key, old, None)] if events else [])


def cleared(
    group_id: str, removed: Iterable[tuple[str, Any]], *, count: int | None = None, events: bool = True
) -> WriteResult:
    """A ``clear`` that removed ``removed`` ((key, old value) pairs in insertion order).

    With ``events=False``, ``removed`` may be empty and ``count`` says how many went."""
    evs = [StateEvent(DELETED, group_id, key, old, None) for key, old in removed] if events else []
    return WriteResult(len(evs) if count is None else count, evs)
