"""The changelog's statements (pure: builds SQL and parameters, runs nothing), and the
expansion of its records back into changes.

Every committed change is recorded in ``changes`` (see :mod:`.schema`), in the same
transaction as the change itself, so a change and its record commit (or vanish)
together. :func:`insert_planned` turns a batch's writes and plan entries into ONE
statement: a batch whose changes are all to one group with one cause, each to a
different item (a gather filling or overwriting a group, its most common shape),
becomes ONE *record* holding its ``n`` changes
(:data:`RECORD`: the keys and the texts' lengths as one JSON text, the texts
themselves joined end to end, as stored: numbers keep the text they were written
with, nothing is re-encoded); any other batch one row per change (:data:`INSERT`, run
with ``executemany``), a lone write its one row (:meth:`.recorder.Recorder.lone_row`).
Measured on 20,000 gathered sets, the writer's extra CPU for the history: ~120 ms as
rows, ~9 ms as one record (built in one pass, :func:`_as_record`).
:func:`expand` gives a record's changes back, each with its own seq, exactly as the
rows of one change would be.

An item's records are found through ``changes_keys`` (see :mod:`.schema`), filed by
the recorder's thread (:data:`FILE`), so a commit writes one table's pages for its
history and nothing else; :func:`item_seqs` reads an item's record seqs from it plus
the records not filed yet (a range scan of the newest ones).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any

from ...stored_text import NotText
from ..base import Write

__all__ = [
    "INSERT", "insert_one", "RECORD", "FILE", "insert_planned", "expand", "prune_by_count", "prune_by_age", "PRUNE_CHUNK", "FILE_CHUNK",
    "item_seqs", "group_seqs", "first_seq", "trim", "TRIM", "OLDEST", "COLUMNS", "changes_of", "horizon_sql",
]  # fmt: skip

#: How many rows one pruning transaction deletes at most (short write locks).
PRUNE_CHUNK = 2000
#: How many records one filing transaction files at most.
FILE_CHUNK = 2000
#: A batch records its changes as one record from this many changes up.
RECORD_MIN = 2
# the records past changes_filed.upto: not in changes_keys yet
_TAIL = "SELECT seq FROM changes WHERE seq > (SELECT upto FROM changes_filed)"
#: the first seq a record holds (a row of one change: its own)
first_seq = "seq - coalesce(n, 1) + 1"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

#: one change's row: (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin)
INSERT = (
    "INSERT INTO changes (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_one(pid: int, origin: int) -> str:
    """:data:`INSERT` for one writer (its ``pid`` and ``origin`` written in): a lone write binds
    seven parameters, not nine (each bound value is a call into SQLite under its mutex)."""
    return (
        "INSERT INTO changes (at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, {int(pid)}, {int(origin)})"
    )


#: a batch's record: (n, at_us, grp, layout, olds, news, trace_id, cause, pid, origin); its seq is
#: the newest given so far + n (pruning always keeps the newest record: no seq is given twice)
RECORD = (
    "INSERT INTO changes (seq, n, at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin) "
    "VALUES (coalesce((SELECT max(seq) FROM changes), 0) + ?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
)

#: One filing pass (the recorder's thread, its own transaction): the keys of the records
#: past ``changes_filed.upto``, at most :data:`FILE_CHUNK` records, against each record's
#: seq; then ``upto`` moves past them. Idempotent: two processes filing the same records
#: file each key once.
FILE = (
    "WITH todo AS (SELECT seq, n, grp, key FROM changes WHERE seq > (SELECT upto FROM changes_filed) "
    "ORDER BY seq LIMIT ?1) "
    "INSERT OR IGNORE INTO changes_keys (grp, key, seq) "
    "SELECT grp, key, seq FROM todo WHERE n IS NULL "
    "UNION ALL SELECT t.grp, j.value, t.seq FROM todo t, json_each(t.key, '$[0]') j WHERE t.n IS NOT NULL",
    "UPDATE changes_filed SET upto = (SELECT max(seq) FROM (SELECT seq FROM changes "
    "WHERE seq > (SELECT upto FROM changes_filed) ORDER BY seq LIMIT ?1)) "
    "WHERE EXISTS (SELECT 1 FROM changes WHERE seq > (SELECT upto FROM changes_filed))",
)


def insert_planned(
    writes: Sequence[Write], entries: Sequence[Any], *, at: int, pid: int, origin: int
) -> "tuple[str, list[tuple[Any, ...]]] | None":
    """The one statement recording a batch's changes, from its plan's entries (:class:`.apply.Plan`),
    before any value is decoded: ``(INSERT, rows)`` for ``executemany``, ``(RECORD, [params])``
    for a batch of changes to distinct items of one group with one cause, or None (nothing
    changed). ``at`` is the commit time in whole microseconds.

    Distinct items: an item's read then takes at most one change from a record (a hot key
    written 2,000 times in one batch stays 2,000 rows, read as before, not a slice of a
    record of 8,000 changes each time its history is read)."""
    if len(entries) >= RECORD_MIN and (record := _as_record(writes, entries, at, pid, origin)) is not None:
        return RECORD, [record]
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for w, e in zip(writes, entries):
        if type(e) is not tuple:  # the write's own error: nothing changed
            continue
        kind, g, k, old_text, _, new_text = e
        if kind == "clear":
            trace, cause = w.trace_id, w.cause
            rows.extend([(at, g, key, text, None, trace, cause, pid, origin) for key, text in old_text])
        elif old_text is not None or new_text is not None:  # deleting an absent item changes nothing
            append((at, g, k, old_text, new_text, w.trace_id, w.cause, pid, origin))
    if not rows:
        return None
    if len(rows) >= RECORD_MIN:
        first = rows[0]
        g, trace, cause = first[1], first[5], first[6]
        if (
            all(r[1] == g and r[5] == trace and r[6] == cause for r in rows)
            and len({r[2] for r in rows}) == len(rows)
            and NotText not in {type(r[3]) for r in rows}  # (rows keep another tool's BLOB or bytes as stored)
        ):
            return RECORD, [_record(rows, at, g, trace, cause, pid, origin)]
    return INSERT, rows


def _as_record(writes: Sequence[Write], entries: Sequence[Any], at: int, pid: int, origin: int) -> "tuple[Any, ...] | None":
    """The batch's record straight from its entries, in one pass (a gather's common shape: sets
    and deletes of distinct items of one group, one cause), without a row per change; None for
    any other batch (a clear, several groups or causes, an item twice, fewer than two changes),
    which :func:`insert_planned` then builds row by row. Measured on 20,000 gathered sets:
    ~8.5 ms of the writer's CPU where building the rows first took ~12."""
    keys: list[str] = []
    olds: list["str | None"] = []
    news: list["str | None"] = []
    g = trace = cause = None
    for w, e in zip(writes, entries):
        if type(e) is not tuple:  # the write's own error: nothing changed
            continue
        kind, eg, k, old_text, _, new_text = e
        if kind == "clear":
            return None
        if old_text is None and new_text is None:  # deleting an absent item changes nothing
            continue
        if not keys:
            g, trace, cause = eg, w.trace_id, w.cause
        elif eg != g or w.trace_id != trace or w.cause != cause:
            return None
        keys.append(k)
        olds.append(old_text)
        news.append(new_text)
    if len(keys) < RECORD_MIN or len(set(keys)) != len(keys) or NotText in set(map(type, olds)):
        return None  # (an old value another tool stored that is not text: a row of its own keeps it as stored)
    return (len(keys), at, g, *_pack(keys, olds, news), trace, cause, pid, origin)


