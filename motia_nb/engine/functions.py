# TEMPORARY: replaced by branch motia at merge
"""A minimal stand-in for the engine function surface (``state::*`` and ``enqueue``).

Branch ``motia`` writes the real one (all of ``state::*``, ``stream::*`` and
``enqueue`` with the engine's result shapes); the endpoint depends only on this
interface: ``EngineFunctions(manager=None)``, ``await call(function_id, payload,
caller=None)``, ``names()`` and ``EngineFunctionError(code, message)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["EngineFunctions", "EngineFunctionError"]


class EngineFunctionError(Exception):
    """An engine function refused its input: ``code`` and ``message`` as the engine's ErrorBody."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _field(payload: Any, name: str, fid: str) -> Any:
    if not isinstance(payload, Mapping) or name not in payload:
        raise EngineFunctionError("invalid_input", f"{fid}: the payload needs {name!r}, got {payload!r}")
    return payload[name]


class EngineFunctions:
    """``call(function_id, payload)`` → what the iii engine answers for that function."""

    def __init__(self, manager: Any = None) -> None:
        if manager is None:
            from ..state import state_manager as manager
        self._sm = manager

    def names(self) -> list[str]:
        return sorted(self._table())

    def _table(self) -> dict[str, Any]:
        return {
            "state::get": self._get,
            "state::set": self._set,
            "state::update": self._update,
            "state::delete": self._delete,
            "state::list": self._list,
            "state::list_groups": self._list_groups,
            "state::clear": self._clear,
            "enqueue": self._enqueue,
        }

    async def call(self, function_id: str, payload: Any, *, caller: str | None = None) -> Any:
        fn = self._table().get(function_id)
        if fn is None:
            raise EngineFunctionError("function_not_found", f"Function '{function_id}' not found")
        try:
            return await fn(function_id, payload)
        except EngineFunctionError:
            raise
        except Exception as e:  # noqa: BLE001 - the engine answers an ErrorBody
            raise EngineFunctionError("invocation_failed", f"{type(e).__name__}: {e}") from e

    async def _get(self, fid: str, p: Any) -> Any:
        return await self._sm.get(_field(p, "scope", fid), _field(p, "key", fid))

    async def _set(self, fid: str, p: Any) -> Any:
        r = await self._sm.set(_field(p, "scope", fid), _field(p, "key", fid), p.get("value"))
        return {"old_value": r["old_value"], "new_value": r["new_value"]}

    async def _update(self, fid: str, p: Any) -> Any:
        r = await self._sm.update(_field(p, "scope", fid), _field(p, "key", fid), _field(p, "ops", fid))
        return {"old_value": r["old_value"], "new_value": r["new_value"]}

    async def _delete(self, fid: str, p: Any) -> Any:
        return await self._sm.delete(_field(p, "scope", fid), _field(p, "key", fid))

    async def _list(self, fid: str, p: Any) -> Any:
        return await self._sm.list(_field(p, "scope", fid))

    async def _list_groups(self, fid: str, p: Any) -> Any:
        return {"groups": await self._sm.list_groups()}

    async def _clear(self, fid: str, p: Any) -> Any:
        return await self._sm.clear(_field(p, "scope", fid))

    async def _enqueue(self, fid: str, p: Any) -> Any:
        from ..steps import enqueue

        if not isinstance(p, Mapping):
            raise EngineFunctionError("invalid_input", f"enqueue: the payload must be {{topic, data}}, got {p!r}")
        topic = p.get("topic")
        if not isinstance(topic, str) or not topic:
            raise EngineFunctionError("topic_not_set", "Topic is not set")
        await enqueue({"topic": topic, "data": p.get("data")})
        return None
