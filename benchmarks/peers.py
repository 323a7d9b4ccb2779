"""The stores people use instead of motia_nb, each driven the way its API allows.

- **aiosqlite**: one connection in autocommit mode; gathered = ``asyncio.gather`` of
  ``execute`` calls (commit per op, one thread hop per call).
- **diskcache** and **sqlitedict**: no async API, so "gathered" and increments use a
  pool of 8 threads, each taking 1/8 of the work; increments are a naive
  ``get -> modify -> set`` of a JSON document and lost updates are counted, not hidden.
- **%store**: IPython's ``StoreMagics`` on the shared test shell
  (:func:`motia_nb.testing.get_shell`), its pickleshare db in a temp dir; a line
  magic, so sequential only.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from motia_nb.testing import get_shell

from .core import COUNTER, GROUP, Round, Sample, Timer, Workdir, expect, key_of, shuffled_keys, value_of
from .raw import SELECT_ALL, SELECT_ONE, UPDATE_ONE, UPSERT, motia_made_db

__all__ = ["AioSQLite", "DiskCache", "SqliteDict", "StoreMagic", "THREADS"]

THREADS = 8


class AioSQLite:
    """aiosqlite on the file motia_nb creates, autocommit: one thread hop per call."""

    name = "aiosqlite"
    how = "one connection, autocommit (commit per op), asyncio.gather; increments under an asyncio.Lock"

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

    @contextlib.contextmanager
    def _db(self) -> Iterator[tuple[Any, Callable[[Any], Any]]]:
        import aiosqlite

        with self.wd.fresh(self.name) as d:
            path = os.path.join(d, "aio.db")
            motia_made_db(path).close()
            loop = asyncio.new_event_loop()
            db = loop.run_until_complete(aiosqlite.connect(path, isolation_level=None))
            try:
                loop.run_until_complete(db.execute("PRAGMA synchronous = NORMAL"))
                yield db, loop.run_until_complete
            finally:
                loop.run_until_complete(db.close())
                loop.close()

    async def _count(self, db: Any) -> int:
        return (await db.execute_fetchall("SELECT count(*) FROM items"))[0][0]

    def _set_round(self, n: int, gathered: bool) -> Sample:
        with self._db() as (db, run):

            async def go() -> float:
                with Timer() as t:
                    if gathered:
                        await asyncio.gather(
                            *(db.execute(UPSERT, (GROUP, key_of(i), json.dumps(value_of(i)))) for i in range(n))
                        )
                    else:
                        for i in range(n):
                            await db.execute(UPSERT, (GROUP, key_of(i), json.dumps(value_of(i))))
                expect(await self._count(db), n, "rows stored")
                return t.seconds

            return Sample(run(go()))

    @contextlib.contextmanager
    def set_gather(self, n: int) -> Iterator[Round]:
        yield lambda: self._set_round(n, gathered=True)

    @contextlib.contextmanager
    def set_awaited(self, n: int) -> Iterator[Round]:
        yield lambda: self._set_round(n, gathered=False)

    @contextlib.contextmanager
    def get(self, n: int) -> Iterator[Round]:
        with self._db() as (db, run):
            run(db.executemany(UPSERT, [(GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)]))

            async def go() -> float:
                found = 0
                with Timer() as t:
                    for k in shuffled_keys(n):
                        rows = await db.execute_fetchall(SELECT_ONE, (GROUP, k))
                        if rows and json.loads(rows[0][0]) is not None:
                            found += 1
                expect(found, n, "keys read back")
                return t.seconds

            yield lambda: Sample(run(go()))

    @contextlib.contextmanager
    def incr(self, n: int) -> Iterator[Round]:
        def one() -> Sample:
            with self._db() as (db, run):

                async def go() -> Sample:
                    await db.execute(UPSERT, (GROUP, COUNTER, json.dumps({"n": 0})))
                    lock = asyncio.Lock()  # one connection: transactions must not interleave

                    async def incr_once() -> None:
                        async with lock:
                            await db.execute("BEGIN IMMEDIATE")
                            doc = json.loads((await db.execute_fetchall(SELECT_ONE, (GROUP, COUNTER)))[0][0])
                            doc["n"] += 1
                            await db.execute(UPDATE_ONE, (json.dumps(doc), GROUP, COUNTER))
                            await db.execute("COMMIT")

                    with Timer() as t:
                        await asyncio.gather(*(incr_once() for _ in range(n)))
                    final = json.loads((await db.execute_fetchall(SELECT_ONE, (GROUP, COUNTER)))[0][0])
                    return Sample(t.seconds, lost=n - final["n"])

                return run(go())

        yield one

    @contextlib.contextmanager
    def list(self, n: int) -> Iterator[Round]:
        with self._db() as (db, run):
            run(db.executemany(UPSERT, [(GROUP, key_of(i), json.dumps(value_of(i))) for i in range(n)]))

            async def go() -> float:
                with Timer() as t:
                    values = [json.loads(r[0]) for r in await db.execute_fetchall(SELECT_ALL, (GROUP,))]
                expect(len(values), n, "values listed")
                return t.seconds

            yield lambda: Sample(run(go()))


class _Mapping:
    """A store driven through the dict protocol by a pool of 8 threads; subclasses open it."""

    name = ""

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

    def _open(self, d: str) -> Any:
        raise NotImplementedError

    @contextlib.contextmanager
    def _opened(self) -> Iterator[tuple[Any, ThreadPoolExecutor]]:
        with self.wd.fresh(self.name) as d, ThreadPoolExecutor(THREADS) as pool:
            m = self._open(d)
            try:
                list(pool.map(lambda _: None, range(THREADS)))  # threads started before timing
                yield m, pool
            finally:
                m.close()

    @staticmethod
    def _threaded(pool: ThreadPoolExecutor, fn: Callable[[range], None], n: int) -> float:
        step = -(-n // THREADS)
        with Timer() as t:
            for f in [pool.submit(fn, range(lo, min(n, lo + step))) for lo in range(0, n, step)]:
                f.result()
        return t.seconds

    def _populate(self, m: Any, n: int) -> None:
        for i in range(n):
            m[key_of(i)] = value_of(i)

    @contextlib.contextmanager
    def set_gather(self, n: int) -> Iterator[Round]:
        def one() -> Sample:
            with self._opened() as (m, pool):
                secs = self._threaded(pool, lambda r: self._populate_range(m, r), n)
                expect(len(m), n, "items stored")
            return Sample(secs)

        yield one

    @staticmethod
    def _populate_range(m: Any, r: range) -> None:
        for i in r:
            m[key_of(i)] = value_of(i)

    @contextlib.contextmanager
    def set_awaited(self, n: int) -> Iterator[Round]:
        def one() -> Sample:
            with self._opened() as (m, _pool):
                with Timer() as t:
                    self._populate_range(m, range(n))
                expect(len(m), n, "items stored")
            return Sample(t.seconds)

        yield one

    @contextlib.contextmanager
    def get(self, n: int) -> Iterator[Round]:
        keys = shuffled_keys(n)
        with self._opened() as (m, _pool):
            self._populate(m, n)

            def one() -> Sample:
                found = 0
                with Timer() as t:
                    for k in keys:
                        if m[k] is not None:
                            found += 1
                expect(found, n, "keys read back")
                return Sample(t.seconds)

            yield one

    @contextlib.contextmanager
    def incr(self, n: int) -> Iterator[Round]:
        def work(m: Any, r: range) -> None:
            for _ in r:
                doc = dict(m[COUNTER])
                doc["n"] += 1
                m[COUNTER] = doc

        def one() -> Sample:
            with self._opened() as (m, pool):
                m[COUNTER] = {"n": 0}
                secs = self._threaded(pool, lambda r: work(m, r), n)
                return Sample(secs, lost=n - m[COUNTER]["n"])

        yield one

    @contextlib.contextmanager
    def list(self, n: int) -> Iterator[Round]:
        with self._opened() as (m, _pool):
            self._populate(m, n)

            def one() -> Sample:
                with Timer() as t:
                    values = self._values(m)
                expect(len(values), n, "values listed")
                return Sample(t.seconds)

            yield one

    def _values(self, m: Any) -> list[Any]:
        return list(m.values())


class DiskCache(_Mapping):
    """diskcache.Cache (WAL, synchronous=NORMAL, its defaults said explicitly)."""

    name = "diskcache"
    how = "Cache (WAL, synchronous=NORMAL), thread pool of 8; naive get->modify->set increments; Cache.incr"

    def _open(self, d: str) -> Any:
        import diskcache

        return diskcache.Cache(d, sqlite_journal_mode="wal", sqlite_synchronous=1)

    def _populate(self, m: Any, n: int) -> None:
        with m.transact():  # setup, not timed
            super()._populate(m, n)

    def _values(self, m: Any) -> list[Any]:
        return [m[k] for k in m.iterkeys()]

    @contextlib.contextmanager
    def incr_atomic(self, n: int) -> Iterator[Round]:
        def work(m: Any, r: range) -> None:
            for _ in r:
                m.incr(COUNTER)

        def one() -> Sample:
            with self._opened() as (m, pool):
                m.set(COUNTER, 0)
                secs = self._threaded(pool, lambda r: work(m, r), n)
                return Sample(secs, lost=n - m.get(COUNTER))

        yield one


class SqliteDict(_Mapping):
    """sqlitedict with autocommit (each write waits for its commit)."""

    name = "sqlitedict"
    how = "autocommit=True, journal_mode=WAL, synchronous set to NORMAL; thread pool of 8; naive increments"

    def _open(self, d: str) -> Any:
        from sqlitedict import SqliteDict as _SD

        sd = _SD(os.path.join(d, "sd.sqlite"), autocommit=True, journal_mode="WAL")
        sd.conn.execute("PRAGMA synchronous = NORMAL")  # it hard-codes OFF; use motia_nb's setting
        sd.conn.commit()
        return sd

    def _populate(self, m: Any, n: int) -> None:
        m.update((key_of(i), value_of(i)) for i in range(n))


class StoreMagic:
    """IPython's %store: one variable per key, sequential (it is a line magic)."""

    name = "%store"
    how = "IPython StoreMagics on the test shell (pickleshare db in a temp dir), one variable per key, sequential"

    def __init__(self, wd: Workdir) -> None:
        self.wd = wd

    @contextlib.contextmanager
    def _shell(self) -> Iterator[tuple[Any, str, list[str]]]:
        from IPython.external.pickleshare import PickleShareDB

        ip = get_shell()
        if "store" not in ip.magics_manager.magics["line"]:
            ip.run_line_magic("load_ext", "storemagic")
        with self.wd.fresh("store") as d, contextlib.redirect_stdout(io.StringIO()):
            saved = ip.db  # never touch the user's profile db
            ip.db = PickleShareDB(os.path.join(d, "db"))
            added: list[str] = []
            try:
                yield ip, d, added
            finally:
                ip.db = saved
                for name in added:
                    ip.user_ns.pop(name, None)

    @contextlib.contextmanager
    def set_awaited(self, n: int) -> Iterator[Round]:
        def one() -> Sample:
            with self._shell() as (ip, _d, added):
                ns, magic = ip.user_ns, ip.run_line_magic
                added += [key_of(i) for i in range(n)]
                with Timer() as t:
                    for i in range(n):
                        ns[key_of(i)] = value_of(i)
                        magic("store", key_of(i))
                expect(len(ip.db.keys("autorestore/*")), n, "variables stored")
            return Sample(t.seconds)

        yield one

    @contextlib.contextmanager
    def get(self, n: int) -> Iterator[Round]:
        from IPython.external.pickleshare import PickleShareDB

        keys = shuffled_keys(n)
        with self._shell() as (ip, d, added):
            for i in range(n):
                ip.db["autorestore/" + key_of(i)] = value_of(i)  # what %store k would write
            added += keys

            def one() -> Sample:
                ip.db = PickleShareDB(os.path.join(d, "db"))  # reads come from disk, as in a new session
                ns, magic, found = ip.user_ns, ip.run_line_magic, 0
                with Timer() as t:
                    for k in keys:
                        magic("store", "-r " + k)
                        if ns.get(k) is not None:
                            found += 1
                expect(found, n, "variables restored")
                return Sample(t.seconds)

            yield one
