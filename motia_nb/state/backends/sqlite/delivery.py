"""What the write path queues, and handing committed outcomes to the waiters, from any thread.

A *unit* is what one caller hands the write path at once:

- :class:`LoopBatch`: the async writes one event loop submitted in one iteration
  (a ``gather`` is one), with their ``asyncio`` futures. Answered with ONE
  ``call_soon_threadsafe`` to that loop, or directly when committed on its own
  thread; a loop closed meanwhile has nobody waiting. An async write cannot be
  withdrawn; a refused one goes to its future's ``on_refused`` (write_future.py).
- :class:`SyncWrite`: a blocking caller's write and its ``concurrent.futures.Future``,
  withdrawn by Ctrl-C until its transaction begins (:meth:`SyncWrite.claim`, commit_wait.py).
- :class:`Barrier`: no write; answered (None) once every unit queued before it has committed.

One transaction runs the writes of one or more units, in order (the driver merges
queued units); :func:`deliver` hands each unit its slice of the outcomes. An
outcome is a :class:`WriteResult` (when events were built), the API result itself,
or the write's own exception.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any, Union

from ..base import Write, WriteResult
from ..waiters import collapse_gathers, hand_refused, resolve, run_callbacks, take_callbacks

__all__ = ["LoopBatch", "SyncWrite", "Barrier", "Unit", "Done", "deliver"]


class LoopBatch:
    """The async writes of one loop iteration and their futures (see the module docstring).

    ``full`` holds the positions whose caller wants the :class:`WriteResult` (a dispatcher
    needs the events); None when every caller wants the result only (the hot path).
    """

    __slots__ = ("loop", "writes", "futs", "full")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.writes: list[Write] = []
        self.futs: list[asyncio.Future[Any]] = []
        self.full: set[int] | None = None

    def __len__(self) -> int:
        return len(self.writes)

    def add(self, write: Write, fut: "asyncio.Future[Any]", result_only: bool) -> None:
        if not result_only:
            if self.full is None:
                self.full = set()
            self.full.add(len(self.writes))
        self.writes.append(write)
        self.futs.append(fut)

    def take(self) -> "LoopBatch":
        """A batch holding this one's writes; this one is left empty (still its loop's buffer)."""
        out = LoopBatch(self.loop)
        out.writes, out.futs, out.full = self.writes, self.futs, self.full
        self.writes, self.futs, self.full = [], [], None
        return out

    def claim(self) -> bool:
        return True  # an async write cannot be withdrawn

    def wants_events(self) -> bool:
        return self.full is not None

    def answer(self, outcomes: list[Any]) -> None:
        """Resolve the futures with ``outcomes`` (one per write) on their loop."""
        loop = self.loop
        if asyncio._get_running_loop() is loop:
            self._resolve(outcomes)
            return
        try:
            loop.call_soon_threadsafe(self._resolve, outcomes)
        except RuntimeError:  # that loop was closed: nobody is waiting
            pass

    def _resolve(self, outcomes: list[Any]) -> None:
        # A future already done (its awaiting task was cancelled: the write stands) is skipped.
        # The futures' done callbacks (a gather's, an awaiting task's) are taken off first and
        # run together in ONE loop callback right after (waiters.run_callbacks), in the order
        # set_result would have scheduled them one by one (20,000 writes: 20,000 Handles saved).
        # (A done future has no callbacks left: asyncio clears them when it schedules them.)
        full = self.full
        failed = full is not None  # a gather's calls are made as one only when every write got its result
        pending: list[Any] = []
        add = pending.append
        if full is None:  # every caller wants the result only (a gather of sets: the hot path)
            for fut, out in zip(self.futs, outcomes):
                cbs = fut._callbacks
                if cbs:
                    try:
                        ((cb, ctx),) = cbs  # the common case: one, a gather's or an awaiting task's
                    except ValueError:
                        take_callbacks(fut, cbs, add)
                    else:
                        fut.remove_done_callback(cb)
                        add((cb, ctx, fut))
                elif fut.done():
                    continue
                if type(out) is dict:  # a set's {new_value, old_value}
                    fut.set_result(out)
                elif type(out) is WriteResult:
                    fut.set_result(out.result)
                else:
                    resolve(fut, out)
                    if isinstance(out, BaseException):
                        failed = True
        else:
            for i, (fut, out) in enumerate(zip(self.futs, outcomes)):
                cbs = fut._callbacks
                if cbs:
                    take_callbacks(fut, cbs, add)
                elif fut.done():
                    continue
                if type(out) is WriteResult and i not in full:
                    fut.set_result(out.result)
                else:
                    resolve(fut, out)
        if pending:
            self.loop.call_soon(run_callbacks, self.loop, pending if failed else collapse_gathers(pending))

    def refuse(self, error: BaseException) -> None:
        """Never applied (the store closed): each write to its future's ``on_refused`` (it is
        resubmitted), else answered with ``error``."""
        loop, full = self.loop, self.full
        left: list[Any] = []
        for i, (write, fut) in enumerate(zip(self.writes, self.futs)):
            if not hand_refused(loop, fut, write, full is None or i not in full, error):
                left.append(fut)
        if left:
            refused = LoopBatch(loop)
            refused.futs = left
            refused.answer([error] * len(left))


class SyncWrite:
    """A blocking caller's one write and its ``concurrent.futures.Future``."""

    __slots__ = ("writes", "fut")

    def __init__(self, write: Write, fut: "Future[WriteResult]") -> None:
        self.writes = [write]
        self.fut = fut

    def __len__(self) -> int:
        return 1

    def claim(self) -> bool:
        """Mark the future running (it can no longer be withdrawn); False if it was withdrawn."""
        return self.fut.set_running_or_notify_cancel()

    def wants_events(self) -> bool:
        return True  # a blocking caller gets the WriteResult (its events go to the dispatcher)

    def answer(self, outcomes: list[Any]) -> None:
        if not self.fut.cancelled():  # withdrawn before its transaction began (commit_wait)
            resolve(self.fut, outcomes[0])

    def refuse(self, error: BaseException) -> None:
        self.answer([error])


class Barrier:
    """Answered (None, or an error) once every unit queued before it has committed: a
    ``concurrent.futures.Future`` (a blocking caller), or an asyncio future of ``loop``."""

    __slots__ = ("fut", "loop")
    writes: list[Write] = []

    def __init__(self, fut: Any, loop: "asyncio.AbstractEventLoop | None" = None) -> None:
        self.fut = fut
        self.loop = loop

    def __len__(self) -> int:
        return 1  # counted as queued work: a write made after it waits its turn

    def answer(self, outcomes: list[Any]) -> None:
        out = outcomes[0]
        if self.loop is None:
            resolve(self.fut, out)
            return
        batch = LoopBatch(self.loop)
        batch.futs = [self.fut]
        batch.answer([out])

    def refuse(self, error: BaseException) -> None:
        self.answer([error])


Unit = Union[LoopBatch, SyncWrite, Barrier]
#: (unit, its outcomes) pairs, ready to :func:`deliver`
Done = list[tuple[Unit, list[Any]]]


def deliver(done: Done) -> None:
    """Answer each unit with its outcomes."""
    for unit, outcomes in done:
        unit.answer(outcomes)
