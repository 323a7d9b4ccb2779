"""Run motia_nb's async work from Motia's synchronous SDK calls, from any thread.

Motia's ``stateManager``, ``enqueue`` and ``Stream`` are synchronous. They are
called from plain cells (the kernel's loop is running in this thread), from
plain-``def`` handlers (their own thread), and from ``async def`` handlers or
``ctx.match`` sub-handlers (a loop thread: the kernel's, or motia_nb's own).
:func:`run_blocking` finishes the coroutine in all these places without a
deadlock. From plain synchronous code outside any cascade the coroutine runs
on motia_nb's loop thread. Inside a cascade, or on a thread running a loop, a
loop up the causal chain may be the one waiting for this call (motia_nb's own
loop, blocked in an outer synchronous call): the coroutine then runs on a
private loop on a helper thread while the caller waits. The caller's
contextvars go along (output lands in the causing cell; the cascade's trace
and loop guard continue).
"""

from __future__ import annotations

import asyncio
import dis
import sys
from bisect import bisect_right
from collections.abc import Coroutine
from functools import lru_cache
from itertools import pairwise
from types import CodeType
from typing import Any, TypeVar

from .._threads import run_on_private_loop, run_sync
from ..steps.context import current_frame

__all__ = ["run_blocking", "Done", "answer"]

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code and return its result (or raise its error)."""
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    if not on_loop and current_frame() is None:
        return run_sync(coro)
    return run_on_private_loop(coro)


class Done:
    """The result of a synchronous call that also works with ``await`` (``await enqueue(...)``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __await__(self):  # type: ignore[no-untyped-def]
        return self.value
        yield  # pragma: no cover - makes this a generator

    def _ipython_display_(self) -> None:  # a cell ending in enqueue(...) shows nothing, as for None
        if self.value is not None:
            from IPython.display import display

            display(self.value)

    def __repr__(self) -> str:
        return "None" if self.value is None else repr(self.value)


@lru_cache(maxsize=1024)
def _instructions(code: CodeType) -> tuple[tuple[int, ...], frozenset[int]]:
    """Every instruction's offset in ``code``, and the offsets of the calls awaited at once (``await f(...)``)."""
    ins = list(dis.get_instructions(code))
    awaited = frozenset(a.offset for a, b in pairwise(ins) if b.opname == "GET_AWAITABLE" and a.opname.startswith("CALL"))
    return tuple(i.offset for i in ins), awaited


def _awaited(frame: Any) -> bool:
    """True when ``frame`` is suspended in a call whose result it awaits next."""
    offsets, awaited = _instructions(frame.f_code)
    here = bisect_right(offsets, frame.f_lasti) - 1  # f_lasti may sit in the CALL's inline caches (3.11)
    return here >= 0 and offsets[here] in awaited


def answer(value: T) -> "T | Done":
    """An SDK call's result, as its caller's SDK generation expects it.

    Motia 1.0.4's ``stateManager``, ``Stream`` and ``enqueue`` are synchronous; later
    1.0 releases (whose playground steps write ``await stateManager.set(...)`` and
    ``await stream.get_group(...)``) made them coroutines. A call written ``await
    call(...)`` gets an awaitable that gives ``value``; any other call gets ``value``
    itself, so ``x = stateManager.get(...)`` stays a plain value (``None`` included).
    Called from the SDK method, whose caller is two frames up.
    """
    return Done(value) if _awaited(sys._getframe(2)) else value
