"""Kernel › Interrupt: the exceptions an interrupted cascade ends with, waking the kernel's loop,
and cancelling a task that is not a cell's (a viewer action) on an interrupt.

No threads here (those are :mod:`motia_nb._threads`'s): a socket pair for the
signal wake-up fd, a SIGINT handler, and two exception types shown as one line in a notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ._process_hooks import on_fork_child

__all__ = ["CancelledByInterrupt", "Interrupted", "wake_on_signals", "sigints_seen", "cancel_on_interrupt", "InterruptWatch"]


class CancelledByInterrupt(Exception):
    """What a cascade cancelled by an interrupt ends with, naming its cancelled steps.

    An ``Exception``, not a ``KeyboardInterrupt``: asyncio re-raises
    ``KeyboardInterrupt`` out of the event loop itself, which would stop the kernel's loop.
    """

    def __init__(self, steps: "list[str] | tuple[str, ...]" = ()) -> None:
        self.steps = list(steps)
        super().__init__(_interrupted_message(self.steps))

    def _render_traceback_(self) -> list[str]:  # IPython: one line, no frames of ours
        return [f"KeyboardInterrupt: {self}"]


def _interrupted_message(steps: list[str]) -> str:
    if steps:
        return f"interrupted: cancelled step(s) {', '.join(repr(s) for s in steps)}"
    return "interrupted: the work this call started was cancelled"


class Interrupted(KeyboardInterrupt):
    """A synchronous motia_nb call was interrupted (Kernel › Interrupt); its work was cancelled."""

    def __init__(self, steps: "list[str] | tuple[str, ...]" = ()) -> None:
        self.steps = list(steps)
        super().__init__(_interrupted_message(self.steps))

    def _render_traceback_(self) -> list[str]:  # IPython: one line, no frames of ours
        return [f"KeyboardInterrupt: {self}"]


#: the read ends of the wake-up sockets :func:`wake_on_signals` installed (at most one is set at a time)
_wake_reads: list[socket.socket] = []
_sigint_lock = threading.Lock()
_sigints = 0


#: the write ends' fds of those sockets (what ``signal.set_wakeup_fd`` was given)
_wake_writes: list[int] = []


def _forget_wake_reads() -> None:
    """A forked child shares the parent's socket: reading it would take the parent's signals, and
    writing it (the wake-up fd the child inherits) would count the child's signals as the parent's."""
    global _sigint_lock
    if _wake_writes:
        try:
            prev = signal.set_wakeup_fd(-1)
            if prev not in _wake_writes:  # not ours: put it back
                signal.set_wakeup_fd(prev)
        except ValueError:  # pragma: no cover - forked off the main thread of a subinterpreter
            pass
    _wake_reads.clear()
    _wake_writes.clear()
    _sigint_lock = threading.Lock()


on_fork_child(_forget_wake_reads)


def _drain(rsock: socket.socket) -> None:
    """Read what the wake-up fd received, counting the SIGINTs (each signal writes its number)."""
    global _sigints
    with _sigint_lock:
        try:
            while data := rsock.recv(4096):
                _sigints += data.count(signal.SIGINT)
        except OSError:  # nothing more now (or closed)
            pass


def sigints_seen() -> int | None:
    """How many SIGINTs (Kernel › Interrupt) arrived since :func:`wake_on_signals` was installed,
    as of now (the C-level signal handler writes to the wake-up fd before any Python code runs, so
    an interrupt that cancelled something is always counted here by then); None when no wake-up fd
    of ours is set, and nothing tells an interrupt from another cancel."""
    for rsock in list(_wake_reads):
        _drain(rsock)
    return _sigints if _wake_reads else None


def wake_on_signals(loop: asyncio.AbstractEventLoop) -> Callable[[], None] | None:
    """Make ``loop`` (running in the main thread) wake up when a signal arrives; returns an undo.

    ipykernel turns Kernel › Interrupt (SIGINT) into the cancellation of the
    running cell, but its handler only runs when the main thread runs Python:
    a loop asleep in ``select()`` for a 60-second ``asyncio.sleep`` would notice
    the interrupt a minute late. A wake-up fd (what ``loop.add_signal_handler``
    uses) lets the handler run at once. Does nothing (returns None) off the main
    thread or when another wake-up fd is already set.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    try:
        old = signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main thread after all
        rsock.close()
        wsock.close()
        return None
    if old != -1:  # someone else already wakes a loop on signals: keep theirs
        signal.set_wakeup_fd(old)
        rsock.close()
        wsock.close()
        return None

    def drain() -> None:
        _drain(rsock)

    loop.add_reader(rsock.fileno(), drain)
    _wake_reads.append(rsock)
    _wake_writes.append(wsock.fileno())

    def undo() -> None:
        try:
            prev = signal.set_wakeup_fd(-1)
            if prev != wsock.fileno():  # not ours any more: put back the one set since
                signal.set_wakeup_fd(prev)
        except ValueError:  # pragma: no cover - called off the main thread
            pass
        try:
            loop.remove_reader(rsock.fileno())
        except Exception:  # pragma: no cover - the loop is closed
            pass
        if rsock in _wake_reads:
            _wake_reads.remove(rsock)
        if wsock.fileno() in _wake_writes:
            _wake_writes.remove(wsock.fileno())
        rsock.close()
        wsock.close()

    return undo


