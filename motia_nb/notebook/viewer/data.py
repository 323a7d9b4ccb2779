"""What the viewer knows of the store between reads, and the one read of a refresh.

A live refresh never rescans the store. :class:`LiveData` keeps every group's item
count from the change events the viewer subscribes to (this process's commits, and
other processes' where the backend publishes them: ``subscribe(remote=True)``), and
the page shown, whose keys are the cursors of the next read (:mod:`.paging`). So a
refresh on a 1,000,000-item group reads one page (about 50 rows from an index) and
the selected value.

Where a group's count costs nothing (Redis ``HLEN``) the selected group's is read
each refresh, exact even while other processes' events are still on their way.
The counts are read whole (``group_counts``) only when no events can tell: the first
load, Refresh, a switched store, or a change token that moved with no event to show
for it (another process's commit on a backend that does not publish them). That scan,
like every read that may scan (a rank, a substring search, an ``OFFSET`` page), runs
off the loop that owns the widgets (:func:`off_loop`).

Known limit: an event that arrives after the whole read that already saw its change
(on SQLite a window of microseconds between a commit and its listeners; longer for
events relayed from other processes) is counted once more, until the next whole read
(Refresh). Where counting is cheap (Redis) the selected group's total is exact anyway.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..._threads import run_io
from ...state.events import CREATED, DELETED
from .model import ViewModel
from .paging import Heavy, Page, read_page

if TYPE_CHECKING:
    from motia_nb.state.manager import StateManager

__all__ = ["Snapshot", "LiveData", "apply_events", "counts_cheaply", "off_loop", "reads_on_the_loop"]


def reads_on_the_loop(manager: "StateManager") -> bool:
    """True when the manager's async reads run on the caller's loop (a local SQLite file)."""
    if not getattr(manager, "is_open", True):
        return False  # never reopen a store somebody closed just to ask
    try:
        return bool(manager.backend.direct_reads)
    except Exception:  # a closed store, or a stand-in without a backend
        return False


def counts_cheaply(manager: "StateManager") -> bool:
    """True when a group's count costs the same at any size (Redis ``HLEN``)."""
    if not getattr(manager, "is_open", True):
        return False
    try:
        return bool(manager.backend.cheap_count)
    except Exception:  # a stand-in without a backend
        return False


def off_loop(manager: "StateManager") -> Heavy:
    """How to await a read that may scan: where the manager reads on the caller's loop
    (SQLite), on an I/O thread with a loop of its own; elsewhere it already waits off the loop."""

    async def run(coro: Coroutine[Any, Any, Any]) -> Any:
        if reads_on_the_loop(manager):
            try:
                return await run_io(asyncio.run, coro)
            except BaseException:
                # cancelled before the I/O thread began it (a newer search superseded this one):
                # nobody will run it, so close it (else Python says "never awaited" when it goes)
                if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                    with contextlib.suppress(ValueError, RuntimeError):  # (the thread began it just now)
                        coro.close()
                raise
        return await coro

    return run


def apply_events(counts: dict[str, int], events: Iterable[Any]) -> set[str]:
    """Update ``{group: count}`` with change events (a group that empties leaves it); return the groups touched."""
    touched: set[str] = set()
    for ev in events:
        g, kind = ev["group_id"], ev["event_type"]
        touched.add(g)
        if kind == CREATED:
            counts[g] = counts.get(g, 0) + 1
        elif kind == DELETED:
            n = counts.get(g, 0) - 1
            if n > 0:
                counts[g] = n
            else:
                counts.pop(g, None)
    return touched


@dataclass(frozen=True)
class Snapshot:
    """What one refresh read: enough to render every part of the panel."""

    generation: int  # the model's generation when the read began
    url: str
    counts: dict[str, int]
    total: int
    page: int  # the page shown, clamped to the total
    rows: list[tuple[str, Any]] = field(default_factory=list)
    #: for a selected key that is not on the page: (exists, value); None otherwise
    selected: tuple[bool, Any] | None = None


class LiveData:
    """Group counts kept from change events, and the page last shown (the next read's cursor).

    :meth:`on_event` may be called from any thread (a writer's); everything else runs
    on the loop that owns the widgets.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.url: str | None = None  # the store the counts are of
        self.rescan = True  # the counts must be read whole before they can be trusted
        self.rescans = 0  # whole reads of the counts so far (tests and benchmarks watch it)
        self.events_seen = 0  # events received so far (any thread)
        self.shown: Page | None = None
        self._pending: collections.deque[Any] = collections.deque()

    def on_event(self, event: Any) -> None:
        """A committed change (called on a writer's or a subscriber's thread; never blocks)."""
        self._pending.append(event)
        self.events_seen += 1

    def drain(self) -> list[Any]:
        out = []
        while self._pending:
            out.append(self._pending.popleft())
        return out

    async def counts_now(self, m: "StateManager", heavy: Heavy) -> set[str] | None:
        """Bring the counts up to date: read whole when they must be (returns None), else
        updated by the events since (returns the groups they touched)."""
        url = str(m.url)
        whole = self.rescan or url != self.url
        if whole:
            self.rescan = False
            self.drain()  # their changes are in what is read next
            counts = dict(await heavy(m.group_counts()))
            if url != self.url:
                self.shown = None  # another store: the page shown is no cursor here
            self.counts, self.url = counts, url
            self.rescans += 1
        changed = apply_events(self.counts, self.drain())
        return None if whole else changed

    async def load(self, m: "StateManager", model: ViewModel, heavy: Heavy, *, jump: Page | None = None) -> Snapshot:
        """Read what the panel shows for ``model``: the counts, one page, the selected value.
        ``jump``: a page already read (go to key) that the model's page is about."""
        generation = model.generation
        group, key, page, size, order = model.view()
        touched = await self.counts_now(m, heavy)
        counts = dict(self.counts)
        total, rows = 0, []
        if group is not None:
            if counts_cheaply(m):  # exact, whatever the events said (pub/sub may lag behind reads)
                total = await m.count(group)
                if total:
                    counts[group] = self.counts[group] = total
                else:
                    counts.pop(group, None)
                    self.counts.pop(group, None)
            else:
                total = counts.get(group, 0)
            last = self.shown
            if jump is not None and jump.continues(group, order, size) and jump.number == page:
                shown = jump
            elif touched is not None and group not in touched and last is not None and last.number == page \
                    and last.continues(group, order, size):
                shown = last  # nothing changed in this group since it was read
            else:
                shown = await read_page(m, group, order, size, total, page, self.shown, heavy)
            self.shown, page, rows = shown, shown.number, shown.rows
        else:
            page = 0
        selected = None
        if group is not None and key is not None and all(k != key for k, _ in rows):
            exists = await m.exists(group, key)
            selected = (exists, await m.get(group, key) if exists else None)
        return Snapshot(generation, str(m.url), counts, total, page, rows, selected)
