"""One item's history on Redis, read from the changelog's item index (see :mod:`.layout`).

A group's stream holds every item's changes: one item's history out of it costs the server
a pass over the whole stream, and each stream entry read back costs several microseconds (on
the server, and far more in redis-py's reply parser). Each change is therefore also filed in
``motia_nb:history_index:<group>``, a sorted set
whose members (all at score 0) are ``<key>\\0\\0``, a letter saying how many digits the seq
has, then the change as JSON text, its seq first (``lua/history_index.lua``): one item's
changes are one lexical range, in seq order, and ``history_item.lua`` answers a read with a
string per hundred changes, the JSON texts joined, which one ``json.loads`` reads. Its fields
are the change dict's as they are (the time too, as ISO text the server wrote; values
unbracketed, null when absent), so the client parses and builds the dicts, nothing more. An
old text that is not one JSON value (another tool wrote the item) is kept as a JSON string,
its length field -2 minus that string's, so texts can never pair across changes in that
parse: every field is one JSON value at least, and a parse giving ten fields a change has
each where it is (one giving more, or failing, is read tail by tail by the lengths). The stream
stays the changelog (the group's history, ``get(at=)``'s pruning check); the index is trimmed
with it.

A read of more than :data:`_FIRST` changes is pipelined (:meth:`ItemHistory._piped_read`): a
call of 500 changes, then calls of 2,000, each sent as soon as the one before is answered, so
the server reads the next changes while the client builds the dicts of these; without a time
to check member by member, the server sends whole members (no Lua string made per member)
and the client cuts their prefixes (:class:`_Cut`). Measured (10,000 changes of one key among
40,000, read whole, once filed; this format and the one before on two redis-servers, read
interleaved in one process, load average ~6 on this shared 2-core host): the client's CPU best
14.8-15.5 ms, median 15.8-17.0 (was 17.8-18.8, 18.9-20.4 with the time in microseconds only
and each value in brackets: the parse, the bracket checks and ``iso_micros``); wall best
~23-31 ms; the server's ~7.5 ms (members ~16% longer: ~230 bytes a change in the index).

A write call of a few changes (2 to 16, ``HIST_SELF_MIN`` and ``HIST_SELF_MAX`` in
``lua/history.lua``) indexes them itself while the index is caught up (no stream entry past the
forward marker); a bigger call's entry, a lone set's, cas's or delete's, and what small calls
wrote while the index was behind, ``history_file.lua`` files: the entries past the forward
marker, a chunk per call, first in every read here (so reads are complete right after writes)
and from a task once writes pause (:mod:`.filer`).

A store written before the index existed has no index (or one that starts at the first
change written since): the first read that needs it indexes the older changes,
``history_index_fill.lua`` a chunk per call. A read that finds the index holding another
number of changes than the stream's count (another program wrote or trimmed the stream) makes it
again; if that does not settle (such a program keeps writing), the read scans the stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import redis
from redis.exceptions import NoScriptError

from ...events import CREATED, DELETED, UPDATED
from ...history import collector_paused, iso_micros
from .codec import _strict_loads, decode
from .layout import HISTORY_INDEX_FROM_V1_PREFIX, history_read_keys
from .wire import pack

__all__ = ["ItemHistory", "IndexRead"]

#: members one ``history_item.lua`` call examines at most (~10 ms of the server's time)
_BUDGET = 20_000
#: stream entries one ``history_index_fill.lua`` call indexes (a few ms of the server's time)
_FILL = 2_000
#: changes one ``history_file.lua`` call files (whole stream entries; a few ms of the server's time)
_FILE = 2_000
#: index builds a read tries before it scans the stream instead
_FILL_TRIES = 3
#: changes a pipelined read (:meth:`ItemHistory._piped_read`) asks for in its first call (an
#: early first reply: the client builds it while the server reads on), then in each next one
_FIRST, _CHUNK = 500, 2000
_raw_decode = json.JSONDecoder().raw_decode


def _seq(seq: int) -> bytes:
    """A seq as a member has it: a letter saying how many digits follow (so seqs sort as numbers)."""
    digits = b"%d" % seq
    return bytes([96 + len(digits)]) + digits


class IndexRead:
    """One item's changes as read from the index (several calls' replies, in read order):
    ``count`` the changes read; ``tails`` the members' tails not built into dicts yet (each
    reply's joined by commas, in strings of a hundred), ``pending`` their changes."""

    def __init__(self) -> None:
        self.tails: list[bytes] = []
        self.count = 0
        self.pending = 0
        self._built: list[dict[str, Any]] = []

    def add(self, tails: list[bytes], count: int) -> None:
        """A reply's changes (whole changes: a reply never cuts one)."""
        self.tails += tails
        self.count += count
        self.pending += count

    def _flat(self) -> list[Any]:
        """Every pending change's ten fields end to end (seq, at_us, at, pid, cause, trace, old
        length, new length, old, new; a value null when its length says it is absent): one
        parse of every tail when all are JSON, else tail by tail (:meth:`_walk`), each value
        decoded as :func:`.codec.decode` does (another tool's text that is not JSON stays
        text). An old value the index keeps as a JSON string (length below -1: it is not one
        JSON value to cjson, lua/history_index.lua) is decoded as the change's event had it."""
        try:
            flat = _strict_loads(f"[{b','.join(self.tails).decode('utf-8')}]")  # (one copy: two with +)
            # (every field the server writes is one JSON value at least: an old text is one to
            # cjson, else kept as a JSON string, a new text is motia_nb's JSON, none is empty;
            # so a parse giving ten fields a change gives each where it is: a text Python read
            # as several values would give more, one it cannot read fails: then tail by tail)
            los = flat[6::_N]
            if len(flat) == _N * self.pending:
                if los and min(los) < -1:  # such texts, each decoded as the change's event had it
                    for i, lo in enumerate(los):
                        if lo < -1:
                            if type(flat[_N * i + 8]) is not str:  # (not as the index writes them: tail by tail)
                                raise TypeError
                            flat[_N * i + 8] = decode(flat[_N * i + 8])
                return flat
        except (ValueError, RecursionError, TypeError):
            pass
        return [field for head, old, new in self._walk()
                for field in (*head, None if old is None else decode(old), None if new is None else decode(new))]  # fmt: skip

    def _walk(self) -> Iterator[tuple[list[Any], "bytes | None", "bytes | None"]]:
        """Each pending change's eight leading fields, and its old and new text (None: absent):
        the fields read one by one, the values cut out by the lengths among them (so a value
        that is not JSON is found whatever it holds). The text is read as latin-1, a character
        per byte, so its positions are the bytes'; the time, cause and trace are UTF-8 again
        after."""
        buf = b",".join(self.tails)
        text = buf.decode("latin-1")
        pos = 0
        for _ in range(self.pending):
            head: list[Any] = []
            for _ in range(_N - 2):
                value, pos = _raw_decode(text, pos)
                head.append(value)
                pos += 1  # the comma
            head[2:6] = [t.encode("latin-1").decode("utf-8", "replace") if type(t) is str else t for t in head[2:6]]
            lo, ln = head[6], head[7]
            size = lo if lo >= 0 else -2 - lo if lo < -1 else 4  # (absent: null)
            old = None if lo == -1 else buf[pos : pos + size] if lo >= 0 else _unquote(buf[pos : pos + size])
            pos += size + 1  # past the comma
            new = buf[pos : pos + ln] if ln >= 0 else None
            pos += (ln if ln >= 0 else 4) + 1  # past the comma before the next change
            yield head, old, new

    def first(self) -> tuple[int, "bytes | None", "bytes | None"]:
        """The first change's seq, old and new text (None: absent)."""
        head, old, new = next(self._walk())
        return head[0], old, new

    def build(self, group_id: str, key: str) -> None:
        """The pending changes built into the dicts of SPEC §9 (a pipelined read builds each
        reply's while the server reads the next; the caller pauses the collector)."""
        if not self.pending:
            return
        f = self._flat()
        times = f[2::_N]  # (the index writes them as the dicts show them: lua/history_index.lua)
        if None in times:  # (a time outside the years 1 to 9999: as iso_micros says it)
            times = [iso_micros([us])[0] if at is None else at for us, at in zip(f[1::_N], times)]
        self._built += [
            {"seq": seq, "at": at, "event_type": CREATED if lo == -1 else DELETED if ln == -1 else UPDATED,
             "group_id": group_id, "key": key, "old_value": o, "new_value": n,
             "trace_id": trace or None, "cause": cause, "pid": pid}
            for seq, at, pid, cause, trace, lo, ln, o, n in zip(
                f[0::_N], times, f[3::_N], f[4::_N], f[5::_N], f[6::_N], f[7::_N], f[8::_N], f[9::_N]
            )
        ]  # fmt: skip
        self.tails, self.pending = [], 0

    def changes(self, group_id: str, key: str) -> list[dict[str, Any]]:
        """The dicts of SPEC §9, in read order (``history()`` reverses a newest-first read)."""
        if self.pending:
            with collector_paused():
                self.build(group_id, key)
        return self._built


