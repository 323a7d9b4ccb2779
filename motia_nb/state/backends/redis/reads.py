"""The Redis reads: plain blocking calls on a thread-safe synchronous client.

They can be made from any thread, including from a listener, without hopping
through the event loop. Pages in insertion order are cut on the server by
``read.lua``; key order sorts the group (a hash keeps no key index).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

import redis

from ..base import Order
from .codec import decode_item, decode_many, key_text, rows_as_json, text
from .layout import ORDER_PREFIX, STATE_PREFIX, RedisBackendError, no_answer, not_a_hash, safe_url

__all__ = ["RedisReads"]


def _glob_escape(s: str) -> str:
    """``s`` as a literal in a Redis ``MATCH`` pattern."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in s)


class RedisReads:
    """The read methods of :class:`~motia_nb.state.backends.redis.RedisBackend`.

    The backend provides ``url``, :meth:`_client` (the open synchronous client)
    and ``_read_script`` (``read.lua`` registered on it).
    """

    url: str
    _read_script: Any
    cheap_count = True  # HLEN

    def _client(self) -> Any:
        raise NotImplementedError

    def _call(self, fn: Callable[..., Any], *args: Any, group_id: str | None = None, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``; a Redis error as a RedisBackendError (WRONGTYPE on the keys
        of ``group_id``: a :class:`~.layout.NotAHashError` naming the group)."""
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            if "WRONGTYPE" in str(exc):
                raise not_a_hash(self.url, group_id, "read") from exc
            if isinstance(exc, redis.TimeoutError):  # (a hung server: say how long it was waited for)
                said = no_answer(exc, getattr(self, "busy_timeout", None))
                raise RedisBackendError(f"read from Redis at {safe_url(self.url)} failed ({said})") from exc
            raise RedisBackendError(f"read from Redis at {safe_url(self.url)} failed: {exc}") from exc

    def _read_flat(
        self, group_id: str, offset: int, limit: int | None, what: str, *, reverse: bool = False
    ) -> list[bytes]:
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got {offset!r}")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be None or an int >= 0, got {limit!r}")
        if limit == 0:
            return []
        c = self._client()
        keys = [STATE_PREFIX + group_id, ORDER_PREFIX + group_id]
        args = [offset, -1 if limit is None else limit, what, "rev" if reverse else "fwd"]
        return self._call(self._read_script, keys, args, client=c, group_id=group_id)

    def get(self, group_id: str, key: str) -> Any:
        raw = self._call(self._client().hget, STATE_PREFIX + group_id, key, group_id=group_id)
        return None if raw is None else decode_item(raw, group_id, key)

    def exists(self, group_id: str, key: str) -> bool:
        return bool(self._call(self._client().hexists, STATE_PREFIX + group_id, key, group_id=group_id))

    def value_size(self, group_id: str, key: str) -> int | None:
        """HSTRLEN (0: no such field; a stored value is never empty text)."""
        size = self._call(self._client().hstrlen, STATE_PREFIX + group_id, key, group_id=group_id)
        return int(size) or None

    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: Order | str = Order.INSERTION
    ) -> list[tuple[str, Any]]:
        """(key, value) pairs of one page in ``order``."""
        order = Order(order)
        if not order.by_key:  # one page, read on the server
            flat = self._read_flat(group_id, offset, limit, "kv", reverse=order.descending)
            keys = [key_text(k, group_id) for k in flat[0::2]]
            return list(zip(keys, decode_many(flat[1::2], group_id, keys)))
        # key order: Redis keeps no key index for a hash, so this sorts the whole group
        pairs = self.items(group_id)
        pairs.sort(key=lambda kv: kv[0], reverse=order.descending)
        return pairs[offset : None if limit is None else offset + limit]

    def keys(self, group_id: str) -> list[str]:
        """Keys of a group in insertion order."""
        return [key_text(k, group_id) for k in self._read_flat(group_id, 0, None, "k")]

    def _scan_prefix(self, group_id: str, prefix: str, limit: int) -> list[str]:
        """Keys starting with ``prefix`` in key order, without the key index (:mod:`.key_index`):
        ``HSCAN`` with ``MATCH prefix*`` filters on the server (only matching fields and their
        values cross the network), then the matches are sorted here."""
        if limit <= 0:
            return []
        c = self._client()
        pattern = _glob_escape(prefix) + "*"
        found = self._call(
            lambda: [key_text(k, group_id) for k, _ in c.hscan_iter(STATE_PREFIX + group_id, match=pattern, count=1000)],
            group_id=group_id,
        )
        return sorted(found)[:limit]

    def _scan_containing(self, group_id: str, needle: str, limit: int) -> list[str]:
        """Keys containing ``needle`` in key order, without the key index: ``HSCAN`` with
        ``MATCH *needle*`` on the server."""
        if limit <= 0:
            return []
        c = self._client()
        pattern = "*" + _glob_escape(needle) + "*"
        found = self._call(
            lambda: [key_text(k, group_id) for k, _ in c.hscan_iter(STATE_PREFIX + group_id, match=pattern, count=1000)],
            group_id=group_id,
        )
        return sorted(found)[:limit]

    def rank(self, group_id: str, key: str, *, order: Order | str = Order.INSERTION) -> int | None:
        """Insertion order: ``ZRANK`` in the order index when it is complete; key order sorts the keys."""
        order = Order(order)
        if order.by_key:
            keys = sorted(self.keys(group_id), reverse=order.descending)
            i = bisect_left(keys, key) if not order.descending else _bisect_desc(keys, key)
            return i if i < len(keys) and keys[i] == key else None
        c = self._client()
        pipe = c.pipeline(transaction=True)
        pipe.hexists(STATE_PREFIX + group_id, key)
        pipe.hlen(STATE_PREFIX + group_id)
        pipe.zcard(ORDER_PREFIX + group_id)
        (pipe.zrevrank if order.descending else pipe.zrank)(ORDER_PREFIX + group_id, key)
        exists, n, indexed, r = self._call(pipe.execute, group_id=group_id)
        if not exists:
            return None
        if n == indexed and r is not None:
            return int(r)
        return super().rank(group_id, key, order=order)  # type: ignore[misc]  # an incomplete index: scan

    def _items_after(
        self, group_id: str, after: str, limit: int, order: Order, inclusive: bool
    ) -> list[tuple[str, Any]]:
        """Insertion order: the cursor's rank, then one page read on the server; key order sorts the keys."""
        if order.by_key:
            keys = sorted(self.keys(group_id), reverse=order.descending)
            if not order.descending:
                i = bisect_left(keys, after) if inclusive else bisect_right(keys, after)
            else:
                i = _bisect_desc(keys, after, right=not inclusive)
            page = keys[i : i + limit]
            c = self._client()
            values = self._call(c.hmget, STATE_PREFIX + group_id, page, group_id=group_id) if page else []
            return [(k, decode_item(v, group_id, k)) for k, v in zip(page, values) if v is not None]
        r = self.rank(group_id, after, order=order)
        if r is None:
            return []
        return self.items(group_id, r if inclusive else r + 1, limit, order=order)

    def rows_json(self, group_id: str) -> list[tuple[str, str]]:
        """(key, JSON text) pairs in insertion order, undecoded (the DataFrame path)."""
        return rows_as_json(self._read_flat(group_id, 0, None, "kv"), group_id)

    def values_json(self, group_id: str) -> list[str]:
        return [v for _, v in self.rows_json(group_id)]

    def count(self, group_id: str) -> int:
        return int(self._call(self._client().hlen, STATE_PREFIX + group_id, group_id=group_id))

    def group_counts(self) -> dict[str, int]:
        """Every ``state:*`` hash (ours, Motia's, hand-written), sorted by group name."""
        c = self._client()
        names = [
            k
            for k in self._call(lambda: list(c.scan_iter(match=STATE_PREFIX + "*", count=1000, _type="hash")))
            if len(k) > len(STATE_PREFIX)
        ]
        if not names:
            return {}
        pipe = c.pipeline(transaction=False)
        for k in names:
            pipe.hlen(k)
        counts = self._call(pipe.execute)
        out = {text(k)[len(STATE_PREFIX) :]: int(n) for k, n in zip(names, counts) if n}
        return dict(sorted(out.items()))


def _bisect_desc(keys: list[str], key: str, *, right: bool = False) -> int:
    """Where ``key`` goes in ``keys`` sorted in descending order (``right``: after equal keys)."""
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] > key or (right and keys[mid] == key):
            lo = mid + 1
        else:
            hi = mid
    return lo
