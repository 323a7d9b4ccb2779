"""Text the viewer shows: one-line summaries, indented JSON, one-line messages (pure).

JSON the user types is read by :func:`motia_nb.notebook.parsing.load_json`, the one strict reader.
"""

from __future__ import annotations

import html
import json
import os
from typing import Any

from ...state.urls import safe_url
from ...steps.streams import split_stream_group

__all__ = ["KEY_COLUMN", "STREAM_MARK", "display_url", "group_label", "item_label", "name_html", "one_line", "pretty",
           "shown_name", "summarize"]

KEY_COLUMN = 24  # keys are padded to this width in the item list (longer keys are shown whole)
STREAM_MARK = "≋ "  # before the name of a stream's group (``<stream>::<group>``) in the group list


#: control characters shown as their Unicode control pictures (``\n`` as ``␊``): a key ``"a\nb"``
#: must not look like ``"a b"`` in a list option, where a browser turns a line break into a space
_PICTURES = {c: 0x2400 + c for c in range(0x20)} | {0x7F: 0x2421}


def shown_name(name: str) -> str:
    """A group or key name as the viewer shows it: control characters made visible (``a␊b``)."""
    return name.translate(_PICTURES)


def name_html(name: str) -> str:
    """A group or key name for the viewer's HTML: control characters made visible, then escaped."""
    return html.escape(shown_name(name))


def summarize(value: Any, width: int = 72) -> str:
    """A one-line summary of a JSON value: compact JSON cut to ``width`` characters with ``…``."""
    if width < 2:
        raise ValueError(f"summarize: width must be at least 2, got {width!r}")
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


def group_label(group: str, count: int) -> str:
    """One line of the group list: the name (a stream's group marked) and its item count."""
    mark = STREAM_MARK if split_stream_group(group) else ""
    return f"{mark}{shown_name(group)}  ({count:,})"


def pretty(value: Any) -> str:
    """The value as indented JSON, for the editor."""
    return json.dumps(value, ensure_ascii=False, indent=2)


def item_label(key: str, value: Any, key_width: int) -> str:
    """One line of the item list: the key padded to ``key_width``, then a summary of the value."""
    return f"{shown_name(key).ljust(key_width)}  {summarize(value, 80)}"


def display_url(url: str) -> str:
    """How the viewer and the magics name a store: a file under the working directory relative
    to it (``.motia/state.db``, no machine path in a saved notebook); a URL without its password
    (``redis://:***@host:6379/0``: a saved notebook keeps its outputs); anything else as it is."""
    if "://" in url:
        return safe_url(url)
    if url == ":memory:" or not os.path.isabs(url):
        return url
    try:
        rel = os.path.relpath(url)
    except ValueError:  # another drive (Windows)
        return url
    return url if rel == ".." or rel.startswith(".." + os.sep) else rel


def one_line(message: str) -> str:
    """A multi-line error message for the one-line status: its first line and its hints
    (a quoted source line and its caret are left out)."""
    lines = message.splitlines() or [""]
    hints = [ln.strip() for ln in lines[1:] if ln.strip().startswith("hint:")]
    return "; ".join([lines[0], *hints])
