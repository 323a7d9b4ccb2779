"""A batch of writes as a plan computed in Python plus a short list of SQL statements.

:func:`batch_steps` is the whole logic of a batch, free of I/O: a generator that
yields the statements that read the old rows, receives their rows, applies the
writes in order in Python against an overlay of those rows (a :class:`Plan`), and
yields the statements that write the result back. Each executor drives it with
its own one function (:mod:`.writer`: ``run_statements`` on the caller's thread,
``run_statements_async`` awaiting aiosqlite), so every way a batch reaches the
database runs the very same statements. A statement is ``(sql, params)``.

Two statement shapes, identical results, events, errors and rows
(tests/test_sqlite_apply.py proves it by property):

- **point** (batches up to :data:`SMALL_BATCH` writes): one ``SELECT`` per item —
  what a lone write needs, nothing more;
- **set-based** (larger batches): one ``json_each`` fetch of every old row,
  whatever the size. Distinct sets to one group (a gather filling or
  overwriting a group) skip the overlay: one fetch by key (none walked when
  the group is empty), the upserts in write order (:func:`_set_steps`).

Either way the write-back is at most three ``executemany`` calls (rows of cleared
groups, rows deleted, rows upserted in creation order), the same shape as a raw
``executemany`` upsert: no value text is re-encoded into a JSON parameter.

Neither begins or commits: the executor owns the transaction. An update whose ops
cannot apply answers its own ``StateError`` and leaves its item untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

from ...errors import StateError
from ...jsontext import decode_one, decode_stored
from ...stored_text import NotText, Undecodable
from ...op_result import encode_result
from ...ops import MISSING, apply_ops
from ...values import NOT_COPIED
from ..base import Write, WriteResult
from .outcomes import outcomes_of

__all__ = ["Statement", "Steps", "Record", "Plan", "batch_steps", "SMALL_BATCH", "UPSERT", "DELETE_ONE"]

#: Batches up to this size use point statements; larger ones set-based.
SMALL_BATCH = 4

#: ``(sql, params)``; params a tuple, or a list of tuples (run with ``executemany``, in order)
Statement = tuple[str, Any]
Steps = Generator[list[Statement], list[list[Any]], "Planned"]

_loads = json.loads
_trusted = decode_stored
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_SELECT_ONE = "SELECT grp, key, value FROM items WHERE grp = ? AND key = ?"
_SELECT_GROUP = "SELECT grp, key, value FROM items WHERE grp = ? ORDER BY id"
UPSERT = (
    "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value"
)
DELETE_ONE = "DELETE FROM items WHERE grp = ? AND key = ?"
_DELETE_GROUP = "DELETE FROM items WHERE grp = ?"

#: (a value that is not text, another tool's: ``[typeof, hex]``, as JSON cannot hold a BLOB)
_FETCH_MANY = (
    "SELECT json_group_array(json_array(i.grp, i.key, "
    "CASE WHEN typeof(i.value) = 'text' THEN i.value ELSE json_array(typeof(i.value), hex(i.value)) END)) "
    "FROM json_each(?) j "
    "JOIN items i ON i.grp = json_extract(j.value, '$[0]') AND i.key = json_extract(j.value, '$[1]')"
)
_SELECT_GROUPS = "SELECT grp, key, value FROM items WHERE grp IN (SELECT value FROM json_each(?)) ORDER BY id"
#: the old rows of keys of ONE group: the keys' array walked once, each probed in the (grp, key) index;
#: nothing walked at all when the group is empty (a group being filled)
_FETCH_KEYS = (
    "SELECT i.key, i.value FROM json_each(CASE WHEN EXISTS (SELECT 1 FROM items WHERE grp = ?1) THEN ?2 ELSE '[]' END) j "
    "CROSS JOIN items i ON i.grp = ?1 AND i.key = j.value"
)


class _Slot:
    """What a batch knows about one item: its text now, and how to write it back."""

    __slots__ = ("text", "in_db", "recreated", "created_at", "dirty")

    def __init__(self, text: str | None) -> None:
        self.text = text  # current JSON text, None = absent
        self.in_db = text is not None  # a row existed before the batch
        self.recreated = False  # deleted during the batch after having existed
        self.created_at = -1  # batch position of its (last) creation, -1 = not created here
        self.dirty = False  # written during the batch


def _aggregate(text: Any) -> list[Any]:
    """The rows of :data:`_FETCH_MANY`'s one value; when a value's text is not UTF-8 the fetch
    gave :class:`~motia_nb.state.stored_text.Undecodable` bytes: read with its bad bytes as lone
    surrogates, and each value holding one as those bytes again."""
    if type(text) is str:
        return _loads(text)
    rows = _loads(bytes(text).decode("utf-8", "surrogateescape"))
    for row in rows:
        if type(row[2]) is str:
            try:
                row[2].encode("utf-8")
            except UnicodeEncodeError:
                row[2] = Undecodable(row[2].encode("utf-8", "surrogateescape"))
    return rows


def _not_text(cell: Any) -> NotText:
    """A value :data:`_FETCH_MANY` gave as ``[typeof, hex]`` (or as Undecodable bytes)."""
    if type(cell) is list:
        kind, hexed = cell
        raw = bytes.fromhex(hexed)
        cell = raw if kind == "blob" else Undecodable(raw) if kind == "text" else (int if kind == "integer" else float)(raw)
    return NotText.of(cell)


def _first(t: tuple[Any, ...]) -> Any:
    return t[0]


#: ``record(writes, plan.entries)``: the changelog statement of a batch, or None (:mod:`.recorder`)
Record = Callable[[list[Write], list[Any]], "Statement | None"]


def batch_steps(writes: list[Write], *, set_based: bool | None = None, record: Record | None = None) -> "Steps":
    """The batch as a generator: ``rows = yield fetch``; ``yield writes_back``; returns the :class:`Plan`.

    ``set_based`` picks the statement shape (default: by size). ``record`` adds the
    changelog statement after the write-back (same transaction, same executor).
    """
    many = len(writes) > SMALL_BATCH if set_based is None else set_based
    if many and writes:
        keys = _distinct_set_keys(writes)
        if keys is not None:
            return (yield from _set_steps(writes, keys, record))
    if len(writes) == 1:  # the lone write (sequential awaits): no dedup needed
        w = writes[0]
        pairs, groups = ([], [w.group_id]) if w.kind == "clear" else ([(w.group_id, w.key)], [])
    else:
        pairs = list({(w.group_id, w.key): None for w in writes if w.kind != "clear"})
        groups = list({w.group_id: None for w in writes if w.kind == "clear"})
    fetch: list[Statement] = []
    if many:
        if pairs:
            fetch.append((_FETCH_MANY, (_dumps(pairs),)))
        if groups:
            fetch.append((_SELECT_GROUPS, (_dumps(groups),)))
    else:
        fetch.extend((_SELECT_ONE, p) for p in pairs)
        fetch.extend((_SELECT_GROUP, (g,)) for g in groups)
    rows = yield fetch
    plan = Plan(writes)
    plan.load(rows, aggregated=many and bool(pairs), groups=groups, group_statements=(1 if many else len(groups)) if groups else 0)
    plan.apply()
    statements = plan.write_back()
    if record is not None:
        change = record(writes, plan.entries)
        if change is not None:
            statements.append(change)
    if statements:
        yield statements
    return plan


def _distinct_set_keys(writes: list[Write]) -> list[str] | None:
    """The keys of ``writes`` when they are all sets to ONE group, each key once (a gather
    filling or overwriting a group), else None."""
    g = writes[0].group_id
    keys = [w.key for w in writes if w.kind == "set" and w.group_id == g]
    if len(keys) != len(writes) or len(set(keys)) != len(keys):
        return None
    return keys  # type: ignore[return-value]


def _set_steps(writes: list[Write], keys: list[str], record: Record | None) -> Steps:
    """:func:`batch_steps` of distinct sets to one group, without the overlay: each write's old
    text is its key's fetched row, the upserts go in write order (new items are created in that
    order; an upsert of an existing item keeps its id), so the rows, outcomes and changelog are
    the general path's (tests/test_sqlite_apply.py checks it by property). The plan's entries
    are made only when needed (a changelog, an item that existed, events)."""
    g = writes[0].group_id
    (found,) = yield [(_FETCH_KEYS, (g, _keys_json(keys)))]
    statements: list[Statement] = [(UPSERT, [(g, w.key, w.value_json) for w in writes])]
    planned = _SetsPlanned(writes, g, _texts_by_key(found) if found else None)
    if record is not None:
        change = record(writes, planned.entries)
        if change is not None:
            statements.append(change)
    yield statements
    return planned


def _texts_by_key(found: list[Any]) -> dict[str, Any]:
    """``(key, value)`` rows as a dict, a value that is not text (another tool's) a NotText."""
    texts = dict(found)
    if set(map(type, texts.values())) != {str}:
        texts = {k: NotText.of(v) if type(v) is not str else v for k, v in texts.items()}
    return texts


def _keys_json(keys: list[str]) -> str:
    """``_dumps(keys)``: joined as they are when no key needs escaping in JSON (printable
    ASCII without a quote or a backslash: the same text, without encoding each key)."""
    body = '","'.join(keys)
    if body.isascii() and body.isprintable() and "\\" not in body and body.count('"') == 2 * len(keys) - 2:
        return '["' + body + '"]'
    return _dumps(keys)


class Planned:
    """A batch's plan entries (:attr:`Plan.entries`); :meth:`outcomes` answers each write."""

    __slots__ = ("entries",)

    def __init__(self, entries: list[Any]) -> None:
        self.entries = entries

    def outcomes(self, *, events: bool) -> "list[WriteResult | StateError | Any]":
        """One outcome per write (:func:`outcomes_of` its entries)."""
        return outcomes_of(self.entries, events=events)


class _SetsPlanned(Planned):
    """:func:`_set_steps`'s plan: its entries (:attr:`Plan.entries`) made on first use; when no
    item existed and every value was copied at submission, the results are built straight from
    the writes (what :func:`outcomes_of` would give)."""

    __slots__ = ("writes", "group", "old", "_entries")

    def __init__(self, writes: list[Write], group: str, old: "dict[str, str] | None") -> None:
        self.writes, self.group, self.old = writes, group, old
        self._entries: list[Any] | None = None

    @property  # type: ignore[override]
    def entries(self) -> list[Any]:
        if self._entries is None:
            g, old = self.group, self.old
            if old is None:
                self._entries = [("set", g, w.key, None, w.value, w.value_json) for w in self.writes]
            else:
                get = old.get
                self._entries = [("set", g, w.key, get(w.key), w.value, w.value_json) for w in self.writes]
        return self._entries

    def outcomes(self, *, events: bool) -> "list[WriteResult | StateError | Any]":
        if events or self.old is not None:
            return outcomes_of(self.entries, events=events)
        values = [w.value for w in self.writes]
        if NOT_COPIED in values:  # (values are JSON: `in` compares identities first)
            return outcomes_of(self.entries, events=events)
        return [{"new_value": v, "old_value": None} for v in values]


class Plan(Planned):
    """The writes of one batch applied in Python; :meth:`outcomes` answers each write."""

    __slots__ = ("writes", "slots", "group_order", "cleared_groups")

    def __init__(self, writes: list[Write]) -> None:
        self.writes = writes
        self.slots: dict[tuple[str, Any], _Slot] = {}
        self.group_order: dict[str, list[Any]] = {}  # cleared groups: their stored keys in id order
        #: per write, in order: its own StateError, or ``(kind, group, key, old_text, new,
        #: new_text)`` — ``new`` the value object of an update (a set's ``Write.value``:
        #: ``NOT_COPIED`` when its text must be decoded), texts None when absent; a clear:
        #: ``("clear", group, None, [(key, old_text)…], None, None)``
        self.entries: list[Any] = []
        self.cleared_groups: set[str] = set()

    def load(self, rows: list[list[Any]], *, aggregated: bool, groups: list[str], group_statements: int) -> None:
        """Slots from the fetched rows: the items' rows, then the cleared groups' rows in id order
        (the last ``group_statements`` results)."""
        slots = self.slots
        split = len(rows) - group_statements
        # a value another tool stored that is not text (a BLOB, text that is not UTF-8, a
        # number) is carried as a NotText: handed back leniently as an old value, refused by
        # an update (decode_one), recorded as stored
        if aggregated:
            for g, k, text in _aggregate(rows[0][0][0]):
                slots[(g, k)] = _Slot(text if type(text) is str else _not_text(text))
        else:
            for result in rows[:split]:
                for g, k, text in result:
                    slots[(g, k)] = _Slot(text if type(text) is str or text is None else NotText.of(text))
        order = self.group_order
        for g in groups:
            order[g] = []
        for result in rows[split:]:
            for g, k, text in result:
                if (g, k) not in slots:
                    slots[(g, k)] = _Slot(text if type(text) is str else NotText.of(text))
                order[g].append(k)

    def apply(self) -> None:
        """Apply the writes in order on the slots (texts only; decoding waits for :meth:`outcomes`)."""
        slots, entries = self.slots, self.entries
        for pos, w in enumerate(self.writes):
            g = w.group_id
            if w.kind == "clear":
                entries.append(("clear", g, None, self._clear(g), None, None))
                continue
            pk = (g, w.key)
            slot = slots.get(pk)
            if slot is None:
                slot = slots[pk] = _Slot(None)
            old_text = slot.text
            if w.kind == "delete":
                if old_text is not None:
                    slot.text, slot.dirty = None, True
                    if slot.in_db:
                        slot.recreated = True
                entries.append(("delete", g, w.key, old_text, None, None))
                continue
            if w.kind == "set":
                new_text: str = w.value_json  # type: ignore[assignment]
                new: Any = w.value
            elif w.kind == "update":
                try:  # (a stored text another tool wrote that is not JSON: its StoredValueError)
                    current = decode_one(old_text, g, w.key) if old_text is not None else MISSING
                    new = apply_ops(current, w.ops or [], group_id=g, key=w.key)  # type: ignore[arg-type]
                    new_text = encode_result(new, w.ops, current, group_id=g, key=w.key)  # type: ignore[arg-type]
                except StateError as exc:
                    entries.append(exc)
                    continue
            else:
                entries.append(StateError(f"unknown write kind {w.kind!r}"))
                continue
            if old_text is None:
                slot.created_at = pos
            slot.text, slot.dirty = new_text, True
            entries.append((w.kind, g, w.key, old_text, new, new_text))

    def _clear(self, g: str) -> list[tuple[Any, str]]:
        """Empty group ``g`` in the overlay; its items (key, text) in insertion order."""
        self.cleared_groups.add(g)
        slots = self.slots
        stored = [(k, slots[(g, k)]) for k in self.group_order.get(g, ())]
        kept = [(k, s) for k, s in stored if s.text is not None and not s.recreated]
        made = sorted(((k, s) for (gg, k), s in slots.items() if gg == g and s.text is not None and (not s.in_db or s.recreated)),
                      key=lambda ks: ks[1].created_at)  # fmt: skip
        removed = []
        for k, s in kept + made:
            removed.append((k, s.text))
            s.text, s.dirty = None, True
            if s.in_db:
                s.recreated = True
        return removed

    def write_back(self) -> list[Statement]:
        """Rows deleted during the batch go first (a re-created item must move to the end),
        then every item written, new ones in creation order (``executemany`` keeps the order)."""
        groups = self.cleared_groups
        gone = [(g, k) for (g, k), s in self.slots.items()
                if s.in_db and (s.recreated or s.text is None) and g not in groups]  # fmt: skip
        present = [(s.created_at, g, k, s.text) for (g, k), s in self.slots.items() if s.dirty and s.text is not None]
        if len(present) > 1:
            present.sort(key=_first)
        out: list[Statement] = []
        if groups:
            out.append((_DELETE_GROUP, [(g,) for g in self.group_order if g in groups]))
        if gone:
            out.append((DELETE_ONE, gone))
        if present:
            out.append((UPSERT, [(g, k, text) for _, g, k, text in present]))
        return out
