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


def written(group_id: str, key: str, old: Any, new: Any, *, existed: bool) -> WriteResult:
    """A ``set`` or ``update`` that stored ``new`` (``existed``: the item was there before)."""
    ev = StateEvent(UPDATED if existed else CREATED, group_id, key, old if existed else None, new)
    return WriteResult({"new_value": new, "old_value": ev.old_value}, [ev])


def deleted(group_id: str, key: str, old: Any, *, existed: bool) -> WriteResult:
    """A ``delete``: the old value and one event, or None and no event for a missing item."""
    if not existed:
        return WriteResult(None, [])
    return WriteResult(old, [StateEvent(DELETED, group_id, key, old, None)])


def cleared(group_id: str, removed: Iterable[tuple[str, Any]]) -> WriteResult:
    """A ``clear`` that removed ``removed`` ((key, old value) pairs in insertion order)."""
    events = [StateEvent(DELETED, group_id, key, old, None) for key, old in removed]
    return WriteResult(len(events), events)
