"""Mixed into :class:`~motia_nb.state.manager.StateManager`: the busy timeout, a per-manager store
setting (kept on the manager and handed to each backend it opens, ``open_backend(url,
busy_timeout=)``, and to the open one when it changes), and who is told when a setting changes.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from .backends.base import Backend
from .backends.sqlite.schema import busy_timeout_setting

__all__ = ["BusyTimeout", "SettingWatchers", "busy_timeout_setting"]


class BusyTimeout:
    """``busy_timeout``; the manager provides ``_busy_timeout`` (None: the default) and ``_backend``."""

    _busy_timeout: float | None
    _backend: Backend | None
    _setting_changed: Callable[[str, Any], None]

    @property
    def busy_timeout(self) -> float:
        """Seconds a write waits for another process's lock (SQLite), and a call for the server's
        answer (Redis: a hung server answers nothing), before a clear ``StateError`` (default
        ``$MOTIA_NB_BUSY_TIMEOUT``, else 10). Settable; applies to the open store at once."""
        return self._busy_timeout if self._busy_timeout is not None else busy_timeout_setting()

    @busy_timeout.setter
    def busy_timeout(self, seconds: float | None) -> None:
        """``None``: back to ``$MOTIA_NB_BUSY_TIMEOUT`` or the default."""
        self._busy_timeout = None if seconds is None else busy_timeout_setting(seconds)
        b = self._backend
        if b is not None:
            b.set_busy_timeout(self.busy_timeout)
        self._setting_changed("busy_timeout", self._busy_timeout)


class SettingWatchers:
    """Who is told each setting the manager takes (``database`` from ``use()``, ``history_keep``,
    ``busy_timeout``), whoever set it: ``%config MotiaNB`` keeps the shell's config in step. Held
    weakly: a reloaded extension's old config object goes. The manager sets ``_setting_watchers = []``."""

    _setting_watchers: "list[weakref.WeakMethod[Callable[[str, Any], None]]]"

    def _watch_settings(self, method: Callable[[str, Any], None]) -> None:
        """Call the bound ``method(name, value)`` after each setting this manager takes (the value
        as set), while its object lives."""
        self._setting_watchers.append(weakref.WeakMethod(method))

    def _setting_changed(self, name: str, value: Any) -> None:
        for ref in list(self._setting_watchers):
            fn = ref()
            if fn is None:
                try:
                    self._setting_watchers.remove(ref)
                except ValueError:
                    pass
                continue
            fn(name, value)
