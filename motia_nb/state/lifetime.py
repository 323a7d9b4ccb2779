"""Releasing what a dropped object held: weak callbacks and collection-time cleanup.

A :class:`~motia_nb.state.manager.StateManager` (or a backend) dropped without
``close()`` used to live on forever: its writer thread referred to the backend,
whose listeners referred to the manager, so 1,000 dropped managers kept 1,000
threads and 3,000 file descriptors (issue 12 §2.4). Two tools break that chain:

- :class:`WeakCall`: a listener that calls a bound method only while its object
  is alive (the thread that calls it keeps nothing alive);
- :func:`release_when_collected`: run ``release(*args)`` once the owner is
  collected (``weakref.finalize``; ``args`` must not refer to the owner), on a
  short-lived thread of its own (a collection may happen on a thread the release waits for). Never in
  a forked child for a parent's object: closing an inherited connection there
  would touch the parent's locks, so the child keeps such objects alive instead.
"""

from __future__ import annotations

import functools
import logging
import os
import weakref
from collections.abc import Callable
from typing import Any

from .._threads import start_thread

__all__ = ["WeakCall", "release_when_collected"]

log = logging.getLogger("motia_nb")

_kept_in_child: list[Any] = []


class WeakCall:
    """Call ``method`` (a bound method) while its object lives (its result); afterwards None."""

    __slots__ = ("_ref", "__weakref__")

    def __init__(self, method: Callable[..., Any]) -> None:
        self._ref = weakref.WeakMethod(method)  # type: ignore[arg-type]

    def __call__(self, *args: Any) -> Any:
        method = self._ref()
        return None if method is None else method(*args)


def release_when_collected(owner: Any, release: Callable[..., None], *args: Any) -> weakref.finalize:
    """Call ``release(*args)`` when ``owner`` is garbage-collected (not at exit: the exit hooks
    close what is open). Returns the finalizer (``.detach()`` it once closed explicitly)."""
    fin = weakref.finalize(owner, _release, os.getpid(), release, args)
    fin.atexit = False
    return fin


def _release(pid: int, release: Callable[..., None], args: tuple[Any, ...]) -> None:
    if os.getpid() != pid:  # a forked child: the parent's objects stay untouched
        _kept_in_child.append(args)
        return
    # never on the collecting thread: a collection happens anywhere — inside a commit on the
    # SQLite loop, on an aiosqlite connection's thread — where waiting for the queue to drain
    # or for a lock would wait for that very thread
    try:
        start_thread(functools.partial(_run, release, args), "motia-nb-release")
    except RuntimeError:  # interpreter shutdown: no new threads
        _run(release, args)


def _run(release: Callable[..., None], args: tuple[Any, ...]) -> None:
    try:
        release(*args)
    except Exception:  # pragma: no cover - a collection must never raise
        log.exception("motia_nb: releasing a dropped %s failed", getattr(release, "__name__", "object"))
