"""Substring key search on SQLite (``keys_containing``, ``search_keys``: the viewer's *find key*).

Where the answer comes from:

- a group of :data:`~.key_search.INDEX_THRESHOLD`\\ + items whose trigram index is built, and
  a text of 3+ characters: the index (:mod:`.key_search`), unless the text is so common
  that a scan stopped at ``limit`` is faster; while the index is being built, it answers
  for the keys it holds already (up to ``upto``) and the rest is scanned;
- otherwise a GLOB scan of the group's (grp, key) index in key order, stopped at
  ``limit``, in chunks of :data:`SCAN_CHUNK` keys (the read connection is free between
  two, for this process's point reads). With a time ``budget`` it stops when the budget
  is spent, answering the keys found so far and how far it got (:class:`KeySearch`);
  ``after=`` resumes it.

The first search of a non-empty text in a big group asks :mod:`.key_indexer` to build the
group's index in the background; until it is done, searches take what it holds and scan the rest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ...stored_text import text_keys
from ..key_matches import KeySearch
from . import key_search
from .key_indexer import KeyIndexer

__all__ = ["SQLiteKeySearch", "SCAN_CHUNK", "glob_literal", "scan_sql"]

#: keys a scan reads between two looks at the clock (~2–5 ms on 1,000,000 keys)
SCAN_CHUNK = 10_000

_FIRST_LAST = "SELECT key FROM items WHERE grp = ? ORDER BY key LIMIT 1 OFFSET ?"
_NEXT_LAST = "SELECT key FROM items WHERE grp = ? AND key > ? ORDER BY key LIMIT 1 OFFSET ?"


def scan_sql(lower: bool, upper: bool) -> str:
    """The keys of a group (after ?, up to ?) that match a GLOB pattern, in key order: one pass
    over the (grp, key) index, no table rows, stopped at LIMIT. GLOB (case-sensitive, like ``in``)
    measured about 40% faster here than ``instr(key, ?) > 0``."""
    return ("SELECT key FROM items WHERE grp = ?" + (" AND key > ?" if lower else "") + (" AND key <= ?" if upper else "")
            + " AND key GLOB ? ORDER BY key LIMIT ?")


def glob_literal(text: str) -> str:
    """``text`` as a literal inside a GLOB pattern (``*``, ``?`` and ``[`` each in brackets)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


class SQLiteKeySearch:
    """The key search methods of :class:`~motia_nb.state.backends.sqlite.SQLiteBackend`
    (which provides ``_query`` and ``_indexer``)."""

    _indexer: KeyIndexer

    def _query(self, sql: str, params: Sequence[Any], steps: int | None = None) -> list[Any]:
        raise NotImplementedError

    def keys_containing(self, group_id: str, needle: str, limit: int) -> list[str]:
        """Keys containing ``needle`` in key order: from the trigram index when the group is big,
        indexed and the text rare, else a GLOB scan of the key index stopped at ``limit``."""
        return self.search_keys(group_id, needle, limit).keys

    def search_keys(
        self, group_id: str, needle: str, limit: int, *, after: str | None = None, budget: float | None = None
    ) -> KeySearch:
        """Keys containing ``needle`` in key order (after ``after``); with ``budget`` (seconds)
        a scan may stop early (see the module docstring). Another tool's key that is not text
        is refused (:func:`~motia_nb.state.stored_text.text_keys`)."""
        found = self._search(group_id, needle, limit, after, budget)
        text_keys(found.keys, group_id)
        return found

    def _search(self, group_id: str, needle: str, limit: int, after: str | None, budget: float | None) -> KeySearch:
        if limit <= 0:
            return KeySearch([])
        started = time.perf_counter()
        pattern = "*" + glob_literal(needle) + "*"
        state = self._index_state(group_id) if needle else None
        if state is not None and len(needle) >= key_search.MIN_NEEDLE:
            done, upto = state
            if done or (upto is not None and (after is None or after < upto)):
                found = self._indexed_search(group_id, needle, pattern, limit, after, None if done else upto)
                if found is not None:
                    if done or len(found) == limit:
                        return KeySearch(found)
                    # the keys up to ``upto`` are indexed (a build in progress): the rest is scanned
                    # (the bound on the index matters when a chunk committed since ``upto`` was read)
                    left = None if budget is None else max(0.0, budget - (time.perf_counter() - started))
                    rest = self._scan_keys(group_id, pattern, limit - len(found), upto, left)
                    return KeySearch(found + rest.keys, rest.through)
        return self._scan_keys(group_id, pattern, limit, after, budget)

    def _index_state(self, group_id: str) -> "tuple[bool, str | None] | None":
        """(done, upto) of ``group_id``'s index (the index holds its keys up to ``upto``, all once
        done), or None; a big group without one is built in the background."""
        ks = key_search
        if self._query(ks.MADE_SQL, ()):
            state = self._query(ks.STATE_SQL, (group_id,))
            if state:
                if not state[0][0]:  # a build in progress; this process may not be the one building it
                    self._indexer.ensure(group_id)
                return bool(state[0][0]), state[0][1]
        if not self._indexer.building(group_id):
            if self._query(ks.SIZE_SQL, (group_id, ks.INDEX_THRESHOLD))[0][0] >= ks.INDEX_THRESHOLD:
                self._indexer.ensure(group_id)
        return None

    def _indexed_search(
        self, group_id: str, needle: str, pattern: str, limit: int, after: str | None, upto: str | None
    ) -> list[str] | None:
        """The first ``limit`` keys after ``after`` (and up to ``upto``) from the trigram index, or
        None when the text is so common that the plain scan (stopped at ``limit``) is the faster way
        (see :mod:`.key_search`)."""
        ks = key_search
        match = ks.fts_query(needle)
        steps = None
        if self._query(ks.CANDIDATES_SQL, (match, ks.CANDIDATE_CAP + 1))[0][0] > ks.CANDIDATE_CAP:
            # common: the page is likely among the first keys (a scan: exact past ``upto`` too)
            window = ks.window_sql(after is not None)
            first = [r[0] for r in self._query(window, (group_id, *_opt(after), ks.WINDOW, pattern, limit))]
            if len(first) == limit:
                return first
            steps = ks.SORT_STEPS  # sorted if that takes no longer than ~SORT_STEPS instructions, else scanned
        recheck = len(needle) > ks.MIN_NEEDLE  # a 3-character text is its one trigram: no re-check
        sql = ks.found_sql(recheck, after is not None, upto is not None)
        rows = self._query(sql, (match, group_id, *_opt(pattern if recheck else None), *_opt(after), *_opt(upto), limit),
                           steps)
        return None if rows is None else [r[0] for r in rows]

    def _scan_keys(self, group_id: str, pattern: str, limit: int, after: str | None, budget: float | None) -> KeySearch:
        """A GLOB scan in key order, SCAN_CHUNK keys at a time, until ``limit`` matches, the end
        of the group, or (with ``budget``) the deadline after a chunk."""
        deadline = None if budget is None else time.perf_counter() + budget
        found: list[str] = []
        lo = after
        while True:
            if lo is None:
                last = self._query(_FIRST_LAST, (group_id, SCAN_CHUNK - 1))
                params: list[Any] = [group_id]
            else:
                last = self._query(_NEXT_LAST, (group_id, lo, SCAN_CHUNK - 1))
                params = [group_id, lo]
            if last:
                params.append(last[0][0])
            sql = scan_sql(lo is not None, bool(last))
            found += [r[0] for r in self._query(sql, (*params, pattern, limit - len(found)))]
            if len(found) >= limit or not last:
                return KeySearch(found)
            lo = last[0][0]
            if deadline is not None and time.perf_counter() >= deadline:
                return KeySearch(found, lo)


def _opt(value: Any) -> tuple[Any, ...]:
    return () if value is None else (value,)