class InterruptWatch:
    """One task :func:`cancel_on_interrupt` cancels on SIGINT; ``interrupted`` once it did."""

    def __init__(self, task: "asyncio.Task[Any]") -> None:
        self.task = task
        self.loop = task.get_loop()
        self.interrupted = False


#: the tasks a SIGINT cancels now
_watched: list[InterruptWatch] = []


def _cancel(watch: InterruptWatch) -> None:  # on the task's loop
    if watch in _watched and not watch.task.done():  # still in its guarded part
        watch.interrupted = True
        watch.task.cancel()


def _on_sigint(signum: int, frame: Any) -> None:
    """Cancel every watched task, on its loop (a signal handler must not touch a loop's
    internals); with none, ignore the signal, as the handler this one replaced did."""
    for watch in list(_watched):
        try:
            watch.loop.call_soon_threadsafe(_cancel, watch)
        except RuntimeError:  # pragma: no cover - the loop is closed
            pass


@contextlib.contextmanager
def cancel_on_interrupt() -> Iterator[InterruptWatch | None]:
    """Within the block, Kernel › Interrupt (SIGINT) cancels the running task, as ipykernel
    cancels a cell's; yields its :class:`InterruptWatch` (``interrupted`` tells a cancel of
    ours from any other), or None when the interrupt is not ours to take.

    For work that runs as a task on the kernel's loop but not as a cell (a viewer action).
    Between cells ipykernel ignores SIGINT (``SIG_IGN``): only that is replaced, by a handler
    removed again after the last such task. While a cell or another handler owns SIGINT (or
    off the main thread) nothing is installed and None is yielded: the interrupt stays theirs.
    ipykernel saves and restores the handler around each message, so ours may outlive the
    block in a saved slot; with no task watched it ignores the signal, as ``SIG_IGN`` does.
    """
    task = asyncio.current_task()
    if task is None or threading.current_thread() is not threading.main_thread():
        yield None
        return
    current = signal.getsignal(signal.SIGINT)
    if current is not _on_sigint:
        if current is not signal.SIG_IGN:
            yield None
            return
        signal.signal(signal.SIGINT, _on_sigint)
    watch = InterruptWatch(task)
    _watched.append(watch)
    try:
        yield watch
    finally:
        _watched.remove(watch)
        if watch.interrupted and task.cancelling():
            task.uncancel()  # the cancel was ours and has been handled: later awaits may be cancelled again
        if not _watched and signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
