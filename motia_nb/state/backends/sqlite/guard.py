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
- :meth:`FileGuard.drop_stale_journal` runs when the database is closed, and for
  every guard still open on a path about to be opened again: if the file moved,
  the ``-wal``/``-shm`` at its path are still the old file's (the same inodes,
  still held open by this guard's connections, so their numbers cannot have been
  reused), and they are unlinked, so a reopen sees what is on disk now.
"""

from __future__ import annotations

import os
import weakref

from ...errors import StateError

__all__ = ["FileGuard", "closing", "drop_stale_journals"]

Ident = tuple[int, int]

_stat = os.stat

#: the guards of databases open in this process (dropped when their backend is collected)
_live: "weakref.WeakSet[FileGuard]" = weakref.WeakSet()


def _ident(path: str) -> "Ident | None":
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class FileGuard:
    """The identity of one open state file (see the module docstring)."""

    __slots__ = ("path", "url", "db", "wal", "shm", "__weakref__")

    def __init__(self, path: str, url: str) -> None:
        self.path = path
        self.url = url
        self.db = _ident(path)
        self.wal = _ident(path + "-wal")
        self.shm = _ident(path + "-shm")
        _live.add(self)

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
        return None

    def check(self) -> None:
        """Raise :class:`StateError` if the file was deleted or replaced since it was opened."""
        try:  # the common case first, inline (it runs before every commit)
            st = _stat(self.path)
            if st.st_ino == self.db[1] and st.st_dev == self.db[0] and self.wal is not None:  # type: ignore[index]
                return
        except (OSError, TypeError):
            pass
        what = self.problem()
        if what is not None:
            raise StateError(
                f"the state database file {self.url} {what} while it was open, so this write was "
                f"not made (it would have gone into the old file and been lost). Reopen it to use "
                f"what is there now: %state use {self.url} (or close() the manager and use it again)"
            )


    def drop_stale_journal(self) -> None:
        """If the file moved, unlink the old file's ``-wal``/``-shm`` still at its path.
        Call it while this guard's connections are open (the inodes are then alive)."""
        if self.problem() is None or self.db is None:
            return
        for suffix, ident in (("-wal", self.wal), ("-shm", self.shm)):
            if ident is not None and _ident(self.path + suffix) == ident:
                try:
                    os.unlink(self.path + suffix)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise StateError(
                        f"{self.url} was replaced, and the old file's {suffix} journal next to it cannot "
                        f"be removed ({exc.strerror}); remove {self.path}{suffix} before opening it"
                    ) from None


def closing(guard: FileGuard) -> None:
    """Its connections are about to close: drop a moved file's journal, stop tracking it."""
    _live.discard(guard)
    guard.drop_stale_journal()


def drop_stale_journals(path: str) -> None:
    """Before opening ``path``: the guards still open there drop a moved file's journal."""
    for guard in list(_live):
        if guard.path == path:
            guard.drop_stale_journal()
