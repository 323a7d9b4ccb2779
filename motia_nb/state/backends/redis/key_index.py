"""Key search on Redis from the group's key index (``motia_nb:keys:<group>``, see :mod:`.layout`).

The index is a sorted set holding every field of ``state:<group>`` at score 0, kept exact by
the write scripts (``lua/helpers.lua``: ``key_add`` / ``key_del``; ``clear.lua`` drops it):

- a prefix (``keys_with_prefix``, completion) is one ``ZRANGEBYLEX [prefix (prefix\\xff``
  (O(log n + limit)); UTF-8 text never holds the byte 0xFF, so that range is every key
  starting with ``prefix``;
- key order (``items``, ``items_after``, ``rank`` with ``order="key"``: the viewer's key-order
  pages and go to key) is ``ZRANGE`` / ``ZRANGEBYLEX`` / ``ZRANK`` of the index and ``HGET``
  of the page's values, in one script (``keys_ordered.lua``), instead of sorting the group;
- a substring (``keys_containing``, ``search_keys``) walks the index in key order,
  :data:`SEARCH_CHUNK` keys per ``keys_search.lua`` call (``string.find`` plain, on the
  server), until ``limit`` matches or the end; with a ``budget`` it stops after the chunk
  that spends it and answers ``KeySearch(found, through=last key examined)``; ``after=``
  resumes from there.

A group written before the index existed (or by an older motia_nb, Motia, redis-cli) has no
complete index: the first search starts a fill in the background (``keys_fill.lua``, HSCAN in
chunks, each atomic) and, until it is marked complete, searches scan the hash
(``HSCAN MATCH``, :class:`~.reads.RedisReads`). The index answers only while it is marked
complete *and* as big as the hash, so a foreign HSET/HDEL sends searches back to the scan and
to a new fill. (Like the order index, a foreign add and delete of the same number of fields
between two searches goes unseen until the sizes differ.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..base import Order
from ..key_matches import KeySearch
from . import scripts
from .codec import decode_many, key_text
from .layout import key_index_keys

__all__ = ["RedisKeyIndex", "SEARCH_CHUNK", "FILL_CHUNK"]

log = logging.getLogger("motia_nb")

#: index keys a substring search examines per script call (the server is busy ~1–3 ms per chunk)
SEARCH_CHUNK = 10_000
#: hash fields a fill adds per script call
FILL_CHUNK = 1_000
#: seconds before a group whose last fill ended unmarked (somebody else kept writing the hash:
#: Motia, redis-cli) is filled again; meanwhile its searches scan, as before the index
REFILL_PAUSE = 30.0


def _lex_after(after: str | None) -> bytes:
    return b"-" if after is None else b"(" + after.encode()


def _prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds of the keys starting with ``prefix`` (bytes: the 0xFF byte itself)."""
    if not prefix:
        return b"-", b"+"
    p = prefix.encode()
    return b"[" + p, b"(" + p + b"\xff"


