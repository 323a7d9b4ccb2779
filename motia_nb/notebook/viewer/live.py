"""Live refresh: what the viewer reads, and when.

- What a refresh reads is in :mod:`.data` (counts kept from events, one keyset page).
- :class:`Debouncer` turns change notices (``notify``, one per commit) and the
  cross-process change token (polled every ``poll_interval``) into refreshes: at
  most one running at a time, started once writes have been quiet for ``debounce``
  seconds and never later than ``max_delay`` after the first of a burst. It is a
  state machine on an asyncio loop with an injectable clock (``time`` and
  ``call_later``), so it is tested with a fake clock and no sleeps.
- :func:`home_loop` is the loop that owns the widgets: the kernel's loop in a
  notebook, motia_nb's own loop thread in plain Python.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from ..._threads import get_loop_thread

__all__ = ["Clock", "LoopClock", "Debouncer", "home_loop", "runs_on"]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the debouncer needs of time: a monotonic reading and a timer."""

    def time(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable: ...


class LoopClock:
    """The real clock: an asyncio loop's ``time()`` and ``call_later``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def time(self) -> float:
        return self.loop.time()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable:
        return self.loop.call_later(delay, fn)


class Debouncer:
    """Coalesces change notices and token changes into one refresh at a time.

    Every method runs on the loop that ``spawn`` schedules on (from another
    thread, use ``loop.call_soon_threadsafe(debouncer.notify)``).

    Parameters
    ----------
    refresh:
        The coroutine function doing one refresh.
    clock:
        :class:`LoopClock` or a fake.
    spawn:
        Starts a coroutine (``loop.create_task``); returns something with ``cancel()``.
    token:
        Returns the store's change token (cheap; compared with ``!=``), or None to not poll.
    on_error:
        Called with the exception of a failed refresh (the next change retries).
    on_token_change:
        Called when a poll finds the token changed, before the refresh it starts.
    """

    def __init__(
        self,
        refresh: Callable[[], Awaitable[None]],
        *,
        clock: Clock,
        spawn: Callable[[Coroutine[Any, Any, None]], Cancellable],
        token: Callable[[], Any] | None = None,
        initial_token: Any = None,
        debounce: float = 0.15,
        max_delay: float = 1.0,
        poll_interval: float = 0.5,
        on_error: Callable[[BaseException], None] | None = None,
        on_token_change: Callable[[], None] | None = None,
    ) -> None:
        if poll_interval <= 0 or debounce < 0 or max_delay < 0:
            raise ValueError("poll_interval must be > 0 and debounce, max_delay >= 0")
        self._refresh = refresh
        self._clock = clock
        self._spawn = spawn
        self._token = token
        self._last_token = initial_token
        self.debounce = debounce
        self.max_delay = max(max_delay, debounce)
        self.poll_interval = poll_interval
        self._on_error = on_error
        self._on_token_change = on_token_change
        self._first: float | None = None  # first notice of the pending burst
        self._last: float | None = None  # latest notice of the pending burst
        self._timer: Cancellable | None = None
        self._poller: Cancellable | None = None
        self._task: Cancellable | None = None
        self._again = False  # a refresh was asked for while one ran
        self.running = False  # a refresh is in progress
        self.active = False  # started and not closed
        self.refreshes = 0  # refreshes finished (successful or not)

    # -- life cycle -------------------------------------------------------
    def start(self) -> None:
        """Begin polling the token (when there is one)."""
        self.active = True
        if self._token is not None:
            self._poller = self._clock.call_later(self.poll_interval, self._poll)

    def close(self) -> None:
        """Stop timers and cancel a refresh in progress. Idempotent."""
        self.active = False
        for handle in (self._timer, self._poller, self._task):
            if handle is not None:
                handle.cancel()
        self._timer = self._poller = self._task = None
        self._first = self._last = None

    # -- inputs -----------------------------------------------------------
    def notify(self) -> None:
        """Something changed: refresh after ``debounce`` s of quiet (at most ``max_delay`` s from now on)."""
        if not self.active:
            return
        now = self._clock.time()
        if self._first is None:
            self._first = now
        self._last = now
        due = min(self._last + self.debounce, self._first + self.max_delay)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_later(max(0.0, due - now), self._fire)

    @property
    def pending(self) -> bool:
        """A notice is waiting for its debounce to end."""
        return self._first is not None

    def _poll(self) -> None:
        if not self.active:
            return
        self._poller = self._clock.call_later(self.poll_interval, self._poll)
        if self._read_token() != self._last_token:
            if self._on_token_change is not None:
                self._on_token_change()
            self._fire()

    def _read_token(self) -> Any:
        try:
            return self._token() if self._token is not None else None
        except Exception:  # the store is closed or switched: the next refresh shows why
            return None

    # -- the one refresh path ---------------------------------------------
    def _fire(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._first = self._last = None
        if not self.active:
            return
        if self.running:
            self._again = True
            return
        self.running = True
        self._task = self._spawn(self._run())

    async def _run(self) -> None:
        try:
            while True:
                self._again = False
                self._last_token = self._read_token()  # read before: a change during the refresh is seen
                try:
                    await self._refresh()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if self._on_error is not None:
                        self._on_error(exc)
                self.refreshes += 1
                if not (self._again and self.active):
                    break
        finally:
            self.running = False
            self._task = None


def home_loop() -> asyncio.AbstractEventLoop:
    """The loop that owns the widgets: the running loop (a kernel cell, an ``asyncio.run``),
    else the kernel's loop if a kernel runs in this process, else motia_nb's loop thread."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        loop = getattr(getattr(kernel, "io_loop", None), "asyncio_loop", None)
        if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_running():
            return loop
    except ImportError:  # pragma: no cover - no IPython
        pass
    loop = get_loop_thread().loop
    assert loop is not None
    return loop


def runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    """True when called from inside ``loop`` (one of its callbacks or tasks)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
