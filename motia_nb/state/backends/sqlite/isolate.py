"""One bad write never fails the others in its batch (SPEC §6).

:func:`apply_isolated` is what the write path calls inside its open transaction
instead of :func:`~.apply.apply_batch`. The batch is applied as usual, inside a
``SAVEPOINT`` (for a batch of one, none is needed); when it fails in a way that
belongs to one write — a stored text that no longer decodes (an integer over
Python's digit limit), a value over SQLite's length limit (``SQLITE_TOOBIG``),
a batch statement whose JSON grew over that limit — the savepoint is rolled
back and the writes are applied again one by one, each under its own
savepoint: the good ones stand, the bad one answers a :class:`StateError`
naming its group and key. Errors that concern the database as a whole (I/O,
disk full, a lost lock, corruption) are raised unchanged, and the caller rolls
the whole transaction back as before.
"""

from __future__ import annotations

import sqlite3
from ...errors import StateError
from ..base import Write, WriteResult
from .apply import apply_batch, apply_each

__all__ = ["apply_isolated", "is_per_write"]

_SP_BATCH = "motia_nb_batch"
_SP_ONE = "motia_nb_write"


def is_per_write(exc: BaseException) -> bool:
    """Whether ``exc`` is the fault of the write(s) being applied, not of the database."""
    if isinstance(exc, StateError):
        return False  # already answered per write by apply_*; raised only for whole-batch problems
    if isinstance(exc, sqlite3.DataError):  # SQLITE_TOOBIG, SQLITE_RANGE, SQLITE_MISMATCH
        return True
    if isinstance(exc, sqlite3.Error):  # I/O, full, locked, corrupt: the database's fault
        return False
    return isinstance(exc, (ValueError, OverflowError, RecursionError, UnicodeError, TypeError))


def apply_isolated(conn: sqlite3.Connection, writes: list[Write], url: str) -> "list[WriteResult | StateError]":
    """Apply ``writes`` inside the caller's open transaction; one outcome per write,
    a failing write answering its own error (see the module docstring)."""
    if len(writes) == 1:  # no savepoint on the hot path of one awaited write at a time
        try:
            return apply_batch(conn, writes)
        except Exception as exc:
            if not is_per_write(exc):
                raise
            # undo what it did; the caller's COMMIT then ends an empty deferred transaction
            conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            return [write_error(writes[0], exc, url)]
    conn.execute(f"SAVEPOINT {_SP_BATCH}")
    try:
        outcomes = apply_batch(conn, writes)
    except Exception as exc:
        if not is_per_write(exc):
            raise
        _undo(conn, _SP_BATCH)
        return [_apply_alone(conn, w, url) for w in writes]
    conn.execute(f"RELEASE {_SP_BATCH}")
    return outcomes


def _apply_alone(conn: sqlite3.Connection, w: Write, url: str) -> "WriteResult | StateError":
    conn.execute(f"SAVEPOINT {_SP_ONE}")
    try:
        (out,) = apply_each(conn, [w])
    except Exception as exc:
        if not is_per_write(exc):
            raise
        _undo(conn, _SP_ONE)
        return write_error(w, exc, url)
    if isinstance(out, StateError):  # apply_each answered it: nothing of it was written
        _undo(conn, _SP_ONE)
        return out
    conn.execute(f"RELEASE {_SP_ONE}")
    return out


def _undo(conn: sqlite3.Connection, name: str) -> None:
    conn.execute(f"ROLLBACK TO {name}")
    conn.execute(f"RELEASE {name}")


def write_error(w: Write, exc: BaseException, url: str) -> StateError:
    """The error one write answers when applying it failed (nothing of it was written)."""
    where = f"{w.group_id!r}" if w.kind == "clear" else f"{w.group_id!r}/{w.key!r}"
    if isinstance(exc, sqlite3.DataError) and "too big" in str(exc):
        why = "the value is larger than SQLite's size limit (SQLITE_MAX_LENGTH)"
    elif isinstance(exc, ValueError) and "digits" in str(exc):
        why = f"the stored value cannot be read: {exc}"
    else:
        why = f"{type(exc).__name__}: {exc}"
    err = StateError(f"{w.kind} of {where} in {url} failed, nothing of it was written: {why}")
    err.__cause__ = exc
    return err
