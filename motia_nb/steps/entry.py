"""The calling convention of the steps' public entry points (``enqueue``, ``request``, ``run_cron``…).

An :class:`Entry` wraps an ``async def``: awaited in a cell or an async handler it is the call's
coroutine; called where no loop runs (a plain-``def`` handler, a thread, a script) it is made at
once, as Motia's SDK calls are plain calls; ``.sync(...)`` runs it to completion from code that
cannot ``await``. Arguments it does not take are one line saying how to write the call.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import Callable, Coroutine
from typing import Any, Generic, ParamSpec, TypeVar

from .._calls import DoneCall, NotAwaitedCall
from .._threads import run_sync
from .errors import StepArgumentError

__all__ = ["Entry"]

P = ParamSpec("P")
R = TypeVar("R")


class Entry(Generic[P, R]):
    """An async entry point that also has a blocking ``.sync(...)`` form."""

    def __init__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """Where a loop runs (a cell, an async handler): the call's coroutine, which says so if it
        is dropped unawaited. Where none runs (a plain-``def`` handler, a thread, before
        ``asyncio.run``): the call made now, as ``.sync(...)`` would (Motia 1.0.4's SDK calls are
        plain calls), its answer given when awaited; its error raised at the call, as the SDK's is
        (nothing awaits a call in a plain def: kept for an await, the loop guard's error never
        stopped the cascade, and a bad message failed no step)."""
        coro = self._called(args, kwargs)
        name = self._fn.__name__.lstrip("_")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loop = False
        else:
            loop = True
        # (made outside the except: its error must not read as raised while handling that one)
        return NotAwaitedCall(name, coro) if loop else DoneCall(name, run_sync(coro), None)

    def sync(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run to completion from code that cannot ``await`` (magics, plain-def handlers, scripts)."""
        return run_sync(self._called(args, kwargs))

    def _called(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Coroutine[Any, Any, R]:
        """The call's coroutine. Arguments it does not take (``enqueue("orders", data)``) are one line
        saying how to write it (``StepArgumentError``, a TypeError), not a frame of this file: calling
        an ``async def`` only binds its arguments, so a TypeError here is about them."""
        try:
            return self._fn(*args, **kwargs)
        except TypeError as e:
            name = self._fn.__name__.lstrip("_")
            if name == "enqueue":
                how = 'await enqueue({"topic": TOPIC, "data": DATA})'
            else:
                params = inspect.signature(self._fn).parameters.values()
                how = f"await {name}(" + ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params) + ")"
            said = re.sub(r"^[\w.]+\(\)", f"{name}()", str(e))
            raise StepArgumentError(f"{said}: write {how}") from None

    def __repr__(self) -> str:
        return f"<motia_nb {self._fn.__name__}: await it, or call .sync(...)>"
