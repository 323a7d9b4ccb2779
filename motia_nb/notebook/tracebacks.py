"""How a failing magic shows its error: one line, plus the user's own frames.

An error raised while a magic (``%state``, ``%motia``, ``%%step``) runs travels
through IPython, motia_nb, and sometimes asyncio and threading before it reaches
the cell. Only two things in that traceback help the user: the message, and the
frames of their own code (the ``%%step`` cell's module code, a handler, a
condition). :func:`one_line_errors` wraps a magic so that any exception escaping
it is shown as exactly that; ``%tb`` and ``%debug`` still see the full
traceback, and the exception's type does not change.

A frame is the user's when its file is not part of motia_nb, of Python's
standard library or of an installed package (IPython, ipykernel, asyncio...):
see :mod:`motia_nb._frames`, which gives errors raised outside a magic (a store
that cannot be reached) the same look.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from .._frames import ShortTraceback, error_line, is_user_file, user_frames

__all__ = ["one_line_errors", "shorten", "user_frames", "is_user_file", "error_line"]

F = TypeVar("F", bound=Callable[..., Any])


def shorten(exc: BaseException, tb: TracebackType | None = None) -> BaseException:
    """Make IPython show ``exc`` as its user's frames plus one line; returns ``exc``.

    The frames are taken now, from ``tb`` (default: ``exc.__traceback__``), so a
    caller that catches the exception passes the frames below it only. An
    exception that already renders itself (``_render_traceback_``, e.g. ``StepSyntaxError``) is
    left alone, unless it renders the user's frames plus one line as
    :class:`~motia_nb._frames.ShortTraceback` does: that one gets the frames below the caller too.
    """
    if hasattr(exc, "_render_traceback_") and (
        not isinstance(exc, ShortTraceback)
        or type(exc)._render_traceback_ is not ShortTraceback._render_traceback_  # its own way (StepSyntaxError)
    ):
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
