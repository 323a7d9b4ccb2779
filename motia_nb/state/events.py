"""Change events (SPEC §4): one per item changed by a committed write.

An event is a plain ``dict`` (a subclass), shaped like the iii engine's state event
(``type``, ``event_type``, ``scope``, ``key``, ``old_value``, ``new_value``) plus the
names Motia's guide uses (``group_id``, ``item_id``), so ``json.dumps(event)`` works
and code written for the engine reads it unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["StateEvent", "WriteEvents", "by_trace", "CREATED", "UPDATED", "DELETED", "EVENT_KEYS"]

CREATED = "state:created"
UPDATED = "state:updated"
DELETED = "state:deleted"

EventType = Literal["state:created", "state:updated", "state:deleted"]

#: The keys of every event, in order.
EVENT_KEYS = ("type", "event_type", "scope", "key", "group_id", "item_id", "old_value", "new_value")


class StateEvent(dict):  # type: ignore[type-arg]
    """A committed change: a dict with :data:`EVENT_KEYS`, readable as attributes too.

    ``event["scope"] == event.scope == event.group_id`` (the group) and
    ``event["key"] == event.key == event.item_id`` (the item's key); ``type`` is
    always ``"state"``; ``old_value`` is ``None`` on create, ``new_value`` ``None``
    on delete.
    """

    __slots__ = ()

    # Declared for type checkers; the values live in the dict.
    type: str
    event_type: EventType
    scope: str
    key: str
    group_id: str
    item_id: str
    old_value: Any
    new_value: Any

    def __init__(self, event_type: EventType, group_id: str, item_id: str, old_value: Any, new_value: Any) -> None:
        # One item at a time: measured faster than dict.__init__ with keywords.
        self["type"] = "state"
        self["event_type"] = event_type
        self["scope"] = group_id
        self["key"] = item_id
        self["group_id"] = group_id
        self["item_id"] = item_id
        self["old_value"] = old_value
        self["new_value"] = new_value

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None

    def __reduce__(self) -> Any:  # pickles (and copies) as a StateEvent, not a bare dict
        return (_rebuild, (dict(self),))

    def __repr__(self) -> str:
        return f"StateEvent({dict.__repr__(self)})"


def _rebuild(data: dict[str, Any]) -> StateEvent:
    event = StateEvent(data["event_type"], data["group_id"], data["item_id"], data["old_value"], data["new_value"])
    dict.update(event, data)
    return event


class WriteEvents(list):  # type: ignore[type-arg]
    """The events of one write another process committed (or of one trace's run of them), in
    commit order, with the trace id the write was recorded with (``trace_id``; None when it had
    none: another tool's write, an old row or message). A plain list of :class:`StateEvent` to
    whoever iterates it (the events themselves carry no trace); the backends hand other
    processes' changes to their remote listeners as these, so remote triggers run under the
    writer's trace (:mod:`motia_nb.state.remote`)."""

    __slots__ = ("trace_id",)

    def __init__(self, events: Any = (), trace_id: str | None = None) -> None:
        super().__init__(events)
        self.trace_id = trace_id or None


def by_trace(events: Any, traces: Any) -> list[WriteEvents]:
    """``events`` cut into runs of one trace id (``traces[i]`` is ``events[i]``'s; '' or None:
    none), in order: a message of several traces' writes is delivered a trace at a time."""
    out: list[WriteEvents] = []
    for ev, trace in zip(events, traces):
        trace = trace or None
        if not out or out[-1].trace_id != trace:
            out.append(WriteEvents((), trace))
        out[-1].append(ev)
    return out
