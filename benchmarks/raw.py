"""The baselines: what a careful programmer writes by hand with stdlib sqlite3 or redis-py.

Raw sqlite3 runs on the very file motia_nb creates (motia_nb opens it first, so
the schema and file settings are motia_nb's: WAL, synchronous=NORMAL). Raw
redis-py writes a hash ``state:<group>``, the layout motia_nb uses, on the same
server as motia_nb's Redis backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from typing import Any

from motia_nb import StateManager

from .core import COUNTER, GROUP, Round, Sample, Timer, Workdir, expect, key_of, shuffled_keys, value_of

__all__ = ["RawSQLite", "RawRedis", "motia_made_db"]

UPSERT = (
    "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value"
)
SELECT_ONE = "SELECT value FROM items WHERE grp = ? AND key = ?"
SELECT_ALL = "SELECT value FROM items WHERE grp = ? ORDER BY id"
UPDATE_ONE = "UPDATE items SET value = ? WHERE grp = ? AND key = ?"


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
    """stdlib sqlite3, one connection, one thread."""

    name = "raw sqlite3"
    how = (
        "stdlib sqlite3, one connection on the file motia_nb creates (WAL, synchronous=NORMAL); "
        "gathered sets = json.dumps + executemany upsert in ONE transaction; awaited sets and increments = "
        "commit per op (BEGIN IMMEDIATE, read the old value, write, COMMIT); get = SELECT by key + json.loads; "
        "list = SELECT value ORDER BY id + json.loads each"
    )

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

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

    @contextlib.contextmanager
    def set_gather(self, n: int) -> Iterator[Round]:
        def one() -> Sample:
            with self._conn() as conn:
                dumps = json.dumps
                with Timer() as t:
                    conn.execute("BEGIN")
                    conn.executemany(UPSERT, ((GROUP, key_of(i), dumps(value_of(i))) for i in range(n)))
                    conn.execute("COMMIT")
                self._check_stored(conn, n)
            return Sample(t.seconds)

        yield one

    @contextlib.contextmanager
    def set_awaited(self, n: int) -> Iterator[Round]:
        def one() -> Sample:
            with self._conn() as conn:
                ex, dumps, loads = conn.execute, json.dumps, json.loads
                with Timer() as t:
                    for i in range(n):
                        k = key_of(i)
                        ex("BEGIN IMMEDIATE")
                        row = ex(SELECT_ONE, (GROUP, k)).fetchone()
                        _old = loads(row[0]) if row is not None else None
                        ex(UPSERT, (GROUP, k, dumps(value_of(i))))
                        ex("COMMIT")
                self._check_stored(conn, n)
            return Sample(t.seconds)

        yield one

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
