"""The iii engine's function surface, answered in-process by motia_nb.

Motia's SDK reaches the engine only through ``trigger({"function_id", "payload"})``.
:class:`EngineFunctions` answers those functions with the engine's request and
result shapes, backed by motia_nb's state core and steps runtime, so the real
SDK (bound in-process by :mod:`motia_nb.motia`), motia_nb's own ``motia``
stand-in and the WebSocket endpoint all share one implementation.

=====================  ===============================================  ===============================
function               payload                                          result (as the engine)
=====================  ===============================================  ===============================
``state::get``         ``scope``, ``key``                               the value, or None
``state::set``         ``scope``, ``key``, ``value`` (alias ``data``)   ``{"old_value", "new_value"}``
``state::update``      ``scope``, ``key``, ``ops``                      ``{"old_value", "new_value"}``
``state::delete``      ``scope``, ``key``                               the deleted value, or None
``state::list``        ``scope``                                        list of values
``state::list_groups`` ``{}``                                           ``{"groups": [sorted names]}``
``state::clear``       ``scope``                                        ``{"removed": n}`` (motia_nb)
``stream::get``        ``stream_name``, ``group_id``, ``item_id``       the value, or None
``stream::set``        … + ``data``                                     ``{"old_value", "new_value"}``
``stream::update``     … + ``ops``                                      ``{"old_value", "new_value"}``
``stream::delete``     ``stream_name``, ``group_id``, ``item_id``       ``{"old_value"}``
``stream::list``       ``stream_name``, ``group_id``                    list of values
``stream::list_groups`` ``stream_name``                                 list of group ids (sorted)
``enqueue``            ``topic``, ``data``                              None
=====================  ===============================================  ===============================

A payload may also be an array of the fields in that order (``["orders", "o1"]``), as
serde reads the engine's input structs. ``iii::durable::publish`` (the engine's newer name for ``enqueue``) is accepted
too. Streams live in the state core as groups ``<stream>::<group_id>``
(:mod:`motia_nb.steps.streams`); ``state::*`` refuses scopes containing ``::``
(reserved for streams) and ``state::list_groups`` does not list them, as the
engine's two stores never mix. Every failure raises :class:`EngineFunctionError`
with an engine-style ``code`` (``function_not_found``, ``deserialization_error``,
``invalid_input``, an update op's own code, ``topic_not_set``…); nothing is
half-written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._frames import ShortTraceback
from ..session import Session, current_session
from ..state import StateManager
from ..state.cause import acting_as, current_cause
from ..state.errors import InvalidInputError, UpdateOpError
from ..steps.errors import EnqueueError
from ..steps.streams import SEP, split_stream_group, stream_group

__all__ = ["EngineFunctions", "EngineFunctionError"]


class EngineFunctionError(ShortTraceback, Exception):
    """A function call the engine would answer with an error body (``code``, ``message``).

    Raised to Motia's SDK calls served in-process (``stateManager``, ``Stream``, ``enqueue``):
    in a notebook it shows as the user's frames plus one line, as motia_nb's own errors do.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_body(self) -> dict[str, Any]:
        """The engine's ``ErrorBody`` shape."""
        return {"code": self.code, "message": self.message}


