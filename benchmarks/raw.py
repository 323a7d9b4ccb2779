"""The baselines: what a careful programmer writes by hand with stdlib sqlite3 or redis-py.

Raw sqlite3 runs on the very file motia_nb creates (motia_nb opens it first, so
the schema and file settings are motia_nb's: WAL, synchronous=NORMAL). Raw
redis-py writes a hash ``state:<group>``, the layout motia_nb uses, on the same
server as motia_nb's Redis backend.

``RawSQLite(wd, changelog=True)`` ("raw sqlite3 + changelog") is the baseline of
motia_nb as shipped, history on: in the same transaction as each upsert it also
inserts the change's row into ``changes`` with motia_nb's own statement
(:data:`motia_nb.state.backends.sqlite.changelog.INSERT`, imported, so the
two sides write the same columns whatever the changelog's schema becomes); its
gathered sets write ONE record of their changes, as motia_nb does (schema 5,
:data:`~motia_nb.state.backends.sqlite.changelog.RECORD`).
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from motia_nb import StateManager
from motia_nb.state.backends.sqlite.changelog import INSERT as CHANGE_INSERT
from motia_nb.state.backends.sqlite.changelog import RECORD as CHANGE_RECORD
from motia_nb.state.events import CREATED, UPDATED

from .core import COUNTER, GROUP, Round, Sample, Timer, Workdir, expect, key_of, shuffled_keys, value_of

__all__ = ["RawSQLite", "RawRedis", "motia_made_db"]

UPSERT = (
    "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value"
)
SELECT_ONE = "SELECT value FROM items WHERE grp = ? AND key = ?"
SELECT_ALL = "SELECT value FROM items WHERE grp = ? ORDER BY id"
UPDATE_ONE = "UPDATE items SET value = ? WHERE grp = ? AND key = ?"

compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

#: what the raw baseline knows how to fill in a changelog row, in this order
_CHANGE_FIELDS = ("at_us", "event_type", "grp", "key", "old_value", "new_value", "trace_id", "cause", "pid", "origin")


def change_row_maker() -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """``row(values)``: :data:`CHANGE_INSERT`'s parameters from a tuple in :data:`_CHANGE_FIELDS` order
    (the identity when the statement names them in that order, as it does today)."""
    m = re.match(r"\s*INSERT INTO changes\s*\(([^)]*)\)\s*VALUES\s*\(", CHANGE_INSERT, re.I)
    if m is None:
        raise RuntimeError(f"benchmarks/raw.py cannot read motia_nb's changelog INSERT: {CHANGE_INSERT!r}")
    columns = tuple(c.strip() for c in m.group(1).split(","))
    unknown = [c for c in columns if c not in _CHANGE_FIELDS]
    if unknown:
        raise RuntimeError(f"motia_nb's changelog has new column(s) {unknown}: teach benchmarks/raw.py their values")
    if columns == _CHANGE_FIELDS:
        return lambda values: values
    pick = operator.itemgetter(*(_CHANGE_FIELDS.index(c) for c in columns))
    return lambda values: tuple(pick(values)) if len(columns) > 1 else (pick(values),)


def motia_made_db(path: str) -> sqlite3.Connection:
    """A stdlib connection (autocommit; explicit BEGIN) on a database file motia_nb created."""
    sm = StateManager(path)
    try:
        sm.sync.count(GROUP)  # opens the file: schema, WAL
    finally:
        sm.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class RawSQLite:
    """stdlib sqlite3, one connection, one thread; with ``changelog``, each change's history row too."""

    name = "raw sqlite3"
    how = (
        "stdlib sqlite3, one connection on the file motia_nb creates (WAL, synchronous=NORMAL); "
        "gathered sets = json.dumps + executemany upsert in ONE transaction; awaited sets and increments = "
        "commit per op (BEGIN IMMEDIATE, read the old value, write, COMMIT); get = SELECT by key + json.loads; "
        "list = SELECT value ORDER BY id + json.loads each"
    )

    def __init__(self, wd: Workdir, *, changelog: bool = False) -> None:
        self.wd = wd
        self.changelog = changelog
        if changelog:
            self.name = "raw sqlite3 + changelog"
            self.only = ("set_gather", "set_awaited", "set_overwrite")
            self.how = (
                "raw sqlite3 as above, and in the same transaction each change's row in the changelog with "
                "motia_nb's own INSERT (time, event type, group, key, old and new JSON text, cause, pid, origin): "
                "gathered sets = one executemany of those rows after the upsert's; awaited sets = one INSERT "
                "before each COMMIT"
            )

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        with self.wd.fresh(self.name) as d:
            conn = motia_made_db(os.path.join(d, "raw.db"))
            try:
                yield conn
            finally:
                conn.close()

    @staticmethod
    def _check_stored(conn: sqlite3.Connection, n: int) -> None:
        expect(conn.execute("SELECT count(*) FROM items WHERE grp = ?", (GROUP,)).fetchone()[0], n, "rows stored")

    @staticmethod
    def _populate(conn: sqlite3.Connection, n: int) -> None:
        conn.execute("BEGIN")
        conn.executemany(UPSERT, ((GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)))
        conn.execute("COMMIT")

    def _check_changes(self, conn: sqlite3.Connection, n: int) -> None:
        if self.changelog:
            expect(conn.execute("SELECT sum(coalesce(n, 1)) FROM changes WHERE grp = ?", (GROUP,)).fetchone()[0], n, "changes recorded")

    @contextlib.contextmanager
    def set_gather(self, n: int) -> Iterator[Round]:
        row, pid, origin = change_row_maker(), os.getpid(), uuid.uuid4().int >> 65

        def one() -> Sample:
            with self._conn() as conn:
                dumps = json.dumps
                with Timer() as t:
                    conn.execute("BEGIN")
                    if self.changelog:
                        rows = [(GROUP, key_of(i), dumps(value_of(i))) for i in range(n)]
                        conn.executemany(UPSERT, rows)
                        at = int(time.time() * 1_000_000)
                        if n >= 2:  # distinct items of one group, one cause: ONE record, as motia_nb writes it
                            texts = [v for _, _, v in rows]
                            layout = compact([[k for _, k, _ in rows], [-1] * n, [len(v) for v in texts]])
                            conn.execute(CHANGE_RECORD, (n, at, GROUP, layout, "", "".join(texts), None, "cell", pid, origin))
                        else:
                            conn.executemany(CHANGE_INSERT, [row((at, CREATED, g, k, None, v, None, "cell", pid, origin))
                                                             for g, k, v in rows])  # fmt: skip
                    else:
                        conn.executemany(UPSERT, ((GROUP, key_of(i), dumps(value_of(i))) for i in range(n)))
                    conn.execute("COMMIT")
                self._check_stored(conn, n)
                self._check_changes(conn, n)
            return Sample(t.seconds)

        yield one

    @contextlib.contextmanager
    def set_awaited(self, n: int) -> Iterator[Round]:
        yield lambda: self._awaited_round(n, overwrite=False)

    @contextlib.contextmanager
    def set_overwrite(self, n: int) -> Iterator[Round]:
        yield lambda: self._awaited_round(n, overwrite=True)

    def _awaited_round(self, n: int, *, overwrite: bool) -> Sample:
        """One round of ``n`` sets committed one by one (of existing keys holding other values,
        written first and not timed, with ``overwrite``)."""
        row, pid, origin, now = change_row_maker(), os.getpid(), uuid.uuid4().int >> 65, time.time
        with self._conn() as conn:
            if overwrite:
                conn.execute("BEGIN")
                conn.executemany(UPSERT, ((GROUP, key_of(i), json.dumps(value_of(n + i))) for i in range(n)))
                conn.execute("COMMIT")
            ex, dumps, loads, changelog = conn.execute, json.dumps, json.loads, self.changelog
            with Timer() as t:
                for i in range(n):
                    k = key_of(i)
                    ex("BEGIN IMMEDIATE")
                    found = ex(SELECT_ONE, (GROUP, k)).fetchone()
                    _old = loads(found[0]) if found is not None else None
                    text = dumps(value_of(i))
                    ex(UPSERT, (GROUP, k, text))
                    if changelog:
                        old = None if found is None else found[0]
                        ex(CHANGE_INSERT, row((int(now() * 1_000_000), CREATED if old is None else UPDATED, GROUP, k, old, text,
                                               None, "cell", pid, origin)))  # fmt: skip
                    ex("COMMIT")
            self._check_stored(conn, n)
            self._check_changes(conn, n)
        return Sample(t.seconds)

    @contextlib.contextmanager
    def get(self, n: int) -> Iterator[Round]:
        keys = shuffled_keys(n)
        with self._conn() as conn:
            self._populate(conn, n)

            def one() -> Sample:
                ex, loads, found = conn.execute, json.loads, 0
                with Timer() as t:
                    for k in keys:
                        row = ex(SELECT_ONE, (GROUP, k)).fetchone()
                        if row is not None and loads(row[0]) is not None:
                            found += 1
                expect(found, n, "keys read back")
                return Sample(t.seconds)

            yield one

    @contextlib.contextmanager
    def incr(self, n: int) -> Iterator[Round]:
        def one() -> Sample:
            with self._conn() as conn:
                ex, dumps, loads = conn.execute, json.dumps, json.loads
                ex(UPSERT, (GROUP, COUNTER, dumps({"n": 0})))
                with Timer() as t:
                    for _ in range(n):
                        ex("BEGIN IMMEDIATE")
                        doc = loads(ex(SELECT_ONE, (GROUP, COUNTER)).fetchone()[0])
                        doc["n"] += 1
                        ex(UPDATE_ONE, (dumps(doc), GROUP, COUNTER))
                        ex("COMMIT")
                final = loads(ex(SELECT_ONE, (GROUP, COUNTER)).fetchone()[0])
            return Sample(t.seconds, lost=n - final["n"])

        yield one

    @contextlib.contextmanager
    def list(self, n: int) -> Iterator[Round]:
        with self._conn() as conn:
            self._populate(conn, n)

            def one() -> Sample:
                loads = json.loads
                with Timer() as t:
                    values = [loads(v) for (v,) in conn.execute(SELECT_ALL, (GROUP,))]
                expect(len(values), n, "values listed")
                expect(values[-1], value_of(n - 1), "last value listed")
                return Sample(t.seconds)

            yield one


