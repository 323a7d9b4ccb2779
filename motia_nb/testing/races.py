"""Timing helpers of the tests: writes held in another thread's loop, and waiting for
background work.

An async write is buffered until its loop turns; a loop on another thread that does not
turn keeps its writes buffered while this thread closes, swaps or breaks the store. The
close-race tests of both backends share this one harness. :func:`wait_until` polls for
what a background thread (a fill, a build, a subscriber) does by itself.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["buffered_on_another_loop", "wait_until"]


def buffered_on_another_loop(
    make: Callable[[], list[Awaitable[Any]]],
    meanwhile: Callable[[], object],
    then: Callable[[], Awaitable[Any]] | None = None,
) -> list[Any]:
    """Run ``make()`` on a new loop in another thread and hold that loop (its writes stay
    buffered) while ``meanwhile()`` runs here; then await them there (errors as values) and
    ``then()`` after them. Returns their results in order, ``then()``'s last."""
    buffered, go_on = threading.Event(), threading.Event()
    out: list[Any] = []

    async def other_loop() -> None:
        pending = make()
        buffered.set()
        go_on.wait(30)  # the loop does not turn: its buffer is flushed only after meanwhile()
        out.extend(await asyncio.gather(*pending, return_exceptions=True))
        if then is not None:
            out.append(await then())

    t = threading.Thread(target=asyncio.run, args=(other_loop(),), name="other-loop")
    t.start()
    try:
        if not buffered.wait(30):
            raise AssertionError("the other loop never made its writes")
        meanwhile()
    finally:
        go_on.set()
        t.join(60)
    if t.is_alive():
        raise AssertionError("the other loop's writes never finished")
    return out


def wait_until(cond: Callable[[], object], timeout: float = 20.0) -> bool:
    """Poll ``cond()`` every 10 ms until it holds or ``timeout`` seconds passed; its last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return bool(cond())
