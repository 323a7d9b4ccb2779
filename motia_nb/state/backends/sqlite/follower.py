"""Other processes' changes on SQLite: a follower of the ``changes`` table.

Where history is on, every commit writes its changelog rows (``changes``, one per
event, ``seq`` increasing) in the same transaction as the change. A follower keeps
a cursor on ``seq`` and, on its own read connection, polls SQLite's
``PRAGMA data_version`` (a few microseconds; it moves whenever *another*
connection commits) every :data:`POLL_INTERVAL` seconds. When it moved, the rows
past the cursor are read in ``seq`` order; rows whose ``origin`` is this backend
instance are skipped (its local listeners already had them), the others become
:class:`~motia_nb.state.events.StateEvent` objects handed to ``on_events``, in
commit order, on the follower's thread.

Each write read is handed over on its own (:func:`writes_of`: the rows of one commit,
writer, trace and cause) as :class:`~motia_nb.state.events.WriteEvents` with the write's
trace id, so another process's writes run remote triggers each under its writer's trace (a
write with none, in a trace of its own), as one write script's message does on Redis.

The cursor starts at the newest ``seq`` when the follower starts: no replay of
old history. Every change still stored when the follower reads it is delivered, whatever
``history_keep`` says ``history()`` shows: retention is the history's, not the events' (as on
Redis, whose published messages know no retention); rows the pruning thread deleted before the
follower read them are missed (a follower that far behind has bigger problems). The thread comes from
:func:`motia_nb._threads.start_thread`; :meth:`Follower.stop` ends it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...._threads import start_thread
from ...errors import StateError
from ...events import StateEvent, WriteEvents
from ...jsontext import decode_lenient
from .changelog import expand
from .executors import close_quietly
from .opening import open_connection
from .schema import event_type

if TYPE_CHECKING:
    from ...history import Retention

__all__ = ["Follower", "Following", "POLL_INTERVAL", "rows_to_events", "writes_of", "FOLLOW_SQL", "live_followers", "forget_followers"]

log = logging.getLogger("motia_nb")

#: Seconds between two ``PRAGMA data_version`` polls (a change is seen within about this).
POLL_INTERVAL = 0.03
#: Rows read per statement (a burst of changes is delivered in batches of this many).
BATCH = 1000

#: Other origins' records past the cursor, up to a known newest seq, in commit order
#: (a record of several changes is expanded: :func:`.changelog.expand`), with what tells
#: one write from the next (:func:`writes_of`).
FOLLOW_SQL = (
    "SELECT seq, grp, key, old_value, new_value, n, at_us, trace_id, cause, origin FROM changes "
    "WHERE seq > ? AND seq <= ? AND origin != ? ORDER BY seq LIMIT ?"
)
_MAX_SEQ = "SELECT coalesce(max(seq), 0) FROM changes"

_loads = json.loads

#: every follower of this process from its creation on: a fork waits for each one's statements
#: (:mod:`.forking`), the one starting (not yet its backend's) and the one stopping included
_live: "weakref.WeakSet[Follower]" = weakref.WeakSet()


def live_followers() -> "list[Follower]":
    """This process's followers (a forked child inherits them; :mod:`.forking` forgets them)."""
    return list(_live)


def forget_followers() -> None:
    """(In a forked child.) The inherited followers' threads did not survive: forget them all."""
    _live.clear()


def rows_to_events(rows: Sequence[Sequence[Any]]) -> list[StateEvent]:
    """``(seq, grp, key, old_value, new_value[, n])`` records as events, one per change (JSON
    decoded, an old value another tool wrote that is not JSON as its text, as Redis publishes
    it: :func:`~motia_nb.state.jsontext.decode_lenient`; the event type is what the values
    say, :func:`.schema.event_type`)."""
    out: list[StateEvent] = []
    for row in rows:
        seq, grp, key, old, new = row[:5]
        n = row[5] if len(row) > 5 else None
        changes = [(key, old, new)] if n is None else [(k, o, v) for _s, k, o, v in expand(seq, n, key, old, new)]
        out.extend(
            StateEvent(event_type(o, v), grp, k, None if o is None else decode_lenient(o), None if v is None else _loads(v))
            for k, o, v in changes
        )
    return out


def writes_of(rows: Sequence[Sequence[Any]]) -> list[Sequence[Sequence[Any]]]:
    """Rows of :data:`FOLLOW_SQL` cut into the writes that made them: a run of rows of one
    commit (its time), one writer (its origin), one trace and one cause is one write, as a
    write script's call is one published message on Redis. Each is delivered on its own, so
    another process's separate writes run this kernel's remote triggers each under its own
    trace, as they ran there (a gather's sets: one record, one delivery)."""
    out: list[Sequence[Sequence[Any]]] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][6:10] != rows[start][6:10]:
            out.append(rows[start:i])
            start = i
    return out


