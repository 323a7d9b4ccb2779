"""The state manager's one write submission path: :class:`Writing` (a mixin of ``StateManager``).

``_write`` (the async API's) and ``_write_sync`` (``state_manager.sync``'s) are
the only ways a write reaches a backend. Both keep the manager usable through a
concurrent ``close()`` (:mod:`.commit_wait`): a write the closing store refused,
unapplied, goes to the reopened one.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .._calls import DoneCall, RaisedAtTheCall
from .._threads import run_sync
from .backends.base import Backend, Write, WriteResult
from .backends.write_future import WriteFuture
from .commit_wait import commit_sync, resubmit_refused, submit_async_reopening
from .lifetime import WeakCall
from .remote import Dispatcher

__all__ = ["Writing", "MadeWrite"]


class Writing:
    """``_write`` / ``_write_sync``; the manager provides ``backend``, ``_backend`` and ``_dispatcher``."""

    _backend: Backend | None
    _dispatcher: Dispatcher | None
    backend: Backend
    #: (backend, its ``WriteFuture.on_refused``), made once per attached backend (:meth:`_refusals_for`)
    _refusals: "tuple[Backend, Callable[..., None]] | None" = None
    #: (backend, its ``set_submitter()``, the ``on_refused`` hook, its ``write_submitter()`` or
    #: None): ``set``'s one-step path and ``update``'s short one, used while that backend is the
    #: manager's and no dispatcher is installed (``StateManager.set`` / ``update``)
    _fast: "tuple[Backend, Callable[..., Any], Callable[..., None], Callable[..., Any] | None] | None" = None

    def _refusals_for(self, backend: Backend) -> None:
        """Make the ``on_refused`` hook of writes submitted to ``backend`` (weak: a pending write
        keeps no manager alive), and arm ``set``'s one-step path when ``backend`` offers one."""
        hook = functools.partial(resubmit_refused, backend, WeakCall(self._open_backend), WeakCall(self._current))
        self._refusals = (backend, hook)
        submit_set = backend.set_submitter()
        self._fast = None if submit_set is None else (backend, submit_set, hook, backend.write_submitter())

    def _write(self, make: Callable[..., Write], *args: Any) -> "Awaitable[Any]":
        """The one submission path of the async API: validate now, submit now, return an awaitable.

        What it returns, exactly:

        - no running loop (a thread, a sync step's handler, ``asyncio.run(state_manager.set(...))``):
          a :class:`MadeWrite`, the write made at the call as in a cell (one never awaited is
          not lost), its result or error answered when awaited;
        - a running loop, bad input: an ``asyncio.Future`` already failed with
          the validation error (nothing was submitted);
        - a running loop, no inline dispatcher (no state step in the session):
          the backend's ``asyncio.Future`` of the result, resolved by the writer
          after commit (no Task, no coroutine frame: thousands of concurrent
          writes stay cheap; the write starts at the call, as a JavaScript
          promise does). On SQLite a :class:`WriteFuture`: awaited at once as the
          loop's only pending write, it commits there, without suspending;
        - a running loop with a dispatcher: an ``asyncio.Task`` that awaits the
          commit, then the triggered steps, then yields the result (a Task, so
          the steps run even if the caller never awaits).

        The synchronous twin is :meth:`_write_sync` (``state_manager.sync``).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a thread, a sync handler, asyncio.run(state_manager.set(...)): made now
            return MadeWrite(f"state_manager.{make.__name__.removesuffix('_write')}", *_made(self, make, args))
        try:
            write = make(*args)
        except Exception as exc:
            fut = loop.create_future()
            fut.set_exception(exc)
            return fut
        if self._dispatcher is None:
            b = self._backend
            if b is not None:  # the hot path: an open store
                fut = b.submit_async(write, result_only=True)
                if not fut.done():
                    if type(fut) is WriteFuture:
                        r = self._refusals
                        if r is None or r[0] is not b:
                            self._refusals_for(b)
                            r = self._refusals
                        fut.on_refused = r[1]  # type: ignore[index]
                    return fut
                return submit_async_reopening(write, self._open_backend, self._current, result_only=True,
                                              submitted=(b, fut))  # fmt: skip
            return submit_async_reopening(write, self._open_backend, self._current, result_only=True)
        # a Task, so the triggers run even if the caller never awaits (like the write)
        pending = submit_async_reopening(write, self._open_backend, self._current, result_only=False)
        return asyncio.ensure_future(self._write_and_dispatch(pending))

    async def _write_and_dispatch(self, pending: "Awaitable[WriteResult]") -> Any:
        wr = await pending
        d = self._dispatcher
        if d is not None and wr.events:
            r = d(wr.events)
            if inspect.isawaitable(r):
                await r
        return wr.result

    def _open_backend(self) -> Backend:
        return self.backend

    def _current(self) -> Backend | None:
        return self._backend

    def _write_sync(self, write: Write) -> Any:
        # resubmitted if a concurrent close() swapped the backend out; Ctrl-C withdraws it (commit_wait)
        wr: WriteResult = commit_sync(write, self._open_backend, self._current)
        d = self._dispatcher
        if d is not None and wr.events:
            r = d(wr.events)
            if inspect.isawaitable(r):
                run_sync(r)  # type: ignore[arg-type]
        return wr.result


class MadeWrite(DoneCall):
    """A write of the async API called where no event loop runs (a thread, a sync step's
    handler), already made at the call through ``_write_sync`` (:func:`_made`), as a cell's
    unawaited write is, so one nothing awaits is not lost. Awaiting it
    (``asyncio.run(state_manager.set(...))``: a coroutine to asyncio) answers the result or
    raises the error; an error nothing awaited is printed in one line when it is dropped."""

    __slots__ = ()


def _made(writing: Writing, make: Callable[..., Write], args: tuple[Any, ...]) -> tuple[Any, BaseException | None]:
    try:
        return writing._write_sync(make(*args)), None
    except Exception as exc:  # bad input, a refused op, a store error: answered at the await
        if isinstance(exc, RaisedAtTheCall):  # the loop guard's: the cascade above stops here
            raise
        return None, exc
