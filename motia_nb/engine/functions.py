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
``stream::list_all``   ``{}``                                           ``{"stream": [{"id", "groups"}], "count"}``
``stream::send``       ``stream_name``, ``group_id``, ``id``?, ``type``,  None (the stream's triggers get
                       ``data``                                         ``event: {type: "event", event}``)
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
half-written. As the engine answers: an input its serde struct does not take
(a missing or mistyped field, ``value`` and its alias ``data`` both given, a
``state::list_groups`` payload of null, an op serde cannot read such as an
unknown ``type`` or a ``by`` that is not an i64) is ``deserialization_error``,
``Failed to deserialize input for <id>: …``; an unknown id is ``Function <id>
not found in namespace default.``; an op error the engine records for its op
keeps that op's code (``increment.not_number``).

A stream a worker implements itself (iii-sdk's ``create_stream`` registers
``stream::get(<name>)``, ``stream::set(<name>)``…) is answered by that worker while
an endpoint serving this session has it connected, as the engine's stream worker
delegates: the worker's answer is the result (a write's read as the engine's
result struct), nothing is stored here, and the stream's triggers still fire.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..session import Session, current_session
from ..state import StateManager
from ..state.cause import acting_as, current_cause
from ..state.errors import InvalidInputError, UpdateOpError
from ..state.events import CREATED, DELETED, UPDATED, StateEvent
from ..steps.errors import EnqueueError
from ..steps.streams import (
    StreamEvent,
    StreamEventData,
    split_stream_group,
    stream_group,
)
from .inputs import (
    CUSTOM_WRITES,
    STRUCTS,
    EngineFunctionError,
    deserialization_error,
    empty_struct,
    fields,
    is_serde_op_code,
    serde_kind,
    state_scope,
    stream_group_of,
    write_result,
)  # fmt: skip
from .remote import call_worker
from .running import servers
from .workers import WorkerCallError

