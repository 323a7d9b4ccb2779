"""One script call on one connection, packed here: the direct path's round trip, lean.

A blocking write (:mod:`.direct`) is one ``EVALSHA`` of ~19 arguments. Through redis-py's
client each such call packs every argument with its generic encoder, borrows and returns
a pool connection and wraps the round trip in its retry and telemetry layers: together
more than the write's own work in Python. :class:`ScriptWire` keeps one connection of the
client's pool for the direct path (which commits one write at a time, under
``CommitGate``), packs the call's RESP bytes in one pass and reads the reply on that
connection. What the reply means does not change: redis-py reads and raises it.

A server that forgot the script (``NOSCRIPT``, answered before anything ran) goes back to
redis-py's own call, which loads it again. A connection lost once a call was sent is never
sent again: the server may have run it (its reply was what got lost), and a second run would
apply the write twice (an increment, a second history entry); the error says it may or may
not have been applied (``layout.io_error``). A connection the server closed before the call is
seen closed first and replaced, so a restarted server costs no error. A call interrupted mid
round trip (Ctrl-C) drops the connection, so no late reply is read as the next one's.
After ``fork()`` the parent's connection is left alone and a new one is taken.
"""

from __future__ import annotations

import os
import select
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from .layout import not_sent

__all__ = ["ScriptWire", "AsyncScriptWire", "pack"]


def pack(args: Sequence[Any], encoding: str = "utf-8", errors: str = "strict", fallback: Any = None) -> bytes:
    """The RESP array of ``args`` as redis-py would send it (``str`` in ``encoding``, ``int``
    and ``float`` as their ``repr``, bytes as they are; anything else through ``fallback``,
    a redis-py encoder's ``encode``, which refuses it as redis-py does)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        t = type(a)
        if t is str:
            b = a.encode(encoding, errors)
        elif t is bytes:
            b = a
        elif t is int or t is float:
            b = repr(a).encode()
        elif fallback is not None:
            b = bytes(fallback(a))
        else:  # pragma: no cover - every caller passes the connection's encoder
            raise TypeError(f"cannot send {type(a).__name__} to Redis")
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class ScriptWire:
    """Script calls on one kept connection of ``client``'s pool (one caller at a time)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._conn: Any = None
        self._pid = 0

    def call(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """``script(keys=keys, args=args)``, sent and read on the kept connection."""
        try:  # connected first (redis-py retries it, the pool's get_connection too): a failure here sent nothing
            conn = self._connection()
            if not conn.is_connected:
                conn.connect()
            elif self._closed_by_server(conn):  # (a server that went away: nothing is sent to it)
                self._drop()
                conn = self._connection()
                conn.connect()
        except redis.RedisError as exc:
            self._drop()
            raise not_sent(exc)
        enc = conn.encoder
        packed = pack(("EVALSHA", script.sha, len(keys), *keys, *args), enc.encoding, enc.encoding_errors, enc.encode)
        try:
            conn.send_packed_command([packed])
            return conn.read_response()
        except NoScriptError:  # the reply was read: the connection is fine; load it and call again
            return script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError):
            self._drop()  # sent: it may have run, so it is not sent again (the next call reconnects)
            raise
        except redis.RedisError:  # an error reply, read whole: the connection is fine
            raise
        except BaseException:  # interrupted mid round trip: a reply may still be on its way
            self._drop()
            raise

    def _connection(self) -> Any:
        conn = self._conn
        if conn is None or self._pid != os.getpid():  # first use, or a forked child: a fresh one
            conn = self._conn = self._client.connection_pool.get_connection()
            self._pid = os.getpid()
        return conn

    def _closed_by_server(self, conn: Any) -> bool:
        """Whether the kept connection has something to read though no reply is due: the server
        closed it (it was stopped, or dropped the client). A call sent there would fail after it
        was sent, and could only say it may have been applied, since a call lost after it was sent
        is never sent again. (One ``poll`` per call, well under a microsecond, also in a burst.)"""
        sock = getattr(conn, "_sock", None)
        if sock is None:
            return False
        try:
            p = select.poll()
            p.register(sock, select.POLLIN)
            return bool(p.poll(0))
        except (OSError, ValueError):  # (a socket closed meanwhile)
            return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
            self._client.connection_pool.release(conn)


def _at_eof(conn: Any) -> bool:
    """Whether the server closed an asyncio connection (its stream reader saw the end; the
    loop reads a socket as data arrives, so no system call)."""
    reader = getattr(conn, "_reader", None)
    return reader is not None and reader.at_eof()


class AsyncScriptWire:
    """The writer task's script calls on one kept connection of an asyncio client's pool.

    :meth:`stream` packs each call (:func:`pack`) and sends it as soon as it is packed, then
    yields the replies as they arrive, so the server runs the first calls while the next are
    packed and the client reads a reply while the server runs the calls after it (a pipeline
    whose two ends overlap). An error reply is yielded as its exception. A connection lost
    once the calls were sent raises: those not answered yet may have run, so they are never
    sent again (the next stream reconnects); an interrupted read drops the connection, so no
    late reply is read as another call's.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._conn: Any = None
        self._pid = 0

    async def stream(self, calls: Sequence[tuple[str, Sequence[Any], Sequence[Any]]]) -> AsyncIterator[tuple[int, Any]]:
        """``(index, reply)`` of each ``(sha, keys, args)`` EVALSHA call, in order."""
        try:  # connected first (redis-py retries it, the pool's get_connection too): a failure here sent nothing
            conn = await self._connection()
            if not conn.is_connected:
                await conn.connect()
            elif _at_eof(conn):  # the server closed it (stopped, or dropped the client): nothing is sent there
                await self._drop()
                conn = await self._connection()
                await conn.connect()
        except redis.RedisError as exc:
            await self._drop()
            raise not_sent(exc)
        enc = conn.encoder
        answered = 0
        try:
            for sha, keys, args in calls:
                packed = pack(("EVALSHA", sha, len(keys), *keys, *args), enc.encoding, enc.encoding_errors, enc.encode)
                await conn.send_packed_command(packed, check_health=False)
            for j in range(len(calls)):
                try:
                    reply = await conn.read_response()
                except redis.ResponseError as exc:  # an error reply, read whole: the connection is fine
                    reply = exc
                answered += 1
                yield j, reply
        except BaseException:  # (a lost connection too: the calls not answered may have run)
            if answered < len(calls):  # interrupted mid round trip: a reply may still be on its way
                await self._drop()
            raise

    async def _connection(self) -> Any:
        conn = self._conn
        if conn is None or self._pid != os.getpid():  # first use, or a forked child: a fresh one
            conn = self._conn = await self._client.connection_pool.get_connection()
            self._pid = os.getpid()
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                await conn.disconnect()
            finally:
                await self._client.connection_pool.release(conn)

    async def close(self) -> None:
        """Give the kept connection back to the pool (the client's close disconnects it)."""
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            await self._client.connection_pool.release(conn)
