"""Async writes buffered per event loop until its next iteration: :class:`LoopBuffers`, a part of ``WritePath``.

The writes one loop submits in one iteration (a ``gather``) are ONE batch: the
first schedules the buffer's flush with ``call_soon``; the flush commits the batch
inline when it is small (:data:`INLINE_MAX` writes) and the lock is free, else queues it for the driver
(:mod:`.driver`). A read or a sync write flushes its thread's buffer first (program
order); a :class:`~..write_future.WriteFuture` awaited as its loop's only buffered
write flushes it at its ``await`` (:meth:`LoopBuffers.await_lone`).

:meth:`LoopBuffers.set_async` is the one-step submission of a ``set`` (the state
manager's hot path, a gather of thousands of sets): the name checks, the value's
encoding and copy, the future and the buffer's append in one call, giving the very
``Write`` and future :func:`~motia_nb.state.requests.set_write` + :meth:`submit_async`
give; anything off its path (no running loop, a closed store, a write from a
listener, a name or value that is not plain) answers None, and the caller takes
the general path, which gives the same answer or the same error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...requests import plain_set
from ..base import Write
from ..write_future import WriteFuture
from ...._threads import sqlite_loop_thread
from .delivery import LoopBatch, Unit

__all__ = ["LoopBuffers", "in_listener", "listener_state"]

#: A loop iteration's batch of at most this many writes (a small gather) commits inline, as a
#: lone write does, when nothing is queued and the lock is free: no round trip through the
#: SQLite loop and aiosqlite's thread (~1 ms); bigger ones go to the driver, so the caller's
#: loop never runs a long transaction.
INLINE_MAX = 4

_get_running_loop = asyncio._get_running_loop  # None when no loop runs (no exception to raise and catch)


class _ListenerState(threading.local):
    active = False  # True while this thread runs state listeners (a class default: no getattr miss per write)


_listener_state = listener_state = _ListenerState()


def in_listener() -> bool:
    """True while the current thread runs state listeners (a write now is refused)."""
    return _listener_state.active


class LoopBuffers:
    """The loop buffers of a write path; ``WritePath`` provides the inline commit and the queue."""

    _closed: bool
    _loop_buffers: dict[asyncio.AbstractEventLoop, LoopBatch]

    if TYPE_CHECKING:  # WritePath's

        def _run_inline(self, unit: Any) -> bool: ...
        def _enqueue(self, unit: Unit) -> None: ...
        def _wait_for_queue(self) -> None: ...

    def submit_async(self, write: Write, *, result_only: bool) -> WriteFuture:
        """Buffer ``write`` until the running loop's next iteration: the writes of one
        iteration are one batch, and their results reach the loop in one wake-up. Awaited
        at once as the loop's only buffered write, it commits there (:meth:`await_lone`)."""
        loop = asyncio.get_running_loop()
        if self._closed:
            return WriteFuture.of(self, loop)  # failed at once
        fut = WriteFuture()  # of the running loop (no keyword to parse): once per write of a gather
        fut.owner = self
        buf = self._loop_buffers.get(loop)
        if buf is None:
            buf = self._new_buffer(loop)
        # closed from now on, the flush refuses it, and its future's on_refused resubmits it
        if result_only:
            buf.writes.append(write)
            buf.futs.append(fut)
        else:
            buf.add(write, fut, False)
        return fut

    def set_async(self, group_id: Any, key: Any, value: Any, on_refused: Callable[..., None]) -> WriteFuture | None:
        """``submit_async(set_write(group_id, key, value), result_only=True)`` in one step, its
        future's ``on_refused`` set; None when the write is off this path (see the module
        docstring): the caller then takes the general path."""
        write = plain_set(group_id, key, value)
        if write is None:  # not plain: the general path answers the same, or the same error
            return None
        return self.submit_checked(write, on_refused)

    def submit_checked(self, write: Write, on_refused: Callable[..., None]) -> WriteFuture | None:
        """``submit_async(write, result_only=True)`` for the async API's hot path, its future's
        ``on_refused`` set; None when there is no running loop, the store is closed or this
        thread runs listeners (the caller then takes the general path)."""
        loop = _get_running_loop()
        if loop is None or self._closed or _listener_state.active:
            return None
        fut = WriteFuture()
        fut.owner = self
        fut.on_refused = on_refused
        buf = self._loop_buffers.get(loop)
        if buf is None:
            buf = self._new_buffer(loop)
        buf.writes.append(write)
        buf.futs.append(fut)
        return fut

    def _new_buffer(self, loop: asyncio.AbstractEventLoop) -> LoopBatch:
        """The loop's buffer for this iteration, its flush scheduled (an emptied one stays until then)."""
        buf = self._loop_buffers[loop] = LoopBatch(loop)
        loop.call_soon(self._flush_loop_buffer, loop)
        return buf

    def await_lone(self, fut: WriteFuture) -> None:
        """``fut`` is being awaited: if its write is its loop's only buffered one, flush it now
        (committed inline when the lock is free: the awaiting task goes on without suspending).
        The emptied buffer stays, its flush still scheduled: the next write joins it."""
        buf = self._loop_buffers.get(fut.get_loop())
        if buf is None or len(buf.futs) != 1 or buf.futs[0] is not fut:
            return
        batch = buf.take()
        if not self._run_inline(batch):
            self._enqueue(batch)

    @property
    def buffered(self) -> bool:
        """Some loop holds async writes not yet flushed."""
        return any(self._loop_buffers.values())

    def flush_here(self, *, wait: bool = False) -> None:
        """Flush the async writes buffered by the loop running in this thread, if any
        (a read or a sync write must see, and follow, the writes made before it). With
        ``wait`` (a read), when they had to be queued (the lock was taken: another
        process, a batch in flight, the history pruner), wait for them to commit."""
        if not self._loop_buffers:
            return
        loop = _get_running_loop()
        if loop is None:
            return
        batch = self._loop_buffers.pop(loop, None)
        if batch and not self._run_inline(batch):
            self._enqueue(batch)
            if wait and threading.current_thread() is not sqlite_loop_thread():
                self._wait_for_queue()

    def _flush_loop_buffer(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._loop_buffers.pop(loop, None)
        if not batch:  # flushed already by a read, a sync call or an await
            return
        if len(batch.writes) <= INLINE_MAX and self._run_inline(batch):
            return
        self._enqueue(batch)
