"""Who hears about commits: a backend's local and remote listener lists and their fan-out.

A mixin of :class:`~motia_nb.state.backends.base.Backend`. Implementations call
``_notify(events)`` after each local commit and ``_notify_remote(events)`` for
other processes' commits; a failing listener is logged, never raised, so it can
break neither a commit nor the subscriber that received the change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..events import StateEvent
from .shapes import Listener

__all__ = ["Listening"]

log = logging.getLogger("motia_nb")


class Listening:
    """The listener lists of a backend (see :meth:`add_listener`, :meth:`add_remote_listener`)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._remote_listeners: list[Listener] = []

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(events)`` after each commit *of this backend*, in commit order.
        ``fn`` must be quick, must not block and must not write (a write from a
        listener is refused)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        _remove(self._listeners, fn)

    def add_remote_listener(self, fn: Listener) -> None:
        """Call ``fn(events)`` for changes committed by *other* processes (or other
        backends on the same store), in the order the store committed them. Never
        called unless ``publishes_remote``. Same rules as :meth:`add_listener`."""
        self._remote_listeners.append(fn)

    def remove_remote_listener(self, fn: Listener) -> None:
        _remove(self._remote_listeners, fn)

    def _notify(self, events: Sequence[StateEvent]) -> None:
        """Give committed events to the local listeners; a failing listener is logged."""
        _call_all(self._listeners, events, "state listener failed")

    def _notify_remote(self, events: Sequence[StateEvent]) -> None:
        """Give other processes' events to the remote listeners; failures are logged."""
        _call_all(self._remote_listeners, events, "remote state listener failed")


def _call_all(listeners: list[Listener], events: Sequence[StateEvent], what: str) -> None:
    for fn in list(listeners):
        try:
            fn(events)
        except Exception:  # a listener must never break a commit or the subscriber
            log.exception(what)


def _remove(listeners: list[Listener], fn: Listener) -> None:
    try:
        listeners.remove(fn)
    except ValueError:
        pass
