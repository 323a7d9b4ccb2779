"""The SQLite reads: one SQL statement each, on the read connection, no thread hop.

WAL readers never block the writer, so reads run directly on the calling thread
(``direct_reads = True``) under a small lock. A page of values is decoded text by text
by the C scanner (:func:`~motia_nb.state.jsontext.decode_all`); ``frame()``'s rows come with
SQLite's ``json_valid`` of each text (C, in the same statement), and are decoded with one parse
of the texts joined when every text is valid
(:func:`~motia_nb.state.jsontext.decode_checked`: a quarter less peak memory at a million
items, equal object keys being one shared string again; for items and values the check costs
what the one parse saves, so they stay text by text).
"""

from __future__ import annotations

import json
import sqlite3
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ...jsontext import decode_all, decode_one
from ...stored_text import UNDECODABLE_MESSAGE, text_keys, text_or_undecodable
from ..base import Order

__all__ = ["SQLiteReads", "READ_PLANS", "CheckedRows", "JSON_VALID", "fetch_bounded", "fetch_lenient", "undecodable", "release_cursor", "PREFIX_SQL", "PREFIX_ALL_SQL", "keyset_sql", "prefix_upper_bound"]

_loads = json.loads


def _json_valid_sql() -> str:
    """``json_valid(value)``, or ``0`` (every page decoded text by text) for an SQLite built
    without its JSON functions (a query naming json_valid would fail there)."""
    try:
        with sqlite3.connect(":memory:") as probe:
            probe.execute("SELECT json_valid('1')").fetchone()
    except sqlite3.Error:
        return "0"
    return "json_valid(value)"


#: the column SQLite adds beside a page's values: 1 when the text is one JSON value (checked in
#: C per row; :func:`~motia_nb.state.jsontext.decode_checked` says why that makes one parse sound)
JSON_VALID = _json_valid_sql()

_ORDER_SQL = {Order.INSERTION: "id", Order.NEG_INSERTION: "id DESC", Order.KEY: "key", Order.NEG_KEY: "key DESC"}
_GET = "SELECT value FROM items WHERE grp = ? AND key = ?"
_EXISTS = "SELECT 1 FROM items WHERE grp = ? AND key = ?"
_SIZE = "SELECT length(value) FROM items WHERE grp = ? AND key = ?"
_ROWS = "SELECT key, value FROM items WHERE grp = ? ORDER BY id"
_ROWS_CHECKED = f"SELECT key, value, {JSON_VALID} FROM items WHERE grp = ? ORDER BY id"
_KEYS = "SELECT key FROM items WHERE grp = ? ORDER BY id"
_VALUES = "SELECT value FROM items WHERE grp = ? ORDER BY id"
_COUNT = "SELECT count(*) FROM items WHERE grp = ?"
_GROUP_COUNTS = "SELECT grp, count(*) FROM items GROUP BY grp ORDER BY grp"
#: keys starting with a prefix: a range on the (grp, key) index of UNIQUE (grp, key), which
#: holds the keys in BINARY order (UTF-8 bytes = code points), read only as far as LIMIT
PREFIX_SQL = "SELECT key FROM items WHERE grp = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?"
#: the same with no upper bound (an empty prefix, or one that ends in the last code point)
PREFIX_ALL_SQL = "SELECT key FROM items WHERE grp = ? AND key >= ? ORDER BY key LIMIT ?"
_ID_OF = "(SELECT id FROM items WHERE grp = ? AND key = ?)"
#: keyset pages: (column compared, ORDER BY) per order; the cursor is a key (its id in insertion order)
_KEYSET = {Order.INSERTION: ("id", ">", "id"), Order.NEG_INSERTION: ("id", "<", "id DESC"),
           Order.KEY: ("key", ">", "key"), Order.NEG_KEY: ("key", "<", "key DESC")}


