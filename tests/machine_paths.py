"""Machine paths in notebook outputs: what a saved tutorial must never show.

A tutorial's saved outputs are read by people on other machines: a path such as
``/tmp/tmpeovp81_1/state.db`` or ``/root/project/notebooks/.motia/state.db`` says where the
notebook happened to run, not anything about Motia. :func:`machine_paths` finds them in
any text; :func:`notebook_machine_paths` in every output of a notebook (all MIME types,
error tracebacks) and in its saved widget state.

What counts as a machine path: an absolute path under a temporary or home-like root
(``/tmp``, ``/var/folders``, ``/private``, ``/root``, ``/home``, ``/Users``, ``/work``),
and any text naming this machine's temporary directory, home directory or repository
checkout. Web routes (``/orders``, ``/tickets/T-2``) are not paths on a disk and pass.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["machine_paths", "notebook_machine_paths", "output_texts"]

ROOT = Path(__file__).resolve().parent.parent

#: Directory roots whose paths only make sense on the machine that wrote them.
_ROOTS = ("tmp", "var/tmp", "var/folders", "private", "root", "home", "Users", "work", "mnt", "srv")
def _local_roots() -> list[str]:
    """This machine's own directories (temporary, home, this checkout), in any spelling."""
    roots = {tempfile.gettempdir(), str(Path.home()), str(ROOT)}
    roots |= {os.path.realpath(r) for r in roots}
    return sorted((r.rstrip("/") for r in roots if len(r.rstrip("/")) > 1), key=len, reverse=True)


#: An absolute path under one of those roots, also after ``../`` or ``file://``; not a URL's
#: route (``http://host/tmp/x``: there the root follows a word character).
_PATH = re.compile(
    r"(?<![\w~-])(?:"
    + "|".join([re.escape(r) for r in _local_roots()] + ["/" + re.escape(r) for r in _ROOTS])
    + r")(?![\w.-])(?:/[^\s'\"<>`)\]},;]*)?"
)


def machine_paths(text: str) -> list[str]:
    """Every machine path in ``text`` (empty when there is none)."""
    return [m.group(0) for m in _PATH.finditer(text)]


def output_texts(output: dict[str, Any]) -> list[str]:
    """Every piece of text an nbformat output carries: streams, each MIME type, tracebacks."""
    kind = output.get("output_type")
    if kind == "stream":
        return [_text(output.get("text", ""))]
    if kind == "error":
        return [output.get("ename", ""), output.get("evalue", ""), *output.get("traceback", [])]
    texts = []
    for data in (output.get("data") or {}).values():
        texts.append(_text(data) if isinstance(data, (str, list)) else json.dumps(data))
    return texts


def notebook_machine_paths(nb: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, path)`` for every machine path in a notebook's outputs and saved widget state."""
    hits = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) or []:
            for text in output_texts(output):
                hits += [(f"cell {index} ({output.get('output_type')})", p) for p in machine_paths(text)]
    widgets = (nb.get("metadata") or {}).get("widgets")
    if widgets:
        hits += [("saved widget state", p) for p in machine_paths(json.dumps(widgets))]
    return hits


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)
