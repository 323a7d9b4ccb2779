"""How the runtime tells the causing cell what went wrong: one line, or a headline with the
user's own frames (none of motia_nb's, asyncio's or the handler pool's).

Both write to ``sys.stderr`` after flushing ``sys.stdout``, so a step's prints and its
report keep their causal order in the cell.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import sys
import threading
import traceback

from .._frames import is_user_file, location

__all__ = ["say", "report", "user_traceback", "error_text"]

#: Frames from these folders are motia_nb's or the machinery between it and a handler
#: (the thread pool, asyncio): a reported error shows only the user's own frames.
_INTERNAL_DIRS = tuple(
    os.path.dirname(m.__file__) + os.sep for m in (asyncio, concurrent.futures) if m.__file__
) + (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,)
_INTERNAL_FILES = frozenset({threading.__file__, contextvars.__file__})


def _user_frames(te: traceback.TracebackException) -> None:
    # (installed packages' and the standard library's frames too: the handler's own lines say where
    # it failed, the error line says what; a library's frames are machine paths a saved notebook keeps)
    keep = [f for f in te.stack
            if not f.filename.startswith(_INTERNAL_DIRS) and f.filename not in _INTERNAL_FILES and is_user_file(f.filename)]
    te.stack = traceback.StackSummary.from_list(keep)
    for sub in (te.__cause__, te.__context__):
        if sub is not None:
            _user_frames(sub)


def _files(te: traceback.TracebackException) -> set[str]:
    out = {f.filename for f in te.stack}
    for sub in (te.__cause__, te.__context__):
        if sub is not None:
            out |= _files(sub)
    return out


def user_traceback(exc: BaseException) -> list[str]:
    """The exception formatted with the user's frames only (none of motia_nb's, asyncio's or the pool's).

    A frame of a notebook cell is named as IPython names it (``Cell In[3], line 4``),
    not by the kernel's temporary file (``/tmp/ipykernel_1234/….py``)."""
    te = traceback.TracebackException.from_exception(exc)
    _user_frames(te)
    lines = list(te.format())
    own = type(exc)
    if own.__module__.startswith("motia_nb."):  # StepInputError: …, as IPython shows it (not motia_nb.steps.errors.…)
        qualified = f"{own.__module__}.{own.__qualname__}"
        lines = [own.__qualname__ + line[len(qualified):] if line.startswith(qualified + ":") else line for line in lines]
    for filename in _files(te):
        label = location(filename)
        if not label.startswith("File "):
            lines = [line.replace(f'File "{filename}"', label) for line in lines]
    return lines


def error_text(exc: BaseException) -> str:
    """``ValueError: bad total``: the error's type and message, for a trace row, a log line or a 500's body.

    An exception whose ``str()`` itself fails (a ``__str__`` reading a field it never set) says
    so as Python's tracebacks do, rather than failing the report, and the cell, with motia_nb's frames."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - any failure of the user's __str__
        message = "<exception str() failed>"
    return f"{type(exc).__name__}: {message}"


def say(line: str) -> None:
    """One line on the causing cell's stderr, after any pending stdout."""
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover
        pass
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


#: what a Motia 0.x handler reached for on its ``ctx``, and how Motia 1.x writes it
_CTX_0X = {
    "streams": 'Motia 1.x has no ctx.streams: write `from motia import Stream`, then Stream("NAME").set(group_id, id, value)',
    "emit": 'Motia 1.x has no ctx.emit: write `from motia import enqueue`, then enqueue({"topic": TOPIC, "data": DATA})',
    "state": "Motia 1.x has no ctx.state: write `from motia import stateManager`, then stateManager.get(group, key)",
    "logger": "Motia 1.x has no ctx.logger: write `from motia import logger`, then logger.info(message, data)",
    "traceId": "Motia 1.x's ctx names it ctx.trace_id",
}


def _ctx_hint(exc: BaseException) -> str | None:
    """A hint for ``ctx.streams`` / ``ctx.emit`` / … (Motia 0.x's context) failing on 1.x's ``FlowContext``."""
    if type(exc) is not AttributeError or type(getattr(exc, "obj", None)).__name__ != "FlowContext":
        return None
    return _CTX_0X.get(getattr(exc, "name", None) or "")


def report(headline: str, exc: BaseException) -> None:
    """Print a failure to the causing cell's stderr, after any pending stdout (causal order)."""
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover - a closed stream must not hide the report
        pass
    hint = _ctx_hint(exc)
    sys.stderr.write(headline + "\n" + "".join(user_traceback(exc)) + (f"hint: {hint}\n" if hint else ""))
    sys.stderr.flush()
