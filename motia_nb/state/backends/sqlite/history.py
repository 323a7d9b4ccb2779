"""Reading the SQLite changelog: an item's or a group's changes, and a value as it was.

Each read is a statement or two on the read connection (the backend's
``_query``): the records whose seqs :func:`.changelog.item_seqs` (or
``group_seqs``) lists, read by seq from ``changes`` in the order asked; a record
of a batch's changes is expanded into them (:func:`.changelog.expand`), so every
answer is change by change, whatever the changes' records.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from ...errors import StateError
from ...events import CREATED, DELETED, UPDATED
from ...history import Point, Retention, collector_paused, iso_micros
from ...jsontext import decode_lenient_many, decode_one, decode_written_many
from ..retained import Horizon
from .changelog import expand, first_seq, group_seqs, horizon_sql, item_seqs
from .item_read import item_change_dicts, item_changes_sql, item_dicts, item_read_sql, row_changes

__all__ = ["SQLiteHistory"]

# a record: its changes' columns, then the key (a record's layout) and n (None: one change)
_COLUMNS = "seq, at_us, old_value, new_value, trace_id, cause, pid, key, n"
# an item's records (?1, ?2): all, after ?3
_SEQS, _SEQS_AFTER = item_seqs("?1", "?2"), item_seqs("?1", "?2", "seq > ?3")
# the oldest retained change and the newest seq ever given (pruning always keeps the newest record)
_HORIZON = (
    f"SELECT (SELECT {first_seq} FROM changes ORDER BY seq LIMIT 1), (SELECT at_us FROM changes ORDER BY seq LIMIT 1), "
    "(SELECT max(seq) FROM changes)"
)


def _changes(records: Sequence[Sequence[Any]], key: "str | None") -> list[tuple[Any, ...]]:
    """Records (:data:`_COLUMNS`, oldest first) as changes ``(seq, at_us, old, new, trace_id,
    cause, pid, key)``, oldest first; an item's only when ``key`` is given."""
    out: list[tuple[Any, ...]] = []
    for seq, at, old, new, trace, cause, pid, k, n in records:
        if n is None:
            out.append((seq, at, old, new, trace, cause, pid, k))
        else:
            out.extend([(s, at, o, v, trace, cause, pid, kk) for s, kk, o, v in expand(seq, n, k, old, new, key)])
    return out


