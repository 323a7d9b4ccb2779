"""Handing committed outcomes to their waiters, from whichever thread committed.

A waiter is a ``concurrent.futures.Future`` (a sync caller) or ``(loop, asyncio
future, result_only)`` (an async caller): asyncio futures are resolved with one
``call_soon_threadsafe`` per loop and batch, or directly when the commit ran on
that loop's own thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..base import WriteResult
from ..waiters import hand_refused, resolve, resolve_all, resolve_on_loops

__all__ = ["deliver", "refuse"]


def deliver(pairs: list[tuple[Any, Any]]) -> None:
    """Resolve waiters with results (or exceptions): concurrent Futures directly,
    asyncio futures with one ``call_soon_threadsafe`` per loop."""
    if len(pairs) == 1:  # a lone write: committed inline, most often on its own loop's thread
        waiter, out = pairs[0]
        if type(waiter) is tuple and asyncio._get_running_loop() is waiter[0]:
            _, fut, result_only = waiter
            resolve_all([(fut, out.result if result_only and type(out) is WriteResult else out)])
            return
    by_loop: dict[Any, list[tuple[Any, Any]]] = {}
    for waiter, out in pairs:
        if type(waiter) is not tuple:
            if waiter.cancelled():  # withdrawn before its transaction began (commit_wait)
                continue
            resolve(waiter, out)
            continue
        loop, fut, result_only = waiter
        if result_only and type(out) is WriteResult:
            out = out.result
        items = by_loop.get(loop)
        if items is None:
            items = by_loop[loop] = []
        items.append((fut, out))
    resolve_on_loops(by_loop)


def refuse(batch: list[tuple[Any, Any]], error: BaseException) -> None:
    """Answer ``(write, waiter)`` pairs never applied (the store closed) with ``error``; an async
    write whose future has ``on_refused`` is handed to it instead, on its loop (write_future.py)."""
    pairs: list[tuple[Any, Any]] = []
    for write, waiter in batch:
        if type(waiter) is tuple and write is not None:
            loop, fut, result_only = waiter
            if hand_refused(loop, fut, write, result_only, error):
                continue
        pairs.append((waiter, error))
    deliver(pairs)

