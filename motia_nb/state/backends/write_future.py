"""The future an async write returns: commits a lone awaited write without suspending.

An async write is buffered until its loop's next iteration, so that the writes of
one iteration (a ``gather``) are one batch. A write awaited right away, as its
loop's only buffered write (``await state_manager.set(...)`` in a loop), would
then cost two turns of the loop: one to flush the buffer, one to resume the
awaiting task. :class:`WriteFuture` saves both: its ``__await__`` asks the
backend's owner of the buffer to commit it on the spot (``owner.await_lone``);
when that commits it (inline, the lock free), the result is returned with no
suspension at all, as an ``await`` of a coroutine that never suspends. Anything
else — a write that has to queue, one that shares its iteration with others, a
``gather`` (which never calls ``__await__``) — suspends exactly as a plain
``asyncio.Future`` does. So that a long sequence of such writes cannot starve the
loop, every :data:`TURN_EVERY`-th one still lets the loop turn once.

``on_refused(write, fut)``, set by the submitter (the state manager), is called
on the future's loop instead of failing it when the store was closed before the
write was applied (a concurrent ``close()``): the manager submits it again to its
reopened store and resolves ``fut`` with that outcome.

It is also a coroutine as asyncio knows one (``send``, ``throw``, ``close`` driving its own
``__await__``: :class:`collections.abc.Coroutine`): Motia's state writes are ``async def``, so
Motia code hands them to ``asyncio.create_task(...)`` and ``TaskGroup.create_task(...)``, which
take a coroutine only (a future was "TypeError: a coroutine was expected"). A task driving it
awaits it as a coroutine awaiting it would; ``gather``, ``ensure_future`` and ``await`` take it
as the future it is; ``asyncio.wait`` refuses it, as it refuses Motia's coroutines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any, Protocol

__all__ = ["WriteFuture", "TURN_EVERY"]

#: A run of writes committed at their await lets the loop turn once every this many.
TURN_EVERY = 32

_streak = 0


class LoneOwner(Protocol):
    def await_lone(self, fut: "WriteFuture") -> None:
        """Commit ``fut``'s write now if it is its loop's only buffered write (else do nothing)."""


class WriteFuture(asyncio.Future):  # type: ignore[type-arg]
    """An ``asyncio.Future`` of a buffered write (see the module docstring)."""

    __slots__ = ("owner", "on_refused", "_driving")
    #: ``owner``: who buffered the write (``await_lone``), set right after creation; ``on_refused``:
    #: ``on_refused(fut, write, result_only, error)``, set by the submitter if it wants one (no
    #: ``__init__`` of its own: one of these is made per write of a 20,000-write gather)
    owner: LoneOwner
    on_refused: Callable[..., None]

    @classmethod
    def of(cls, owner: Any, loop: "asyncio.AbstractEventLoop | None" = None) -> "WriteFuture":
        """A future of the running loop (``loop``, when the caller has it at hand) for a write to
        ``owner`` (a backend's write path with ``_closed`` and ``_closed_error()``), already
        failed when ``owner`` is closed."""
        fut = cls(loop=loop or asyncio.get_running_loop())
        fut.owner = owner
        if owner._closed:
            fut.set_exception(owner._closed_error())
        return fut

    def __await__(self) -> Generator[Any, None, Any]:
        if not self.done():
            self.owner.await_lone(self)
            if not self.done():
                self._asyncio_future_blocking = True
                yield self
                if not self.done():
                    raise RuntimeError("await wasn't used with future")
                return self.result()
            global _streak
            _streak += 1
            if _streak >= TURN_EVERY:  # committed without suspending: now and then, let the loop turn
                _streak = 0
                yield  # a bare yield: the awaiting task is resumed in the loop's next iteration
        return self.result()

    __iter__ = __await__

    # ------------------------------------------------------------------ as a coroutine
    def _driver(self) -> Generator[Any, None, Any]:
        try:
            return self._driving  # type: ignore[no-any-return]
        except AttributeError:  # (no __init__: set on first use)
            it = self._driving = self.__await__()
            return it

    def send(self, value: Any) -> Any:
        """The coroutine protocol (a task driving this write): ``__await__``'s next step."""
        return self._driver().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """The coroutine protocol: raise ``typ`` (an exception or its class) where it waits."""
        exc = typ if val is None else val
        if isinstance(exc, type):
            exc = exc()
        return self._driver().throw(exc if tb is None else exc.with_traceback(tb))

    def close(self) -> None:
        """The coroutine protocol: stop driving it (the write itself is not undone: it was submitted)."""
        it = getattr(self, "_driving", None)
        if it is not None:
            it.close()
