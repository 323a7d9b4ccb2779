"""A call for a pool thread that can be *told* to stop (:class:`ToldCall`).

A plain-``def`` step handler runs on motia_nb's handler pool (:mod:`motia_nb._threads`);
when its cascade is cancelled (Kernel › Interrupt), the thread running it is told:
``CancelledError`` is raised in it with ``PyThreadState_SetAsyncExc``. No threads are
made here.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ToldCall"]

T = TypeVar("T")


class ToldCall:
    """``fn(*args)`` for a pool thread, inside a copy of the caller's context, that can be
    *told* to stop: ``tell()`` raises ``CancelledError`` in the thread while it runs ``fn``.

    A tell that lands as ``fn`` returns goes off inside the call (CPython checks for it at the
    guard's exit), so the pool's future gets it and the thread lives on; the thread also clears
    any tell still pending on its way out, so one can never go off in the pool's own code and
    kill the thread for good.
    """

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.ctx = contextvars.copy_context()
        self.guard = threading.Lock()  # the thread is told only while it still runs fn
        self.ident: int | None = None
        self.told = False

    def __call__(self) -> T:
        with self.guard:
            self.ident = threading.get_ident()
        try:
            return self.ctx.run(self.fn, *self.args)
        finally:
            with self.guard:
                self.ident = None
                if self.told:  # a tell not yet gone off must not go off in the pool's code
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(threading.get_ident()), None)

    def tell(self) -> None:
        with self.guard:
            if self.ident is not None:
                self.told = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.ident), ctypes.py_object(asyncio.CancelledError)
                )
