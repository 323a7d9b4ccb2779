"""Which frames of a traceback are the user's, and errors that show only those plus one line.

Only two things in the traceback of an error motia_nb raises help the user: the message,
and the frames of their own code (a cell, a ``%%step`` cell's module, a handler). A frame
is the user's when its file is not part of motia_nb, of Python's standard library or of
an installed package (IPython, ipykernel, asyncio, redis-py…).

:class:`ShortTraceback` is a mixin for errors whose cause is outside the user's code and
whose frames inside motia_nb add nothing (a store that cannot be reached): IPython shows
such an error as the user's frames plus ``ErrorType: message`` (``%tb`` still shows every
frame). No IPython import here: a cell's label (``Cell In[3]``) is asked of the running
shell, if there is one, through the ``get_ipython`` IPython puts in ``builtins``.
"""

from __future__ import annotations

import builtins
import os
import sysconfig
import traceback
from types import TracebackType

__all__ = ["ShortTraceback", "is_user_file", "user_frames", "error_line", "location"]

# motia_nb's package folder (this file is motia_nb/_frames.py)
_OWN = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARIES = tuple(
    sorted(
        {
            os.path.abspath(p) + os.sep
            for p in (sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib"))
            if p
        }
    )
)


def is_user_file(filename: str) -> bool:
    """True for the user's code: a cell, a ``%%step`` cell, a module of theirs."""
    if filename.startswith("<frozen ") or filename == "<string>":
        return False
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    return not path.startswith(_OWN) and not path.startswith(_LIBRARIES)


def location(filename: str) -> str:
    """``Cell In[3]`` for a notebook cell (as IPython writes it), else ``File "name"``."""
    try:
        get_ipython = getattr(builtins, "get_ipython", None)
        shell = get_ipython() if get_ipython is not None else None
        label = shell.compile.format_code_name(filename) if shell is not None else None
    except Exception:  # an older compiler without format_code_name
        label = None
    return f"{label[0]} {label[1]}" if label else f'File "{filename}"'


def user_frames(tb: TracebackType | None) -> list[str]:
    """The user's frames of ``tb``, formatted two lines each (where, and the source line)."""
    lines = []
    for frame in traceback.extract_tb(tb):
        if not is_user_file(frame.filename):
            continue
        text = f"{location(frame.filename)}, line {frame.lineno}, in {frame.name}"
        if frame.line:
            text += f"\n    {frame.line.strip()}"
        lines.append(text)
    return lines


def error_line(exc: object, name: str | None = None) -> str:
    """``ErrorType: message``, the type (or ``name``) in red as IPython shows it."""
    return f"\x1b[0;31m{name or type(exc).__name__}\x1b[0m: {exc}"


class ShortTraceback:
    """Mixin for an exception IPython shows as the user's frames plus one line."""

    def _render_traceback_(self) -> list[str]:
        tb = self.__traceback__ if isinstance(self, BaseException) else None
        return [*user_frames(tb), error_line(self)]
