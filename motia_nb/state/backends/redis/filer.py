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

With an age in ``history_keep``, the write scripts trim a group's stream by age only when they
run, so changes older than the age stayed stored until the group's next write (reads hide them
at once: :mod:`.retention`). The task also trims by age the groups this process wrote
(``history_trim_age.lua``, the write scripts' trim by age: whole entries, at most 256 a call),
:data:`AGE_CALLS` calls per group and pass, never on the write path; then it sleeps until the
oldest change kept will be older than the age (at most :data:`AGE_SLEEP_MAX`). The group's
newest entry stays whatever its age, as a write's own entry does (and SQLite's newest row):
reads hide its changes, and its time says from when the stored value is the state, for
``get(at=)``; a group leaves the task's list once only that entry is left. Another process's
groups are trimmed by that process's task, or by the next write.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ...history import Retention
from . import scripts
from .history_index import _FILE
from .layout import history_read_keys, history_trim_keys

__all__ = ["HistoryFiler"]

log = logging.getLogger("motia_nb")

#: filing waits for the writers to pause this long (seconds), but never longer than SETTLE_MAX
SETTLE = 0.25
SETTLE_MAX = 5.0
#: filing does not wait for the writers to pause once this many changes wait unfiled
BACKLOG = 50_000
#: the trim by age: at most this many calls per group and pass (each drops at most 256 entries
#: or ~4,096 changes), the longest sleep before looking again (seconds), and how long after the
#: oldest kept change's age-out it looks (its time has microseconds: the cutoff must pass it)
AGE_CALLS = 4
AGE_SLEEP_MAX = 60.0
AGE_MARGIN = 0.01


class HistoryFiler:
    """Which groups have changes to file (:meth:`noted`, from any thread), and the task that files them."""

    def __init__(self, retention: Callable[[], Retention] = Retention) -> None:
        self._retention = retention  # the backend's retention now (history_keep may change)
        self._aging: dict[str, float] = {}  # group -> when to trim it by age (time.monotonic; the task's own)
        self._lock = threading.Lock()
        self._groups: dict[str, int] = {}  # group -> changes written since it was last filed
        self._pending = 0
        self._last = 0.0  # when the last change was noted (time.monotonic)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._woken = False
        self._stopped = False
        self.filed_calls = 0  # history_file.lua calls made (a gauge for tests)
        self.trim_calls = 0  # history_trim_age.lua calls made (a gauge for tests)
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

    def _trim_script(self, client: Any) -> Any:
        return client.register_script(scripts.HISTORY_TRIM_AGE)

    def _max_age(self) -> float | None:
        r = self._retention()
        return r.max_age if r.enabled else None

    async def _wait(self) -> None:
        """Until a write wakes the task, or the first group to trim by age is due."""
        assert self._wake is not None
        due = min(self._aging.values(), default=None)
        if due is None:
            await self._wake.wait()
            return
        delay = due - time.monotonic()
        if delay > 0 and not self._wake.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), min(delay, AGE_SLEEP_MAX))
            except TimeoutError:
                pass

    async def run(self, client: Any) -> None:
        """File the noted groups after each burst of writes, and trim by age the groups written
        when due, until cancelled."""
        self._loop, self._wake, self._stopped = asyncio.get_running_loop(), asyncio.Event(), False
        script = self._script(client)
        trim: Any = None
        while not self._stopped:
            await self._wait()
            if self._stopped:
                return
            if self._wake.is_set():
                self._wake.clear()
                await self._settle()
                if self._stopped:
                    return
                self._woken = False
                groups = self._take()
                for group in groups:
                    if self._stopped:
                        return
                    try:
                        while await script(keys=history_read_keys(group), args=[_FILE]) != 0 and not self._stopped:
                            self.filed_calls += 1
                        self.filed_calls += 1
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # (the server went away, a key of another type): readers file
                        if _cancelling():  # (a cancel the client turned into an error)
                            raise asyncio.CancelledError() from exc
                        log.debug("motia_nb: filing the history index of %r failed: %s", group, exc)
                if self._max_age():
                    now = time.monotonic()
                    for group in groups:  # (written just now: its oldest change may be old already)
                        self._aging.setdefault(group, now)
            if self._aging:
                trim = trim or self._trim_script(client)
                await self._trim_aged(trim)
            self.passes.set()

    async def _trim_aged(self, trim: Any) -> None:
        """Trim by age the groups due (at most :data:`AGE_CALLS` calls each), and say when each
        is due next: when its oldest change kept will be older than the age."""
        age = self._max_age()
        if not age:  # (history_keep changed: no age now)
            self._aging.clear()
            return
        for group, due in list(self._aging.items()):
            if self._stopped:
                return
            if due > time.monotonic():
                continue
            try:
                for _ in range(AGE_CALLS):
                    older, wait = await trim(keys=history_trim_keys(group), args=[age])
                    self.trim_calls += 1
                    if not int(older):  # only the newest entry is left: the next write notes the group again
                        del self._aging[group]
                        break
                    if float(wait) > 0:
                        self._aging[group] = time.monotonic() + float(wait) + AGE_MARGIN
                        break
                # else: more to drop, in the next pass (due now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # (the server went away, a key of another type): the next write trims
                self._aging.pop(group, None)
                if _cancelling():
                    raise asyncio.CancelledError() from exc
                log.debug("motia_nb: trimming the history of %r by age failed: %s", group, exc)


def _cancelling() -> bool:
    """Whether the running task is being cancelled (a cancel the redis client turned into an error)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