class SQLiteHistory:
    """The history methods of :class:`~motia_nb.state.backends.sqlite.SQLiteBackend`."""

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    # provided by the backend (SQLiteReads): get, exists
    get: Any
    exists: Any
    _retention: Retention
    _recorder: Any  # the backend's Recorder (None before open)

    def _reading(self) -> Any:
        """Around a history read: this process's filing and pruning passes wait for it
        (:meth:`.recorder.Recorder.reading`), so it does not compete with them for the CPU."""
        r = self._recorder
        return contextlib.nullcontext() if r is None else r.reading()

    def _newest_seq(self) -> int:
        """The newest seq given so far (0: none; pruning always keeps the newest record)."""
        return int(self._query("SELECT coalesce(max(seq), 0) FROM changes", [])[0][0])

    def _history_horizon(self, group_id: str) -> Horizon:
        """The first change the retention keeps (:class:`~..retained.Horizon`, applied by the
        backend's :class:`~..retained.RetainedHistory`): of the whole store, as SPEC §9 counts
        (``group_id`` does not matter here), whatever the pruning thread has deleted yet."""
        r = self._retention
        lo, lo_at, newest_at = self._query(*horizon_sql(r.max_count, r.max_age, time.time()))[0]
        known = lo_at if lo_at is not None else newest_at if newest_at is not None else float("inf")
        return Horizon(lo, lo > 1, known)

    def history(self, group_id: str, key: str | None, since: Point | None, limit: int) -> list[dict[str, Any]]:
        """Changes of a group (or one item), oldest first: the newest ``limit`` ones, or with
        ``since`` the first ``limit`` after it (a seq: greater; a time: at or after).

        ``limit`` records always hold ``limit`` changes or more (each holds at least one of
        them; only the oldest, with ``since`` a seq, may also hold changes up to it)."""
        if key is not None:
            return self._item_history(group_id, key, since, limit)
        params: list[Any] = [group_id]
        cond = time_cond = ""
        after = None
        if since is not None:
            params.append(since.seq if since.seq is not None else since.lo * 1e6)
            if since.seq is not None:
                cond, after = f"seq > ?{len(params)}", since.seq
            else:
                time_cond = f" AND at_us >= ?{len(params)}"
        params.append(limit + (after is not None))
        where = f"seq IN ({group_seqs('?1', cond)}){time_cond}"
        order = "seq" if since is not None else "seq DESC"
        with self._reading(), collector_paused():
            rows = self._query(f"SELECT {_COLUMNS} FROM changes WHERE {where} ORDER BY {order} LIMIT ?{len(params)}", params)
            if since is None:
                rows.reverse()
            changes = _changes(rows, key)
            if after is not None:
                changes = [c for c in changes if c[0] > after][:limit]
            elif len(changes) > limit:
                changes = changes[-limit:]
            return _change_dicts(changes, group_id, key)

    def _item_history(self, group_id: str, key: str, since: Point | None, limit: int) -> list[dict[str, Any]]:
        """:meth:`history` of one item: ONE statement (:func:`.item_read.item_read_sql`: its pages and
        its unfiled tail; from a time, :func:`.item_read.item_changes_sql`) gives its changes with
        just the columns a change dict needs, a batch's record with its texts to slice."""
        with self._reading(), collector_paused():
            if since is None or since.seq is not None:
                seq_after = None if since is None else since.seq
                sql, params = item_read_sql(group_id, key, seq_after=seq_after, limit=limit)
                return item_dicts(self._query(sql, params), group_id, key, seq_after=seq_after, limit=limit)
            sql, params = item_changes_sql(group_id, key, seq_after=None, at_from=since.lo * 1e6, limit=limit, newest=False)
            return item_change_dicts(row_changes(self._query(sql, params), key)[:limit], group_id, key)

    def state_at(self, group_id: str, key: str, at: Point) -> tuple[bool, Any]:
        """``(existed, value)`` of the item at ``at`` (after the change with that seq / at that
        time): the newest change up to it, else the old value of the first change after it,
        else (no change recorded) the current value. A point before pruned history is refused.

        By seq, two records are read each way: the nearest may hold the item's changes on
        the other side of the point only (a record spans seqs), the next cannot."""
        by_seq = at.seq is not None
        param = at.seq if by_seq else at.hi * 1e6
        where = f"seq IN ({_SEQS}) AND {first_seq} <= ?3" if by_seq else f"seq IN ({_SEQS}) AND at_us <= ?3"
        rows = self._query(f"SELECT {_COLUMNS} FROM changes WHERE {where} ORDER BY seq DESC LIMIT 2", [group_id, key, param])
        rows.reverse()
        upto = [c for c in _changes(rows, key) if not by_seq or c[0] <= param]
        if upto:
            return _decode(upto[-1][3], group_id, key, f"after change {upto[-1][0]}")
        first_seq_kept, first_at, last_given = self._query(_HORIZON, [])[0]
        if first_seq_kept is None:  # nothing kept: every seq given so far is gone
            first_seq_kept = (last_given or 0) + 1
        # rows were pruned (seqs below first_seq_kept), and one of them may lie after the point
        pruned = first_seq_kept > 1
        if at.seq is not None:
            before = at.seq < first_seq_kept - 1
        else:
            before = first_at is None or at.hi * 1e6 < first_at
        if pruned and before:
            raise StateError(
                f"the history of {group_id!r}/{key!r} at {at} was pruned "
                f"(the oldest change kept is {first_seq_kept}; see MotiaNB.history_keep)"
            )
        where = f"seq IN ({_SEQS_AFTER})" if by_seq else f"seq IN ({_SEQS}) AND at_us > ?3"
        rows = self._query(f"SELECT {_COLUMNS} FROM changes WHERE {where} ORDER BY seq LIMIT 2", [group_id, key, param])
        after = [c for c in _changes(rows, key) if not by_seq or c[0] > param]
        if after:
            return _decode(after[0][2], group_id, key, f"before change {after[0][0]}")
        return self.exists(group_id, key), self.get(group_id, key)


def _change_dicts(rows: Sequence[Sequence[Any]], group_id: str, key: "str | None") -> list[dict[str, Any]]:
    """Changes ``(seq, at_us, old, new, trace_id, cause, pid, key)`` (:func:`_changes`) as the dicts
    of SPEC §9, the same as :func:`~motia_nb.state.history.change_dict` makes. The values are
    read as on Redis: each old one on its own, leniently
    (:func:`~motia_nb.state.jsontext.decode_lenient_many`: another tool's text that is not JSON
    reads as that text), the new ones (motia_nb's own) each by the C scanner too; the times by
    :func:`~motia_nb.state.history.iso_micros`, the event type read from which values are
    absent (:func:`.schema.event_type`)."""
    if not rows:
        return []
    olds = decode_lenient_many([r[2] for r in rows])  # another tool's text may be an old value
    news = decode_written_many([r[3] for r in rows])  # motia_nb's own
    times = iso_micros([r[1] for r in rows])
    return [
        {"seq": seq, "at": at, "event_type": CREATED if old is None else DELETED if new is None else UPDATED,
         "group_id": group_id, "key": k, "old_value": old_value, "new_value": new_value,
         "trace_id": trace or None, "cause": cause, "pid": pid}
        for (seq, _, old, new, trace, cause, pid, k), at, old_value, new_value in zip(rows, times, olds, news)
    ]  # fmt: skip


def _decode(text: "str | None", group_id: str, key: str, when: str) -> tuple[bool, Any]:
    """A past value's text (NULL = absent: before a create, after a delete), as strictly as
    :meth:`get` reads the present one: text another tool wrote that is not JSON is a
    StoredValueError naming the change (``when``: ``before change 42``), as on Redis."""
    return (False, None) if text is None else (True, decode_one(text, group_id, key, when))