def _unquote(quoted: bytes) -> bytes:
    """The bytes of an old text the index keeps as a JSON string (cjson's: bytes from 0x80 as
    they are, so read as latin-1, a character per byte)."""
    text = json.loads(quoted.decode("latin-1"))
    return text.encode("latin-1") if type(text) is str else quoted  # (a string, as the index writes them)


#: the fields of a member's tail
_N = 10


class _Uncut(Exception):
    """Whole members the reader cannot cut (:class:`_Cut`)."""


class _Cut:
    """The tails of whole members of ``key`` (a ``w`` reply of ``history_item.lua``: strings of
    members joined by commas), joined by commas: each member's prefix (the key, each NUL as NUL
    0x01, two NULs) and seq letter cut off, by one regex pass. Every member's prefix is cut (a cut
    begun before it ends before it: the cut's two NULs in a row would else fall on the comma
    before the prefix, on the key's last byte or inside the escaped key, where each NUL is
    followed by 0x01), so a pass that cut ``count`` times cut those and nothing else. A pass that left a NUL is refused all
    the same (a member made before the index kept an old text holding one as a JSON string;
    motia_nb's own JSON and the cause and trace escape it): :class:`_Uncut`. (This counted the
    NULs before the pass: a pass over the text, ~0.12 ms per 2,000 changes; a NUL left is one
    ``memchr``.)"""

    def __init__(self, key: str) -> None:
        escaped = key.encode().replace(b"\0", b"\0\1")
        self._prefix = re.compile(re.escape(escaped + b"\0\0") + b".", re.S)

    def __call__(self, parts: list[bytes], count: int) -> bytes:
        tails, cut = self._prefix.subn(b"", b",".join(parts))
        if cut == count and b"\0" not in tails:
            return tails
        raise _Uncut


