"""Text helpers shared by motia_nb's magics (%state, %motia)."""

from __future__ import annotations

__all__ = ["strip_comment"]


def strip_comment(line: str) -> str:
    """Drop a trailing ``# comment`` from a magic's line.

    A ``#`` is a comment when it starts a token (line start or after white space)
    outside quotes; JSON can only hold ``#`` inside its strings, so
    ``%state set g k {"tag": "#1"}  # note`` keeps its value and loses the note.
    """
    quote: str | None = None
    escaped = False
    prev = " "
    for i, ch in enumerate(line):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and prev.isspace():
            return line[:i]
        prev = ch
    return line
