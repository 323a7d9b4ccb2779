"""Text the viewer shows and reads: one-line summaries, indented JSON, strict JSON parsing (pure)."""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["KEY_COLUMN", "display_url", "item_label", "parse_json_value", "pretty", "summarize"]

KEY_COLUMN = 24  # keys are padded to this width in the item list (longer keys are shown whole)


def summarize(value: Any, width: int = 72) -> str:
    """A one-line summary of a JSON value: compact JSON cut to ``width`` characters with ``…``."""
    if width < 2:
        raise ValueError(f"summarize: width must be at least 2, got {width!r}")
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON numbers must be finite)")


def parse_json_value(text: str) -> Any:
    """Parse the JSON text typed in the viewer; raise ``ValueError`` naming where it is wrong.

    Strict JSON: ``NaN``/``Infinity`` are refused, and so is empty text.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the value is empty; type a JSON value such as {}, [], \"text\", 1 or null")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def pretty(value: Any) -> str:
    """The value as indented JSON, for the editor."""
    return json.dumps(value, ensure_ascii=False, indent=2)


def item_label(key: str, value: Any, key_width: int) -> str:
    """One line of the item list: the key padded to ``key_width``, then a summary of the value."""
    return f"{key.ljust(key_width)}  {summarize(value, 80)}"


def display_url(url: str) -> str:
    """How the viewer names a store: a file under the working directory relative to it
    (``.motia/state.db``, no machine path in a saved notebook); anything else as it is."""
    if "://" in url or url == ":memory:" or not os.path.isabs(url):
        return url
    try:
        rel = os.path.relpath(url)
    except ValueError:  # another drive (Windows)
        return url
    return url if rel == ".." or rel.startswith(".." + os.sep) else rel
