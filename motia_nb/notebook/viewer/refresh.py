"""Live refresh of the panel (a mixin of :class:`~.panel.Viewer`): events in, one refresh path out.

The viewer subscribes to change events (``remote=True``: other processes' too, where
the backend publishes them); each is kept in :class:`~.data.LiveData` and wakes the
:class:`~.live.Debouncer`, whose refresh reads one page and applies the events to the
counts. When the change token moves with no event to show for it, another process
committed on a store that does not publish it: the counts are read whole (off the loop).
On a store that publishes them, the counts are read whole when its events had a gap
(``Backend.missed_changes()``: a Redis subscription lost and back), whose changes no event shows.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motia_nb.state.manager import StateManager

    from .data import LiveData, Snapshot
    from .live import Debouncer
    from .model import ViewModel
    from .paging import Heavy, Page

__all__ = ["LiveRefresh", "SAFETY_RESCAN"]

#: with changes from this process and a store that does not publish other processes' changes,
#: the counts are read whole at most this often (seconds) to catch another process's change
SAFETY_RESCAN = 10.0


class LiveRefresh:
    """Events, the change token and the one refresh path."""

    if TYPE_CHECKING:  # provided by the panel
        manager: StateManager
        model: ViewModel
        live: Debouncer | None
        _closed: bool
        _data: LiveData
        _heavy: Heavy
        _jump: Page | None
        _loop: asyncio.AbstractEventLoop
        _events_mark: int
        _missed_mark: int
        _rescan_at: float
        _live_events: bool

        def _apply(self, snap: Snapshot, force_value: bool = False) -> bool: ...

        def _set_status(self, text: str, kind: str = "info") -> None: ...

        def _history_event(self, event: Any) -> None: ...

        async def _follow_history(self, whole: bool) -> None: ...

    def _on_event(self, event: Any) -> None:
        """Subscriber (a writer's thread): keep the event, tell the debouncer on its loop. Never blocks."""
        self._data.on_event(event)
        self._history_event(event)  # the open history's item changed? (item_history.py)
        live = self.live
        if live is None or self._closed:
            return
        try:
            self._loop.call_soon_threadsafe(live.notify)
        except RuntimeError:  # the home loop is closed: nothing left to refresh
            pass

    def _token(self) -> Any:
        if not getattr(self.manager, "is_open", True):
            return None  # never reopen a store somebody closed just to poll it
        try:
            return self.manager.change_token()
        except Exception:  # store closed or switched: the next refresh shows the error
            return None

    def _token_changed(self) -> None:
        """The change token moved. With no event since it was last read, another process
        committed: unless the store publishes such changes (events are on their way), the
        counts must be read whole. Changes of ours came too: read whole now and then."""
        seen = self._data.events_seen
        ours, self._events_mark = seen != self._events_mark, seen
        if self._publishes_remote():
            missed = self._missed_changes()
            if missed != self._missed_mark:  # a gap in the events: what changed meanwhile, none says
                self._missed_mark = missed
                self._data.rescan = True
            return
        if not ours or time.monotonic() - self._rescan_at > SAFETY_RESCAN:
            self._data.rescan = True

    def _publishes_remote(self) -> bool:
        if not getattr(self.manager, "is_open", True):
            return False  # never reopen a store somebody closed just to ask
        try:
            return bool(self.manager.backend.publishes_remote)
        except Exception:  # a closed store, or a stand-in without a backend
            return False

    def _missed_changes(self) -> int:
        """The backend's :meth:`~motia_nb.state.backends.base.Backend.missed_changes` (0 when unknown)."""
        if not getattr(self.manager, "is_open", True):
            return 0  # never reopen a store somebody closed just to ask
        try:
            return int(self.manager.backend.missed_changes())
        except Exception:  # a closed store, or a stand-in without a backend
            return 0

    def _live_failed(self, exc: BaseException) -> None:
        self._set_status(f"live refresh failed: {type(exc).__name__}: {exc}", "error")

    async def _refresh_async(self, force_value: bool = False, *, rescan: bool = False) -> None:
        """The one refresh path: read a snapshot through the async API, render it if still current.
        ``rescan``: read the counts whole (always, for a viewer that gets no events)."""
        data = self._data
        if rescan or not self._live_events:
            data.rescan = True
        self._events_mark = data.events_seen
        for _ in range(5):
            if self._closed:
                return
            jump, self._jump = self._jump, None
            rescans = data.rescans
            snap = await data.load(self.manager, self.model, self._heavy, jump=jump)
            whole = data.rescans != rescans
            if whole:
                self._rescan_at = time.monotonic()
            if self._apply(snap, force_value):
                await self._follow_history(whole)  # the open history, if its item changed
                return
