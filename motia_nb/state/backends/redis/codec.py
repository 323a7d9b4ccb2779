"""Turning what Redis holds into values: stored texts, pages, and published events.

Values are stored as JSON text. Text that is not JSON (written by hand with
``redis-cli``) is shown as a string rather than failing a read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...events import StateEvent
from ...jsontext import decode_value

__all__ = ["text", "decode", "decode_many", "as_json_text", "rows_as_json", "event_from_wire"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def decode(raw: bytes | str) -> Any:
    """A stored value. Text that is not JSON (written by hand) is returned as a str."""
    t = text(raw)
    try:
        return json.loads(t, parse_constant=_reject_constant)
    except RecursionError:  # a very deep value: the state core's iterative decoder
        return decode_value(t)
    except ValueError:
        return t


def as_json_text(raw: bytes | str) -> str:
    """A stored value as valid JSON text (non-JSON text written by hand becomes a JSON string)."""
    t = text(raw)
    try:
        json.loads(t, parse_constant=_reject_constant)
        return t
    except RecursionError:
        return t  # deep, and written by motia_nb or Motia: valid
    except ValueError:
        return json.dumps(t, ensure_ascii=False)


def decode_many(raws: Sequence[bytes]) -> list[Any]:
    """Decode a page of values with one parse when they are all JSON (the common case)."""
    texts = [text(r) for r in raws]
    if not texts:
        return []
    try:
        values = json.loads("[" + ",".join(texts) + "]", parse_constant=_reject_constant)
        if len(values) == len(texts):
            return values
    except (ValueError, RecursionError):
        pass
    return [decode(t) for t in texts]


def rows_as_json(flat: Sequence[bytes]) -> list[tuple[str, str]]:
    """A flat ``[key, value, ...]`` reply as (key, valid JSON text) pairs."""
    keys = [text(k) for k in flat[0::2]]
    texts = [text(v) for v in flat[1::2]]
    try:  # one parse checks the whole page (the common case: everything is JSON)
        if texts and len(json.loads("[" + ",".join(texts) + "]", parse_constant=_reject_constant)) == len(texts):
            return list(zip(keys, texts))
    except (ValueError, RecursionError):
        pass
    return [(k, as_json_text(t)) for k, t in zip(keys, texts)]


def event_from_wire(ev: dict[str, Any]) -> StateEvent:
    """One event of a message published by the write scripts (``t g k o n``; values as text)."""
    old, new = ev.get("o"), ev.get("n")
    return StateEvent(ev["t"], ev["g"], ev["k"], None if old is None else decode(old), None if new is None else decode(new))
