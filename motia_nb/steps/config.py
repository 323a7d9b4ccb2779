"""Step configs and triggers: the trigger helpers and the validation of a Motia ``config``.

A config is a plain dict, as in a Motia step file::

    config = {
        "name": "ProcessPayment",
        "description": "Process payment for an order",
        "triggers": [{"type": "queue", "topic": "order.created"}],
        "enqueues": ["payment.completed"],
        "flows": ["order-processing"],
    }

:func:`parse_config` checks it and turns the triggers into small typed objects
(:mod:`.typed_triggers`). Every problem raises :class:`~motia_nb.steps.errors.StepConfigError` naming the
step, the trigger's index and what was wrong. Unknown extra keys (Motia's
``infrastructure``, schemas, …) are kept and ignored, so a config copied from a
Motia project is accepted as is.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config_hints import no_triggers, old_style, unread_keys, unread_trigger_keys
from .errors import StepConfigError
from .streams import check_stream_name, split_stream_group
from .triggers import api, cron, http, queue, state, stream, validate_cron
from .typed_triggers import CronTrigger, HttpTrigger, QueueTrigger, StateTrigger, StreamTrigger, Trigger

__all__ = [
    "state",
    "queue",
    "http",
    "cron",
    "stream",
    "api",
    "StateTrigger",
    "StreamTrigger",
    "QueueTrigger",
    "HttpTrigger",
    "CronTrigger",
    "Trigger",
    "ParsedConfig",
    "parse_config",
    "validate_cron",
    "call_arity",
    "HTTP_METHODS",
    "TRIGGER_TYPES",
]

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
TRIGGER_TYPES = ("state", "queue", "http", "cron", "stream")
_PARAM = re.compile(r"^:([A-Za-z_][A-Za-z0-9_]*)$")
#: ``{id}``, as OpenAPI writes a param: the engine's http worker reads it as ``:id`` does
_BRACED = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def call_arity(fn: Callable[..., Any], what: str, allowed: tuple[int, ...] = (0, 1, 2)) -> int:
    """How many positional arguments to pass to ``fn`` (``(input)`` → 1, ``(input, ctx)`` → 2).

    Raises StepConfigError when ``fn`` is not callable or cannot be called with
    any of ``allowed`` positional arguments.
    """
    if not callable(fn):
        raise StepConfigError(f"{what} must be callable, got {type(fn).__name__} {fn!r}")
    target = fn.func if isinstance(fn, functools.partial) else fn
    if any(inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f) for f in (target, getattr(target, "__call__", None))):
        raise StepConfigError(
            f"{what} is a generator function (it has `yield`): it is called once and what it returns is never "
            "iterated, so its body would never run; return a value (or write to the response) instead of yielding"
        )
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: assume (input)
        return 1
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return max(allowed)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    required_kw = [p for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if required_kw:
        raise StepConfigError(
            f"{what} has required keyword-only parameters {[p.name for p in required_kw]}; "
            "it must take (input) or (input, ctx)"
        )
    for n in sorted(allowed, reverse=True):
        if len(required) <= n <= len(positional):
            return n
    raise StepConfigError(
        f"{what} takes {len(required)} required positional parameters "
        f"({', '.join(p.name for p in required)}); it must take (input) or (input, ctx)"
    )


def split_path(path: str) -> tuple[str, ...]:
    """``"/orders/:id/"`` → ``("orders", ":id")`` (no empty segments, no leading slash)."""
    return tuple(s for s in path.strip("/").split("/") if s != "")


def as_mapping(obj: Any) -> Any:
    """A pydantic model (Motia's ``StepConfig``, trigger models, ``Enqueue``) as a dict of its fields."""
    if isinstance(obj, Mapping):
        return obj
    fields = getattr(type(obj), "model_fields", None)
    if isinstance(fields, Mapping):
        return {name: getattr(obj, name) for name in fields}
    return obj


def _condition(raw: Mapping[str, Any], at: str) -> tuple[Callable[..., Any] | None, int]:
    cond = raw.get("condition")
    if cond is None:
        return None, 1
    return cond, call_arity(cond, f"{at} condition", (1, 2))


def _unknown_type(ttype: Any, raw: Mapping[str, Any]) -> str:
    """What to say of a trigger ``type`` motia_nb does not know: Motia 0.x's name for a 1.0 type, a
    near miss, or the types there are."""
    q = json.dumps
    if ttype == "event":
        return f"unknown type 'event': Motia 1.0 calls it 'queue' (queue({q(raw.get('topic', 'topic'))}), from motia import queue)"
    if ttype == "api":
        method, path = raw.get("method", "GET"), raw.get("path", "/path")
        return f"unknown type 'api': Motia 1.0 calls it 'http' (http({q(method)}, {q(path)}), from motia import http)"
    near = difflib.get_close_matches(ttype, TRIGGER_TYPES, 1, 0.6) if isinstance(ttype, str) else []
    if near:
        return f"unknown type {ttype!r}: did you mean {near[0]!r}? (one of: {', '.join(TRIGGER_TYPES)})"
    return f"unknown type {ttype!r} (expected one of: {', '.join(TRIGGER_TYPES)})"


def _parse_trigger(raw: Any, i: int, where: str) -> Trigger:
    at = f"{where}: trigger {i}"
    raw = as_mapping(raw)
    if not isinstance(raw, Mapping):
        raise StepConfigError(f"{at} must be a dict with a 'type', got {type(raw).__name__} {raw!r}")
    ttype = raw.get("type")
    if ttype not in TRIGGER_TYPES:
        if ttype is None:
            raise StepConfigError(f"{at} has no 'type' (expected one of: {', '.join(TRIGGER_TYPES)})")
        raise StepConfigError(f"{at} has {_unknown_type(ttype, raw)}")
    cond, arity = _condition(raw, f"{at} ({ttype})")
    if ttype == "state":
        where = {}
        for k in ("scope", "key"):  # the engine's state trigger config (the Motia SDK does not send them)
            v = raw.get(k)
            if v is not None and (not isinstance(v, str) or not v):
                raise StepConfigError(f"{at} (state) {k!r} must be a non-empty str, got {v!r}")
            where[k] = v
        return StateTrigger(cond, arity, scope=where["scope"], key=where["key"])
    if ttype == "queue":
        topic = raw.get("topic")
        if not isinstance(topic, str) or not topic.strip():
            raise StepConfigError(f"{at} (queue) needs a 'topic' that is a non-empty str, got {topic!r}")
        opts = {k: raw[k] for k in ("input", "config") if raw.get(k) is not None}
        return QueueTrigger(topic, cond, arity, opts)
    if ttype == "http":
        method, path = raw.get("method"), raw.get("path")
        if method is None:
            raise StepConfigError(f"{at} (http) has a path {path!r} but no 'method' (one of {', '.join(HTTP_METHODS)})")
        if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
            raise StepConfigError(f"{at} (http) has method {method!r}; expected one of {', '.join(HTTP_METHODS)}")
        if not isinstance(path, str):  # as Motia: "orders" and "/orders" are one route, served at /orders
            raise StepConfigError(f"{at} (http) needs a 'path' that is a str (e.g. '/orders'), got {path!r}")
        segments = split_path(path)
        names: list[str] = []
        for i, seg in enumerate(segments):
            if seg.startswith(":") or "{" in seg or "}" in seg:
                m = _PARAM.match(seg) or _BRACED.match(seg)
                if not m:
                    raise StepConfigError(
                        f"{at} (http) path {path!r}: bad param segment {seg!r} (write a param as :name or {{name}})"
                    )
                if m.group(1) in names:
                    raise StepConfigError(f"{at} (http) path {path!r}: param {seg!r} appears twice")
                names.append(m.group(1))
                segments = (*segments[:i], ":" + m.group(1), *segments[i + 1 :])
        middleware = raw.get("middleware") or []
        if not isinstance(middleware, (list, tuple)) or not all(callable(m) for m in middleware):
            raise StepConfigError(f"{at} (http) 'middleware' must be a list of callables, got {middleware!r}")
        opts = {k: raw[k] for k in ("middleware", "body_schema", "response_schema", "query_params") if raw.get(k)}
        return HttpTrigger(method.upper(), "/" + "/".join(segments), segments, cond, arity, opts)
    if ttype == "stream":
        name = raw.get("stream_name", raw.get("streamName"))
        try:
            check_stream_name(name)
        except ValueError as e:
            raise StepConfigError(f"{at} (stream): {e}") from None
        ids = [raw.get(k, raw.get(alias)) for k, alias in (("group_id", "groupId"), ("item_id", "itemId"))]
        for label, v in zip(("group_id", "item_id"), ids):
            if v is not None and not isinstance(v, str):
                raise StepConfigError(f"{at} (stream) '{label}' must be a str, got {v!r}")
        return StreamTrigger(name, ids[0] or None, ids[1] or None, cond, arity)
    # cron: Motia 1.x writes {"type": "cron", "expression": ...}; older code {"cron": ...}
    expr = raw.get("expression", raw.get("cron"))
    return CronTrigger(validate_cron(expr, f"{at} (cron)"), cond, arity)


@dataclass
class ParsedConfig:
    """A validated config: the original dict plus typed triggers."""

    name: str
    description: str
    triggers: list[Trigger]
    enqueues: list[str]
    flows: list[str]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    #: what to say of config keys Motia's ``StepConfig`` does not read (it ignores them silently), and of
    #: a state trigger scoped to a stream's group (it never fires)
    unread: list[str] = field(default_factory=list)


def _str_list(raw: Mapping[str, Any], key: str, where: str, alias: str | None = None) -> list[str]:
    val = raw.get(key, raw.get(alias) if alias else None)
    if val is None:
        return []
    if isinstance(val, str) or not isinstance(val, (list, tuple)):
        raise StepConfigError(f"{where}: '{key}' must be a list of str, got {val!r}")
    out: list[str] = []
    for j, item in enumerate(val):
        item = as_mapping(item)
        if isinstance(item, Mapping) and isinstance(item.get("topic"), str):  # Motia's {topic, label}
            item = item["topic"]
        if not isinstance(item, str) or not item:
            raise StepConfigError(f"{where}: '{key}'[{j}] must be a non-empty str, got {item!r}")
        out.append(item)
    return out


def parse_config(config: Any) -> ParsedConfig:
    """Validate a Motia step config; raise StepConfigError naming what is wrong."""
    config = as_mapping(config)
    if not isinstance(config, Mapping):
        raise StepConfigError(f"a step config must be a dict, got {type(config).__name__} {config!r}")
    name = config.get("name")
    if name is None:
        raise StepConfigError(f"step config has no 'name' (keys given: {sorted(map(str, config))})")
    if not isinstance(name, str) or not name.strip():
        raise StepConfigError(f"step config 'name' must be a non-empty str, got {name!r}")
    where = f"step {name!r}"
    desc = config.get("description") or ""
    if not isinstance(desc, str):
        raise StepConfigError(f"{where}: 'description' must be a str, got {desc!r}")
    old = old_style(config, where)
    if old is not None:
        raise old
    if "triggers" not in config:
        raise no_triggers(config, where)
    raw_triggers = config["triggers"]
    if isinstance(raw_triggers, Mapping):
        raw_triggers = [raw_triggers]
    if not isinstance(raw_triggers, (list, tuple)):
        raise StepConfigError(f"{where}: 'triggers' must be a list of trigger dicts, got {raw_triggers!r}")
    triggers = [_parse_trigger(t, i, where) for i, t in enumerate(raw_triggers)]
    return ParsedConfig(
        name=name,
        description=desc,
        triggers=triggers,
        enqueues=_str_list(config, "enqueues", where, alias="emits"),
        flows=_str_list(config, "flows", where),
        raw=dict(config),
        unread=unread_keys(config, where) + [
            line for i, t in enumerate(raw_triggers) for line in unread_trigger_keys(as_mapping(t), f"{where}: trigger {i}")
        ] + [line for i, t in enumerate(triggers) if (line := _stream_scope(t, f"{where}: trigger {i}"))],
    )


def _stream_scope(trig: Trigger, at: str) -> str | None:
    """What to say of a state trigger whose ``scope`` is a stream's group (``todo::inbox``): a
    stream's writes fire stream triggers only (the engine's stream worker runs its own triggers,
    never the state worker's), so the trigger would never fire."""
    parts = split_stream_group(trig.scope) if isinstance(trig, StateTrigger) and trig.scope else None
    if parts is None:
        return None
    stream, group = parts
    return (f"{at} (state): scope {trig.scope!r} is stream {stream!r}'s group {group!r}, whose writes fire stream "
            f"triggers, never state ones (as on the engine), so this trigger never fires; "
            f"use stream({stream!r}, group_id={group!r}) (from motia import stream)")
