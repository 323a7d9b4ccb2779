"""Kernel › Interrupt: the exceptions an interrupted cascade ends with, and waking the kernel's loop.

No threads here (those are :mod:`motia_nb._threads`'s): a socket pair for the
signal wake-up fd, and two exception types shown as one line in a notebook.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Callable

__all__ = ["CancelledByInterrupt", "Interrupted", "wake_on_signals"]


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
        try:
            while rsock.recv(4096):
                pass
        except OSError:
            pass

    loop.add_reader(rsock.fileno(), drain)

    def undo() -> None:
        try:
            if signal.set_wakeup_fd(-1) != wsock.fileno():  # not ours any more: put it back
                signal.set_wakeup_fd(old)
        except ValueError:  # pragma: no cover - called off the main thread
            pass
        try:
            loop.remove_reader(rsock.fileno())
        except Exception:  # pragma: no cover - the loop is closed
            pass
        rsock.close()
        wsock.close()

    return undo