def _record(rows: list[tuple[Any, ...]], at: int, g: str, trace: Any, cause: str, pid: int, origin: int) -> tuple[Any, ...]:
    """One record's parameters from its changes' rows (texts joined as they are)."""
    layout, olds, news = _pack([r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows])
    return (len(rows), at, g, layout, olds, news, trace, cause, pid, origin)


def _pack(keys: list[str], olds: list["str | None"], news: list["str | None"]) -> tuple[str, str, str]:
    """A record's ``key`` (its layout), ``old_value`` and ``new_value`` columns."""
    old_lens, old_text = _joined(olds)
    new_lens, new_text = _joined(news)
    return _dumps([keys, old_lens, new_lens]), old_text, new_text


def _joined(texts: list["str | None"]) -> tuple[list[int], str]:
    """The texts' lengths (-1: absent) and the present ones joined end to end (see :func:`_texts`)."""
    if None in texts:
        return [-1 if t is None else len(t) for t in texts], "".join([t for t in texts if t is not None])
    return list(map(len, texts)), "".join(texts)  # type: ignore[arg-type]


def trim(seq: int, n: int, layout: str, olds: str, news: str, upto: int) -> "tuple[tuple[Any, ...], list[str]]":
    """A record without its changes up to seq ``upto`` (pruning by count): the parameters of
    :data:`TRIM` and the keys no longer in it (to unfile)."""
    kept = [c for c in expand(seq, n, layout, olds, news) if c[0] > upto]
    keys = [c[1] for c in kept]
    gone = set(json.loads(layout)[0]).difference(keys)
    packed = _pack(keys, [c[2] for c in kept], [c[3] for c in kept])
    return (len(kept), *packed, seq), sorted(gone)


