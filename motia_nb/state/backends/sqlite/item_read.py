"""One item's history in one statement, and its change dicts built in one pass.

An item's history is the hot read (the viewer's item panel, ``%state history G K``,
a key changed 10,000 times). :func:`item_read_sql` reads it with ONE statement (one
snapshot): the item's *pages* (:mod:`.pages`: every filed change, packed, a few rows
chosen by a running count of their changes) and the unfiled tail (a range scan of
the newest rows; a batch's record is looked into only when its key text holds the
item's JSON name, so ``json_each`` parses the few records that may hold it), and
:func:`item_dicts` decodes each column of all the pages with one ``json.loads``.
A history from a time (``since`` a datetime) is read by :func:`item_changes_sql`
instead: the filed changes through ``changes_keys`` (an index range joined to its
rows by rowid) merged by SQLite in seq order with the tail's.

Each change row carries just what a change dict needs, the old and new texts and the
event type as a small int; each text is decoded on its own
(:func:`~motia_nb.state.jsontext.decode_lenient_many`: an old value another tool wrote that
is not JSON reads as its text, as on Redis, and never shifts its neighbours); a record of a batch holding the
item comes with its layout and texts, and the item's change is sliced out of it
(:func:`row_changes`). The answer is exactly what the one-row-per-change model gives
(``tests/test_history_item_read.py`` checks it by property).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...history import iso_micros
from ...jsontext import decode_lenient_many, decode_stored, decode_written_many
from .changelog import _positions
from .pages import EVENT_TYPES, HORIZON, PAGED, page_changes

__all__ = ["item_changes_sql", "item_read_sql", "item_dicts", "item_change_dicts", "row_changes", "record_row", "EVENT_TYPES"]

_quoted = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # as a record's layout holds a key

# (seq, at_us, old and new text (a record's: its texts joined), event code (a record's: none that
# counts), trace_id, cause, pid, and for a record only its layout (keys, old and new texts' lengths))
_ROW = (
    "{t}at_us, {t}old_value, {t}new_value, ({t}old_value IS NULL) + 2 * ({t}new_value IS NULL), {t}trace_id, "
    "{t}cause, {t}pid, CASE WHEN {t}n IS NOT NULL THEN {t}key END"
)
# ?1 group, ?2 key, ?3 the key as a record's layout spells it, ?4 since (a seq or a time), ?5 limit
_TAIL = (
    f"SELECT seq, {_ROW.format(t='')} FROM changes WHERE seq > (SELECT upto FROM changes_filed) AND grp = ?1 "
    "AND (n IS NULL AND key = ?2 OR n IS NOT NULL AND instr(key, ?3) "
    "AND EXISTS (SELECT 1 FROM json_each(changes.key, '$[0]') j WHERE j.value = ?2))"
)
# (up to changes_filed.upto: a file upgraded to schema 6 files every record again, its keys are in
# changes_keys already)
_FILED = (
    f"SELECT k.seq, {_ROW.format(t='c.')} FROM changes_keys k JOIN changes c ON c.seq = k.seq "
    "WHERE k.grp = ?1 AND k.key = ?2 AND k.seq <= (SELECT upto FROM changes_filed)"
)
# the item's pages (?6: how many changes are wanted from them), by a running count of their
# changes from the newest (or, after a seq, from the oldest) kept page: the index alone
# chooses them, the big columns are read for those chosen only. After a seq, the oldest
# page is not counted: it may hold changes up to the seq, or below the horizon
_PAGES = (
    "SELECT p.first, NULL, p.n, p.seqs, p.ats, p.who, p.vals, {horizon}, NULL "
    "FROM (SELECT first, sum(n) OVER o - n{skip} AS before FROM changes_pages "
    "WHERE grp = ?1 AND key = ?2 AND last >= {horizon}{cond} WINDOW o AS (ORDER BY first {order})) w "
    "JOIN changes_pages p ON p.grp = ?1 AND p.key = ?2 AND p.first = w.first WHERE w.before < ?6"
)


def item_read_sql(group_id: str, key: str, *, seq_after: "int | None", limit: int) -> "tuple[str, list[Any]]":
    """ONE statement for an item's newest ``limit`` changes (``seq_after`` None) or its first
    ``limit`` after a seq, in seq order (newest first / oldest first): the rows
    (:data:`_ROW`) of its changes past its pages, filed (records past the pages' ``upto``,
    through ``changes_keys``) and the unfiled tail, and its pages (rows whose second column is
    NULL: ``first, NULL, n, seqs, ats, who, vals, horizon, NULL``), merged by SQLite. Each row
    holds at least one retained change, so ``limit`` rows (one more after a seq) are enough.
    For :func:`item_dicts`."""
    filed = f"{_FILED} AND k.seq > {PAGED}"
    if seq_after is None:
        pages = _PAGES.format(horizon=HORIZON, order="DESC", cond="", skip="")
        sql = f"{pages} UNION ALL {_TAIL} UNION ALL {filed} ORDER BY 1 DESC LIMIT ?5"
        rows = limit  # each row holds at least one retained change
    else:
        pages = _PAGES.format(horizon=HORIZON, order="", cond=" AND last > ?4", skip=" - first_value(n) OVER o")
        sql = f"{pages} UNION ALL {_TAIL} AND seq > ?4 UNION ALL {filed} AND k.seq > ?4 ORDER BY 1 LIMIT ?5"
        rows = limit + 1  # each row holds a change after the seq, but a record's may be up to it
    return sql, [group_id, key, _quoted(key), seq_after, rows, limit]


def item_dicts(rows: list[Sequence[Any]], group_id: str, key: str, *, seq_after: "int | None", limit: int) -> list[dict[str, Any]]:
    """The dicts of SPEC §9 from the rows of :func:`item_read_sql`, oldest first."""
    if seq_after is None:
        rows.reverse()
    cut = next((i for i, r in enumerate(rows) if r[1] is not None), len(rows))  # pages first, oldest first
    pages = [(r[0], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows[:cut]]  # (first, n, seqs, ats, who, vals, horizon)
    tail = row_changes(rows[cut:], key)
    if seq_after is None:
        want = limit - len(tail)
        if want <= 0:
            return item_change_dicts(tail[-limit:], group_id, key)
        chosen: list[Sequence[Any]] = []
        for p in reversed(pages):
            if want <= 0:
                break
            chosen.append(p)
            want -= p[1]
        chosen.reverse()
        lo = chosen[0][6] if chosen else 0  # the horizon
        out = _page_dicts(chosen, group_id, key, lo or 0, limit - len(tail), newest=True)
        return out + item_change_dicts(tail, group_id, key)
    tail = [r for r in tail if r[0] > seq_after]
    need = limit
    chosen = []
    for p in pages:
        if need <= 0:
            break
        if chosen:  # only the oldest page may hold changes up to the seq or below the horizon
            need -= p[1]
        chosen.append(p)
    lo = max(seq_after + 1, chosen[0][6] or 0) if chosen else 0
    out = _page_dicts(chosen, group_id, key, lo, limit, newest=False)
    if len(out) < limit:
        out += item_change_dicts(tail[: limit - len(out)], group_id, key)
    return out


def _page_dicts(pages: list[Sequence[Any]], group_id: str, key: str, lo: int, limit: int, *, newest: bool) -> list[dict[str, Any]]:
    """The changes of ``pages`` (in seq order) with seqs >= ``lo``: the newest ``limit`` of them
    (``newest``), else the first ``limit``."""
    if not pages or limit <= 0:
        return []
    seqs, ats, values, events, traces, causes, pids, start = page_changes([p[1:] for p in pages], lo)
    end = len(seqs)
    if newest:
        start = max(start, end - limit)
    else:
        end = min(end, start + limit)
    it = iter(values[2 * start : 2 * end])
    return [
        {"seq": seq, "at": at, "event_type": e, "group_id": group_id, "key": key, "old_value": old_value,
         "new_value": new_value, "trace_id": trace, "cause": cause, "pid": pid}
        for seq, at, e, old_value, new_value, trace, cause, pid in zip(
            seqs[start:end], ats[start:end], events[start:end], it, it, traces[start:end], causes[start:end], pids[start:end])
    ]  # fmt: skip


def item_changes_sql(
    group_id: str, key: str, *, seq_after: "int | None", at_from: "float | None", limit: int, newest: bool
) -> "tuple[str, list[Any]]":
    """The statement and parameters of an item's changes through ``changes_keys`` (rows of
    :data:`_ROW`): the newest ``limit`` (``newest``, newest first) or the first ``limit``
    after a seq / from a time (oldest first). After a seq, one more: the oldest record
    may hold only a change up to it."""
    if seq_after is not None:
        tail_cond, filed_cond, since, limit = " AND seq > ?4", " AND k.seq > ?4", seq_after, limit + 1
    elif at_from is not None:
        tail_cond = filed_cond = " AND at_us >= ?4"
        since = at_from
    else:
        tail_cond = filed_cond = ""
        since = None
    order = "DESC" if newest else ""
    sql = f"{_TAIL}{tail_cond} UNION ALL {_FILED}{filed_cond} ORDER BY 1 {order} LIMIT ?5"
    return sql, [group_id, key, _quoted(key), since, limit]


def row_changes(rows: list[Sequence[Any]], key: str) -> list[Sequence[Any]]:
    """Rows of :data:`_ROW` (in seq order, either way) as changes of the item: a record's row
    as the item's change(s) in it (as :func:`record_row` makes them), the others as they are.

    A record's change is sliced out of its joined texts by its layout alone (one small
    scan): measured, ~2 µs a record of a gather of two, where parsing the record
    whole as one JSON array (its texts escaped in it) then expanding it took ~6."""
    if all(r[8] is None for r in rows):
        return rows
    out: list[Sequence[Any]] = []
    ascending = len(rows) < 2 or rows[0][0] <= rows[-1][0]
    for r in rows:
        layout = r[8]
        if layout is None:
            out.append(r)
            continue
        seq, at, olds, news, _, trace, cause, pid, _ = r
        keys, old_lens, new_lens = decode_stored(layout)  # (motia_nb's compact JSON: the C scanner straight away)
        base = seq - len(keys) + 1
        got = [record_row(base + i, at, _cut(olds, old_lens, i), _cut(news, new_lens, i), trace, cause, pid)
               for i in _positions(keys, key)]  # fmt: skip
        out.extend(got if ascending else reversed(got))
    return out


def _cut(joined: "str | None", lens: list[int], i: int) -> "str | None":
    """The ``i``-th of texts joined end to end with these lengths (-1: absent)."""
    n = lens[i]
    if n < 0:
        return None
    start = sum([x for x in lens[:i] if x > 0]) if i else 0
    return joined[start : start + n]  # type: ignore[index]


def record_row(seq: int, at: int, old: "str | None", new: "str | None", trace: Any, cause: str, pid: int) -> tuple[Any, ...]:
    """One change of a record as a row of :data:`_ROW`."""
    return (seq, at, old, new, (old is None) + 2 * (new is None), trace, cause, pid, None)


def item_change_dicts(rows: Sequence[Sequence[Any]], group_id: str, key: str) -> list[dict[str, Any]]:
    """Changes of :func:`row_changes` (oldest first) as the dicts of SPEC §9,
    exactly as :func:`~motia_nb.state.history.change_dict` makes them: every old and new value
    decoded as Redis reads its changelog: the old ones each on its own, leniently
    (:func:`~motia_nb.state.jsontext.decode_lenient_many`: another tool's text that is not JSON
    reads as that text), the new ones (motia_nb's own) each by the C scanner too; the times by
    :func:`~motia_nb.state.history.iso_micros`."""
    if not rows:
        return []
    olds = decode_lenient_many([r[2] for r in rows])  # another tool's text may be an old value
    news = decode_written_many([r[3] for r in rows])  # motia_nb's own
    times = iso_micros([r[1] for r in rows])
    ev = EVENT_TYPES
    return [
        {"seq": seq, "at": at, "event_type": ev[e], "group_id": group_id, "key": key, "old_value": old_value,
         "new_value": new_value, "trace_id": trace or None, "cause": cause, "pid": pid}
        for (seq, _, _, _, e, trace, cause, pid, _), at, old_value, new_value in zip(rows, times, olds, news)
    ]  # fmt: skip
