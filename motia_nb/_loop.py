"""motia_nb's own event loop, on a daemon thread.

ipykernel already runs an asyncio loop in the kernel's main thread, so
``asyncio.run`` fails inside a cell and blocking that thread on a coroutine
scheduled on its own loop deadlocks. Synchronous entry points (magics, widget
callbacks, scripts) therefore run coroutines here, on a loop that belongs to
motia_nb, while the calling thread waits. ``run_sync`` runs the coroutine inside
a *copy of the caller's contextvars context*, which is how ipykernel (7.x) knows
which cell printed output belongs to.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["LoopThread", "get_loop_thread", "run_sync", "in_loop_thread", "stop_loop_thread"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever on a daemon thread (never blocks interpreter exit)."""

    def __init__(self, name: str = "motia-nb-loop") -> None:
        self._ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None) -> "Future[T]":
        """Schedule ``coro`` on this loop (inside ``context`` if given); return a concurrent Future."""
        assert self.loop is not None
        fut: Future[T] = Future()

        def start() -> None:
            task = self.loop.create_task(coro, context=context)  # type: ignore[union-attr]

            def done(t: "asyncio.Task[T]") -> None:
                if t.cancelled():
                    fut.cancel()
                elif (exc := t.exception()) is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(t.result())

            task.add_done_callback(done)

        self.loop.call_soon_threadsafe(start)
        return fut

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)


_lock = threading.Lock()
_loop_thread: LoopThread | None = None


def get_loop_thread() -> LoopThread:
    """The process-wide motia_nb loop thread, started on first use."""
    global _loop_thread
    with _lock:
        if _loop_thread is None or not _loop_thread.thread.is_alive():
            _loop_thread = LoopThread()
        return _loop_thread


def stop_loop_thread() -> None:
    """Stop the process-wide loop thread if it runs (it restarts on next use)."""
    global _loop_thread
    with _lock:
        lt, _loop_thread = _loop_thread, None
    if lt is not None and not in_loop_thread_of(lt):
        lt.stop()


def in_loop_thread_of(lt: LoopThread) -> bool:
    return threading.current_thread() is lt.thread


def in_loop_thread() -> bool:
    """True when called from the motia_nb loop thread itself."""
    lt = _loop_thread
    return lt is not None and threading.current_thread() is lt.thread


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    Works with no event loop, while a loop is running in this thread (a Jupyter
    cell), and from any other thread. The coroutine runs on motia_nb's loop
    thread inside a copy of the caller's context. Calling it *from* the loop
    thread would deadlock, so that raises ``RuntimeError``.
    """
    if in_loop_thread():
        coro.close()
        raise RuntimeError(
            "motia_nb: a synchronous call was made from inside motia_nb's event loop "
            "(e.g. from an async step handler); use the awaitable form instead"
        )
    fut = get_loop_thread().submit(coro, context=contextvars.copy_context())
    return fut.result(timeout)


def _reset_after_fork_in_child() -> None:
    # the parent's loop thread does not exist here; start a new one on first use
    global _lock, _loop_thread
    _lock = threading.Lock()
    _loop_thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork_in_child)


@atexit.register
def _shutdown() -> None:
    lt = _loop_thread
    if lt is not None:
        lt.stop()
