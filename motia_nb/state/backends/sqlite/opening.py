"""Opening and closing SQLite connections, never while this process forks.

SQLite guards its table of open files with a process-wide mutex, taken by every
``sqlite3.connect`` and every ``close()``. A child forked while another thread
held it (the history pruner opening its connection right after the store
opened, a checkpointer closing its own) inherits it locked, with no thread left
to unlock it: the child's first ``connect`` then waits forever. So every
connection motia_nb opens or closes does it holding :data:`OPENING`, and a fork
takes :data:`OPENING` after every other motia_nb fork hook (this module registers
first, so its ``before`` runs last: a thread holding a write gate or a checkpoint
lock may still open or close a connection while those are awaited), so none is
half-way at the fork.
"""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse

from ...._threads import on_fork_prepare

__all__ = ["OPENING", "open_connection", "close_connection"]

#: held around every open and close of a connection; a fork waits for it
OPENING = threading.Lock()
#: seconds a fork waits for an open or close in progress (each takes milliseconds)
FORK_WAIT = 10.0
_held: list[bool] = []


def open_connection(
    path: str, busy_timeout: float = 0.0, *, create: bool = True, pragmas: "tuple[str, ...]" = ()
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread;
    with ``create=False`` a missing file stays missing (an error, not a new empty database).
    ``pragmas`` (statements) run on it before :data:`OPENING` is let go."""
    with OPENING:
        if create:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        else:
            conn = sqlite3.connect(
                f"file:{urllib.parse.quote(path)}?mode=rw", uri=True,
                isolation_level=None, check_same_thread=False, timeout=busy_timeout,
            )  # fmt: skip
        try:
            for pragma in pragmas:
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        return conn


def close_connection(conn: sqlite3.Connection) -> None:
    """``conn.close()``, holding :data:`OPENING`."""
    with OPENING:
        conn.close()


def _before_fork() -> None:
    if OPENING.acquire(timeout=FORK_WAIT):
        _held.append(True)


def _after_fork() -> None:
    if _held:
        _held.clear()
        OPENING.release()


on_fork_prepare(_before_fork, _after_fork)