class RawRedis:
    """redis-py's synchronous client on the same server as motia_nb's Redis backend."""

    name = "redis-py"
    how = (
        "redis-py's synchronous client on the same server, hash state:<group> (motia_nb's layout); "
        "gathered sets = ONE pipelined batch of HSET (transaction=False); awaited and sync sets = one HSET "
        "round trip each; get = HGET + json.loads; list = HVALS + json.loads each"
    )
    KEY = f"state:{GROUP}-raw"

    def __init__(self, url: str) -> None:
        self.url = url

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        import redis

        r = redis.Redis.from_url(self.url)
        try:
            r.delete(self.KEY)
            yield r
        finally:
            r.delete(self.KEY)
            r.close()

    def _populate(self, r: Any, n: int) -> None:
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.hset(self.KEY, key_of(i), json.dumps(value_of(i)))
        pipe.execute()

    @contextlib.contextmanager
    def set_gather(self, n: int) -> Iterator[Round]:
        with self._client() as r:

            def one() -> Sample:
                r.delete(self.KEY)
                r.ping()
                dumps = json.dumps
                with Timer() as t:
                    pipe = r.pipeline(transaction=False)
                    for i in range(n):
                        pipe.hset(self.KEY, key_of(i), dumps(value_of(i)))
                    pipe.execute()
                expect(r.hlen(self.KEY), n, "fields stored")
                return Sample(t.seconds)

            yield one

    @contextlib.contextmanager
    def set_sync(self, n: int) -> Iterator[Round]:
        with self._client() as r:

            def one() -> Sample:
                r.delete(self.KEY)
                hset, dumps = r.hset, json.dumps
                with Timer() as t:
                    for i in range(n):
                        hset(self.KEY, key_of(i), dumps(value_of(i)))
                expect(r.hlen(self.KEY), n, "fields stored")
                return Sample(t.seconds)

            yield one

    #: a blocking round trip per set is also the plain "awaited" way with a sync client
    set_awaited = set_sync

    @contextlib.contextmanager
    def get(self, n: int) -> Iterator[Round]:
        keys = shuffled_keys(n)
        with self._client() as r:
            self._populate(r, n)

            def one() -> Sample:
                hget, loads, found = r.hget, json.loads, 0
                with Timer() as t:
                    for k in keys:
                        raw = hget(self.KEY, k)
                        if raw is not None and loads(raw) is not None:
                            found += 1
                expect(found, n, "keys read back")
                return Sample(t.seconds)

            yield one

    @contextlib.contextmanager
    def list(self, n: int) -> Iterator[Round]:
        with self._client() as r:
            self._populate(r, n)

            def one() -> Sample:
                loads = json.loads
                with Timer() as t:
                    values = [loads(v) for v in r.hvals(self.KEY)]
                expect(len(values), n, "values listed")
                return Sample(t.seconds)

            yield one
