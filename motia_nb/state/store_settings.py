"""The busy timeout, a per-manager store setting, mixed into :class:`~motia_nb.state.manager.StateManager`.

Kept on the manager and handed to each backend it opens (``open_backend(url,
busy_timeout=)``) and to the open one when it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backends.base import Backend
from .backends.sqlite.schema import busy_timeout_setting

__all__ = ["BusyTimeout", "busy_timeout_setting"]


class BusyTimeout:
    """``busy_timeout``; the manager provides ``_busy_timeout`` (None: the default) and ``_backend``."""

    _busy_timeout: float | None
    _backend: Backend | None
    _setting_changed: Callable[[str, Any], None]

    @property
    def busy_timeout(self) -> float:
        """Seconds a write waits for another process's lock before a clear ``StateError``
        (SQLite; default ``$MOTIA_NB_BUSY_TIMEOUT``, else 10). Settable."""
        return self._busy_timeout if self._busy_timeout is not None else busy_timeout_setting()

    @busy_timeout.setter
    def busy_timeout(self, seconds: float | None) -> None:
        """``None``: back to ``$MOTIA_NB_BUSY_TIMEOUT`` or the default."""
        self._busy_timeout = None if seconds is None else busy_timeout_setting(seconds)
        b = self._backend
        if b is not None:
            b.set_busy_timeout(self.busy_timeout)
        self._setting_changed("busy_timeout", self._busy_timeout)
