"""What a step config a newcomer brings is told when Motia would refuse or ignore part of it.

- :func:`old_style`: a Motia 0.x config (``type`` / ``path`` / ``subscribes`` / ``cron``, no
  ``triggers``), which Motia 1.0 refuses: how 1.0 writes it.
- :func:`no_triggers`: a config without ``triggers`` (1.0's ``StepConfig`` requires it), naming
  a key that looks like it.
- :func:`unread_keys`: one line for each key Motia would silently ignore (``flow`` for ``flows``,
  ``input_schema``); the step still registers, as in Motia.
- :func:`unread_trigger_keys`: the same for a trigger dict's keys (a cron trigger's ``timezone``,
  ``tz``: Motia's ``CronTrigger`` reads ``expression`` and ``condition`` only).

:func:`.config.parse_config` calls them; they raise nothing themselves.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from .errors import StepConfigError

__all__ = ["CONFIG_KEYS", "TRIGGER_KEYS", "no_triggers", "old_style", "unread_keys", "unread_trigger_keys"]

_OLD_TYPES = ("api", "event", "cron", "noop")


def old_style(config: Mapping[str, Any], where: str) -> StepConfigError | None:
    """A Motia 0.x config (``type`` / ``path`` / ``subscribes`` / ``cron``, no ``triggers``):
    Motia 1.0 refuses it (``triggers`` is required); say how 1.0 writes it."""
    kind = config.get("type")
    kind = kind if isinstance(kind, str) and kind in _OLD_TYPES else None
    subs = config.get("subscribes")
    if "triggers" in config or not (kind or "subscribes" in config or "path" in config or "cron" in config):
        return None
    seen = f"'type': {kind!r}" if kind else next(f"'{k}'" for k in ("subscribes", "cron", "path") if k in config)
    if kind is None:
        kind = "event" if "subscribes" in config else "cron" if "cron" in config else "api"
    q = json.dumps  # a str as Python writes it in a config (double quotes)
    if kind == "api":
        method = config.get("method")
        written, helpers = [f"http({q(method.upper() if isinstance(method, str) else 'GET')}, {q(config.get('path'))})"], "http"
    elif kind == "event":
        topics = subs if isinstance(subs, (list, tuple)) else [subs]
        written, helpers = [f"queue({q(t)})" for t in topics], "queue"
    elif kind == "cron":
        written, helpers = [f"cron({q(config.get('cron'))})"], "cron"
    else:
        written, helpers = [], ""
    hint = f'write "triggers": [{", ".join(written)}]' + (f" (from motia import {helpers})" if helpers else "")
    if "emits" in config:
        hint += ", and 'enqueues' for 'emits'"
    return StepConfigError(
        f"{where}: a Motia 0.x config ({seen}); Motia 1.0 says when a step runs in its 'triggers': {hint}"
    )


def no_triggers(config: Mapping[str, Any], where: str) -> StepConfigError:
    """Motia 1.0's ``StepConfig`` requires ``triggers``: a config without it is refused, naming a
    key that looks like it (``trigger``, ``Triggers``)."""
    near = [k for k in map(str, config) if k != "triggers" and difflib.get_close_matches(k.lower(), ["triggers"], 1, 0.75)]
    if near:
        return StepConfigError(f"{where}: config has no 'triggers' (it has {near[0]!r}: did you mean 'triggers'?)")
    return StepConfigError(
        f"{where}: config has no 'triggers': Motia 1.0 requires it "
        '(e.g. "triggers": [queue("topic")]; "triggers": [] for a step nothing triggers)'
    )


#: the keys Motia 1.0's ``StepConfig`` reads (with their camelCase aliases, and 0.x's ``emits``)
CONFIG_KEYS = ("name", "description", "triggers", "enqueues", "flows", "virtual_enqueues", "virtual_subscribes",
               "include_files")
_CONFIG_ALIASES = ("emits", "virtualEnqueues", "virtualSubscribes", "includeFiles", "virtualEmits")


def unread_keys(config: Mapping[str, Any], where: str) -> list[str]:
    """One line for each key Motia would ignore silently (``flow`` for ``flows``, ``input_schema``)."""
    out = []
    for key in config:
        if not isinstance(key, str) or key in CONFIG_KEYS or key in _CONFIG_ALIASES:
            continue
        near = difflib.get_close_matches(key.lower(), CONFIG_KEYS, 1, 0.75)
        if near:
            out.append(f"{where}: Motia does not read config key {key!r} (did you mean {near[0]!r}?)")
            continue
        hint = "; a queue's input schema is queue(topic, input=...)" if "input" in key.lower() or "schema" in key.lower() else ""
        out.append(f"{where}: Motia does not read config key {key!r} (it reads: {', '.join(CONFIG_KEYS)}{hint})")
    return out


#: the keys Motia 1.0's trigger models read, by type (with their camelCase aliases; motia_nb also
#: reads a cron trigger's ``cron`` for ``expression``, and a state trigger's ``scope`` / ``key``, as
#: the engine's state trigger config does)
TRIGGER_KEYS = {
    "queue": ("type", "topic", "condition", "input", "config"),
    "http": ("type", "method", "path", "condition", "middleware", "body_schema", "bodySchema", "response_schema",
             "responseSchema", "query_params", "queryParams"),
    "cron": ("type", "expression", "condition", "cron"),
    "state": ("type", "condition", "scope", "key"),
    "stream": ("type", "stream_name", "streamName", "group_id", "groupId", "item_id", "itemId", "condition"),
}


def unread_trigger_keys(raw: Mapping[str, Any], at: str) -> list[str]:
    """One line for each key of trigger ``raw`` that Motia would ignore silently (``"timezone"`` on a cron)."""
    ttype = raw.get("type")
    known = TRIGGER_KEYS.get(ttype) if isinstance(ttype, str) else None
    if known is None:
        return []
    reads = ", ".join(k for k in known if k != "cron" and not any(c.isupper() for c in k))
    out = []
    for key in raw:
        if not isinstance(key, str) or key in known:
            continue
        near = difflib.get_close_matches(key, known, 1, 0.75)
        hint = f"did you mean {near[0]!r}?" if near else f"a {ttype} trigger reads: {reads}"
        if ttype == "cron" and not near and any(w in key.lower() for w in ("tz", "zone")):
            hint += ("; there is no time zone: a 5-field expression runs in the kernel's local time, "
                     "6/7 fields (seconds first) in UTC, as the engine")
        out.append(f"{at} ({ttype}): Motia does not read trigger key {key!r} ({hint})")
    return out
