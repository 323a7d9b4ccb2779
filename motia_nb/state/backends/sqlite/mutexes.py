"""Which of SQLite's mutexes a forked child inherited locked.

A thread of the parent that was inside SQLite at the ``fork()`` holds the mutex of the
connection it was using and, for a moment, one of SQLite's process-wide ("static")
mutexes: the file table's, the memory allocator's, the page cache's. The child
inherits them locked, and no thread of the child will ever unlock them: closing that
connection, or any ``sqlite3.connect``, then waits forever. motia_nb's fork hooks wait
for its own threads' statements (:mod:`.forking`), but not for a thread they do not
know about (another library's, the user's, or a path of motia_nb's own they missed).
So the child *asks* SQLite, without waiting (``sqlite3_mutex_try``, through
:mod:`ctypes`, on the library CPython's ``_sqlite3`` module is linked to):

- :func:`connection_mutex_held`: an inherited connection whose mutex is held is never
  closed (:func:`.opening.release_inherited` keeps it);
- :func:`process_mutex_held`: a process-wide mutex is held: SQLite cannot be used in
  this child at all, which :func:`.forking.check_usable` then says at once, clearly,
  instead of hanging.

Both answer False when the check is not possible (another Python, a statically linked
SQLite, a library built without mutexes): the hooks then behave as before.
"""

from __future__ import annotations

import _sqlite3
import ctypes
import sqlite3
from typing import Any

__all__ = ["connection_mutex_held", "process_mutex_held", "available"]

#: SQLite's static mutexes: SQLITE_MUTEX_STATIC_MAIN (2) ... SQLITE_MUTEX_STATIC_VFS3 (13)
_STATIC = range(2, 14)
#: where CPython keeps a connection's ``sqlite3 *`` (the first field after the object header)
_DB_OFFSET = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)


def _load() -> Any:
    """The SQLite library of ``sqlite3``, checked on a throwaway connection; None if unusable."""
    if sqlite3.sqlite_version_info < (3, 30, 0):  # every static mutex id below exists (VFS1-3 are newer)
        return None
    try:
        lib = ctypes.CDLL(_sqlite3.__file__)
        lib.sqlite3_libversion_number.restype = ctypes.c_int
        lib.sqlite3_total_changes.argtypes = [ctypes.c_void_p]
        lib.sqlite3_total_changes.restype = ctypes.c_int
        lib.sqlite3_db_mutex.argtypes = [ctypes.c_void_p]
        lib.sqlite3_db_mutex.restype = ctypes.c_void_p
        lib.sqlite3_mutex_alloc.argtypes = [ctypes.c_int]
        lib.sqlite3_mutex_alloc.restype = ctypes.c_void_p
        lib.sqlite3_mutex_try.argtypes = [ctypes.c_void_p]
        lib.sqlite3_mutex_try.restype = ctypes.c_int
        lib.sqlite3_mutex_leave.argtypes = [ctypes.c_void_p]
        lib.sqlite3_mutex_leave.restype = None
        major, minor, patch = sqlite3.sqlite_version_info
        if lib.sqlite3_libversion_number() != major * 1_000_000 + minor * 1000 + patch:
            return None  # not the library the module uses
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("CREATE TABLE t (x)")
            probe.execute("INSERT INTO t VALUES (1), (2), (3)")
            db = _db(probe)
            if not db or lib.sqlite3_total_changes(db) != probe.total_changes or not lib.sqlite3_db_mutex(db):
                return None  # not where we think the handle is, or no mutexes at all
        finally:
            probe.close()
        return lib
    except (OSError, AttributeError, sqlite3.Error, ValueError):
        return None


def _db(conn: sqlite3.Connection) -> int | None:
    return ctypes.c_void_p.from_address(id(conn) + _DB_OFFSET).value


_lib = _load()  # at import, in the parent: a child only asks


def available() -> bool:
    """The checks below really ask SQLite (False: they always answer False)."""
    return _lib is not None


def _held(mutex: int | None) -> bool:
    if not mutex or _lib is None:
        return False
    if _lib.sqlite3_mutex_try(mutex) != 0:  # SQLITE_BUSY: another thread (a vanished one) holds it
        return True
    _lib.sqlite3_mutex_leave(mutex)
    return False


def connection_mutex_held(conn: sqlite3.Connection) -> bool:
    """(In a forked child.) ``conn``'s mutex is held by a thread that did not survive the fork."""
    if _lib is None or not isinstance(conn, sqlite3.Connection):  # (a subclass keeps the layout)
        return False
    try:
        conn.in_transaction  # raises once closed (its handle is gone)
    except sqlite3.ProgrammingError:
        return False
    return _held(_lib.sqlite3_db_mutex(_db(conn)))


def process_mutex_held() -> bool:
    """(In a forked child.) One of SQLite's process-wide mutexes is held by a vanished thread."""
    if _lib is None:
        return False
    return any(_held(_lib.sqlite3_mutex_alloc(i)) for i in _STATIC)