def _raise(exc: BaseException) -> None:
    raise exc


class _Wire:
    """Calls of one script on a connection of the client's pool, sent one ahead of their
    replies: :meth:`send` packs and sends a call, :meth:`recv` reads the oldest reply (a server
    that forgot the script loads it again and answers the same call). A connection left with
    a reply unread (an error, an interrupt) is dropped, never read as another call's."""

    def __init__(self, client: Any, script: Any, keys: list[str]) -> None:
        self._client, self._script, self._keys = client, script, keys
        self._conn: Any = None
        self._sent: list[list[Any]] = []  # the calls not answered yet, oldest first

    def __enter__(self) -> "_Wire":
        self._conn = self._client.connection_pool.get_connection()
        return self

    def send(self, args: list[Any]) -> None:
        conn, enc = self._conn, self._conn.encoder
        conn.send_packed_command([pack(("EVALSHA", self._script.sha, len(self._keys), *self._keys, *args),
                                       enc.encoding, enc.encoding_errors, enc.encode)])  # fmt: skip
        self._sent.append(args)

    def recv(self) -> Any:
        try:
            reply = self._conn.read_response()
        except NoScriptError:  # (the reply was read whole: the connection is fine)
            args = self._sent.pop(0)
            self._client.script_load(self._script.script)
            self.send(args)
            return self.recv()
        except redis.ResponseError:  # an error reply, read whole
            self._sent.pop(0)
            raise
        self._sent.pop(0)
        return reply

    def __exit__(self, *exc: Any) -> None:
        conn, self._conn = self._conn, None
        if self._sent:  # a reply may still be on its way
            conn.disconnect()
        self._client.connection_pool.release(conn)


