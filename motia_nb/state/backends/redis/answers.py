"""Answering the writer task's async writes on their callers' loops, one loop callback per batch.

A write's future is an ``asyncio.Future`` of its caller's loop. Resolving 20,000 of them
(a gather) one ``set_result`` at a time schedules one Handle per future for its done
callback (the gather's, an awaiting task's). Here the callbacks are taken off first and
run together in ONE loop callback right after, in the order ``set_result`` would have
scheduled them, each in its own context (:func:`~..waiters.run_callbacks`), as SQLite's
loop batches do. A future already done (its awaiting task was cancelled: the write
stands) is skipped.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..waiters import resolve, run_callbacks, take_callbacks

__all__ = ["answer_on_loops", "answer_here"]


def answer_here(loop: asyncio.AbstractEventLoop, pairs: list[tuple["asyncio.Future[Any]", Any]]) -> None:
    """Resolve ``(future, outcome)`` pairs of ``loop`` (the running loop); an outcome that is an
    exception fails its future."""
    pending: list[Any] = []
    add = pending.append
    for fut, out in pairs:
        if fut.done():
            continue
        cbs = fut._callbacks  # type: ignore[attr-defined]
        if cbs:
            if len(cbs) == 1:  # the common case: a gather's callback, or an awaiting task's
                cb, ctx = cbs[0]
                fut.remove_done_callback(cb)
                add((cb, ctx, fut))
            else:
                take_callbacks(fut, cbs, add)
        resolve(fut, out)
    if pending:
        loop.call_soon(run_callbacks, loop, pending)


def answer_on_loops(by_loop: dict[Any, list[tuple["asyncio.Future[Any]", Any]]]) -> None:
    """Each loop's pairs answered on that loop: here when it is the running loop, else with
    one ``call_soon_threadsafe``; a loop closed meanwhile has nobody waiting."""
    if not by_loop:
        return
    here = asyncio._get_running_loop()
    for loop, pairs in by_loop.items():
        if loop is here:
            answer_here(loop, pairs)
            continue
        try:
            loop.call_soon_threadsafe(answer_here, loop, pairs)
        except RuntimeError:  # that loop was closed: nobody is waiting
            pass
