"""Data a step sends on, copied through its JSON text as the engine would carry it.

:func:`json_copy` is how ``enqueue`` data and a ``request`` body reach the step that takes them:
through ``json.dumps`` / ``json.loads``, so the handler gets a copy the sender cannot change
afterwards, and what the engine could not carry is refused in one line (:class:`EnqueueError`):
not JSON, nested past the state's depth limit, or a dict key that is not a str (``json.dumps``
would make it one: ``{1: "a", "1": "b"}`` would arrive as ``{"1": "b"}``).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import EnqueueError
from .http_body import TOO_DEEP, nests_too_deep

__all__ = ["json_copy", "non_str_key"]


def json_copy(value: Any, what: str) -> Any:
    """A copy of ``value`` through its JSON text; :class:`EnqueueError` (one line) when it is not
    JSON or nests deeper than the state's limit (thousands of levels: no RecursionError)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except RecursionError:
        raise EnqueueError(f"{what} {TOO_DEEP}") from None
    except (TypeError, ValueError) as e:
        raise EnqueueError(f"{what} is not JSON ({e}); send dicts, lists, str, numbers, bools or None") from None
    if nests_too_deep(text, value):
        raise EnqueueError(f"{what} {TOO_DEEP}")
    keys = non_str_key(value)
    if keys:  # json.dumps makes it a str: {1: "a", "1": "b"} would arrive as {"1": "b"}
        key = keys[0]
        raise EnqueueError(f"{what} is not JSON (a dict key {key!r} is {type(key).__name__}, not str; JSON object keys "
                           "are str: write it as one)")
    return json.loads(text)


def non_str_key(value: Any) -> tuple[Any, ...]:
    """``(key,)``: the first dict key in ``value`` that is not a str (which ``json.dumps`` would turn
    into one; it may be None), or ``()``."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k in v:
                if not isinstance(k, str):
                    return (k,)
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return ()
