"""Handing committed outcomes to their waiters, from whichever thread committed.

A waiter is a ``concurrent.futures.Future`` (a sync caller) or ``(loop, asyncio
future, result_only)`` (an async caller): asyncio futures are resolved with one
``call_soon_threadsafe`` per loop and batch, or directly when the commit ran on
that loop's own thread.
"""

from __future__ import annotations

from typing import Any

from ..base import WriteResult
from ..waiters import resolve, resolve_on_loops

__all__ = ["deliver"]


def deliver(pairs: list[tuple[Any, Any]]) -> None:
    """Resolve waiters with results (or exceptions): concurrent Futures directly,
    asyncio futures with one ``call_soon_threadsafe`` per loop."""
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