def keyset_sql(order: Order, inclusive: bool) -> str:
    """The keyset page query of ``order``: params (group, [group,] cursor key, limit)."""
    column, op, order_by = _KEYSET[order]
    bound = _ID_OF if column == "id" else "?"
    return (f"SELECT key, value FROM items WHERE grp = ? AND {column} {op}{'=' if inclusive else ''} {bound} "
            f"ORDER BY {order_by} LIMIT ?")


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix`` (None: no bound).

    The last character that can be incremented is (surrogates, which UTF-8 cannot hold,
    are skipped); trailing U+10FFFF characters are dropped first.
    """
    p = prefix.rstrip("\U0010ffff")
    if not p:
        return None
    nxt = ord(p[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:
        nxt = 0xE000
    return p[:-1] + chr(nxt)


#: VM instructions between two looks at a bounded read's count
_STEP_GRAIN = 10_000


def fetch_lenient(conn: "sqlite3.Connection", sql: str, params: Sequence[Any]) -> list[Any]:
    """``conn.execute(sql, params).fetchall()``, a value whose text is not UTF-8 (another tool's:
    Python's sqlite3 fails the whole fetch there) fetched as :class:`Undecodable` bytes, which
    a read then refuses naming its item. Only after such a failure: the factory costs a call
    per text."""
    factory = conn.text_factory
    conn.text_factory = text_or_undecodable
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.text_factory = factory


def undecodable(exc: BaseException) -> bool:
    """Whether ``exc`` is Python's sqlite3 failing a fetch over text that is not UTF-8."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(UNDECODABLE_MESSAGE)


def release_cursor(exc: BaseException) -> None:
    """Let go of the cursor whose fetch raised ``exc`` on aiosqlite's thread (a local of a frame
    its traceback holds): left alive, its statement stays in progress and keeps the connection
    on its snapshot, so its next ``BEGIN IMMEDIATE`` fails as locked once another connection
    wrote (SQLITE_BUSY_SNAPSHOT)."""
    traceback.clear_frames(exc.__traceback__)


def fetch_bounded(conn: "sqlite3.Connection", sql: str, params: Sequence[Any], steps: int | None) -> Any:
    """``conn.execute(sql, params).fetchall()``; with ``steps``, None once the statement ran
    about that many VM instructions (a progress handler interrupts it). Text that is not
    UTF-8: :func:`fetch_lenient`."""
    if steps is None:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if undecodable(exc):
                return fetch_lenient(conn, sql, params)
            raise
    left = [steps // _STEP_GRAIN]

    def progress() -> bool:
        left[0] -= 1
        return left[0] < 0

    conn.set_progress_handler(progress, _STEP_GRAIN)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if left[0] < 0:  # "interrupted": ours
            return None
        if undecodable(exc):
            return fetch_lenient(conn, sql, params)
        raise
    finally:
        conn.set_progress_handler(None, 0)


def _page(rows: list[Any], group_id: str) -> list[tuple[str, Any]]:
    keys = text_keys([r[0] for r in rows], group_id)
    return list(zip(keys, decode_all([r[1] for r in rows], group_id, keys)))  # each text on its own


class CheckedRows(list):  # type: ignore[type-arg]
    """``frame_rows``: (key, JSON text, json_valid) rows in insertion order, and ``all_valid``:
    SQLite's ``json_valid`` said 1 for every text (``to_frame`` then decodes them with one parse)."""

    all_valid: bool = False


def _keyed(rows: list[Any], group_id: str) -> list[Any]:
    """(key, ...) rows as fetched, once every key is a str (:func:`.stored_text.text_keys`)."""
    text_keys([r[0] for r in rows], group_id)
    return rows


def _checked_rows(rows: list[Any], group_id: str) -> CheckedRows:
    out = CheckedRows(_keyed(rows, group_id))  # the rows as fetched: no pair made per row
    flags = [r[2] for r in rows]
    out.all_valid = flags.count(1) == len(flags)  # 0 (or NULL) for any text: text by text
    return out


def _items_plan(group_id: str, offset: int = 0, limit: int | None = None, *, order: Order | str = Order.INSERTION) -> Plan:
    sql = f"SELECT key, value FROM items WHERE grp = ? ORDER BY {_ORDER_SQL[Order(order)]} LIMIT ? OFFSET ?"
    return sql, (group_id, -1 if limit is None else limit, offset), lambda rows: _page(rows, group_id)


#: The reads that may be long (whole groups, counts): name -> arguments -> (sql, params, rows -> result).
#: Run on the caller's thread (the blocking methods) or awaited on aiosqlite (``read_async``).
Plan = tuple[str, tuple[Any, ...], Callable[[list[Any]], Any]]
READ_PLANS: dict[str, Callable[..., Plan]] = {
    "items": _items_plan,
    "values": lambda group_id: (_VALUES, (group_id,), lambda rows: decode_all([r[0] for r in rows], group_id)),
    "keys": lambda group_id: (_KEYS, (group_id,), lambda rows: text_keys([r[0] for r in rows], group_id)),
    "rows_json": lambda group_id: (_ROWS, (group_id,), lambda rows: _keyed(rows, group_id)),
    "frame_rows": lambda group_id: (_ROWS_CHECKED, (group_id,), lambda rows: _checked_rows(rows, group_id)),
    "values_json": lambda group_id: (_VALUES, (group_id,), lambda rows: [r[0] for r in rows]),
    "count": lambda group_id: (_COUNT, (group_id,), lambda rows: rows[0][0]),
    "group_counts": lambda: (_GROUP_COUNTS, (), dict),
}


class SQLiteReads:
    """The read methods of :class:`~motia_nb.state.backends.sqlite.SQLiteBackend`.

    The backend provides :meth:`_query`: one statement on the read connection,
    after this thread's buffered writes were flushed (reads see them).
    """

    def _query(self, sql: str, params: Sequence[Any], steps: int | None = None) -> list[Any]:
        raise NotImplementedError

    def _run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        sql, params, post = READ_PLANS[name](*args, **kwargs)
        return post(self._query(sql, params))

    def get(self, group_id: str, key: str) -> Any:
        rows = self._query(_GET, (group_id, key))
        if not rows:
            return None
        return decode_one(rows[0][0], group_id, key)  # strictly: another tool's text is named

    def exists(self, group_id: str, key: str) -> bool:
        return bool(self._query(_EXISTS, (group_id, key)))

    def value_size(self, group_id: str, key: str) -> int | None:
        rows = self._query(_SIZE, (group_id, key))
        return int(rows[0][0] or 0) if rows else None

    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: Order | str = Order.INSERTION
    ) -> list[tuple[str, Any]]:
        return self._run("items", group_id, offset, limit, order=order)

    def values(self, group_id: str) -> list[Any]:
        return self._run("values", group_id)

    def _items_after(
        self, group_id: str, after: str, limit: int, order: Order, inclusive: bool
    ) -> list[tuple[str, Any]]:
        """A keyset page: an index range read of at most ``limit`` rows, wherever the page is."""
        cursor = (group_id, after) if not order.by_key else (after,)
        return _page(self._query(keyset_sql(order, inclusive), (group_id, *cursor, limit)), group_id)

    def rank(self, group_id: str, key: str, *, order: Order | str = Order.INSERTION) -> int | None:
        """How many items come before ``key`` in ``order``: a count over the covering index."""
        order = Order(order)
        found = self._query("SELECT id FROM items WHERE grp = ? AND key = ?", (group_id, key))
        if not found:
            return None
        column, op, _ = _KEYSET[order]
        before = "<" if op == ">" else ">"
        cursor = found[0][0] if column == "id" else key
        return self._query(f"SELECT count(*) FROM items WHERE grp = ? AND {column} {before} ?", (group_id, cursor))[0][0]

    def keys(self, group_id: str) -> list[str]:
        return self._run("keys", group_id)

    def keys_with_prefix(self, group_id: str, prefix: str, limit: int) -> list[str]:
        """Keys starting with ``prefix`` in key order: one index range read, at most ``limit`` rows."""
        if limit <= 0:
            return []
        upper = prefix_upper_bound(prefix)
        if upper is None:
            rows = self._query(PREFIX_ALL_SQL, (group_id, prefix, limit))
        else:
            rows = self._query(PREFIX_SQL, (group_id, prefix, upper, limit))
        return text_keys([r[0] for r in rows], group_id)

    def values_json(self, group_id: str) -> list[str]:
        return self._run("values_json", group_id)

    def rows_json(self, group_id: str) -> list[tuple[str, str]]:
        """(key, JSON text) pairs in insertion order, undecoded."""
        return self._run("rows_json", group_id)

    def frame_rows(self, group_id: str) -> CheckedRows:
        """:meth:`rows_json` for ``frame()``, each row with SQLite's ``json_valid`` of its text
        (key, text, 0 or 1), and ``all_valid``."""
        return self._run("frame_rows", group_id)

    def count(self, group_id: str) -> int:
        return self._run("count", group_id)

    def group_counts(self) -> dict[str, int]:
        return self._run("group_counts")