__all__ = ["EngineFunctions", "EngineFunctionError"]


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
            "stream::list_all": self._stream_list_all,
            "stream::send": self._stream_send,
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
            # the engine's words (Engine::resolve_function): functions live in the `default` namespace
            raise EngineFunctionError("function_not_found", f"Function {function_id} not found in namespace default.")
        try:
            if caller is None or not caller.startswith("worker:"):  # a cell's or a step's SDK call
                return await fn(function_id, payload)
            with acting_as(caller, current_cause()[1]):  # the history names the worker (and the trace)
                return await fn(function_id, payload)
        except UpdateOpError as e:
            code = getattr(e, "code", None) or "update_error"
            if is_serde_op_code(code):  # an op serde cannot read: the engine rejects the whole request
                raise deserialization_error(function_id, str(e)) from None  # str(e) names the op and its code
            raise EngineFunctionError(code, str(e)) from None
        except InvalidInputError as e:
            raise EngineFunctionError("invalid_input", f"{function_id}: {e}") from None
        except EnqueueError as e:
            raise EngineFunctionError("invalid_input", f"{function_id}: {e}") from None

    # ------------------------------------------------------------ state
    async def _state_get(self, fid: str, payload: Any) -> Any:
        f = fields(fid, payload, ("scope", "key"))
        return await self.manager.get(state_scope(fid, f["scope"]), f["key"])

    async def _state_set(self, fid: str, payload: Any) -> dict[str, Any]:
        f = fields(fid, payload, ("scope", "key"), ("value", "data"), alias=("value", "data"))
        if "value" not in f and "data" not in f:  # the engine's `value: Value` (alias `data`) is required
            raise deserialization_error(fid, "missing field `value`")
        value = f.get("value", f.get("data"))  # an explicit null stores null
        return write_result(await self.manager.set(state_scope(fid, f["scope"]), f["key"], value))

    async def _state_update(self, fid: str, payload: Any) -> dict[str, Any]:
        f = fields(fid, payload, ("scope", "key"), ("ops",))
        if "ops" not in f:
            raise deserialization_error(fid, "missing field `ops`")
        return write_result(await self.manager.update(state_scope(fid, f["scope"]), f["key"], f["ops"]))

    async def _state_delete(self, fid: str, payload: Any) -> Any:
        f = fields(fid, payload, ("scope", "key"))
        return await self.manager.delete(state_scope(fid, f["scope"]), f["key"])

    async def _state_list(self, fid: str, payload: Any) -> list[Any]:
        f = fields(fid, payload, ("scope",))
        return await self.manager.list(state_scope(fid, f["scope"]))

    async def _state_list_groups(self, fid: str, payload: Any) -> dict[str, list[str]]:
        empty_struct(fid, payload)
        groups = await self.manager.list_groups()
        return {"groups": sorted(g for g in groups if split_stream_group(g) is None)}

    async def _state_clear(self, fid: str, payload: Any) -> dict[str, int]:
        f = fields(fid, payload, ("scope",))
        return {"removed": await self.manager.clear(state_scope(fid, f["scope"]))}

    # ------------------------------------------------------------ streams
    def _custom_stream(self, fid: str, stream_name: str) -> tuple[Any, Any, str] | None:
        """The worker implementing ``fid`` for ``stream_name`` (iii-sdk's ``create_stream`` registers
        ``stream::get(<name>)``…), on an endpoint serving this session: ``(server, worker, its id)``."""
        custom = f"{fid}({stream_name})"
        for server in servers():
            if server.session is self.session and not server.closed:
                worker = server._provider(custom)
                if worker is not None:
                    return server, worker, custom
        return None

    async def _delegate(self, fid: str, found: tuple[Any, Any, str], f: dict[str, Any]) -> Any:
        """As the engine's stream worker: call the custom function with the input it read; for a
        write, read the answer as the engine's result struct and fire the stream's triggers."""
        server, worker, custom = found
        verb, code = CUSTOM_WRITES.get(fid, ("", ""))
        try:
            out = await call_worker(server, worker, custom, f)
        except WorkerCallError as e:
            ecode, emsg = ("invocation_stopped", "Invocation stopped") if e.code == "worker_disconnected" else (e.code, e.message)
            if not verb:  # get, list, list_groups: the worker's error as it is
                raise EngineFunctionError(ecode, emsg) from None
            raise EngineFunctionError(code, f"Failed to {verb} value: Failed to invoke function: {ecode}: {emsg}") from None
        if not verb:
            return out
        if out is None:
            raise EngineFunctionError(code, f"Failed to {verb} value: Function returned no result")
        if not isinstance(out, Mapping) or (fid != "stream::delete" and "new_value" not in out):
            problem = "missing field `new_value`" if isinstance(out, Mapping) else f"invalid type: {serde_kind(out)}"
            raise EngineFunctionError("JSON_ERROR", f"Failed to convert result to value: {problem} (from {custom})")
        old = out.get("old_value")
        if fid == "stream::delete":
            result: dict[str, Any] = {"old_value": old}
            if old is not None:  # the engine emits a delete only for an item that was there
                await self._fire_stream(f, DELETED, old, None)
            return result
        result = {"old_value": old, "new_value": out["new_value"]}
        if fid == "stream::update" and out.get("errors"):
            result["errors"] = out["errors"]
        await self._fire_stream(f, CREATED if old is None else UPDATED, old, out["new_value"])
        return result

    async def _fire_stream(self, f: dict[str, Any], event_type: Any, old: Any, new: Any) -> None:
        """Run the stream triggers for a change a custom stream made (nothing stored here)."""
        try:
            group = stream_group(f["stream_name"], f["group_id"])
        except ValueError:
            return  # a name motia_nb's store cannot hold has no stream steps here either
        run = self.session.runtime.dispatch_events([StateEvent(event_type, group, f["item_id"], old, new)])
        if run is not None:
            await run

    async def _stream_get(self, fid: str, payload: Any) -> Any:
        f = fields(fid, payload, ("stream_name", "group_id", "item_id"))
        if (found := self._custom_stream(fid, f["stream_name"])) is not None:
            return await self._delegate(fid, found, f)
        return await self.manager.get(stream_group_of(fid, f["stream_name"], f["group_id"]), f["item_id"])

    async def _stream_set(self, fid: str, payload: Any) -> dict[str, Any]:
        f = fields(fid, payload, ("stream_name", "group_id", "item_id"), ("data",))
        if "data" not in f:
            raise deserialization_error(fid, "missing field `data`")
        if (found := self._custom_stream(fid, f["stream_name"])) is not None:
            return await self._delegate(fid, found, f)
        group = stream_group_of(fid, f["stream_name"], f["group_id"])
        return write_result(await self.manager.set(group, f["item_id"], f["data"]))

    async def _stream_update(self, fid: str, payload: Any) -> dict[str, Any]:
        f = fields(fid, payload, ("stream_name", "group_id", "item_id"), ("ops",))
        if "ops" not in f:
            raise deserialization_error(fid, "missing field `ops`")
        if (found := self._custom_stream(fid, f["stream_name"])) is not None:
            return await self._delegate(fid, found, f)
        group = stream_group_of(fid, f["stream_name"], f["group_id"])
        return write_result(await self.manager.update(group, f["item_id"], f["ops"]))

    async def _stream_delete(self, fid: str, payload: Any) -> dict[str, Any]:
        f = fields(fid, payload, ("stream_name", "group_id", "item_id"))
        if (found := self._custom_stream(fid, f["stream_name"])) is not None:
            return await self._delegate(fid, found, f)
        group = stream_group_of(fid, f["stream_name"], f["group_id"])
        return {"old_value": await self.manager.delete(group, f["item_id"])}

    async def _stream_list(self, fid: str, payload: Any) -> list[Any]:
        f = fields(fid, payload, ("stream_name", "group_id"))
        if (found := self._custom_stream(fid, f["stream_name"])) is not None:
            return await self._delegate(fid, found, f)
        return await self.manager.list(stream_group_of(fid, f["stream_name"], f["group_id"]))

    async def _stream_list_groups(self, fid: str, payload: Any) -> list[str]:
        f = fields(fid, payload, ("stream_name",))
        if (found := self._custom_stream(fid, f["stream_name"])) is not None:
            return await self._delegate(fid, found, f)
        stream_group_of(fid, f["stream_name"], "-")  # checks the name
        out = []
        for g in await self.manager.list_groups():
            parts = split_stream_group(g)
            if parts is not None and parts[0] == f["stream_name"]:
                out.append(parts[1])
        return sorted(out)

    async def _stream_list_all(self, fid: str, payload: Any) -> dict[str, Any]:
        empty_struct(fid, payload)
        streams: dict[str, list[str]] = {}
        for g in await self.manager.list_groups():
            parts = split_stream_group(g)
            if parts is not None:
                streams.setdefault(parts[0], []).append(parts[1])
        out = [{"id": name, "groups": sorted(groups)} for name, groups in sorted(streams.items())]
        return {"stream": out, "count": len(out)}

    async def _stream_send(self, fid: str, payload: Any) -> None:
        """A custom event to the stream's triggers (and subscribers): nothing stored, answers null."""
        order = ("stream_name", "group_id", "id", "type", "data")
        if isinstance(payload, list):
            if len(payload) != len(order):
                expected = f"struct {STRUCTS[fid]} with 5 elements" if len(payload) < len(order) else "fewer elements in array"
                raise deserialization_error(fid, f"invalid length {len(payload)}, expected {expected} ({', '.join(order)}, or an object)")
            payload = dict(zip(order, payload))
        f = fields(fid, payload, ("stream_name", "group_id", "type"), ("data", "id"))
        if "data" not in f:
            raise deserialization_error(fid, "missing field `data`")
        item = f.get("id")
        if item is not None and not isinstance(item, str):
            raise deserialization_error(fid, f"field `id`: invalid type: {serde_kind(item)}, expected a string")
        event = StreamEvent(
            type="stream",
            timestamp=int(time.time() * 1000),
            streamName=f["stream_name"],
            groupId=f["group_id"],
            id=item,
            event=StreamEventData(type="event", event=StreamEventData(type=f["type"], data=f["data"])),
        )
        run = self.session.runtime.dispatch_events([event])
        if run is not None:
            await run
        return None

    # ------------------------------------------------------------ queue
    async def _enqueue(self, fid: str, payload: Any) -> None:
        # the queue worker's QueueInput {topic: String, data: Value}: both required (serde), then
        # an empty topic is topic_not_set (workers/queue/queue.rs)
        f = fields(fid, payload, ("topic",), ("data",))
        if "data" not in f:
            raise deserialization_error(fid, "missing field `data`")
        if f["topic"] == "":
            raise EngineFunctionError("topic_not_set", "Topic is not set")
        await self.session.runtime.enqueue({"topic": f["topic"], "data": f["data"]})
        return None
