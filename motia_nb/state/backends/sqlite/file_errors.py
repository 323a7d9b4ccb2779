"""What a read answers when the state file is not the one it opened (guard.py), said one way.

:class:`FileErrors` is a mixin of :class:`~.backend.SQLiteBackend` (which provides ``url``):
the reads' file check, a failed read and the follower's errors all ask :meth:`_file_problem`
and answer :meth:`_moved_error`, so a deleted or replaced file reads the same everywhere.
"""

from __future__ import annotations

import sqlite3

from ...errors import StateError
from . import lifecycle
from .location import read_error

__all__ = ["FileErrors"]


class FileErrors:
    """The one-line errors of reads on a file deleted or replaced under the open database."""

    url: str

    def _file_problem(self) -> "str | None":
        """What happened to the file since it was opened (``"was deleted"``…), or None (the
        follower's errors ask it here: lifecycle imports forking, which imports the follower)."""
        return lifecycle.file_problem(self)

    def _read_failed(self, exc: sqlite3.Error) -> StateError:
        """The error a failed read answers: the file deleted or replaced under the open database
        (guard.py) said as such, else SQLite's error in one line (location.read_error)."""
        what = self._file_problem()
        return read_error(exc, self.url) if what is None else self._moved_error(what)

    def _moved_error(self, what: str) -> StateError:
        """What every read answers once the file ``what`` (``"was deleted"``…) under the open database."""
        return StateError(
            f"the state database file {self.url} {what} while it was open, so nothing was read (SQLite would "
            f"read the old file on). Reopen it to use what is there now: %state use {self.url} (or close() the "
            f"manager and use it again)"
        )
