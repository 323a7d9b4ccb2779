"""``state_manager.sync``: the synchronous twin of the async state API, and the DataFrame builder.

:class:`SyncStateManager` is safe with no event loop, inside a running loop (a
Jupyter cell) and from other threads: writes block only the calling thread while
motia_nb's own threads do the work; reads run on the caller's thread.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .backends.base import Order
from .history import at_point, history_args
from .jsontext import decode_checked
from .requests import clear_write, delete_write, item_names, page_args, prefix_args, set_write, update_write
from .values import check_name

if TYPE_CHECKING:
    import pandas as pd

    from .manager import StateManager

__all__ = ["SyncStateManager", "to_frame"]


def to_frame(rows: Sequence[tuple[Any, ...]], *, flatten: bool, group_id: str = "") -> "pd.DataFrame":
    """``(key, value JSON, …)`` rows of ``group_id`` as a DataFrame: a ``key`` column, then the values'
    fields (nested objects as dotted columns when ``flatten``; non-object values in a ``value``
    column). A text that is not JSON (another tool's) is a :class:`StoredValueError` naming it.
    Rows whose ``all_valid`` is true (SQLite's ``frame_rows``) are decoded with one parse."""
    import pandas as pd

    keys = [r[0] for r in rows]
    texts = [r[1] for r in rows]
    valid = getattr(rows, "all_valid", False)  # SQLite's rows: json_valid said 1 for every text
    try:
        text = "[" + ",".join(texts) + "]"  # the one parse's text; the checks below search it
    except TypeError:  # a value that is not text (another tool's): decode_checked names it
        text, valid = "", False
    values = decode_checked(texts, group_id, keys, all_valid=valid, joined=text)  # else text by text
    if not values:
        return pd.DataFrame({"key": pd.Series([], dtype=object)})
    all_objects = all(type(v) is dict for v in values)
    if not all_objects:
        values = [v if type(v) is dict else {_SCALAR: v} for v in values]
    nested = flatten and any(type(x) is dict for v in values for x in v.values())
    if nested and _DOTTED_KEY.search(text) and _dotted_collision(values):
        # {"x.y": 1, "x": {"y": 2}}: both would be column "x.y" and one value lost
        warnings.warn(
            "frame: a field name with a dot equals a nested field's dotted column name; "
            "nested objects are kept in their columns instead (flatten=False) so no value is lost",
            stacklevel=3,
        )
        nested = False
    build = pd.json_normalize if nested else pd.DataFrame.from_records
    df = build(values)
    # (a float column first: 200 MB of text took 5 s to search, a frame of documents 6 s for 1)
    if any(df[c].dtype.kind == "f" for c in df.columns) and _LONG_DIGITS.search(text):
        _exact_integers(df, build([_wrap_big(v, nested) for v in values]))
    df = df.rename(columns=_column_names(list(df.columns), all_objects))
    df.insert(0, "key", keys)
    return df


#: the column of values that are not objects while the frame is built (any str can be a field's name)
_SCALAR = "\x00motia_nb value\x00"


def _column_names(columns: list[str], all_objects: bool) -> dict[str, str]:
    """The renames that keep every column's name its own: a value field called ``key`` must not
    hide the item's key (``value.key``), nor, beside values that are not objects (column
    ``value``), one called ``value`` pass for them (``value.value``); a name already taken by a
    flattened field (``{"value": {"key": 1}}`` is ``value.key``) takes one more ``value.``."""
    taken = set(columns)
    renames: dict[str, str] = {}
    for name in ("key",) if all_objects else ("key", "value"):
        if name in taken:
            new = "value." + name
            while new in taken:
                new = "value." + new
            if new != "value." + name:  # a name nobody would guess: say it
                warnings.warn(f"frame: the values' field {name!r} is column {new!r}, as column "
                              f"{'value.' + name!r} holds another of their fields", stacklevel=4)
            taken.add(new)
            renames[name] = new
    if not all_objects:
        renames[_SCALAR] = "value"
    return renames


#: an object key holding a dot (JSON text): the only way two flattened columns can share a name.
#: Linear in the text: possessive runs (no backtracking), starting at quotes that no backslash
#: escapes (a key's opening quote follows ``{``, ``,`` or a space), across escapes (``"C:\\x\\a.csv":``).
#: The former ``"[^"\\]*\.[^"\\]*"\s*:`` backtracked over every dot of a long string or array
#: (``[0.1, 0.2, …]``): quadratic, minutes for a group of readings.
_DOTTED_KEY = re.compile(r'"(?<!\\")[^"\\.]*+(?:\\.[^"\\.]*+)*+\.(?:[^"\\]++|\\.)*+"\s*:')  # '"' first: re skips to each


def _dotted_collision(values: list[dict[str, Any]]) -> bool:
    """Whether flattening any of ``values`` would give two fields one dotted column name."""

    def names(obj: dict[str, Any], prefix: str, seen: set[str]) -> bool:
        for k, v in obj.items():
            name = prefix + k
            if type(v) is dict and v:
                if names(v, name + ".", seen):
                    return True
            elif name in seen:
                return True
            else:
                seen.add(name)
        return False

    return any(names(v, "", set()) for v in values)


#: 16 or more digits in a row: the only JSON numbers that may be integers beyond 2**53
_LONG_DIGITS = re.compile(r"\d{16}")
_FLOAT_EXACT = 2**53


class _Exact:
    """An integer a float64 column would round, held so pandas keeps its column as objects."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


def _wrap_big(value: dict[str, Any], nested: bool) -> dict[str, Any]:
    """``value`` with each column-bound integer beyond 2**53 (a field; a nested object's field
    when flattening) wrapped in :class:`_Exact`."""
    out: dict[str, Any] = {}
    for k, v in value.items():
        if type(v) is int and abs(v) > _FLOAT_EXACT:
            v = _Exact(v)
        elif nested and type(v) is dict:
            v = _wrap_big(v, nested)
        out[k] = v
    return out


def _exact_integers(df: "pd.DataFrame", wrapped: "pd.DataFrame") -> None:
    """Put back, in ``df``'s float columns, the exact integers pandas rounded (``wrapped`` is the
    same frame built with them held in :class:`_Exact`: its column is of objects)."""
    import pandas as pd
    for col in df.columns:
        if df[col].dtype.kind != "f" or col not in wrapped.columns:
            continue
        held = wrapped[col]
        if any(isinstance(x, _Exact) for x in held):
            df[col] = pd.Series([x.n if isinstance(x, _Exact) else x for x in held], index=df.index, dtype=object)


class SyncStateManager:
    """The synchronous twin of :class:`~motia_nb.state.manager.StateManager` (``state_manager.sync``).

    Safe with no event loop, inside a running loop (a Jupyter cell) and from
    other threads: writes block only the calling thread while motia_nb's own
    threads do the work.
    """

    def __init__(self, manager: "StateManager") -> None:
        self._m = manager

    def set(self, group_id: str, key: str, value: Any) -> dict[str, Any]:
        return self._m._write_sync(set_write(group_id, key, value))

    def get(self, group_id: str, key: str, *, at: Any = None) -> Any:
        g, k = item_names(group_id, key)
        if at is not None:
            return self._m.backend.state_at(g, k, at_point(at, self._m._retention, self._m.url))[1]
        return self._m.backend.get(g, k)

    def history(self, group_id: str, key: str | None = None, *, since: Any = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._m.backend.history(*history_args(group_id, key, since, limit))

    def list(self, group_id: str) -> list[Any]:
        return [v for _, v in self._m.backend.items(check_name(group_id, "group_id"))]

    def delete(self, group_id: str, key: str) -> Any:
        return self._m._write_sync(delete_write(group_id, key))

    def clear(self, group_id: str) -> int:
        return self._m._write_sync(clear_write(group_id))

    def update(self, group_id: str, key: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return self._m._write_sync(update_write(group_id, key, ops))

    def list_groups(self) -> list[str]:
        return list(self._m.backend.group_counts())

    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: str = "insertion"
    ) -> list[tuple[str, Any]]:
        return self._m.backend.items(*page_args(group_id, offset, limit), order=Order.parse(order))

    def keys_with_prefix(self, group_id: str, prefix: str = "", limit: int = 100) -> list[str]:
        return self._m.backend.keys_with_prefix(*prefix_args(group_id, prefix, limit))

    def exists(self, group_id: str, key: str) -> bool:
        return self._m.backend.exists(*item_names(group_id, key))

    def count(self, group_id: str) -> int:
        return self._m.backend.count(check_name(group_id, "group_id"))

    def group_counts(self) -> dict[str, int]:
        return self._m.backend.group_counts()

    def frame(self, group_id: str, *, flatten: bool = True) -> "pd.DataFrame":
        g = check_name(group_id, "group_id")
        return to_frame(self._m.backend.frame_rows(g), flatten=flatten, group_id=g)
