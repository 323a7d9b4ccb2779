"""Plain-def handlers on the handler pool: a cancelled cell *tells* the thread, and a
tell never costs the pool a thread, even one that lands as the handler returns."""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from motia_nb._threads import run_in_handler_pool
from motia_nb._told_calls import ToldCall


def test_a_cancelled_await_tells_the_running_handler_and_the_thread_lives_on():
    started, stopped = threading.Event(), threading.Event()

    def busy():
        started.set()
        try:
            while True:  # Python instructions: the tell goes off here
                time.sleep(0.001)
        except asyncio.CancelledError:
            stopped.set()
            raise

    async def main():
        task = asyncio.ensure_future(run_in_handler_pool(busy))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await run_in_handler_pool(threading.current_thread)

    after = asyncio.run(main())
    assert stopped.wait(5)
    assert after.is_alive() and after.name.startswith("motia-nb-handler")


def test_a_tell_landing_as_the_handler_returns_does_not_kill_the_pool_thread():
    """The canceller holds the guard while ``fn`` returns, then tells: the exception goes off
    inside the call or not at all, never later in the pool's own code (which would kill its
    only thread for good and hang every later handler)."""
    running, proceed = threading.Event(), threading.Event()

    def fn():
        running.set()
        proceed.wait(5)
        return 1

    call = ToldCall(fn, ())
    with ThreadPoolExecutor(1, thread_name_prefix="told-test") as pool:
        fut = pool.submit(call)
        assert running.wait(5)
        call.guard.acquire()  # as tell() does, while fn still runs
        proceed.set()
        time.sleep(0.05)  # fn returns; the thread now waits for the guard on its way out
        call.told = True  # what tell() does while the thread still counts as running fn
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(call.ident), ctypes.py_object(asyncio.CancelledError))
        call.guard.release()
        try:
            fut.result(5)
        except asyncio.CancelledError:
            pass  # it went off inside the call: the future says so, the thread is fine
        for _ in range(50):  # the pool's loop runs more of its code: a pending tell would go off now
            assert pool.submit(sum, [1, 2]).result(5) == 3
        (thread,) = pool._threads
        assert thread.is_alive()


def test_an_interrupt_landing_while_run_sync_submits_still_cancels_the_work(monkeypatch):
    """Kernel › Interrupt can land in ``run_sync`` after the coroutine was scheduled (and started on
    the loop thread) but before the wait: the work is cancelled all the same, not left running
    unseen. The signal's landing point is chosen here: ``call_soon_threadsafe`` raises after it did
    its job, as a SIGINT delivered on its return would."""
    from motia_nb._interrupts import Interrupted
    from motia_nb._threads import get_loop_thread, run_sync

    started, cancelled = threading.Event(), threading.Event()

    async def slow():
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    loop = get_loop_thread().loop
    original = loop.call_soon_threadsafe
    caller = threading.current_thread()

    interrupted: list[bool] = []

    def schedule_then_interrupted(*args, **kwargs):
        handle = original(*args, **kwargs)
        # the caller's first call schedules the coroutine; the interrupt lands on its return once
        # (not "while it has not started": on a busy machine it can start before that is asked)
        if threading.current_thread() is caller and not interrupted:
            interrupted.append(True)
            assert started.wait(5)  # the coroutine runs on the loop thread
            raise KeyboardInterrupt
        return handle

    monkeypatch.setattr(loop, "call_soon_threadsafe", schedule_then_interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        run_sync(slow())
    monkeypatch.undo()
    assert cancelled.wait(5), "the interrupted call's coroutine runs on"
    assert isinstance(info.value, Interrupted)
