"""Waiting for a write's commit: through a concurrent close(), and through Ctrl-C.

- **close() races.** ``StateManager.close()`` (or ``use()``) swaps the backend
  out, then closes it; a write that picked up the old backend just before is
  refused with :class:`StateClosedError` — and a refused write was never applied.
  Such a write is submitted again to the manager's current backend (reopened on
  demand), so the manager stays usable as ``close()`` promises: a write refused at
  once, and an async write buffered on any thread's loop that the closed backend
  refuses when that loop flushes it (``WriteFuture.on_refused``). A backend closed
  behind the manager's back still answers ``StateClosedError``.
- **Ctrl-C.** A synchronous write interrupted while it waits (typically for
  another process's write lock) is withdrawn if its transaction has not begun:
  ``KeyboardInterrupt`` then means *not written*. If it was already being
  committed, the wait goes on until the commit ends, and the
  ``KeyboardInterrupt`` says it was written. Never "raised, then committed later".
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .backends.base import SYNC_WRITE_REFUSED, Backend, Write, WriteResult
from .backends.write_future import WriteFuture
from .errors import StateClosedError

__all__ = ["commit_sync", "submit_async_reopening", "resubmit_refused"]

#: Times a write refused by a backend closed under it is submitted again.
_RESUBMITS = 100


def _where(write: Write) -> str:
    return f"{write.group_id!r}" if write.key is None else f"{write.group_id!r}/{write.key!r}"


def commit_sync(write: Write, backend: Callable[[], Backend], current: Callable[[], "Backend | None"]) -> WriteResult:
    """Submit ``write`` to ``backend()`` and wait for its commit (see the module docstring).
    ``current()`` is the manager's backend right now (None while closed)."""
    for attempt in range(_RESUBMITS + 1):
        b = backend()
        if b.blocks_on_itself():  # waiting here would deadlock
            raise RuntimeError(SYNC_WRITE_REFUSED)
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
    write: Write, backend: Callable[[], Backend], current: Callable[[], "Backend | None"], *, result_only: bool,
    submitted: "tuple[Backend, Any] | None" = None,
) -> Any:
    """``backend().submit_async(write)`` (or ``submitted``: that backend and the future it gave);
    refused by a backend swapped out by a concurrent close() — at once, or later when its loop
    flushes it — it goes to the current one instead."""
    if submitted is None:
        b = backend()
        fut = b.submit_async(write, result_only=result_only)
    else:
        b, fut = submitted
    for _ in range(_RESUBMITS):
        if not (fut.done() and not fut.cancelled() and isinstance(fut.exception(), StateClosedError)):
            break
        if current() is b:
            break
        b = backend()
        fut = b.submit_async(write, result_only=result_only)
    if type(fut) is WriteFuture:
        fut.on_refused = functools.partial(resubmit_refused, b, backend, current)
    return fut


def resubmit_refused(
    refused_by: Backend, backend: Callable[[], Backend], current: Callable[[], "Backend | None"],
    fut: "asyncio.Future[Any]", write: Write, result_only: bool, error: BaseException,
) -> None:
    """``WriteFuture.on_refused`` (bound to the backend it was submitted to by ``functools.partial``),
    on the future's loop: ``write`` was refused, unapplied, by ``refused_by``, now closed. Swapped out
    by the manager, the write goes to the current backend and ``fut`` gets that outcome; closed
    behind the manager's back, ``fut`` fails with ``error``."""
    if fut.done():
        return
    if current() is refused_by:
        fut.set_exception(error)
        return
    try:
        again = submit_async_reopening(write, backend, current, result_only=result_only)
    except BaseException as exc:  # the store cannot reopen: that is the write's answer
        fut.set_exception(exc)
        return
    again.add_done_callback(functools.partial(_settle, fut))


def _settle(fut: "asyncio.Future[Any]", source: "asyncio.Future[Any]") -> None:
    if fut.done():
        return
    if source.cancelled():
        fut.cancel()
    elif source.exception() is not None:
        fut.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        fut.set_result(source.result())