#: a trimmed record's new columns: (n, layout, olds, news, seq)
TRIM = "UPDATE changes SET n = ?, key = ?, old_value = ?, new_value = ? WHERE seq = ?"


#: every column of a record, as :func:`changes_of` takes them
COLUMNS = "seq, at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin, n"


def changes_of(records: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Records (:data:`COLUMNS`, in seq order) as the rows of one change each that the schema 4
    changelog held: ``(seq, at_us, grp, key, old_value, new_value, trace_id, cause, pid, origin)``."""
    out: list[tuple[Any, ...]] = []
    for seq, at, grp, key, old, new, trace, cause, pid, origin, n in records:
        if n is None:
            out.append((seq, at, grp, key, old, new, trace, cause, pid, origin))
        else:
            out.extend([(s, at, grp, k, o, v, trace, cause, pid, origin) for s, k, o, v in expand(seq, n, key, old, new)])
    return out


def _texts(joined: "str | None", lens: list[int]) -> list["str | None"]:
    """The texts ``joined`` end to end, by length (-1: absent)."""
    if joined is None:
        return [None] * len(lens)
    out: list["str | None"] = []
    append = out.append
    pos = 0
    for n in lens:
        if n < 0:
            append(None)
        else:
            append(joined[pos : pos + n])
            pos += n
    return out


def _positions(keys: list[str], key: str) -> list[int]:
    """Where ``key`` is in ``keys`` (``list.index`` scans in C: a hot key's 2,000 places among
    8,000 keys cost what one pass does)."""
    out: list[int] = []
    i = -1
    try:
        while True:
            i = keys.index(key, i + 1)
            out.append(i)
    except ValueError:
        return out


def _offsets(lens: list[int]) -> list[int]:
    """Where each text starts in the joined texts, and where the last ends (-1: absent, empty)."""
    return list(accumulate(lens if -1 not in lens else [x if x > 0 else 0 for x in lens], initial=0))


def expand(seq: int, n: int, layout: str, olds: "str | None", news: "str | None", key: "str | None" = None) -> Iterator[tuple[int, str, "str | None", "str | None"]]:
    """A record's changes, oldest first, as ``(seq, key, old_text, new_text)`` (texts None when
    absent); only those of ``key`` when given."""
    keys, old_lens, new_lens = json.loads(layout)
    base = seq - n + 1
    if key is None:
        return zip(range(base, seq + 1), keys, _texts(olds, old_lens), _texts(news, new_lens))
    picks = _positions(keys, key)
    if not picks:
        return iter(())
    old_at, new_at = _offsets(old_lens), _offsets(new_lens)
    return iter([
        (base + i, key,
         None if old_lens[i] < 0 else olds[old_at[i] : old_at[i + 1]],  # type: ignore[index]
         None if new_lens[i] < 0 else news[new_at[i] : new_at[i + 1]])  # type: ignore[index]
        for i in picks
    ])  # fmt: skip


def item_seqs(group: str, key: str, cond: str = "") -> str:
    """A subquery: the seqs of the records holding the item's retained changes (``group`` and
    ``key`` are SQL parameter names; ``cond``, if any, a further condition on a record's
    ``seq``): those filed, and those of the tail. As ``seq IN (...)`` on ``changes``, the
    records are read in seq order (either way), one rowid lookup each."""
    also = f" AND {cond}" if cond else ""
    return (
        f"SELECT seq FROM changes_keys WHERE grp = {group} AND key = {key}{also} "
        f"UNION ALL {_TAIL} AND grp = {group} AND key = {key} AND n IS NULL{also} "
        f"UNION ALL {_TAIL} AND grp = {group} AND n IS NOT NULL{also} "
        f"AND EXISTS (SELECT 1 FROM json_each(changes.key, '$[0]') j WHERE j.value = {key})"
    )


def group_seqs(group: str, cond: str = "") -> str:
    """As :func:`item_seqs`, for every item of a group."""
    also = f" AND {cond}" if cond else ""
    return f"SELECT seq FROM changes_keys WHERE grp = {group}{also} UNION ALL {_TAIL} AND grp = {group}{also}"


#: the oldest record, if it holds changes older than the newest ``?1`` (pruning by count trims it)
OLDEST = (
    "SELECT seq, n, grp, key, old_value, new_value FROM (SELECT * FROM changes ORDER BY seq LIMIT 1) "
    "WHERE n IS NOT NULL AND seq - n + 1 <= (SELECT max(seq) FROM changes) - ?1"
)


def prune_by_count(keep: int) -> "tuple[str, tuple[Any, ...]]":
    """Delete (at most :data:`PRUNE_CHUNK` of) the changes older than the newest ``keep`` (>= 1:
    the newest row stays, so its seq is never given again)."""
    return (
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes "
        "WHERE seq <= (SELECT max(seq) FROM changes) - ?1 ORDER BY seq LIMIT ?2)",
        (keep, PRUNE_CHUNK),
    )


def prune_by_age(before: float) -> "tuple[str, tuple[Any, ...]]":
    """Delete (at most :data:`PRUNE_CHUNK` of) the changes committed before ``before`` (unix
    seconds), except the newest row, whatever its age: ``seq`` is the rowid, and keeping the
    newest is what keeps a seq from being given twice. Rows are in ``at`` order by seq, so
    the scan stops at the first young row."""
    return (
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes "
        "WHERE seq < coalesce((SELECT seq FROM changes WHERE at_us >= ?1 ORDER BY seq LIMIT 1), "
        "(SELECT max(seq) FROM changes)) ORDER BY seq LIMIT ?2)",
        (before * 1e6, PRUNE_CHUNK),
    )


def horizon_sql(max_count: "int | None", max_age: "float | None", now: float) -> "tuple[str, tuple[Any, ...]]":
    """ONE statement (one snapshot) giving the retention's horizon at ``now`` (unix seconds):
    ``(lo, at_us of the record holding lo, at_us of the newest record)``, ``lo`` the first seq
    the retention keeps (1: every change), the latest of: the oldest change stored, the first of
    the newest ``max_count`` of the store, the first recorded at ``now - max_age`` or later
    (none: past the newest). What pruning would leave, computed without waiting for it (rows
    are in ``at`` order by seq: the age's scan stops at the first young row)."""
    age = "0"
    params: tuple[Any, ...] = (max_count if max_count is not None else 1 << 62,)
    if max_age is not None:
        age = (
            "coalesce((SELECT seq - coalesce(n, 1) + 1 FROM changes WHERE at_us >= ?2 ORDER BY seq LIMIT 1), "
            "coalesce((SELECT mx FROM m), 0) + 1)"
        )
        params += ((now - max_age) * 1e6,)
    return (
        "WITH m AS (SELECT max(seq) AS mx FROM changes), "
        f"h AS (SELECT max(coalesce((SELECT {first_seq} FROM changes ORDER BY seq LIMIT 1), 1), "
        f"coalesce((SELECT mx FROM m), 0) - ?1 + 1, {age}) AS lo) "
        "SELECT lo, (SELECT at_us FROM changes WHERE seq >= lo ORDER BY seq LIMIT 1), "
        "(SELECT at_us FROM changes ORDER BY seq DESC LIMIT 1) FROM h",
        params,
    )
