"""How a failing magic shows its error: one line, plus the user's own frames.

An error raised while a magic (``%state``, ``%motia``, ``%%step``) runs travels
through IPython, motia_nb, and sometimes asyncio and threading before it reaches
the cell. Only two things in that traceback help the user: the message, and the
frames of their own code (the ``%%step`` cell's module code, a handler, a
condition). :func:`one_line_errors` wraps a magic so that any exception escaping
it is shown as exactly that; ``%tb`` and ``%debug`` still see the full
traceback, and the exception's type does not change.

A frame is the user's when its file is not part of motia_nb, of Python's
standard library or of an installed package (IPython, ipykernel, asyncio...).
"""

from __future__ import annotations

import functools
import os
import sysconfig
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["one_line_errors", "shorten", "user_frames", "is_user_file", "error_line"]

F = TypeVar("F", bound=Callable[..., Any])

# motia_nb's package folder (this file is motia_nb/notebook/tracebacks.py)
_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
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


def _location(filename: str) -> str:
    """``Cell In[3]`` for a notebook cell (as IPython writes it), else ``File "name"``."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        label = shell.compile.format_code_name(filename) if shell is not None else None
    except Exception:  # no IPython shell, or an older compiler without format_code_name
        label = None
    return f"{label[0]} {label[1]}" if label else f'File "{filename}"'


def user_frames(tb: TracebackType | None) -> list[str]:
    """The user's frames of ``tb``, formatted two lines each (where, and the source line)."""
    lines = []
    for frame in traceback.extract_tb(tb):
        if not is_user_file(frame.filename):
            continue
        text = f"{_location(frame.filename)}, line {frame.lineno}, in {frame.name}"
        if frame.line:
            text += f"\n    {frame.line.strip()}"
        lines.append(text)
    return lines


def error_line(exc: object, name: str | None = None) -> str:
    """``ErrorType: message``, the type (or ``name``) in red as IPython shows it."""
    return f"\x1b[0;31m{name or type(exc).__name__}\x1b[0m: {exc}"


def shorten(exc: BaseException, tb: TracebackType | None = None) -> BaseException:
    """Make IPython show ``exc`` as its user's frames plus one line; returns ``exc``.

    The frames are taken now, from ``tb`` (default: ``exc.__traceback__``), so a
    caller that catches the exception passes the frames below it only. An
    exception that already renders itself (``_render_traceback_``) is left alone.
    """
    if hasattr(exc, "_render_traceback_"):
        return exc
    lines = [*user_frames(tb if tb is not None else exc.__traceback__), error_line(exc)]
    try:
        exc._render_traceback_ = lambda: list(lines)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # pragma: no cover - an exception type without __dict__
        pass
    return exc


def one_line_errors(method: F) -> F:
    """Decorate a magic so that what it raises shows as one line plus the user's frames."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            shorten(exc)  # its traceback starts here: the frames below the magic only
            raise

    return wrapper  # type: ignore[return-value]