class Follower:
    """Follows the changelog of the SQLite file at ``path`` for one backend instance.

    ``origin`` is the backend's own origin (its rows are skipped); ``on_events(events)``
    is called on the follower's thread and must be quick (the backend passes its
    remote listeners). :meth:`poll` does one round on the caller's thread (tests).
    """

    def __init__(
        self,
        path: str,
        origin: int,
        on_events: Callable[[list[StateEvent]], None],
        *,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.path = path
        self.origin = origin
        self.interval = interval
        self._on_events = on_events
        self._stop = threading.Event()
        self._lock = threading.Lock()  # around the statements of a poll (stop() and a fork wait for them)
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self.cursor = 0
        self._data_version: int | None = None
        _live.add(self)

    # ------------------------------------------------------------------ life cycle
    def start(self, *, thread: bool = True) -> "Follower":
        """Open the read connection, put the cursor at the newest row, start polling."""
        with self._lock:
            # never creates the file: deleted meanwhile, it stays deleted (guard.py tells)
            conn = open_connection(self.path, create=False, pragmas=("PRAGMA query_only = ON",))
            self._conn = conn
            # the version first: a commit landing between the two is then seen by the first poll
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
            self.cursor = conn.execute(_MAX_SEQ).fetchone()[0]
        if thread:
            self._thread = start_thread(self._main, "motia-nb-sqlite-follower")
        return self

    @property
    def poll_lock(self) -> threading.Lock:
        """Held around every statement of the follower (a fork takes it: :mod:`.forking`)."""
        return self._lock

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop polling (waits for a poll in progress) and close the connection. Idempotent."""
        self._stop.set()
        t = self._thread
        if t is not None and t is threading.current_thread():
            return  # from a listener on the follower's thread: it closes the connection on its way out
        if t is not None:
            t.join(timeout=5)
        self._close()

    def _close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            close_quietly(conn)

    # ------------------------------------------------------------------ polling
    def _main(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.poll()
                except sqlite3.Error as exc:  # a busy or vanished file: say so, try again next time
                    log.warning("motia_nb: following changes in %s failed (%s); retrying", self.path, exc)
                except Exception:  # pragma: no cover - never let the thread die silently
                    log.exception("motia_nb: following changes in %s failed", self.path)
        finally:
            self._close()

    def poll(self) -> int:
        """One round: if another connection committed, deliver the new foreign rows.
        Returns how many events were delivered. Statements run under the poll lock, the
        delivery after it (a listener may fork: the fork takes that lock)."""
        delivered = 0
        first = True
        carry: list[Sequence[Any]] = []  # the rows of a write the last read cut off
        while True:
            with self._lock:
                conn = self._conn
                if conn is None or self._stop.is_set():
                    return delivered
                if first:
                    dv = conn.execute("PRAGMA data_version").fetchone()[0]
                    if dv == self._data_version:
                        return 0
                    self._data_version = dv
                    first = False
                # one read transaction: the newest seq and the rows up to it agree
                conn.execute("BEGIN")
                try:
                    newest = conn.execute(_MAX_SEQ).fetchone()[0]
                    rows = conn.execute(FOLLOW_SQL, (self.cursor, newest, self.origin, BATCH)).fetchall()
                finally:
                    conn.execute("COMMIT")
                full = len(rows) == BATCH
                writes = writes_of(carry + rows)
                # the last write may go on past a full read: handed over whole, with the next read's
                carry = list(writes.pop()) if full else []
                self.cursor = rows[-1][0] if full else max(self.cursor, newest)
            for write in writes:
                events = WriteEvents(rows_to_events(write), write[0][7])  # its trace id: remote triggers run under it
                if events:
                    delivered += len(events)
                    self._on_events(events)
            if not full:
                return delivered



class Following:
    """Mixin of :class:`~.backend.SQLiteBackend`: remote listeners fed by a :class:`Follower`.

    The follower runs exactly while the backend has remote listeners, history is on
    (``publishes_remote``) and the store is a file (``:memory:`` has no other process).
    """

    if TYPE_CHECKING:  # provided by the backend
        memory: bool
        path: str
        url: str
        _retention: Retention
        _remote_listeners: list[Any]

        @property
        def origin(self) -> int | None: ...

        def open(self) -> None: ...

        def _notify_remote(self, events: Sequence[StateEvent]) -> None: ...

        def _file_problem(self) -> str | None: ...

    _follower: Follower | None = None
    _follow_lock = threading.Lock()  # starting and stopping followers (rare: one lock for all)

    @property
    def publishes_remote(self) -> bool:  # type: ignore[override]
        """True for a file with history on: other processes' commits are read from the changelog."""
        return not self.memory and self._retention.enabled

    def add_remote_listener(self, fn: Any) -> None:
        super().add_remote_listener(fn)  # type: ignore[misc]
        try:
            self._follow()
        except BaseException:  # nothing kept: the listener goes with the follower that could not start
            super().remove_remote_listener(fn)  # type: ignore[misc]
            raise

    def remove_remote_listener(self, fn: Any) -> None:
        super().remove_remote_listener(fn)  # type: ignore[misc]
        if not self._remote_listeners:
            self._stop_following()

    def _follow(self) -> None:
        with self._follow_lock:
            if self._follower is not None or not self._remote_listeners or not self.publishes_remote:
                return
            self.open()  # the origin to skip is this backend's
            origin = self.origin
            assert origin is not None
            try:
                self._follower = Follower(self.path, origin, self._notify_remote).start()
            except sqlite3.Error as exc:
                raise self._follow_failed(exc) from exc

    def _follow_failed(self, exc: sqlite3.Error) -> StateError:
        what = self._file_problem()
        if what is None:
            return StateError(f"following the changes other processes commit to {self.url} failed: {exc}")
        return StateError(
            f"the state database file {self.url} {what} while it was open, so the changes other processes "
            f"commit cannot be followed. Reopen it to use what is there now: %state use {self.url} "
            f"(or close() the manager and use it again)"
        )

    def _stop_following(self) -> None:
        with self._follow_lock:
            follower, self._follower = self._follower, None
        if follower is not None:
            follower.stop()
