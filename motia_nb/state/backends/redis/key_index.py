"""Key search on Redis from the group's key index (``motia_nb:keys:<group>``, see :mod:`.layout`).

The index is a sorted set holding every field of ``state:<group>`` at score 0, kept exact by
the write scripts (``lua/helpers.lua``: ``key_add`` / ``key_del``; ``clear.lua`` drops it):

- a prefix (``keys_with_prefix``, completion) is one ``ZRANGEBYLEX [prefix (prefix\\xff``
  (O(log n + limit)); UTF-8 text never holds the byte 0xFF, so that range is every key
  starting with ``prefix``;
- key order (``items``, ``items_after``, ``rank`` with ``order="key"``: the viewer's key-order
  pages and go to key) is ``ZRANGE`` / ``ZRANGEBYLEX`` / ``ZRANK`` of the index and ``HGET``
  of the page's values, in one script (``keys_ordered.lua``), instead of sorting the group;
- a substring (``keys_containing``, ``search_keys``) is found on the server in key order by
  ``keys_search.lua``, in short calls, until ``limit`` matches or the end; with a ``budget`` it
  stops after the call that spends it and answers ``KeySearch(found, through=last key
  examined)``; ``after=`` resumes from there. A group of fewer than :data:`TEXT_THRESHOLD`
  keys is walked, :data:`SEARCH_CHUNK` index keys per call (``string.find`` plain on each).
  A bigger one keeps its *key text* (``motia_nb:keys_chunks:`` / ``motia_nb:keys_text:``,
  ``lua/key_text.lua``): its keys cut into chunks of about :data:`TEXT_CHUNK` in key order,
  each chunk's keys joined between NUL bytes in one string, so a search runs ``string.find``
  (memchr / memcmp in C) over a few long strings, :data:`SCAN_BYTES` of them per call,
  instead of turning a million index members into Lua strings (~25 ms on the server for
  1,000,000 keys against ~450 ms). Its memory: about the keys' own bytes plus one per key.

  The key text is made by the group's first search (or when a fill of its index ends: a fill
  starts only for a group somebody searched or browsed in key order) and kept by the writes:
  a group nobody searched keeps none, and its writes pay one ``ZSCORE`` per script call for
  it. Once a group has one, the keys a write script call adds or removes go into (or out of) their
  chunks' texts at the end of that call (``kt_done``): a chunk with a few of them is edited in
  place, one read and one write of its text (a key goes after the greatest key before it
  that the text holds: one range of the index; a few copies of the ~6.5 KB text), one with
  16 or more (a run of new keys) is made again from the index, once. Each time a chunk
  text's length crosses a multiple of twice :data:`TEXT_CHUNK` bytes its keys are counted: a
  chunk grown past twice :data:`TEXT_CHUNK` keys is cut, one shrunk under a quarter joined
  to the next. A write that only changes a value does nothing to it. So a search reads text
  only. (The cost, in a searched big group only: a new or removed key costs the server ~2–4×
  what it did (~100–250 µs against ~40–110 µs under load), an update nothing; Lua strings cost
  the server ~1.5 ns a byte to make, so smaller chunks make such writes cheaper and searches, a
  call per chunk, dearer.) A search makes the missing texts it meets from the index
  (:data:`BUILD_KEYS` keys per call at most, so the first search of a 1,000,000-key group
  answers within the viewer's budget in part and completes in about a second), and when it
  made some, a background thread makes the others; a fill makes the whole text in short calls
  when it ends (:meth:`RedisKeyIndex.build_key_text`).

A group written before the index existed (or by an older motia_nb, Motia, redis-cli) has no
complete index: the first search starts a fill in the background (``keys_fill.lua``, HSCAN in
chunks, each atomic; it drops the key text, and makes it again when it ends) and, until it is
marked complete, searches scan the hash (``HSCAN MATCH``, :class:`~.reads.RedisReads`): their
answers are partial until then (the viewer labels them so). The index answers only while it is
marked complete *and* as big as the hash, so a foreign HSET/HDEL sends searches back to the
scan and to a new fill. (Like the order index, a foreign add and delete of the same number of
fields between two searches goes unseen until the sizes differ.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ...._threads import start_thread
from ..base import Order
from ..key_matches import KeySearch
from . import scripts
from .codec import decode_many, key_text
from .layout import key_index_keys

__all__ = ["RedisKeyIndex", "SEARCH_CHUNK", "FILL_CHUNK", "TEXT_THRESHOLD", "TEXT_CHUNK", "SCAN_BYTES", "BUILD_KEYS"]

log = logging.getLogger("motia_nb")

#: index keys a walk (a group under TEXT_THRESHOLD) examines per script call (~2–5 ms of the server)
SEARCH_CHUNK = 10_000
#: groups of this many keys keep a key text for substring search (smaller ones are walked);
TEXT_THRESHOLD = 20_000
#: keys per chunk of a key text (cut past twice as many, joined to the next under a quarter,
#: checked when the text's length crosses a multiple of twice as many bytes);
#: a text keeps the size it was cut with (its bounds' score), whatever this says later
TEXT_CHUNK = 512
#: a search call's budget: SCAN_BYTES of key text read and BUILD_KEYS index keys made into
#: text, together (half of each spends it too); the call ends after the chunk that spends it.
#: Each alone is ~5–15 ms of the server (2 busy cores, 1,000,000 keys of 12 bytes)
SCAN_BYTES = 4_000_000
BUILD_KEYS = 8_192
#: hash fields a fill adds per script call
FILL_CHUNK = 1_000
#: seconds before a group whose last fill ended unmarked (somebody else kept writing the hash:
#: Motia, redis-cli) is filled again; meanwhile its searches scan, as before the index
REFILL_PAUSE = 30.0


def _search_args(after: str | None, needle: str, want: int, mode: str) -> list[Any]:
    """ARGV of ``keys_search.lua`` (the module's sizes as they are now: tests change them)."""
    return ["0" if after is None else "1", "" if after is None else after, needle, want, SEARCH_CHUNK, SCAN_BYTES,
            BUILD_KEYS, TEXT_THRESHOLD, TEXT_CHUNK, mode]  # fmt: skip


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

    def _key_jobs(self) -> tuple[threading.Lock, set[str], dict[str, float], set[str]]:
        """(lock, groups being filled, when each group's last unmarked fill ended, groups whose
        key text is being made)."""
        pid = os.getpid()
        state = self.__dict__.get("_key_job_state")
        if state is None or state[0] != pid:  # first use, or a forked child: none of its jobs run here
            fresh = (pid, threading.Lock(), set(), {}, set())
            state = self.__dict__.setdefault("_key_job_state", fresh) if state is None else fresh
            self.__dict__["_key_job_state"] = state
        return state[1:]

    def fill_key_index(self, group_id: str) -> bool:
        """Build ``group_id``'s key index from its hash, chunk by chunk, on this thread, then (a
        group of :data:`TEXT_THRESHOLD` keys or more) its key text; True when the index ended
        marked complete (False: the hash changed size under it, by a foreign write)."""
        script = self._key_script("KEYS_FILL")
        keys = key_index_keys(group_id)
        cursor: Any = "0"
        while True:
            nxt, done = self._call(script, keys, [cursor, FILL_CHUNK], client=self._client(), group_id=group_id)
            cursor = nxt.decode() if isinstance(nxt, bytes) else str(nxt)
            if cursor == "0":
                if done:
                    self._build_here(group_id)
                return bool(done)

    def _build_here(self, group_id: str) -> None:
        """:meth:`build_key_text` on this thread, counted as ``group_id``'s background build
        meanwhile (none starts beside it), unless one is at it already."""
        lock, _, _, building = self._key_jobs()
        with lock:
            if group_id in building:
                return
            building.add(group_id)
        try:
            self.build_key_text(group_id)
        finally:
            with lock:
                building.discard(group_id)

    def _start_job(self, running: set[str], group_id: str, job: Callable[[], None], what: str, thread: str) -> None:
        """Run ``job()`` (``what`` of ``group_id``) on a background thread named ``thread``, with
        ``group_id`` in ``running`` meanwhile; the caller has checked and added it under the lock."""
        lock = self._key_jobs()[0]

        def run() -> None:
            try:
                job()
            except Exception as exc:  # closed meanwhile, or Redis went away: searches still answer
                if not self.closed:
                    log.debug("motia_nb: %s of %r stopped: %s", what, group_id, exc)
            finally:
                with lock:
                    running.discard(group_id)

        start_thread(run, thread)

    def _start_key_fill(self, group_id: str) -> None:
        """Fill ``group_id``'s key index on a background thread, unless one is at it already."""
        lock, filling, unmarked, _ = self._key_jobs()
        with lock:
            if group_id in filling or self.closed or time.monotonic() - unmarked.get(group_id, -REFILL_PAUSE) < REFILL_PAUSE:
                return
            filling.add(group_id)

        def fill() -> None:  # the scan keeps answering until the index is marked complete
            if not self.fill_key_index(group_id):
                with lock:
                    unmarked[group_id] = time.monotonic()

        self._start_job(filling, group_id, fill, "filling the key index", "motia-nb-redis-key-index")

    def _start_text_build(self, group_id: str) -> None:
        """Make ``group_id``'s missing chunk texts on a background thread, unless one is at it."""
        lock, _, _, building = self._key_jobs()
        with lock:
            if group_id in building or self.closed:
                return
            building.add(group_id)
        self._start_job(building, group_id, lambda: self.build_key_text(group_id), "making the key text",
                        "motia-nb-redis-key-text")  # fmt: skip

    def key_fill_running(self, group_id: str) -> bool:
        """True while this process fills ``group_id``'s key index."""
        return self._job_running(1, group_id)

    def key_text_running(self, group_id: str) -> bool:
        """True while this process makes ``group_id``'s key text in the background."""
        return self._job_running(3, group_id)

    def _job_running(self, which: int, group_id: str) -> bool:
        jobs = self._key_jobs()
        with jobs[0]:
            return group_id in jobs[which]

    # ------------------------------------------------------------------ searches
    def keys_with_prefix(self, group_id: str, prefix: str, limit: int) -> list[str]:
        """Keys starting with ``prefix`` in key order, at most ``limit``: one range of the key
        index, or (no complete index yet) an ``HSCAN MATCH prefix*`` sorted here."""
        if limit <= 0:
            return []
        lo, hi = _prefix_range(prefix)
        found = self._call(self._key_script("KEYS_PREFIX"), key_index_keys(group_id), [lo, hi, limit],
                           client=self._client(), group_id=group_id)  # fmt: skip
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
        """Keys containing ``needle`` in key order (after ``after``): short script calls over the
        key text (a big group) or the key index, until ``limit`` matches or the end; with
        ``budget`` seconds, until the call that spends it, answering how far it got. No complete
        index: a whole ``HSCAN MATCH``."""
        if limit <= 0:
            return KeySearch([])
        deadline = None if budget is None else time.perf_counter() + budget
        script, keys, c = self._key_script("KEYS_SEARCH"), key_index_keys(group_id), self._client()
        found: list[str] = []
        lo = after
        while True:
            reply = self._call(script, keys, _search_args(lo, needle, limit - len(found), "search"), client=c, group_id=group_id)
            if reply is not None and reply[2] and self._call(self._key_script("KEYS_GONE"), keys, reply[2], client=c):
                reply = None  # a match another tool removed: the index is stale (and now unmarked)
            if reply is None:  # no complete index (any more): the scan answers, whole
                self._start_key_fill(group_id)
                every = self._scan_containing(group_id, needle, 2**62 if lo is not None else limit)
                if lo is not None:
                    every = [k for k in every if k > lo]
                return KeySearch(found + every[: limit - len(found)])
            done, last, matches, made = reply
            found += [key_text(k, group_id) for k in matches]
            if made:  # texts were missing: the others are made in the background
                self._start_text_build(group_id)
            if done:
                return KeySearch(found)
            lo = key_text(last, group_id)
            if deadline is not None and time.perf_counter() >= deadline:
                return KeySearch(found, lo)

    def build_key_text(self, group_id: str) -> None:
        """Make every missing chunk text of ``group_id``'s key text (none kept: nothing to do),
        in short script calls, on this thread."""
        script, keys, c = self._key_script("KEYS_SEARCH"), key_index_keys(group_id), self._client()
        bound: str | None = None
        while not self.closed:
            reply = self._call(script, keys, _search_args(bound, "", 0, "build"), client=c, group_id=group_id)
            if reply is None or reply[0]:
                return
            bound = key_text(reply[1], group_id)

    # ------------------------------------------------------------------ key order
    def _by_key(self, group_id: str, args: list[Any]) -> Any:
        """``keys_ordered.lua``'s reply (None: no complete index: the caller sorts the group)."""
        reply = self._call(self._key_script("KEYS_ORDERED"), key_index_keys(group_id), args, client=self._client(), group_id=group_id)
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
