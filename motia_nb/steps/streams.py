"""Motia streams stored in the state core: the group naming and the stream trigger event.

A stream item ``(stream_name, group_id, item_id)`` is the state item
``<stream_name>::<group_id>`` / ``item_id``, so ``%state``, the viewer and
``frame()`` show streams like any other group, and a write to such a group (by
``Stream(...).set``, ``stream::set`` or ``%state``) fires the ``stream``
triggers, not the ``state`` ones (in the engine, state and streams are two
stores). A stream name cannot contain ``::``; a group id may.

The event a stream trigger receives is the engine's message (``type``,
``timestamp``, ``streamName``, ``groupId``, ``id``, ``event: {type, data}``) as a
dict that also answers Motia's attribute names (``stream_name``, ``group_id``,
``id``, ``event.type``, ``event.data``).
"""

from __future__ import annotations

import time
from typing import Any

from ..state.errors import InvalidInputError

__all__ = ["SEP", "stream_group", "split_stream_group", "is_stream_group", "StreamEvent", "stream_event"]

SEP = "::"


def check_stream_name(stream_name: Any) -> str:
    # a trailing ':' would run into the separator: "a:" + "::" + "g" reads back as stream "a", group ":g"
    if (not isinstance(stream_name, str) or not stream_name or SEP in stream_name or "\x00" in stream_name
            or stream_name.endswith(SEP[0])):  # fmt: skip
        raise InvalidInputError(  # a ValueError shown as one line (the user's frames and the message)
            f"a stream name must be a non-empty str without {SEP!r} and not ending in {SEP[0]!r}, got {stream_name!r}"
        )
    return stream_name


def stream_group(stream_name: str, group_id: str) -> str:
    """The state group that holds ``stream_name``'s group ``group_id``."""
    if not isinstance(group_id, str) or not group_id:
        raise InvalidInputError(f"stream {stream_name!r}: group_id must be a non-empty str, got {group_id!r}")
    return f"{check_stream_name(stream_name)}{SEP}{group_id}"


def split_stream_group(name: str) -> tuple[str, str] | None:
    """``"todo::inbox"`` → ``("todo", "inbox")``; None for a plain state group."""
    stream, sep, group = name.partition(SEP)
    if not sep or not stream or not group:
        return None
    return stream, group


def is_stream_group(name: str) -> bool:
    return split_stream_group(name) is not None


class _AttrDict(dict):
    """A dict whose keys (and a few aliases) read as attributes."""

    _aliases: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        key = self._aliases.get(name, name)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no {name!r} (keys: {', '.join(self)})") from None


class StreamEventData(_AttrDict):
    """``event``: ``{"type": "create" | "update" | "delete", "data": value}``."""


class StreamEvent(_AttrDict):
    """What a stream trigger's handler and condition receive (the engine's message)."""

    _aliases = {"stream_name": "streamName", "group_id": "groupId", "item_id": "id"}


_KIND = {"state:created": "create", "state:updated": "update", "state:deleted": "delete"}


def stream_event(event: Any) -> StreamEvent | None:
    """The stream event for a state change event of a stream group, else None."""
    parts = split_stream_group(event.group_id)
    if parts is None:
        return None
    kind = _KIND[event.event_type]
    data = event.old_value if kind == "delete" else event.new_value
    return StreamEvent(
        type="stream",
        timestamp=int(time.time() * 1000),
        streamName=parts[0],
        groupId=parts[1],
        id=event.item_id,
        event=StreamEventData(type=kind, data=data),
    )
