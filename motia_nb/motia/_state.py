"""Motia's synchronous state, stream and queue API (``stateManager``, ``Stream``, ``enqueue``).

Each call is the SDK's ``get_instance().trigger(...)`` with the SDK's payload,
and may be awaited as later 1.0 releases' coroutines are (``await stateManager.set(...)``,
``await stream.get_group(...)``, as Motia's playground steps write them; see :func:`answer`),
answered in-process, so results are the engine's (``stateManager.set`` →
``{"old_value", "new_value"}``, ``list_groups()`` → ``{"groups": [...]}``).
They work from plain cells, sync and async handlers alike (never a silent
no-op); errors raise :class:`~motia_nb.engine.EngineFunctionError`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ..steps.streams import check_stream_name
from ._client import client
from ._sync import Done, answer

__all__ = ["StateManager", "stateManager", "Stream", "StreamConfig", "enqueue"]

TData = TypeVar("TData")
_list = list


def _call(function_id: str, payload: dict[str, Any]) -> Any:
    return client.trigger({"function_id": function_id, "payload": payload})


class StateManager:
    """Motia's ``stateManager``: synchronous ``get/set/update/delete/list/list_groups/clear``."""

    def get(self, scope: str, key: str) -> Any | None:
        return answer(_call("state::get", {"scope": scope, "key": key}))

    def set(self, scope: str, key: str, value: Any) -> Any:
        return answer(_call("state::set", {"scope": scope, "key": key, "value": value}))

    def update(self, scope: str, key: str, ops: _list[dict[str, Any]]) -> Any:
        return answer(_call("state::update", {"scope": scope, "key": key, "ops": ops}))

    def delete(self, scope: str, key: str) -> Any | None:
        return answer(_call("state::delete", {"scope": scope, "key": key}))

    def list(self, scope: str) -> _list[Any]:
        return answer(_call("state::list", {"scope": scope}))

    def list_groups(self) -> Any:
        """``{"groups": [...]}``, as the engine answers through the SDK."""
        return answer(_call("state::list_groups", {}))

    def clear(self, scope: str) -> None:
        """Remove every item of ``scope`` (Motia's SDK skips values without an ``id``: motia_nb does not)."""
        _call("state::clear", {"scope": scope})
        return answer(None)

    def __repr__(self) -> str:
        return "<motia stateManager (motia_nb, synchronous)>"


stateManager = StateManager()


class StreamConfig:
    """Motia's ``StreamConfig`` (``name``, ``description``, ``schema``, ``base_config``, ``on_join``, ``on_leave``)."""

    def __init__(self, name: str, description: str | None = None, schema: Any = None, base_config: Any = None,
                 on_join: Any = None, on_leave: Any = None) -> None:
        self.name = check_stream_name(name)
        self.description = description
        self.schema = schema
        self.base_config = base_config
        self.on_join = on_join
        self.on_leave = on_leave


class Stream(Generic[TData]):
    """Motia's ``Stream(name)``: items addressed by ``(group_id, item_id)``, stored in motia_nb's store
    as the group ``<name>::<group_id>`` and firing ``stream`` triggers."""

    def __init__(self, config: StreamConfig | str) -> None:
        # (anything but a config is taken as the name: StreamConfig refuses None or 5 in one line)
        self.config = config if not isinstance(config, str) and hasattr(config, "name") else StreamConfig(config)
        self.stream_name = check_stream_name(self.config.name)

    def _p(self, **kw: Any) -> dict[str, Any]:
        return {"stream_name": self.stream_name, **kw}

    def get(self, group_id: str, item_id: str) -> TData | None:
        return answer(_call("stream::get", self._p(group_id=group_id, item_id=item_id)))

    def set(self, group_id: str, item_id: str, data: TData) -> Any:
        return answer(_call("stream::set", self._p(group_id=group_id, item_id=item_id, data=data)))

    def delete(self, group_id: str, item_id: str) -> None:
        _call("stream::delete", self._p(group_id=group_id, item_id=item_id))
        return answer(None)

    def get_group(self, group_id: str) -> _list[TData]:
        return answer(_call("stream::list", self._p(group_id=group_id)))

    def list(self, group_id: str) -> _list[TData]:
        return answer(_call("stream::list", self._p(group_id=group_id)))

    def update(self, group_id: str, item_id: str, ops: _list[dict[str, Any]]) -> Any:
        return answer(_call("stream::update", self._p(group_id=group_id, item_id=item_id, ops=ops)))

    def list_groups(self) -> _list[str]:
        return answer(_call("stream::list_groups", self._p()))

    def __repr__(self) -> str:
        return f"Stream({self.stream_name!r})"


def enqueue(event: dict[str, Any]) -> Done:
    """Enqueue ``{"topic", "data"}`` now: the subscribed steps run before this returns.

    Synchronous, as Motia's; the result may also be awaited (``await enqueue(...)``)."""
    _call("enqueue", event)
    return Done(None)
