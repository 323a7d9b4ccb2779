"""Filing the Redis changelog's item index off the write path: a task on motia_nb's loop thread.

The write scripts append a call's changes to the group's stream as one entry; only a small call
finding the index caught up indexes its own changes (``lua/history.lua``): the rest of the item
index (:mod:`.history_index`) is filed after, by
``history_file.lua``, whole entries past the index's forward marker, a chunk per call (each
call atomic, so two processes filing at once index each change once). Every one-item read and
``get(at=)`` files what is left first, so reads are always complete; this task files once the
writers pause (:data:`SETTLE`, at most :data:`SETTLE_MAX`), or at once past :data:`BACKLOG`
changes, so that a read right after a burst finds little to file. It runs beside the
pipelined writer and the subscriber (:meth:`.RedisBackend._astart`) and stops with them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from . import scripts
from .history_index import _FILE
from .layout import history_read_keys

__all__ = ["HistoryFiler"]

log = logging.getLogger("motia_nb")

#: filing waits for the writers to pause this long (seconds), but never longer than SETTLE_MAX
SETTLE = 0.25
SETTLE_MAX = 5.0
#: filing does not wait for the writers to pause once this many changes wait unfiled
BACKLOG = 50_000


class HistoryFiler:
    """Which groups have changes to file (:meth:`noted`, from any thread), and the task that files them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, int] = {}  # group -> changes written since it was last filed
        self._pending = 0
        self._last = 0.0  # when the last change was noted (time.monotonic)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._woken = False
        self._stopped = False
        self.filed_calls = 0  # history_file.lua calls made (a gauge for tests)
        self.passes = threading.Event()  # set after each filing pass (for tests to wait on)

    def noted(self, group: str) -> None:
        """A change of ``group`` is about to be recorded (a write script's history arguments)."""
        with self._lock:
            self._groups[group] = self._groups.get(group, 0) + 1
            self._pending += 1
            self._last = time.monotonic()

    def committed(self) -> None:
        """Writes committed (any thread): wake the task (once until it runs)."""
        if self._woken or not self._groups:
            return
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        self._woken = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # (the loop closed meanwhile)
                pass

    def stop(self) -> None:
        """End :meth:`run` (on the loop thread; besides cancelling its task: a cancel that arrives
        inside a redis-py command can be swallowed by the client, and the task then waits on)."""
        self._stopped = True
        if self._wake is not None:
            self._wake.set()

    def _take(self) -> dict[str, int]:
        with self._lock:
            groups, self._groups, self._pending = self._groups, {}, 0
        return groups

    async def _settle(self) -> None:
        """Until no change was noted for :data:`SETTLE` seconds, at most :data:`SETTLE_MAX`, or
        :data:`BACKLOG` changes wait."""
        start = time.monotonic()
        while self._pending < BACKLOG and not self._stopped:
            now = time.monotonic()
            idle = now - self._last
            if idle >= SETTLE or now - start >= SETTLE_MAX:
                return
            await asyncio.sleep(min(SETTLE - idle, SETTLE_MAX - (now - start)))

    def _script(self, client: Any) -> Any:
        return client.register_script(scripts.HISTORY_FILE)

    async def run(self, client: Any) -> None:
        """File the noted groups after each burst of writes, until cancelled."""
        self._loop, self._wake, self._stopped = asyncio.get_running_loop(), asyncio.Event(), False
        script = self._script(client)
        while not self._stopped:
            await self._wake.wait()
            self._wake.clear()
            await self._settle()
            if self._stopped:
                return
            self._woken = False
            for group in self._take():
                if self._stopped:
                    return
                try:
                    while await script(keys=history_read_keys(group), args=[_FILE]) != 0 and not self._stopped:
                        self.filed_calls += 1
                    self.filed_calls += 1
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # (the server went away, a key of another type): readers file
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():  # (a cancel the client turned into an error)
                        raise asyncio.CancelledError() from exc
                    log.debug("motia_nb: filing the history index of %r failed: %s", group, exc)
            self.passes.set()
