"""Reading the Redis changelog: the group's stream ``motia_nb:history:<group>`` (see :mod:`.layout`).

An entry has the ID ``<seq>-0`` of its last change (a format-2 entry holds a script call's
changes, ``lua/history.lua``; an older one, one change), so a ``since`` seq is a range start
(the changes at or before it that such an entry holds are skipped). A group's history is
read from the stream, a page at a time; one item's (and ``get(at=)``) from the changelog's
item index (:mod:`.history_index`), or, when that cannot be made consistent (another program
keeps writing the stream), by scanning the stream for the item's entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import redis

from ...errors import StateError
from ...history import Point, change_dict, micros
from .codec import decode, decode_item
from .history_index import ItemHistory
from .layout import HISTORY_COUNT_PREFIX, history_stream

__all__ = ["RedisHistory"]

_PAGE = 500
Entry = tuple[int, dict[bytes, bytes]]


class RedisHistory(ItemHistory):
    """The history methods of :class:`~motia_nb.state.backends.redis.RedisBackend`
    (which provides ``_client``, ``_call``, ``_key_script``, ``_newest_seq``, ``get`` and ``exists``)."""

    _newest_seq: Callable[[], int]
    _client: Callable[[], Any]
    _call: Callable[..., Any]
    get: Callable[[str, str], Any]
    exists: Callable[[str, str], bool]
    _key_script: Callable[[str], Any]

    def _entries(self, group_id: str, start: str, *, reverse: bool, after: "int | None" = None,
                 upto: "int | None" = None) -> Iterator[Entry]:  # fmt: skip
        """The changes of stream entries from ``start`` (an ID, ``-``/``+``, or ``(ID`` exclusive)
        onwards, in seq order (newest first when ``reverse``), a page per round trip (pages
        grow: an entry may hold a whole call's changes); only those with a seq above ``after``
        and at most ``upto``."""
        c, name, count = self._client(), history_stream(group_id), 4
        while True:
            if reverse:
                page = self._call(c.xrevrange, name, start, "-", count=count)
            else:
                page = self._call(c.xrange, name, start, "+", count=count)
            for eid, fields in page:
                changes = _unpack(int(eid.split(b"-")[0]), fields)
                for seq, f in reversed(changes) if reverse else changes:
                    if (after is None or seq > after) and (upto is None or seq <= upto):
                        yield seq, f
            if len(page) < count:
                return
            start, count = "(" + page[-1][0].decode(), min(2 * count, _PAGE)

    def _key_entries(self, group_id: str, key: str, start: str, *, reverse: bool, after: "int | None" = None,
                     upto: "int | None" = None) -> Iterator[Entry]:  # fmt: skip
        """:meth:`_entries` of one item (the scan, when the item index cannot serve)."""
        want = key.encode()
        return (e for e in self._entries(group_id, start, reverse=reverse, after=after, upto=upto) if e[1][b"k"] == want)

    def history(self, group_id: str, key: str | None, since: Point | None, limit: int) -> list[dict[str, Any]]:
        if key is not None:
            if since is None:
                read = self._item_read(group_id, key, reverse=True, limit=limit)
            elif since.seq is not None:
                read = self._item_read(group_id, key, reverse=False, after=since.seq, limit=limit)
            else:
                read = self._item_read(group_id, key, reverse=False, min_us=micros(since.at), limit=limit)  # type: ignore[arg-type]
            if read is not None:
                changes = read.changes(group_id, key)
                if since is None:
                    changes.reverse()
                return changes
        after = None if since is None else since.seq
        if since is None:
            start, reverse = "+", True
        elif since.seq is not None:
            start, reverse = f"({since.seq}-0", False  # (an entry with a later ID may hold earlier seqs too)
        else:
            start, reverse = "-", False
        if key is None:
            entries = self._entries(group_id, start, reverse=reverse, after=after)
        else:
            entries = self._key_entries(group_id, key, start, reverse=reverse, after=after)
        want = None if key is None else key.encode()
        out: list[dict[str, Any]] = []
        for seq, f in entries:
            if want is not None and f[b"k"] != want:
                continue
            if since is not None and since.at is not None and float(f[b"at"]) < since.lo:
                continue
            out.append(_change(seq, group_id, f))
            if len(out) == limit:
                break
        if since is None:
            out.reverse()
        return out

    def state_at(self, group_id: str, key: str, at: Point) -> tuple[bool, Any]:
        """As the SQLite backend's: the newest change up to ``at``, else the old value of the
        first one after it, else the current value; a point before pruned history is refused."""
        if at.seq is not None:
            back = self._item_read(group_id, key, reverse=True, upto=at.seq, limit=1)
        else:
            back = self._item_read(group_id, key, reverse=True, max_us=micros(at.at), limit=1)  # type: ignore[arg-type]
        if back is None:
            return self._state_at_scan(group_id, key, at)
        if back.count:
            seq, _old, new = back.first()
            return _value(new, group_id, key, f"after change {seq}")
        self._refuse_if_pruned(group_id, key, at)
        if at.seq is not None:
            ahead = self._item_read(group_id, key, reverse=False, after=at.seq, limit=1)
        else:
            ahead = self._item_read(group_id, key, reverse=False, min_us=micros(at.at) + 1, limit=1)  # type: ignore[arg-type]
        if ahead is None:
            return self._state_at_scan(group_id, key, at)
        if ahead.count:
            seq, old, _new = ahead.first()
            return _value(old, group_id, key, f"before change {seq}")
        return self.exists(group_id, key), self.get(group_id, key)

    def _state_at_scan(self, group_id: str, key: str, at: Point) -> tuple[bool, Any]:
        """:meth:`state_at` from the stream, when the item index cannot serve."""
        want = key.encode()
        if at.seq is not None:
            # (from the first entry past at.seq: an entry holding several changes may hold it too)
            nxt = self._call(self._client().xrange, history_stream(group_id), f"({at.seq}-0", "+", count=1)
            start = nxt[0][0].decode() if nxt else "+"
            back = self._key_entries(group_id, key, start, reverse=True, upto=at.seq)
        else:
            back = (e for e in self._key_entries(group_id, key, "+", reverse=True) if float(e[1][b"at"]) <= at.hi)  # type: ignore[operator]
        for seq, f in back:
            if f[b"k"] == want:
                return _value(f.get(b"n"), group_id, key, f"after change {seq}")
        self._refuse_if_pruned(group_id, key, at)
        if at.seq is not None:
            ahead = self._key_entries(group_id, key, f"({at.seq}-0", reverse=False, after=at.seq)
        else:
            ahead = (e for e in self._key_entries(group_id, key, "-", reverse=False) if float(e[1][b"at"]) > at.hi)  # type: ignore[operator]
        for seq, f in ahead:
            if f[b"k"] == want:
                return _value(f.get(b"o"), group_id, key, f"before change {seq}")
        return self.exists(group_id, key), self.get(group_id, key)

    def _first_stored(self, group_id: str) -> "tuple[int, float] | None":
        """``(seq, time)`` of the group's oldest change the stream still holds (everything trimmed:
        the seq after the last one, no time); None when nothing was ever trimmed."""
        try:
            info = self._client().xinfo_stream(history_stream(group_id))
        except redis.ResponseError:  # no stream: nothing was ever recorded for the group
            return None
        length, added = int(info.get("length", 0)), int(info.get("entries-added", 0) or 0)
        if added <= length:  # nothing was trimmed
            return None
        first = info.get("first-entry")
        if first:
            f = first[1]  # (an entry of format 2 holds m changes, its ID the last one's seq)
            return int(first[0].split(b"-")[0]) - (int(f[b"m"]) - 1 if f.get(b"v") == b"2" else 0), float(f[b"at"])
        last = info.get("last-generated-id") or b"0-0"  # everything was trimmed
        return int(last.split(b"-")[0]) + 1, float("inf")

    def _history_first_stored(self, group_id: str) -> int:
        """The seq of the group's oldest change the stream holds (0: nothing was trimmed)."""
        first = self._first_stored(group_id)
        return 0 if first is None else first[0]

    def _refuse_if_deleted(self, group_id: str, key: str, at: Point) -> None:
        """Changes counted, no stream: the stream was deleted by hand (past the newest seq given,
        the stored value is the state: nothing can have changed it since)."""
        if self._call(self._client().exists, history_stream(group_id), group_id=group_id):
            return
        counted = self._call(self._client().get, HISTORY_COUNT_PREFIX + group_id, group_id=group_id)
        if counted and counted != b"0" and not (at.seq is not None and at.seq >= self._newest_seq()):
            raise StateError(
                f"the history of {group_id!r}/{key!r} at {at} is gone: the group's history stream "
                f"{history_stream(group_id)} was deleted (its changes from the next write on are kept)"
            )

    def _refuse_if_pruned(self, group_id: str, key: str, at: Point) -> None:
        first = self._first_stored(group_id)
        if first is None:
            self._refuse_if_deleted(group_id, key, at)
            return
        first_seq, first_at = first
        before = at.seq < first_seq - 1 if at.seq is not None else at.hi < first_at
        if before:
            raise StateError(
                f"the history of {group_id!r}/{key!r} at {at} was pruned "
                f"(the group's oldest change kept is {first_seq}; see MotiaNB.history_keep)"
            )


def _unpack(last: int, f: dict[bytes, bytes]) -> list[Entry]:
    """A stream entry's changes (``last``: its ID's seq), each as an entry of the format before 2
    (fields ``t k at c p [r] [o] [n]``): a format-2 entry (``lua/history.lua``) holds a call's
    changes in JSON arrays whose strings are the texts' bytes (read as latin-1)."""
    if f.get(b"v") != b"2":
        return [(last, f)]
    m = int(f[b"m"])
    ks, olds, news = (json.loads(f[name].decode("latin-1")) for name in (b"ks", b"os", b"ns"))
    who = json.loads(f[b"w"].decode("latin-1")) if b"w" in f else None
    shared = {b"at": f[b"at"], b"p": f[b"p"], b"origin": f.get(b"origin", b"")}
    if who is None:
        shared[b"c"] = f.get(b"c", b"")
        if f.get(b"r"):
            shared[b"r"] = f[b"r"]
    out: list[Entry] = []
    for i in range(m):
        old, new = olds[i], news[i]
        c = dict(shared)
        c[b"k"] = ks[i].encode("latin-1")
        c[b"t"] = b"state:created" if old is False else b"state:deleted" if new is False else b"state:updated"
        if old is not False:
            c[b"o"] = old.encode("latin-1")
        if new is not False:
            c[b"n"] = new.encode("latin-1")
        if who is not None:
            c[b"c"] = who[2 * i].encode("latin-1")
            if who[2 * i + 1]:
                c[b"r"] = who[2 * i + 1].encode("latin-1")
        out.append((last - m + 1 + i, c))
    return out


def _value(raw: "bytes | None", group_id: str, key: str, when: str) -> tuple[bool, Any]:
    """A past value, as strictly as :meth:`get` reads the present one: text that is not JSON
    (written by another tool, then recorded as a change's old value) is a StoredValueError
    naming the change (``when``: ``before change 42``), never the text as a JSON string."""
    return (False, None) if raw is None else (True, decode_item(raw, group_id, key, when))


def _text(raw: "bytes | None") -> "str | None":
    return None if raw is None else raw.decode("utf-8")


def _change(seq: int, group_id: str, f: dict[bytes, bytes]) -> dict[str, Any]:
    change = change_dict(
        seq, float(f[b"at"]), f[b"t"].decode(), group_id, f[b"k"].decode("utf-8"), None, None,
        _text(f.get(b"r")), f[b"c"].decode("utf-8"), int(f[b"p"]),
    )  # fmt: skip
    # as the change's event had them (codec.decode): a value another tool wrote that is not JSON,
    # overwritten or deleted by this change, stays its text; it must not fail the group's history
    old, new = f.get(b"o"), f.get(b"n")
    change["old_value"] = None if old is None else decode(old)
    change["new_value"] = None if new is None else decode(new)
    return change
