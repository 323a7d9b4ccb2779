"""The async API's writes to Redis a loop iteration at a time, mixed into :class:`~.backend.RedisBackend`.

A caller on a running loop gets a :class:`~..write_future.WriteFuture` at once; the writes
of one iteration of its loop go to the writer task (:mod:`.writer`, on motia_nb's loop
thread) together, in one ``call_soon_threadsafe`` rather than one per write, and are
answered together. Two batches commit on the caller's thread instead (:mod:`.direct`): a
lone write to a Redis on this machine with nothing queued (one local round trip, as a
read), and a synchronous SDK call's writes, made on its helper thread's loop while
motia_nb's loop thread waits for that call (the writer task cannot commit them meanwhile).
A batch flushed after ``close()`` was never applied: it goes to the writes' ``on_refused``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ...errors import StateClosedError
from ..base import Write
from ..write_future import WriteFuture
from ...._threads import LoopThread, loop_thread_waiting
from .direct import CommitGate, DirectWriter
from .writer import Item, PipelinedWriter

__all__ = ["IterationBatches"]


class IterationBatches:
    """The backend's per-loop buffers of unsent async writes and their flushing; the backend
    provides its writer task, its direct path, its commit gate and its opening."""

    #: the async API's writes of the running iteration, per caller loop (sent together)
    _buffers: dict[asyncio.AbstractEventLoop, list[Item]]
    _closed: bool
    _opened: bool
    _writer: PipelinedWriter
    _direct: DirectWriter | None
    _lt: LoopThread | None
    _gate: CommitGate
    direct_reads: bool
    open: Callable[[], None]

    def submit_async(self, write: Write, *, result_only: bool = False) -> "asyncio.Future[Any]":
        """For a caller on a running loop: the writes of one loop iteration go to the
        writer task together and are answered together (one hop each way)."""
        fut = WriteFuture.of(self)
        if fut.done():  # closed
            return fut
        loop = fut.get_loop()
        if not self._opened:
            self.open()
        buf = self._buffers.get(loop)
        if buf is None:
            buf = self._buffers[loop] = []
            loop.call_soon(self._flush, loop)
        buf.append((write, fut, result_only))
        return fut

    def await_lone(self, fut: WriteFuture) -> None:
        """(``WriteFuture``'s hook) A Redis write is flushed at the loop's next iteration."""

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send the loop iteration's writes. A lone write to a Redis on this machine with
        nothing queued commits right here instead (one local round trip, as a read)."""
        items = self._buffers.pop(loop, None)
        if not items:
            return
        if self._closed:  # closed since they were buffered: never applied, they go to on_refused
            self._writer.refuse(items, counted=False)
            return
        direct, lt = self._direct, self._lt
        off_loop = direct is not None and lt is not None and threading.current_thread() is not lt.thread
        if off_loop and loop_thread_waiting():
            # a synchronous SDK call's writes, on its helper thread's loop, while motia_nb's loop
            # thread waits for that call: the writer task cannot commit them, so they commit here
            for item in direct.commit_items(items, lt.thread.ident):  # (those the store refused, closed)
                self._writer.refuse([item], counted=False)
            return
        if off_loop and len(items) == 1 and self.direct_reads and self._gate.queued == 0:
            write, fut, result_only = items[0]
            try:
                wr = direct.commit(write)
            except StateClosedError:  # closed meanwhile, before it was applied
                self._writer.refuse(items, counted=False)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(wr.result if result_only else wr)
            return
        self._send(items)

    def _flush_here(self) -> None:
        if self._buffers:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._flush(loop)

    def _send(self, items: list[Item]) -> None:
        """Hand writes to the writer task (on motia_nb's loop thread) in one hop."""
        lt = self._lt
        assert lt is not None and lt.loop is not None
        self._gate.add(len(items))
        if threading.current_thread() is lt.thread:
            self._writer.put_many(items)
            return
        try:
            lt.loop.call_soon_threadsafe(self._writer.put_many, items)
        except RuntimeError:  # motia_nb's loop was stopped (extension unloaded, exit)
            self._writer.refuse(items)