class ItemHistory:
    """The index reads of :class:`~.history.RedisHistory` (the backend provides ``_client``,
    ``_call`` and ``_key_script``)."""

    _client: Callable[[], Any]
    _call: Callable[..., Any]
    _key_script: Callable[[str], Any]

    def _item_read(
        self, group_id: str, key: str, *, reverse: bool, after: "int | None" = None, upto: "int | None" = None,
        limit: int, min_us: "int | None" = None, max_us: "int | None" = None,
    ) -> "IndexRead | None":  # fmt: skip
        """Up to ``limit`` changes of the item, oldest first (newest first when ``reverse``): those
        with a seq above ``after`` / at most ``upto``, a time (whole microseconds) from ``min_us``
        / up to ``max_us``. None when the index cannot be made consistent (scan the stream).
        A read of more than :data:`_FIRST` changes is pipelined (:meth:`_piped_read`) and
        builds its dicts as it goes."""
        keys = history_read_keys(group_id)
        span = [b"" if after is None else _seq(after + 1), b"" if upto is None else _seq(upto + 1)]
        times = ["" if min_us is None else min_us, "" if max_us is None else max_us]
        head = ["rev" if reverse else "fwd", key, *span]
        c, script = self._client(), self._key_script("HISTORY_ITEM")
        if limit > _FIRST:
            try:
                with collector_paused():
                    return self._piped_read(c, script, keys, head, times, limit, group_id, key)
            except (redis.ConnectionError, redis.TimeoutError):
                pass  # (the connection was dropped: redis-py's own calls below reconnect, as configured)
            except _Uncut:
                pass  # (a member holds the prefix's NULs twice: the server cuts them, below)
        out, fills, cursor = IndexRead(), 0, b""
        while out.count < limit:
            args = [*head, limit - out.count, _BUDGET, *times, cursor]
            reply = self._call(script, keys, args, client=c, group_id=group_id)
            if reply[0] == b"fill":
                if fills == _FILL_TRIES:
                    return None
                fills += 1
                self._make_index(group_id, reply[1])
                out, cursor = IndexRead(), b""  # (another program wrote meanwhile: read again)
                continue
            cursor, count, *tails = reply
            if count:
                out.add(tails, count)
            if not cursor:
                break
        return out

    def _piped_read(
        self, c: Any, script: Any, keys: list[str], head: list[Any], times: list[Any], limit: int, group_id: str,
        key: str,
    ) -> "IndexRead | None":  # fmt: skip
        """:meth:`_item_read` in calls of :data:`_FIRST`, then :data:`_CHUNK` changes on one
        connection, each call sent as soon as the one before is answered, before that one's
        changes are built: the server reads the next changes while the client builds these.
        A lost connection is raised (the caller reads again the plain way)."""
        out, fills, cursor = IndexRead(), 0, b""
        whole = times == ["", ""]  # (whole members: no time to check member by member)
        mode, cut = ("w", _Cut(key)) if whole else ("", None)
        with _Wire(c, script, keys) as wire:
            try:
                wire.send([*head, min(_FIRST, limit), _BUDGET, *times, cursor, mode])
                while True:
                    reply = wire.recv()
                    if reply[0] == b"fill":
                        if fills == _FILL_TRIES:
                            return None
                        fills += 1
                        self._make_index(group_id, reply[1])
                        out, cursor = IndexRead(), b""  # (another program wrote meanwhile: read again)
                        wire.send([*head, min(_FIRST, limit), _BUDGET, *times, cursor, mode])
                        continue
                    cursor, count, *tails = reply
                    if count:
                        out.add(tails if cut is None else [cut(tails, count)], count)
                    more = bool(cursor) and out.count < limit
                    if more:
                        wire.send([*head, min(_CHUNK, limit - out.count), _BUDGET, *times, cursor, mode])
                    out.build(group_id, key)
                    if not more:
                        return out
            except (redis.ConnectionError, redis.TimeoutError):
                raise
            except redis.RedisError as exc:  # said as self._call says it (WRONGTYPE: the group named)
                self._call(_raise, exc, group_id=group_id)
                raise  # pragma: no cover - _call raised

    def _make_index(self, group_id: str, why: bytes) -> None:
        """What a ``fill`` reply of ``history_item.lua`` asks for (``why``: its second value)."""
        if why == b"2":
            self.file_history_of(group_id)
        else:
            self._fill_index(group_id, reset=why == b"1")

    def _fill_index(self, group_id: str, *, reset: bool) -> None:
        """Index the changes the item index lacks, a chunk per call (``reset``: all of them, anew)."""
        c, script, keys = self._client(), self._key_script("HISTORY_FILL"), history_read_keys(group_id)
        self._call(c.delete, HISTORY_INDEX_FROM_V1_PREFIX + group_id, group_id=group_id)  # (an index of the format before: made again)
        flag = "1" if reset else "0"
        while self._call(script, keys, [_FILL, flag], client=c, group_id=group_id) != 0:  # (-1: newer ones to file)
            flag = "0"

    def file_history_of(self, group_id: str) -> None:
        """File the changes written since the group's item index was last filed, a chunk per call
        (each call atomic: two processes filing at once index each change once)."""
        c, script, keys = self._client(), self._key_script("HISTORY_FILE"), history_read_keys(group_id)
        while self._call(script, keys, [_FILE], client=c, group_id=group_id) != 0:
            pass
