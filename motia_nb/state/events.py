"""Change events (SPEC §4): one per item changed by a committed write."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

__all__ = ["StateEvent", "CREATED", "UPDATED", "DELETED"]

CREATED = "state:created"
UPDATED = "state:updated"
DELETED = "state:deleted"

EventType = Literal["state:created", "state:updated", "state:deleted"]

_FIELDS = ("type", "event_type", "group_id", "item_id", "old_value", "new_value")
_ALIASES = {"scope": "group_id", "key": "item_id"}


class StateEvent(Mapping[str, Any]):
    """A committed change. Read it as ``event["group_id"]`` or ``event.group_id``.

    ``scope`` is an alias of ``group_id`` (Motia's engine word) and ``key`` of
    ``item_id``. Iterating yields the six canonical fields only.
    """

    __slots__ = ("event_type", "group_id", "item_id", "old_value", "new_value")

    type: str = "state"

    def __init__(self, event_type: EventType, group_id: str, item_id: str, old_value: Any, new_value: Any) -> None:
        self.event_type = event_type
        self.group_id = group_id
        self.item_id = item_id
        self.old_value = old_value
        self.new_value = new_value

    @property
    def scope(self) -> str:
        return self.group_id

    @property
    def key(self) -> str:  # type: ignore[override]
        return self.item_id

    def __getitem__(self, name: str) -> Any:
        name = _ALIASES.get(name, name)
        if name in _FIELDS:
            return getattr(self, name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    def __contains__(self, name: object) -> bool:
        return name in _FIELDS or name in _ALIASES

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:  # events are values; identity hash is fine
        return id(self)

    def __repr__(self) -> str:
        return f"StateEvent({dict(self)!r})"
