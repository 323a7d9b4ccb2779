"""Where the backends get their threads and event loop: the only import of motia_nb's
thread module in this package (swap the import here when that module moves).

- Redis runs its writer and subscriber tasks on motia_nb's one loop thread
  (:func:`loop_thread`), never on a loop of its own.
- SQLite's writer thread is started by :func:`start_daemon`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..._loop import LoopThread, get_loop_thread

__all__ = ["LoopThread", "loop_thread", "start_daemon"]


def loop_thread() -> LoopThread:
    """motia_nb's process-wide loop thread (started on first use)."""
    return get_loop_thread()


def start_daemon(target: Callable[[], None], name: str) -> threading.Thread:
    """Start ``target`` on a new daemon thread (never holds up interpreter exit)."""
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    return t
