"""The state file's identity: a file deleted or replaced under an open database (SPEC §6).

SQLite writes through the file descriptor it opened. If the file is deleted
(``rm .motia/state.db``) or replaced (``mv backup.db .motia/state.db``) while
the database is open, every later commit lands in the old, unlinked file and is
acknowledged, then vanishes (issue 12 §2.6). And because SQLite does not
checkpoint or delete the WAL of a file that has moved, the old ``-wal`` stays
next to the replacement, and a reopen would show the old data on top of it.

- :class:`FileGuard` records the file's ``(st_dev, st_ino)`` (and those of its
  ``-wal`` and ``-shm``) at open; :meth:`FileGuard.check` compares them with
  ``os.stat`` of the path (about a microsecond) and raises a clear
  :class:`StateError`. The write path calls it inside each write transaction,
  right before ``COMMIT``: a write into a deleted or replaced file is rolled
  back and refused, never acknowledged.
- :func:`drop_stale_journal` runs before a file is opened: when this process
  last saw ``path`` as another file and the ``-wal``/``-shm`` there are still
  that old file's (same inodes), they are unlinked, so the database opens as
  what is on disk now.
"""

from __future__ import annotations

import os
import threading

from ...errors import StateError

__all__ = ["FileGuard", "drop_stale_journal"]

Ident = tuple[int, int]

_lock = threading.Lock()
#: path -> (db, wal, shm) identities this process last saw open there
_seen: dict[str, tuple["Ident | None", "Ident | None", "Ident | None"]] = {}


def _ident(path: str) -> "Ident | None":
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class FileGuard:
    """The identity of one open state file (see the module docstring)."""

    __slots__ = ("path", "url", "db", "wal", "shm")

    def __init__(self, path: str, url: str) -> None:
        self.path = path
        self.url = url
        self.db = _ident(path)
        self.wal = _ident(path + "-wal")
        self.shm = _ident(path + "-shm")
        self._remember()

    def _remember(self) -> None:
        with _lock:
            _seen[self.path] = (self.db, self.wal, self.shm)

    def problem(self) -> str | None:
        """What happened to the file since it was opened, or None."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "was deleted"
        except OSError as exc:
            return f"cannot be checked any more ({exc.strerror})"
        if (st.st_dev, st.st_ino) != self.db:
            return "was replaced by another file"
        if self.wal is None:  # the WAL is created with the first transaction: learn it now
            self.wal = _ident(self.path + "-wal")
            self.shm = _ident(self.path + "-shm")
            self._remember()
        return None

    def check(self) -> None:
        """Raise :class:`StateError` if the file was deleted or replaced since it was opened."""
        what = self.problem()
        if what is not None:
            raise StateError(
                f"the state database file {self.url} {what} while it was open, so this write was "
                f"not made (it would have gone into the old file and been lost). Reopen it to use "
                f"what is there now: %state use {self.url} (or close() the manager and use it again)"
            )


def drop_stale_journal(path: str) -> None:
    """Before opening ``path``: unlink a ``-wal``/``-shm`` left by the file that was there before."""
    with _lock:
        seen = _seen.get(path)
    if seen is None:
        return
    db, wal, shm = seen
    if _ident(path) == db:
        return  # the same file: its journal is its own
    for suffix, ident in (("-wal", wal), ("-shm", shm)):
        if ident is not None and _ident(path + suffix) == ident:
            try:
                os.unlink(path + suffix)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StateError(
                    f"{path} was replaced, and the old file's {suffix} journal next to it cannot be "
                    f"removed ({exc.strerror}); remove {path}{suffix} before opening it"
                ) from None
