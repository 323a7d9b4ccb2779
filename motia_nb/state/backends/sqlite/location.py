"""Whether a path can hold a state database, and SQLite's errors in plain words.

:func:`check_location` runs before a file is opened and refuses, in one line,
what SQLite would report obscurely or get wrong: a path under a plain file
("the folder does not exist" was misleading), a read-only file system or file
(reported as "not a usable database"), and a file that holds something other
than an SQLite database (SQLite would silently turn a 1-byte text file into a
database). :func:`read_error` words a failed read: a corrupted page, an I/O
error, instead of a raw ``sqlite3.DatabaseError``.
"""

from __future__ import annotations

import os
import sqlite3

from ...errors import StateError

__all__ = ["check_location", "read_error"]

_HEADER = b"SQLite format 3\x00"


def check_location(path: str, url: str, *, in_use: bool = False) -> None:
    """Raise a one-line :class:`StateError` if ``path`` cannot be a state database. ``in_use``:
    this process has it open in SQLite already (its header is then not read: closing the
    descriptor would drop the process's POSIX locks on the file, SQLite's included)."""
    folder = os.path.dirname(path) or "."
    probe = folder
    while probe and not os.path.exists(probe):  # the nearest existing ancestor
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if probe and os.path.exists(probe) and not os.path.isdir(probe):
        raise StateError(f"cannot open the state database {url}: {probe} is a file, not a folder")
    if os.path.isdir(path):
        raise StateError(f"cannot open the state database {url}: it is a folder; name a file inside it")
    if _read_only_fs(folder if os.path.isdir(folder) else probe):
        raise StateError(
            f"cannot open the state database {url}: it is on a read-only file system (motia_nb writes "
            f"the file and its -wal and -shm journals next to it); choose a writable location"
        )
    if os.path.isfile(path) and not in_use:  # open in this process: a database, never to be opened outside SQLite
        if not os.access(path, os.W_OK):
            raise StateError(f"cannot open the state database {url}: the file is read-only (no write permission)")
        try:
            with open(path, "rb") as f:
                head = f.read(len(_HEADER))
        except OSError as exc:
            raise StateError(f"cannot open the state database {url}: {exc.strerror}") from None
        if head and head != _HEADER:
            raise StateError(
                f"{url} is not a usable motia_nb state database: the file is not an SQLite database "
                f"(it holds other data, left untouched); choose another path"
            )


def _read_only_fs(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def read_error(exc: sqlite3.Error, url: str) -> StateError:
    """The :class:`StateError` a read answers when SQLite failed."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text or name == "SQLITE_NOTADB":
        err = StateError(
            f"the state database {url} is corrupt ({text}); restore it from a backup, or save what is "
            f"readable with: sqlite3 {url} .recover"
        )
    elif name.startswith("SQLITE_IOERR"):
        err = StateError(f"reading the state database {url} failed with an I/O error ({text})")
    else:
        err = StateError(f"reading the state database {url} failed: {text}")
    err.__cause__ = exc
    return err
