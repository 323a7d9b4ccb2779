"""``%state history?``: IPython's ``?`` after a subcommand shows that subcommand's help.

IPython reads ``%state history?`` as ``pinfo history``: the help of the last word, so it
showed IPython's own ``%history`` (``%state set?``: Python's ``set``, ``%state list?``:
``list``), never the subcommand's options. :func:`subcommand_help` is an input
transformer (``ip.input_transformers_cleanup``, which run before IPython's ``?``
handling) that rewrites such a line as ``%state help history`` (``%motia steps?`` as
``%motia help steps``), also after arguments (``%state history orders?``: IPython looked
up ``orders``). ``%state?`` alone keeps IPython's help of the magic.
"""

from __future__ import annotations

import re

__all__ = ["subcommand_help"]

_LINE = re.compile(r"^([ \t]*)%(state|motia)[ \t]+([A-Za-z][\w-]*)(?:[ \t][^\r\n]*?)?\?\??[ \t]*(\r?\n)?$")


def subcommand_help(lines: list[str]) -> list[str]:
    """``%state SUB?`` / ``%state SUB ARGS??`` (and ``%motia``) lines as ``%state help SUB``; a cell
    magic's cell (``%%state update``, ``%%step``) is left alone: its body is not Python."""
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        return lines
    out = []
    for line in lines:
        m = _LINE.match(line) if "?" in line else None
        out.append(f"{m[1]}%{m[2]} help {m[3]}{m[4] or ''}" if m else line)
    return out
