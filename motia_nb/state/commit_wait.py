"""Waiting for a write's commit: through a concurrent close(), and through Ctrl-C.

- **close() races.** ``StateManager.close()`` (or ``use()``) swaps the backend
  out, then closes it; a write that picked up the old backend just before is
  refused with :class:`StateClosedError` — and a refused write was never applied.
  Such a write is submitted again to the manager's current backend (reopened on
  demand), so the manager stays usable as ``close()`` promises. A backend closed
  behind the manager's back still answers ``StateClosedError``.
- **Ctrl-C.** A synchronous write interrupted while it waits (typically for
  another process's write lock) is withdrawn if its transaction has not begun:
  ``KeyboardInterrupt`` then means *not written*. If it was already being
  committed, the wait goes on until the commit ends, and the
  ``KeyboardInterrupt`` says it was written. Never "raised, then committed later".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .backends.base import Backend, Write, WriteResult
from .errors import StateClosedError

__all__ = ["commit_sync", "submit_async_reopening"]

#: Times a write refused by a backend closed under it is submitted again.
_RESUBMITS = 100


def _where(write: Write) -> str:
    return f"{write.group_id!r}" if write.key is None else f"{write.group_id!r}/{write.key!r}"


def commit_sync(write: Write, backend: Callable[[], Backend], current: Callable[[], "Backend | None"]) -> WriteResult:
    """Submit ``write`` to ``backend()`` and wait for its commit (see the module docstring).
    ``current()`` is the manager's backend right now (None while closed)."""
    for attempt in range(_RESUBMITS + 1):
        b = backend()
        if threading.current_thread() is b.writer_thread:  # waiting there would deadlock
            raise RuntimeError(
                "motia_nb: state writes cannot be made synchronously from a state subscriber callback "
                "or from the thread that commits writes (in an async handler, await the write instead)"
            )
        try:
            return _wait(b.submit(write), write)
        except StateClosedError:
            if attempt == _RESUBMITS or current() is b:  # closed by someone else, not swapped out
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _wait(fut: "Future[WriteResult]", write: Write) -> WriteResult:
    try:
        return fut.result()
    except KeyboardInterrupt:
        if fut.cancel():  # its transaction had not begun: withdrawn, never written
            raise KeyboardInterrupt(f"interrupted: the {write.kind} of {_where(write)} was not made") from None
    while True:  # being committed right now: wait for the outcome, then say what happened
        try:
            fut.result()
            break
        except KeyboardInterrupt:
            continue
    raise KeyboardInterrupt(f"interrupted, but the {write.kind} of {_where(write)} had begun and was committed")


def submit_async_reopening(
    write: Write, backend: Callable[[], Backend], current: Callable[[], "Backend | None"], *, result_only: bool
) -> Any:
    """``backend().submit_async(write)``; refused at once by a backend swapped out by a
    concurrent close(), it goes to the current one instead."""
    b = backend()
    fut = b.submit_async(write, result_only=result_only)
    for _ in range(_RESUBMITS):
        if not (fut.done() and not fut.cancelled() and isinstance(fut.exception(), StateClosedError)):
            break
        if current() is b:
            break
        b = backend()
        fut = b.submit_async(write, result_only=result_only)
    return fut
