"""Reading the iii engine's function inputs as its serde structs read them, and its error shape.

Each engine function takes its input through the engine's ``#[function]`` macro
(``engine/function-macros``): serde reads an object (extra fields ignored) or an array of
the struct's fields in order, and an input it cannot read is ``deserialization_error``,
``Failed to deserialize input for <id>: <serde's words>``. :func:`fields` and
:func:`empty_struct` read them so; :class:`EngineFunctionError` is every refusal
(:mod:`.functions` answers the calls).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._frames import ShortTraceback
from ..steps.streams import SEP, stream_group

__all__ = [
    "EngineFunctionError", "DESCRIPTIONS", "STRUCTS", "CUSTOM_WRITES", "serde_kind", "deserialization_error",
    "is_serde_op_code", "fields", "empty_struct", "state_scope", "stream_group_of", "write_result",
]  # fmt: skip


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


#: The description each function is registered with in the engine (its ``#[function]`` attribute),
#: as ``engine::functions::list`` shows it.
DESCRIPTIONS = {
    "state::get": "Get a value from state",
    "state::set": "Set a value in state",
    "state::update": "Update a value in state",
    "state::delete": "Delete a value from state",
    "state::list": "Get a group from state",
    "state::list_groups": "List all state groups",
    "state::clear": "Remove every item of a group (motia_nb)",
    "stream::get": "Get a value from a stream",
    "stream::set": "Set a value in a stream",
    "stream::update": "Atomically update a stream value with multiple operations",
    "stream::delete": "Delete a value from a stream",
    "stream::list": "List all items in a stream group",
    "stream::list_groups": "List all groups in a stream",
    "stream::list_all": "List all available stream with metadata",
    "stream::send": "Send a custom event to stream subscribers",
    "enqueue": "Enqueue a message",
    "iii::durable::publish": "Enqueue a message",
}

#: The engine's input struct of each function (serde names it in its messages).
STRUCTS = {
    "state::get": "StateGetInput",
    "state::set": "StateSetInput",
    "state::update": "StateUpdateInput",
    "state::delete": "StateDeleteInput",
    "state::list": "StateGetGroupInput",
    "state::list_groups": "StateListGroupsInput",
    "stream::get": "StreamGetInput",
    "stream::set": "StreamSetInput",
    "stream::update": "StreamUpdateInput",
    "stream::delete": "StreamDeleteInput",
    "stream::list": "StreamListInput",
    "stream::list_groups": "StreamListGroupsInput",
    "stream::list_all": "StreamListAllInput",
    "stream::send": "StreamSendInput",
    "enqueue": "QueueInput",
    "iii::durable::publish": "QueueInput",
}


def serde_kind(value: Any) -> str:
    """A JSON value as serde names it in an ``invalid type`` message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, (list, tuple)):
        return "sequence"
    return "map" if isinstance(value, Mapping) else type(value).__name__


def deserialization_error(function_id: str, detail: str) -> EngineFunctionError:
    """The engine's answer to an input its serde struct does not take (the function macro's wording)."""
    return EngineFunctionError("deserialization_error", f"Failed to deserialize input for {function_id}: {detail}")


#: UpdateOpError codes for an op serde cannot read (the engine rejects the whole request, nothing
#: applied: ``deserialization_error``); every other code is one the engine records for its op.
_SERDE_OP_CODES = frozenset({"ops.not_a_list", "op.not_an_object", "op.unknown_type"})
_SERDE_OP_SUFFIXES = (".path.missing", ".path.invalid", ".by.missing", ".by.not_integer", ".by.out_of_range", ".value.missing")


def is_serde_op_code(code: str) -> bool:
    return code in _SERDE_OP_CODES or code.endswith(_SERDE_OP_SUFFIXES)


def fields(
    function_id: str, payload: Any, names: tuple[str, ...], optional: tuple[str, ...] = (), alias: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Check ``payload`` has the str fields ``names``; return them (plus ``optional``).

    As the engine (serde) reads its input structs, the payload is an object, or an
    array holding every field in the struct's order (``["orders", "o1"]`` for
    ``state::get``; ``optional`` names the fields after ``names``, e.g. ``value``).
    ``alias`` is ``(field, its alias)``: given both, serde refuses a duplicate field.
    Refusals carry serde's words (``missing field `key```, ``invalid type: integer `5`,
    expected a string``) behind the engine's ``Failed to deserialize input for …``.
    """
    struct = STRUCTS.get(function_id, "input")
    if isinstance(payload, list):
        order = names + optional[:1]  # `value`/`data`, `ops`: one field after the names (an alias is not a field)
        if len(payload) != len(order):
            expected = (
                f"struct {struct} with {len(order)} elements" if len(payload) < len(order) else "fewer elements in array"
            )
            raise deserialization_error(
                function_id, f"invalid length {len(payload)}, expected {expected} ({', '.join(order)}, or an object)"
            )
        payload = dict(zip(order, payload))
    if not isinstance(payload, Mapping):
        raise deserialization_error(function_id, f"invalid type: {serde_kind(payload)}, expected struct {struct}")
    if alias is not None and alias[0] in payload and alias[1] in payload:
        raise deserialization_error(function_id, f"duplicate field `{alias[0]}` (`{alias[1]}` is its alias)")
    out: dict[str, Any] = {}
    for name in names:
        if name not in payload:
            raise deserialization_error(function_id, f"missing field `{name}`")
        if not isinstance(payload[name], str):
            raise deserialization_error(
                function_id, f"field `{name}`: invalid type: {serde_kind(payload[name])}, expected a string"
            )
        out[name] = payload[name]
    for name in optional:
        if name in payload:
            out[name] = payload[name]
    return out


def empty_struct(function_id: str, payload: Any) -> None:
    """serde reads the engine's empty structs from an object (any fields) or an empty array; null
    (a call without a payload) is ``invalid type: null, expected struct StateListGroupsInput``."""
    if not isinstance(payload, Mapping) and payload != []:
        if isinstance(payload, list):
            raise deserialization_error(function_id, f"invalid length {len(payload)}, expected fewer elements in array")
        raise deserialization_error(function_id, f"invalid type: {serde_kind(payload)}, expected struct {STRUCTS[function_id]}")


def state_scope(function_id: str, scope: str) -> str:
    if SEP in scope:
        raise EngineFunctionError(
            "invalid_input",
            f"{function_id}: scope {scope!r} contains {SEP!r}, which motia_nb reserves for streams "
            f"(stream items live in groups '<stream>{SEP}<group_id>'; use stream::* or a Stream)",
        )
    return scope


def stream_group_of(function_id: str, stream_name: str, group_id: str) -> str:
    try:
        return stream_group(stream_name, group_id)
    except ValueError as e:
        raise EngineFunctionError("invalid_input", f"{function_id}: {e}") from None


#: The stream writes a custom stream answers: the verb and the error code in the engine's words.
CUSTOM_WRITES = {
    "stream::set": ("set", "STREAM_SET_ERROR"),
    "stream::update": ("update", "STREAM_UPDATE_ERROR"),
    "stream::delete": ("delete", "STREAM_DELETE_ERROR"),
}


def write_result(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"old_value": r.get("old_value"), "new_value": r.get("new_value")}