def _fields(function_id: str, payload: Any, names: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check ``payload`` has the str fields ``names``; return them (plus ``optional``).

    As the engine (serde) reads its input structs, the payload is an object, or an
    array holding every field in the struct's order (``["orders", "o1"]`` for
    ``state::get``; ``optional`` names the fields after ``names``, e.g. ``value``).
    """
    if isinstance(payload, list):
        order = names + optional[:1]  # `value`/`data`, `ops`: one field after the names (an alias is not a field)
        if len(payload) != len(order):
            raise EngineFunctionError(
                "deserialization_error",
                f"{function_id}: invalid length {len(payload)}, expected an array of {len(order)} "
                f"({', '.join(order)}) or an object",
            )
        payload = dict(zip(order, payload))
    if not isinstance(payload, Mapping):
        raise EngineFunctionError(
            "deserialization_error", f"{function_id}: the payload must be an object, got {type(payload).__name__}"
        )
    out: dict[str, Any] = {}
    for name in names:
        if name not in payload:
            raise EngineFunctionError("deserialization_error", f"{function_id}: missing field `{name}`")
        if not isinstance(payload[name], str):
            raise EngineFunctionError(
                "deserialization_error", f"{function_id}: field `{name}` must be a string, got {payload[name]!r}"
            )
        out[name] = payload[name]
    for name in optional:
        if name in payload:
            out[name] = payload[name]
    return out


def _state_scope(function_id: str, scope: str) -> str:
    if SEP in scope:
        raise EngineFunctionError(
            "invalid_input",
            f"{function_id}: scope {scope!r} contains {SEP!r}, which motia_nb reserves for streams "
            f"(stream items live in groups '<stream>{SEP}<group_id>'; use stream::* or a Stream)",
        )
    return scope


def _stream_group(function_id: str, stream_name: str, group_id: str) -> str:
    try:
        return stream_group(stream_name, group_id)
    except ValueError as e:
        raise EngineFunctionError("invalid_input", f"{function_id}: {e}") from None


def _write_result(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"old_value": r.get("old_value"), "new_value": r.get("new_value")}


class EngineFunctions:
    """The engine's functions over a session's state core and steps runtime.

    ``session``: a :class:`~motia_nb.session.Session`, a ``StateManager`` (wrapped in
    a new session), or None for the session current at each call (the cascade's,
    else the default one).
    """

    def __init__(self, session: "Session | StateManager | None" = None) -> None:
        self._session = Session(session) if isinstance(session, StateManager) else session
        self._table: dict[str, Callable[[str, Any], Awaitable[Any]]] = {
            "state::get": self._state_get,
            "state::set": self._state_set,
            "state::update": self._state_update,
            "state::delete": self._state_delete,
            "state::list": self._state_list,
            "state::list_groups": self._state_list_groups,
            "state::clear": self._state_clear,
            "stream::get": self._stream_get,
            "stream::set": self._stream_set,
            "stream::update": self._stream_update,
            "stream::delete": self._stream_delete,
            "stream::list": self._stream_list,
            "stream::list_groups": self._stream_list_groups,
            "enqueue": self._enqueue,
            "iii::durable::publish": self._enqueue,
        }

    @property
    def session(self) -> Session:
        return self._session if self._session is not None else current_session()

    @property
    def manager(self) -> StateManager:
        return self.session.manager

    def names(self) -> list[str]:
        """The function ids answered here, sorted."""
        return sorted(self._table)

    async def call(self, function_id: str, payload: Any, *, caller: str | None = None) -> Any:
        """Answer ``function_id`` with ``payload`` as the engine would; ``caller`` names who asked (for logs)."""
        fn = self._table.get(function_id) if isinstance(function_id, str) else None
        if fn is None:
            raise EngineFunctionError("function_not_found", f"Function {function_id!r} not found")
        try:
            if caller is None or not caller.startswith("worker:"):  # a cell's or a step's SDK call
                return await fn(function_id, payload)
            with acting_as(caller, current_cause()[1]):  # the history names the worker (and the trace)
                return await fn(function_id, payload)
        except UpdateOpError as e:
            raise EngineFunctionError(getattr(e, "code", None) or "update_error", str(e)) from None
        except InvalidInputError as e:
            raise EngineFunctionError("invalid_input", f"{function_id}: {e}") from None
        except EnqueueError as e:
            raise EngineFunctionError("invalid_input", f"{function_id}: {e}") from None

    # ------------------------------------------------------------ state
    async def _state_get(self, fid: str, payload: Any) -> Any:
        f = _fields(fid, payload, ("scope", "key"))
        return await self.manager.get(_state_scope(fid, f["scope"]), f["key"])

    async def _state_set(self, fid: str, payload: Any) -> dict[str, Any]:
        f = _fields(fid, payload, ("scope", "key"), ("value", "data"))
        if "value" not in f and "data" not in f:  # the engine's `value: Value` (alias `data`) is required
            raise EngineFunctionError("deserialization_error", f"{fid}: missing field `value`")
        value = f.get("value", f.get("data"))  # an explicit null stores null
        return _write_result(await self.manager.set(_state_scope(fid, f["scope"]), f["key"], value))

    async def _state_update(self, fid: str, payload: Any) -> dict[str, Any]:
        f = _fields(fid, payload, ("scope", "key"), ("ops",))
        if "ops" not in f:
            raise EngineFunctionError("deserialization_error", f"{fid}: missing field `ops`")
        return _write_result(await self.manager.update(_state_scope(fid, f["scope"]), f["key"], f["ops"]))

    async def _state_delete(self, fid: str, payload: Any) -> Any:
        f = _fields(fid, payload, ("scope", "key"))
        return await self.manager.delete(_state_scope(fid, f["scope"]), f["key"])

    async def _state_list(self, fid: str, payload: Any) -> list[Any]:
        f = _fields(fid, payload, ("scope",))
        return await self.manager.list(_state_scope(fid, f["scope"]))

    async def _state_list_groups(self, fid: str, payload: Any) -> dict[str, list[str]]:
        if payload is not None and not isinstance(payload, Mapping) and payload != []:  # `[]`: serde's empty struct
            raise EngineFunctionError("deserialization_error", f"{fid}: the payload must be an object")
        groups = await self.manager.list_groups()
        return {"groups": sorted(g for g in groups if split_stream_group(g) is None)}

    async def _state_clear(self, fid: str, payload: Any) -> dict[str, int]:
        f = _fields(fid, payload, ("scope",))
        return {"removed": await self.manager.clear(_state_scope(fid, f["scope"]))}

    # ------------------------------------------------------------ streams
    async def _stream_get(self, fid: str, payload: Any) -> Any:
        f = _fields(fid, payload, ("stream_name", "group_id", "item_id"))
        return await self.manager.get(_stream_group(fid, f["stream_name"], f["group_id"]), f["item_id"])

    async def _stream_set(self, fid: str, payload: Any) -> dict[str, Any]:
        f = _fields(fid, payload, ("stream_name", "group_id", "item_id"), ("data",))
        if "data" not in f:
            raise EngineFunctionError("deserialization_error", f"{fid}: missing field `data`")
        group = _stream_group(fid, f["stream_name"], f["group_id"])
        return _write_result(await self.manager.set(group, f["item_id"], f["data"]))

    async def _stream_update(self, fid: str, payload: Any) -> dict[str, Any]:
        f = _fields(fid, payload, ("stream_name", "group_id", "item_id"), ("ops",))
        if "ops" not in f:
            raise EngineFunctionError("deserialization_error", f"{fid}: missing field `ops`")
        group = _stream_group(fid, f["stream_name"], f["group_id"])
        return _write_result(await self.manager.update(group, f["item_id"], f["ops"]))

    async def _stream_delete(self, fid: str, payload: Any) -> dict[str, Any]:
        f = _fields(fid, payload, ("stream_name", "group_id", "item_id"))
        group = _stream_group(fid, f["stream_name"], f["group_id"])
        return {"old_value": await self.manager.delete(group, f["item_id"])}

    async def _stream_list(self, fid: str, payload: Any) -> list[Any]:
        f = _fields(fid, payload, ("stream_name", "group_id"))
        return await self.manager.list(_stream_group(fid, f["stream_name"], f["group_id"]))

    async def _stream_list_groups(self, fid: str, payload: Any) -> list[str]:
        f = _fields(fid, payload, ("stream_name",))
        _stream_group(fid, f["stream_name"], "-")  # checks the name
        out = []
        for g in await self.manager.list_groups():
            parts = split_stream_group(g)
            if parts is not None and parts[0] == f["stream_name"]:
                out.append(parts[1])
        return sorted(out)

    # ------------------------------------------------------------ queue
    async def _enqueue(self, fid: str, payload: Any) -> None:
        if not isinstance(payload, Mapping):
            raise EngineFunctionError("deserialization_error", f"{fid}: the payload must be an object")
        topic = payload.get("topic")
        if topic is None or topic == "":
            raise EngineFunctionError("topic_not_set", "Topic is not set")
        if not isinstance(topic, str):
            raise EngineFunctionError("deserialization_error", f"{fid}: field `topic` must be a string, got {topic!r}")
        await self.session.runtime.enqueue({"topic": topic, "data": payload.get("data")})
        return None
