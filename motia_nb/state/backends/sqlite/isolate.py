"""One bad write never fails the others in its batch (SPEC §6).

:func:`isolated_steps` is what the write path runs inside its open transaction:
the batch's statement plan (:func:`.apply.batch_steps`) with its outcomes, as one
generator of statement lists that either executor drives (an error of a
statement is thrown back into it). The batch runs as usual, inside a
``SAVEPOINT`` (for a batch of one, none is needed); when it fails in a way that
belongs to one write — a value over SQLite's length limit (``SQLITE_TOOBIG``),
a batch statement whose JSON grew over that limit — the savepoint is rolled
back and the writes are planned and run again one by one, each under its own
savepoint: the good ones stand, the bad one answers a :class:`StateError`
naming its group and key. Errors that concern the database as a whole (I/O,
disk full, a lost lock, corruption) are raised unchanged, and the caller rolls
the whole transaction back as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from typing import Any

from ...errors import StateError
from ..base import Write
from .apply import Record, Statement, batch_steps

__all__ = ["isolated_steps", "is_per_write", "write_error"]

_SP_BATCH = "motia_nb_batch"
_SP_ONE = "motia_nb_write"

Outcomes = list[Any]


def is_per_write(exc: BaseException) -> bool:
    """Whether ``exc`` is the fault of the write(s) being applied, not of the database."""
    if isinstance(exc, StateError):
        return False  # already answered per write by the plan; raised only for whole-batch problems
    if isinstance(exc, sqlite3.DataError):  # SQLITE_TOOBIG, SQLITE_RANGE, SQLITE_MISMATCH
        return True
    if isinstance(exc, sqlite3.OperationalError) and "malformed JSON" in str(exc):
        return True  # a stored text another tool wrote, spliced into the changelog statement
    if isinstance(exc, sqlite3.Error):  # I/O, full, locked, corrupt: the database's fault
        return False
    return isinstance(exc, (ValueError, OverflowError, RecursionError, UnicodeError, TypeError))


def isolated_steps(
    writes: list[Write], url: str, *, events: bool, record: Record | None = None
) -> Generator[list[Statement], list[list[Any]], Outcomes]:
    """The batch in the caller's open transaction; returns one outcome per write
    (``Plan.outcomes(events=)``), a failing write answering its own error."""
    if len(writes) == 1:  # no savepoint on the hot path of one awaited write at a time
        try:
            plan = yield from batch_steps(writes, record=record)
            return plan.outcomes(events=events)
        except Exception as exc:
            if not is_per_write(exc):
                raise
            # undo what it did; the caller's COMMIT then ends an empty deferred transaction
            yield [("ROLLBACK", ()), ("BEGIN", ())]
            return [write_error(writes[0], exc, url)]
    yield [(f"SAVEPOINT {_SP_BATCH}", ())]
    try:
        plan = yield from batch_steps(writes, record=record)
        outcomes = plan.outcomes(events=events)  # decoding fails here for an undecodable old value
    except Exception as exc:
        if not is_per_write(exc):
            raise
        yield _undo(_SP_BATCH)
        alone = []
        for w in writes:
            out = yield from _one(w, url, events, record)
            alone.append(out)
        return alone
    yield [(f"RELEASE {_SP_BATCH}", ())]
    return outcomes


def _one(w: Write, url: str, events: bool, record: Record | None) -> Generator[list[Statement], list[list[Any]], Any]:
    yield [(f"SAVEPOINT {_SP_ONE}", ())]
    try:
        plan = yield from batch_steps([w], record=record)
        (out,) = plan.outcomes(events=events)
    except Exception as exc:
        if not is_per_write(exc):
            raise
        yield _undo(_SP_ONE)
        return write_error(w, exc, url)
    yield [(f"RELEASE {_SP_ONE}", ())]  # a write's own StateError wrote nothing: releasing is undoing
    return out


def _undo(name: str) -> list[Statement]:
    return [(f"ROLLBACK TO {name}", ()), (f"RELEASE {name}", ())]


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
