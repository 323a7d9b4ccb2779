"""Reading the SQLite changelog: an item's or a group's changes, and a value as it was.

Each read is a statement or two on the read connection (the backend's
``_query``): the changes whose seqs :func:`.changelog.item_seqs` (or
``group_seqs``) lists, read by seq from ``changes`` in the order asked.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Sequence
from typing import Any

from ...errors import StateError
from ...events import CREATED, DELETED, UPDATED
from ...history import Point, iso_micros
from .changelog import group_seqs, item_seqs

__all__ = ["SQLiteHistory"]

# an item's page: its group and key are the query's; a group's page adds the key
_ITEM_COLUMNS = "seq, at_us, old_value, new_value, trace_id, cause, pid"
_GROUP_COLUMNS = "seq, at_us, old_value, new_value, trace_id, cause, pid, key"
# an item's seqs (?1, ?2): all, up to ?3, after ?3
_SEQS, _SEQS_UPTO, _SEQS_AFTER = item_seqs("?1", "?2"), item_seqs("?1", "?2", "seq <= ?3"), item_seqs("?1", "?2", "seq > ?3")
# the oldest retained change and the newest seq ever given (pruning always keeps the newest row)
_HORIZON = (
    "SELECT (SELECT min(seq) FROM changes), (SELECT at_us FROM changes ORDER BY seq LIMIT 1), "
    "(SELECT max(seq) FROM changes)"
)


class SQLiteHistory:
    """The history methods of :class:`~motia_nb.state.backends.sqlite.SQLiteBackend`."""

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    # provided by the backend (SQLiteReads): get, exists
    get: Any
    exists: Any

    def history(self, group_id: str, key: str | None, since: Point | None, limit: int) -> list[dict[str, Any]]:
        """Changes of a group (or one item), oldest first: the newest ``limit`` ones, or with
        ``since`` the first ``limit`` after it (a seq: greater; a time: at or after)."""
        params: list[Any] = [group_id] if key is None else [group_id, key]
        cond = time_cond = ""
        if since is not None:
            params.append(since.seq if since.seq is not None else since.lo * 1e6)
            if since.seq is not None:
                cond = f"seq > ?{len(params)}"
            else:
                time_cond = f" AND at_us >= ?{len(params)}"
        columns, seqs = (_GROUP_COLUMNS, group_seqs("?1", cond)) if key is None else (_ITEM_COLUMNS, item_seqs("?1", "?2", cond))
        params.append(limit)
        where = f"seq IN ({seqs}){time_cond}"
        order = "seq" if since is not None else "seq DESC"
        with _collector_paused():
            rows = self._query(f"SELECT {columns} FROM changes WHERE {where} ORDER BY {order} LIMIT ?{len(params)}", params)
            if since is None:
                rows.reverse()
            return _change_dicts(rows, group_id, key)

    def state_at(self, group_id: str, key: str, at: Point) -> tuple[bool, Any]:
        """``(existed, value)`` of the item at ``at`` (after the change with that seq / at that
        time): the newest change up to it, else the old value of the first change after it,
        else (no change recorded) the current value. A point before pruned history is refused."""
        by_seq = at.seq is not None
        param = at.seq if by_seq else at.hi * 1e6
        where = f"seq IN ({_SEQS_UPTO})" if by_seq else f"seq IN ({_SEQS}) AND at_us <= ?3"
        rows = self._query(
            f"SELECT new_value FROM changes WHERE {where} ORDER BY seq DESC LIMIT 1",
            [group_id, key, param],
        )
        if rows:
            return _decode(rows[0][0])
        first_seq, first_at, last_given = self._query(_HORIZON, [])[0]
        if first_seq is None:  # nothing kept: every seq given so far is gone
            first_seq = (last_given or 0) + 1
        # rows were pruned (seqs below first_seq), and one of them may lie after the point
        pruned = first_seq > 1
        if at.seq is not None:
            before = at.seq < first_seq - 1
        else:
            before = first_at is None or at.hi * 1e6 < first_at
        if pruned and before:
            raise StateError(
                f"the history of {group_id!r}/{key!r} at {at.seq if at.seq is not None else at.at} was pruned "
                f"(the oldest change kept is {first_seq}; see MotiaNB.history_keep)"
            )
        where = f"seq IN ({_SEQS_AFTER})" if by_seq else f"seq IN ({_SEQS}) AND at_us > ?3"
        rows = self._query(
            f"SELECT old_value FROM changes WHERE {where} ORDER BY seq LIMIT 1",
            [group_id, key, param],
        )
        if rows:
            return _decode(rows[0][0])
        return self.exists(group_id, key), self.get(group_id, key)


def _change_dicts(rows: Sequence[Sequence[Any]], group_id: str, key: "str | None") -> list[dict[str, Any]]:
    """Rows ``(seq, at_us, old, new, trace_id, cause, pid)`` (plus the key when ``key`` is None: a
    group's page) as the dicts of SPEC §9, the same as :func:`~motia_nb.state.history.change_dict`
    makes. Every old and new value is decoded by ONE ``json.loads`` (10,000 changes: one parse,
    not 20,000), the times by :func:`~motia_nb.state.history.iso_micros`, the event type read
    from which values are absent (:func:`.schema.event_type`)."""
    if not rows:
        return []
    values = iter(json.loads("[" + ",".join([f"{r[2] or 'null'},{r[3] or 'null'}" for r in rows]) + "]"))
    times = iso_micros([r[1] for r in rows])
    if key is not None:
        return [
            {"seq": seq, "at": at, "event_type": CREATED if old is None else DELETED if new is None else UPDATED,
             "group_id": group_id, "key": key, "old_value": old_value, "new_value": new_value,
             "trace_id": trace or None, "cause": cause, "pid": pid}
            for (seq, _, old, new, trace, cause, pid), at, old_value, new_value in zip(rows, times, values, values)
        ]  # fmt: skip
    return [
        {"seq": seq, "at": at, "event_type": CREATED if old is None else DELETED if new is None else UPDATED,
         "group_id": group_id, "key": k, "old_value": old_value, "new_value": new_value,
         "trace_id": trace or None, "cause": cause, "pid": pid}
        for (seq, _, old, new, trace, cause, pid, k), at, old_value, new_value in zip(rows, times, values, values)
    ]  # fmt: skip


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a page is built: its objects (a tuple per
    row, a dict per change and per value) hold no cycles, yet 10,000 changes would run the
    collector dozens of times, each pass walking them (measured with callgrind: ~10% of the
    read). Back on afterwards, unless somebody else had turned it off."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _decode(text: "str | None") -> tuple[bool, Any]:
    """A stored value's text: NULL = absent (before a create, after a delete)."""
    return (False, None) if text is None else (True, json.loads(text))
