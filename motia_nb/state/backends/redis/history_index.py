"""One item's history on Redis, read from the changelog's item index (see :mod:`.layout`).

A group's stream holds every item's changes: one item's history out of it costs the server
a pass over the whole stream, and each stream entry read back costs several microseconds (on
the server, and far more in redis-py's reply parser). Each change is therefore also filed in
``motia_nb:history_index:<group>``, a sorted set
whose members (all at score 0) are ``<key>\\0\\0``, a letter saying how many digits the seq
has, then the change as JSON text, its seq first (``lua/history_index.lua``): one item's
changes are one lexical range, in seq order, and ``history_item.lua`` answers a read with a
string per hundred changes, the JSON texts joined, which one ``json.loads`` reads. The stream
stays the changelog (the group's history, ``get(at=)``'s pruning check); the index is trimmed
with it.

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
from collections.abc import Callable, Iterator
from typing import Any

from ...events import CREATED, DELETED, UPDATED
from ...history import collector_paused, iso_micros
from .codec import _strict_loads, decode
from .layout import history_read_keys

__all__ = ["ItemHistory", "IndexRead"]

#: members one ``history_item.lua`` call examines at most (~10 ms of the server's time)
_BUDGET = 20_000
#: stream entries one ``history_index_fill.lua`` call indexes (a few ms of the server's time)
_FILL = 2_000
#: changes one ``history_file.lua`` call files (whole stream entries; a few ms of the server's time)
_FILE = 2_000
#: index builds a read tries before it scans the stream instead
_FILL_TRIES = 3
_raw_decode = json.JSONDecoder().raw_decode


def _seq(seq: int) -> bytes:
    """A seq as a member has it: a letter saying how many digits follow (so seqs sort as numbers)."""
    digits = b"%d" % seq
    return bytes([96 + len(digits)]) + digits


class IndexRead:
    """One item's changes as read from the index (several calls' replies, in read order):
    ``tails`` the members' tails (each reply's joined by commas, in strings of a hundred),
    ``count`` the changes."""

    def __init__(self) -> None:
        self.tails: list[bytes] = []
        self.count = 0

    def _flat(self) -> list[Any]:
        """Every change's nine fields end to end (seq, at_us, pid, cause, trace, old length, new
        length, ``[old]``, ``[new]``; a value's brackets empty when it is absent): one parse of
        every tail when all are JSON, else tail by tail (:meth:`_walk`), each value decoded as
        :func:`.codec.decode` does (another tool's text that is not JSON stays text)."""
        try:
            flat = _strict_loads("[" + b",".join(self.tails).decode("utf-8") + "]")
            # a text that is not one JSON value cannot hide by pairing with a neighbour: the
            # fields must be nine per change, each value's brackets holding one value, or none
            # when its length says it is absent
            if (
                len(flat) == _N * self.count
                and list(map(len, flat[7::_N])) == list(map(_PRESENT, flat[5::_N]))
                and list(map(len, flat[8::_N])) == list(map(_PRESENT, flat[6::_N]))
            ):
                return flat
        except (ValueError, RecursionError, TypeError):
            pass
        return [field for head, old, new in self._walk()
                for field in (*head, [] if old is None else [decode(old)], [] if new is None else [decode(new)])]  # fmt: skip

    def _walk(self) -> Iterator[tuple[list[Any], "bytes | None", "bytes | None"]]:
        """Each change's seven leading fields, and its old and new text (None: absent): the
        fields read one by one, the values cut out by the lengths among them (so a value that
        is not JSON is found whatever it holds). The text is read as latin-1, a character per
        byte, so its positions are the bytes'; the cause and trace are UTF-8 again after."""
        buf = b",".join(self.tails)
        text = buf.decode("latin-1")
        pos = 0
        for _ in range(self.count):
            head: list[Any] = []
            for _ in range(_N - 2):
                value, pos = _raw_decode(text, pos)
                head.append(value)
                pos += 1  # the comma
            head[3:5] = [None if t is None else t.encode("latin-1").decode("utf-8", "replace") for t in head[3:5]]
            lo, ln = head[5], head[6]
            start = pos + 1  # past "["
            old = buf[start : start + lo] if lo >= 0 else None
            pos = start + max(lo, 0) + 3  # past "],["
            new = buf[pos : pos + ln] if ln >= 0 else None
            pos += max(ln, 0) + 2  # past "]" and the comma before the next change
            yield head, old, new

    def first(self) -> tuple[int, "bytes | None", "bytes | None"]:
        """The first change's seq, old and new text (None: absent)."""
        head, old, new = next(self._walk())
        return head[0], old, new

    def changes(self, group_id: str, key: str) -> list[dict[str, Any]]:
        """The dicts of SPEC §9, in read order (``history()`` reverses a newest-first read)."""
        if not self.count:
            return []
        with collector_paused():
            f = self._flat()
            times = iso_micros(f[1::_N])
            return [
                {"seq": seq, "at": at, "event_type": CREATED if lo < 0 else DELETED if ln < 0 else UPDATED,
                 "group_id": group_id, "key": key, "old_value": o[0] if o else None, "new_value": n[0] if n else None,
                 "trace_id": trace or None, "cause": cause, "pid": pid}
                for seq, at, pid, cause, trace, lo, ln, o, n in zip(
                    f[0::_N], times, f[2::_N], f[3::_N], f[4::_N], f[5::_N], f[6::_N], f[7::_N], f[8::_N]
                )
            ]  # fmt: skip


#: the fields of a member's tail
_N = 9
#: whether a value's length says it is there (1) or absent (0), as ``len`` of its brackets
_PRESENT = (-1).__ne__


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
        / up to ``max_us``. None when the index cannot be made consistent (scan the stream)."""
        keys = history_read_keys(group_id)
        span = [b"" if after is None else _seq(after + 1), b"" if upto is None else _seq(upto + 1)]
        times = ["" if min_us is None else min_us, "" if max_us is None else max_us]
        c, script = self._client(), self._key_script("HISTORY_ITEM")
        out, fills, cursor = IndexRead(), 0, b""
        while out.count < limit:
            args = ["rev" if reverse else "fwd", key, *span, limit - out.count, _BUDGET, *times, cursor]
            reply = self._call(script, keys, args, client=c, group_id=group_id)
            if reply[0] == b"fill":
                if fills == _FILL_TRIES:
                    return None
                fills += 1
                if reply[1] == b"2":
                    self.file_history_of(group_id)
                else:
                    self._fill_index(group_id, reset=reply[1] == b"1")
                out, cursor = IndexRead(), b""  # (another program wrote meanwhile: read again)
                continue
            cursor, count, *tails = reply
            if count:
                out.tails += tails
                out.count += count
            if not cursor:
                break
        return out

    def _fill_index(self, group_id: str, *, reset: bool) -> None:
        """Index the changes the item index lacks, a chunk per call (``reset``: all of them, anew)."""
        c, script, keys = self._client(), self._key_script("HISTORY_FILL"), history_read_keys(group_id)
        flag = "1" if reset else "0"
        while self._call(script, keys, [_FILL, flag], client=c, group_id=group_id) != 0:  # (-1: newer ones to file)
            flag = "0"

    def file_history_of(self, group_id: str) -> None:
        """File the changes written since the group's item index was last filed, a chunk per call
        (each call atomic: two processes filing at once index each change once)."""
        c, script, keys = self._client(), self._key_script("HISTORY_FILE"), history_read_keys(group_id)
        while self._call(script, keys, [_FILE], client=c, group_id=group_id) != 0:
            pass
