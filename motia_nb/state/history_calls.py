"""The history part of the state API (SPEC §9), mixed into :class:`~motia_nb.state.manager.StateManager`."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

from .backends.base import Backend
from .history import Retention, history_args
from .remote import RemoteChanges
from .urls import safe_url

__all__ = ["HistoryCalls"]


class HistoryCalls:
    """``history_keep`` and ``history()``; the manager provides the rest (``get(at=)`` is its ``get``)."""

    _retention: Retention
    _backend: Backend | None
    _lock: threading.RLock
    _remote: RemoteChanges
    backend: Backend
    _read: Callable[..., Any]
    _setting_changed: Callable[[str, Any], None]

    @property
    def history_keep(self) -> str:
        """How much history the store keeps (SPEC §9): ``"100000"``, ``"7d"``, ``"100000,7d"``,
        ``"all"`` or ``"off"``. Setting it applies now (pruning runs off the writers' path); a
        setting that keeps more brings back no change the old one hid."""
        return str(self._retention)

    @history_keep.setter
    def history_keep(self, spec: "Retention | str") -> None:
        retention = Retention.parse(spec)
        with self._lock:
            backend = self._backend
            silenced = False
            if backend is not None:
                was_publishing = backend.publishes_remote
                backend.set_history_keep(retention)  # (raising, it leaves the setting as it was)
                silenced = was_publishing and not backend.publishes_remote and self._remote.wanted
            self._retention = retention
        self._setting_changed("history_keep", str(self._retention))
        if silenced:  # SQLite reads other processes' changes from the changelog: say they stop coming
            # located in no file, as motia_nb's other setting warnings (where it was raised means nothing)
            warnings.warn_explicit(
                f"{safe_url(backend.url)}: history is off, so this kernel's remote subscribers and remote triggers "
                "(subscribe(..., remote=True), run_remote_triggers) hear no change another process commits "
                "until history is on again",
                UserWarning, "motia_nb", 0, module="motia_nb", registry={},
            )  # fmt: skip

    async def _history_first_kept(self, group_id: str) -> int:
        """The seq of the first change ``history(group_id, ...)`` shows now (0: the retention hides
        none): the viewer's open history asks it after other items' changes (one cheap query)."""
        return await self._read(self.backend.history_first_kept, group_id)  # type: ignore[no-any-return]

    async def history(
        self, group_id: str, key: str | None = None, *, since: Any = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recorded changes of a group (or one item), oldest first (SPEC §9): the newest ``limit``,
        or with ``since`` (a seq or a datetime) the first ``limit`` after it; only those
        ``history_keep`` keeps (the newest N of the store on SQLite, of the group on Redis,
        younger than the age; none a stricter setting hid before), whatever pruning has deleted yet."""
        return await self._read(self.backend.history, *history_args(group_id, key, since, limit))