class RedisKeyIndex:
    """The key search methods of :class:`~motia_nb.state.backends.redis.RedisBackend`, which
    provides ``_client``, ``closed`` and, from :class:`~.reads.RedisReads`, ``_call`` and the
    scanning fallbacks ``_scan_prefix`` / ``_scan_containing``."""

    _client: Callable[[], Any]
    _call: Callable[..., Any]
    _scan_prefix: Callable[[str, str, int], list[str]]
    _scan_containing: Callable[[str, str, int], list[str]]
    closed: bool

    # ------------------------------------------------------------------ scripts and fills
    def _key_script(self, name: str) -> Any:
        """``name`` (KEYS_PREFIX, KEYS_SEARCH, KEYS_FILL) registered on the client, once."""
        cache: dict[str, Any] | None = self.__dict__.get("_key_scripts")
        if cache is None:
            cache = self.__dict__.setdefault("_key_scripts", {})
        script = cache.get(name)
        if script is None:
            script = cache[name] = self._client().register_script(getattr(scripts, name))
        return script

    def _key_fills(self) -> tuple[threading.Lock, set[str], dict[str, float]]:
        """(lock, groups being filled, when each group's last unmarked fill ended)."""
        state = self.__dict__.get("_key_fill_state")
        if state is None:
            state = self.__dict__.setdefault("_key_fill_state", (threading.Lock(), set(), {}))
        return state

    def fill_key_index(self, group_id: str) -> bool:
        """Build ``group_id``'s key index from its hash, chunk by chunk, on this thread; True when
        it ended marked complete (False: the hash changed size under it, by a foreign write)."""
        script = self._key_script("KEYS_FILL")
        keys = key_index_keys(group_id)
        cursor: Any = "0"
        while True:
            nxt, done = self._call(script, keys, [cursor, FILL_CHUNK], client=self._client())
            cursor = nxt.decode() if isinstance(nxt, bytes) else str(nxt)
            if cursor == "0":
                return bool(done)

    def _start_key_fill(self, group_id: str) -> None:
        """Fill ``group_id``'s key index on a background thread, unless one is at it already."""
        lock, filling, unmarked = self._key_fills()
        with lock:
            if group_id in filling or self.closed or time.monotonic() - unmarked.get(group_id, -REFILL_PAUSE) < REFILL_PAUSE:
                return
            filling.add(group_id)

        def run() -> None:
            try:
                if not self.fill_key_index(group_id):
                    with lock:
                        unmarked[group_id] = time.monotonic()
            except Exception as exc:  # closed meanwhile, or Redis went away: the scan keeps answering
                if not self.closed:
                    log.debug("motia_nb: filling the key index of %r stopped: %s", group_id, exc)
            finally:
                with lock:
                    filling.discard(group_id)

        threading.Thread(target=run, name=f"motia_nb-key-index-{group_id}", daemon=True).start()

    def key_fill_running(self, group_id: str) -> bool:
        """True while this process fills ``group_id``'s key index."""
        lock, filling, _ = self._key_fills()
        with lock:
            return group_id in filling

    # ------------------------------------------------------------------ searches
    def keys_with_prefix(self, group_id: str, prefix: str, limit: int) -> list[str]:
        """Keys starting with ``prefix`` in key order, at most ``limit``: one range of the key
        index, or (no complete index yet) an ``HSCAN MATCH prefix*`` sorted here."""
        if limit <= 0:
            return []
        lo, hi = _prefix_range(prefix)
        found = self._call(self._key_script("KEYS_PREFIX"), key_index_keys(group_id), [lo, hi, limit],
                           client=self._client())  # fmt: skip
        if found is None:
            self._start_key_fill(group_id)
            return self._scan_prefix(group_id, prefix, limit)
        return [key_text(k, group_id) for k in found]

    def keys_containing(self, group_id: str, needle: str, limit: int) -> list[str]:
        """Keys containing ``needle`` in key order, at most ``limit``."""
        return self.search_keys(group_id, needle, limit).keys

    def search_keys(
        self, group_id: str, needle: str, limit: int, *, after: str | None = None, budget: float | None = None
    ) -> KeySearch:
        """Keys containing ``needle`` in key order (after ``after``): the key index walked in
        chunks, stopped at ``limit`` or (with ``budget`` seconds) after the chunk that spends the
        budget, answering how far it got. No complete index: a whole ``HSCAN MATCH``."""
        if limit <= 0:
            return KeySearch([])
        deadline = None if budget is None else time.perf_counter() + budget
        script, keys, c = self._key_script("KEYS_SEARCH"), key_index_keys(group_id), self._client()
        found: list[str] = []
        lo = after
        while True:
            reply = self._call(script, keys, [_lex_after(lo), needle, limit - len(found), SEARCH_CHUNK], client=c)
            if reply is None:  # no complete index (any more): the scan answers, whole
                self._start_key_fill(group_id)
                every = self._scan_containing(group_id, needle, 2**62 if lo is not None else limit)
                if lo is not None:
                    every = [k for k in every if k > lo]
                return KeySearch(found + every[: limit - len(found)])
            done, last, matches = reply
            found += [key_text(k, group_id) for k in matches]
            if done:
                return KeySearch(found)
            lo = key_text(last, group_id)
            if deadline is not None and time.perf_counter() >= deadline:
                return KeySearch(found, lo)

    # ------------------------------------------------------------------ key order
    def _by_key(self, group_id: str, args: list[Any]) -> Any:
        """``keys_ordered.lua``'s reply (None: no complete index: the caller sorts the group)."""
        reply = self._call(self._key_script("KEYS_ORDERED"), key_index_keys(group_id), args, client=self._client())
        if reply is None:
            self._start_key_fill(group_id)
        return reply

    def _key_pairs(self, group_id: str, flat: list[Any]) -> list[tuple[str, Any]]:
        keys = [key_text(k, group_id) for k in flat[0::2]]
        return list(zip(keys, decode_many(flat[1::2], group_id, keys)))

    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: Order | str = Order.INSERTION
    ) -> list[tuple[str, Any]]:
        """(key, value) pairs of one page in ``order``; key order from the key index when complete."""
        order = Order(order)
        ok = isinstance(offset, int) and offset >= 0 and (limit is None or (isinstance(limit, int) and limit >= 0))
        if order.by_key and ok and limit != 0:
            rev = "rev" if order.descending else "fwd"
            flat = self._by_key(group_id, ["page", rev, offset, -1 if limit is None else limit])
            if flat is not None:
                return self._key_pairs(group_id, flat)
        return super().items(group_id, offset, limit, order=order)  # type: ignore[misc]

    def rank(self, group_id: str, key: str, *, order: Order | str = Order.INSERTION) -> int | None:
        order = Order(order)
        if order.by_key:
            r = self._by_key(group_id, ["rank", "rev" if order.descending else "fwd", key])
            if r is not None:
                return None if int(r) < 0 else int(r)
        return super().rank(group_id, key, order=order)  # type: ignore[misc]

    def _items_after(
        self, group_id: str, after: str, limit: int, order: Order, inclusive: bool
    ) -> list[tuple[str, Any]]:
        if order.by_key:
            rev = "rev" if order.descending else "fwd"
            flat = self._by_key(group_id, ["after", rev, after.encode(), limit, "1" if inclusive else "0"])
            if flat is not None:
                return self._key_pairs(group_id, flat)
        return super()._items_after(group_id, after, limit, order, inclusive)  # type: ignore[misc]
