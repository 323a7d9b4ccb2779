"""The one owner of motia_nb's threads and event loops, and of fork/exit handling.

Every execution context motia_nb creates is made here (the table in
``docs/ARCHITECTURE.md`` lists them):

- **motia_nb's loop thread** (:func:`get_loop_thread`): one asyncio loop on a
  daemon thread, started on first use. Synchronous entry points (magics, widget
  callbacks, scripts, plain-``def`` handlers) run coroutines there with
  :func:`run_sync` while the calling thread waits. ipykernel already runs a loop
  in the kernel's main thread, so ``asyncio.run`` fails in a cell and blocking
  that thread on a coroutine scheduled on its own loop would deadlock. The
  Redis backend, the WebSocket engine endpoint and the cron scheduler (outside a
  kernel) live on this loop too.
- **long-lived worker threads** (:func:`start_thread`), and the one thread of
  each aiosqlite connection (:func:`adopt_aiosqlite`: aiosqlite starts it, we
  make it a daemon and name it): an SQLite backend's write connection and its
  long-read connection.
- **the SQLite loop** (:func:`get_sqlite_loop`): one asyncio loop on a daemon
  thread that drives SQLite batches (the awaits on aiosqlite). It runs no user
  code but state listeners, so no cell, handler or synchronous call can ever
  block it (which could deadlock a batch half-way through its transaction).
- **the handler pool** (:func:`run_in_handler_pool`): a bounded pool of threads
  for plain-``def`` step handlers, each run inside a copy of the cascade's
  ``contextvars`` context (ipykernel routes output by a ContextVar, so a
  handler's prints land in the cell that caused it).
- **the I/O pool** (:func:`run_io`): blocking reads of a remote store, awaited
  from a loop that must not wait on the network.
- **private loops** (:func:`run_on_private_loop`): a fresh loop on a helper
  thread for a synchronous call made where every loop may be waiting for it.

Fork and exit: modules register what must happen around a fork and at exit
(:func:`on_fork_prepare`, :func:`on_fork_child`, :func:`on_exit`: the lists live in
:mod:`motia_nb._process_hooks`, re-exported here); this module installs the single
``os.register_at_fork`` hook (a child first forgets the parent's threads, then runs
them) and the single ``atexit`` hook (the exit hooks, then the threads stop). Every thread is a daemon, so a script that forgets ``close()`` still exits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ._interrupts import CancelledByInterrupt, Interrupted
from ._told_calls import ToldCall
from ._process_hooks import (
    after_fork,
    before_fork,
    on_exit,
    on_fork_child,
    on_fork_prepare,
    run_child_hooks,
    run_exit_hooks,
)

__all__ = [
    "LoopThread",
    "get_loop_thread",
    "run_sync",
    "submit",
    "in_loop_thread",
    "loop_thread_waiting",
    "stop_loop_thread",
    "start_thread",
    "run_in_handler_pool",
    "run_io",
    "run_on_private_loop",
    "get_sqlite_loop",
    "sqlite_loop_thread",
    "adopt_aiosqlite",
    "HANDLER_POOL_SIZE",
    "on_fork_child",
    "on_fork_prepare",
    "on_exit",
    "shutdown",
]

T = TypeVar("T")

#: Threads for plain-``def`` handlers running at once. A cascade nests at most
#: ``MAX_DEPTH`` (24) handler runs, each of which may wait on the next, so the
#: pool is larger than that; a run past the bound waits for a free thread.
HANDLER_POOL_SIZE = 64


class LoopThread:
    """An asyncio loop running forever on a daemon thread."""

    def __init__(self, name: str = "motia-nb-loop") -> None:
        self._ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = start_thread(self._main, name)
        self._ready.wait()

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._ready.set()
        try:
            self.loop.run_forever()
            # stopped: let whatever is still pending unwind (cancelled), then close
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.wait(pending, timeout=2))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def submit(
        self, coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None, future: "Future[T] | None" = None
    ) -> "Future[T]":
        """Schedule ``coro`` on this loop (inside ``context`` if given); return a concurrent Future
        (``future`` if given: a caller made it first, to hold it whatever happens in here)."""
        loop = self.loop
        assert loop is not None
        fut: Future[T] = Future() if future is None else future

        def start() -> None:
            if fut.cancelled():  # cancelled before it started
                coro.close()
                return
            task = loop.create_task(coro, context=context)

            def done(t: "asyncio.Task[T]") -> None:
                if fut.done():
                    return
                if t.cancelled():
                    fut.cancel()
                elif (exc := t.exception()) is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(t.result())

            task.add_done_callback(done)
            fut.cancel_work = lambda: loop.call_soon_threadsafe(task.cancel)  # type: ignore[attr-defined]
            # cancelling the returned future cancels the task too
            fut.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel))

        loop.call_soon_threadsafe(start)
        return fut

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            if threading.current_thread() is not self.thread:
                self.thread.join(timeout=5)


_lock = threading.Lock()
_loop_thread: LoopThread | None = None
_loop_thread_waits = 0  # run_on_private_loop calls blocking motia_nb's loop thread now
_sqlite_loop: LoopThread | None = None
_pool: ThreadPoolExecutor | None = None


def start_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    """Start a daemon thread running ``target`` (the factory for motia_nb's long-lived threads)."""
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    return t


def get_loop_thread() -> LoopThread:
    """motia_nb's loop thread, started on first use (and again after :func:`stop_loop_thread`)."""
    global _loop_thread
    with _lock:
        if _loop_thread is None or not _loop_thread.thread.is_alive():
            _loop_thread = LoopThread()
        return _loop_thread


def get_sqlite_loop() -> LoopThread:
    """The loop that drives SQLite batches on aiosqlite, started on first use (again after fork)."""
    global _sqlite_loop
    with _lock:
        if _sqlite_loop is None or not _sqlite_loop.thread.is_alive():
            _sqlite_loop = LoopThread("motia-nb-sqlite")
        return _sqlite_loop


def sqlite_loop_thread() -> threading.Thread | None:
    """The SQLite loop's thread if it runs (where queued batches commit and their listeners run)."""
    lt = _sqlite_loop
    return lt.thread if lt is not None and lt.thread.is_alive() else None


def adopt_aiosqlite(conn: Any, name: str) -> Any:
    """Make the (not yet started) thread of aiosqlite connection ``conn`` a named daemon.

    aiosqlite 0.22 starts one plain (non-daemon) thread per connection when the
    connection is first awaited; a script that forgets ``close()`` would then hang
    at exit, as Python joins non-daemon threads before running ``atexit`` hooks.
    """
    # aiosqlite < 0.22: the connection *is* the thread; 0.22: it holds one
    thread = conn if isinstance(conn, threading.Thread) else getattr(conn, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.ident is None:
        thread.daemon = True
        thread.name = name
    return conn


def loop_thread_waiting() -> bool:
    """True while motia_nb's loop thread is blocked in :func:`run_on_private_loop` (a synchronous
    SDK call from an async handler): nothing scheduled on its loop (a Redis writer task) runs
    until that call returns, so the call must not wait on it."""
    return _loop_thread_waits > 0


def in_loop_thread() -> bool:
    """True when called from motia_nb's loop thread itself."""
    lt = _loop_thread
    return lt is not None and threading.current_thread() is lt.thread


def submit(coro: Coroutine[Any, Any, T]) -> "Future[T]":
    """Start ``coro`` on motia_nb's loop, inside a copy of the caller's context."""
    return get_loop_thread().submit(coro, context=contextvars.copy_context())


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    Works with no event loop, while a loop is running in this thread (a Jupyter
    cell), and from any other thread. The coroutine runs on motia_nb's loop
    thread inside a copy of the caller's context. Calling it *from* that loop
    thread would deadlock, so that raises ``RuntimeError``.
    """
    if in_loop_thread():
        coro.close()
        raise RuntimeError(
            "motia_nb: a synchronous call was made from inside motia_nb's event loop "
            "(e.g. from an async step handler); use the awaitable form instead"
        )
    # made here, before anything is scheduled: an interrupt that lands while submitting (the
    # coroutine may already run on the loop thread) still finds the future to cancel its work
    fut: Future[T] = Future()
    try:
        get_loop_thread().submit(coro, context=contextvars.copy_context(), future=fut)
        return fut.result(timeout)
    except KeyboardInterrupt:
        # Kernel › Interrupt while waiting: cancel the work (a cascade's async steps are
        # cancelled and say so in the cell), give it a moment to unwind, then stop the cell.
        cancel_work = getattr(fut, "cancel_work", None)
        if cancel_work is not None:  # started: cancel the task, which says what it cancelled
            cancel_work()
        else:
            fut.cancel()
        done = threading.Event()
        fut.add_done_callback(lambda _: done.set())
        done.wait(INTERRUPT_GRACE)
        steps: list[str] = []
        if fut.done() and not fut.cancelled() and isinstance(fut.exception(), CancelledByInterrupt):
            steps = fut.exception().steps  # type: ignore[union-attr]
        raise Interrupted(steps) from None


#: Seconds an interrupted :func:`run_sync` waits for the cancelled work to unwind.
INTERRUPT_GRACE = 5.0


def _handler_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(HANDLER_POOL_SIZE, thread_name_prefix="motia-nb-handler")
        return _pool


async def run_in_handler_pool(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the handler pool inside a copy of the current context; await it.

    If the awaiting task is cancelled, the thread is *told*: ``CancelledError`` is
    raised in it at its next Python instruction (a blocking C call finishes
    first), and it is not awaited further.
    """
    call = ToldCall(fn, args)
    fut = _handler_pool().submit(call)
    try:
        return await asyncio.wrap_future(fut)
    except asyncio.CancelledError:
        if not fut.cancel():
            call.tell()
        raise


_io_pool: ThreadPoolExecutor | None = None
#: Threads for blocking reads from a store that is not local (a remote Redis).
IO_POOL_SIZE = 8


async def run_io(fn: Callable[..., T], *args: Any) -> T:
    """Await ``fn(*args)`` run on the I/O pool (a blocking read that must not hold up a loop)."""
    global _io_pool
    with _lock:
        if _io_pool is None:
            _io_pool = ThreadPoolExecutor(IO_POOL_SIZE, thread_name_prefix="motia-nb-io")
        pool = _io_pool
    return await asyncio.wrap_future(pool.submit(fn, *args))


def run_on_private_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a new loop in a helper thread, inside a copy of the caller's
    context, while the caller waits; return its result or raise its error.

    For a synchronous call made where every existing loop may be waiting for it
    (Motia's synchronous SDK inside a cascade): no loop of motia_nb's is needed.
    """
    ctx = contextvars.copy_context()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = ctx.run(asyncio.run, coro)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["error"] = e

    global _loop_thread_waits
    blocking_loop = in_loop_thread()  # motia_nb's loop thread blocks until the helper is done
    if blocking_loop:
        with _lock:
            _loop_thread_waits += 1
    try:
        start_thread(target, "motia-nb-sync-call").join()
    finally:
        if blocking_loop:
            with _lock:
                _loop_thread_waits -= 1
    if "error" in box:
        raise box["error"]
    return box["value"]


def stop_loop_thread() -> None:
    """Stop motia_nb's loop thread, the SQLite loop and the pools if they run (they restart on next use)."""
    global _loop_thread, _sqlite_loop, _pool, _io_pool
    with _lock:
        lt, _loop_thread = _loop_thread, None
        sq, _sqlite_loop = _sqlite_loop, None
        pools = [p for p in (_pool, _io_pool) if p is not None]
        _pool = _io_pool = None
    for loop_thread in (lt, sq):
        if loop_thread is not None:
            loop_thread.stop()
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------ fork and exit
def _after_fork_in_child() -> None:
    # The parent's threads do not exist here: forget them (never join or close them)
    # and start new ones on first use; then the modules' own hooks run.
    global _lock, _loop_thread, _sqlite_loop, _pool, _io_pool
    _lock = threading.Lock()
    _loop_thread = None
    _sqlite_loop = None
    _pool = None
    _io_pool = None
    run_child_hooks()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=before_fork, after_in_parent=after_fork, after_in_child=_after_fork_in_child)


@atexit.register
def shutdown() -> None:
    """Run the exit hooks (newest first), then stop the loop thread and the handler pool."""
    run_exit_hooks()
    stop_loop_thread()
