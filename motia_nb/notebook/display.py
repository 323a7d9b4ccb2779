"""How ``%state`` results look in a notebook.

Magic results are ordinary Python values (so ``order = %state get orders o-1``
gives a usable ``dict``), but they *display* the way a Motia user reads state:

* objects and arrays as indented JSON (``true``/``null``, double quotes), via
  :class:`JSONDict` / :class:`JSONList`, thin ``dict`` / ``list`` subclasses whose
  only change is their ``text/plain`` representation;
* groups as a pandas DataFrame (:class:`StateFrame`) whose display is bounded by
  ``MotiaNB.display_max_rows`` / ``display_max_columns`` (or pandas' own display
  options when those are unset), so a 100,000-item group renders as quickly as a
  10-row one: pandas' truncated repr only formats the rows it shows; a group shown as JSON
  (``%state list --values`` / ``--dict``, ``%state groups``) is cut the same way, to its first
  and last entries and a line saying how many more the value holds.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pandas as pd

__all__ = ["JSONDict", "JSONList", "StateFrame", "as_json_result", "to_json_text"]


def to_json_text(value: Any, indent: int | None = 2) -> str:
    """Render a JSON value as readable text (non-ASCII kept, key order kept)."""
    return json.dumps(value, indent=indent if indent else None, ensure_ascii=False, default=repr)


def _row_bounds(max_rows: int | None) -> tuple[int, int] | None:
    """(the most entries shown whole, how many a cut view shows) as a frame's display has them:
    ``max_rows`` (``MotiaNB.display_max_rows``), else pandas' ``display.max_rows`` and
    ``display.min_rows``; None (0 or None: no bound) for every entry."""
    limit = max_rows if max_rows is not None else pd.get_option("display.max_rows")
    if not limit:
        return None
    shown = max_rows if max_rows is not None else (pd.get_option("display.min_rows") or limit)
    return limit, max(2, min(shown, limit))


def _cut_json_text(value: "dict[str, Any] | list[Any]", indent: int | None, shown: int) -> str:
    """``value``'s JSON text showing its first and last ``shown // 2`` entries and a line saying
    how many are left out (a 200,000-item list was 60 MB of text sent to the notebook)."""
    n = len(value)
    head, tail = (shown + 1) // 2, shown // 2
    is_dict = isinstance(value, dict)
    if is_dict:  # no list of every entry: only the ones shown are touched
        first = list(itertools.islice(value.items(), head))
        last = [(k, value[k]) for k in reversed(list(itertools.islice(reversed(value), tail)))]  # type: ignore[call-overload]
    else:
        first, last = list(enumerate(value[:head])), list(enumerate(value[n - tail :] if tail else []))

    def entry(kv: tuple[Any, Any]) -> str:
        text = json.dumps(kv[1], indent=indent or None, ensure_ascii=False, default=repr)
        return json.dumps(kv[0], ensure_ascii=False) + ": " + text if is_dict else text

    what = "entries" if is_dict else "items"
    gap = f"\u2026 {n - head - tail:,} more {what} ({n:,} in all; the value holds every one) \u2026"
    texts = [entry(kv) + "," for kv in first] + [gap] + [entry(kv) + "," for kv in last]
    texts[-1] = texts[-1].removesuffix(",")
    opening, closing = ("{", "}") if is_dict else ("[", "]")
    if not indent:
        return opening + " ".join(texts) + closing
    pad = " " * indent
    body = "\n".join(pad + t.replace("\n", "\n" + pad) for t in texts)
    return f"{opening}\n{body}\n{closing}"


class _JSONRepr:
    """Mixin: IPython's ``text/plain`` for this object is its JSON text; a group's (``json_cut``:
    ``%state list --values`` / ``--dict``, ``groups``) cut to its first and last entries past the
    rows a frame shows (``json_max_rows``, else pandas' options). One value (``get``) is whole."""

    json_indent: int = 2
    json_cut: bool = False
    json_max_rows: int | None = None

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        if cycle:  # a JSON value cannot contain itself; be safe anyway
            p.text("...")
            return
        bounds = _row_bounds(self.json_max_rows) if self.json_cut else None
        if bounds is not None and len(self) > max(bounds):  # type: ignore[arg-type]  # (max_rows 1: a cut shows 2)
            p.text(_cut_json_text(self, self.json_indent, bounds[1]))  # type: ignore[arg-type]
            return
        p.text(to_json_text(self, self.json_indent))


class JSONDict(_JSONRepr, dict):  # type: ignore[misc]
    """A ``dict`` that a notebook displays as indented JSON."""


class JSONList(_JSONRepr, list):  # type: ignore[misc]
    """A ``list`` that a notebook displays as indented JSON."""


def as_json_result(value: Any, indent: int = 2, *, cut: bool = False, max_rows: int | None = None) -> Any:
    """Wrap a top-level object/array so it displays as JSON; scalars are returned as-is.

    Only the outer container is wrapped (nested values stay plain ``dict``/``list``),
    and the wrapper compares equal to, and serialises like, the plain value.
    """
    if type(value) is dict:
        out: Any = JSONDict(value)
    elif type(value) is list:
        out = JSONList(value)
    else:
        return value
    if indent != 2:
        out.json_indent = indent
    if cut:  # a group's items: at most the rows a frame shows (max_rows, else pandas' options)
        out.json_cut, out.json_max_rows = True, max_rows
    return out


class StateFrame(pd.DataFrame):
    """The DataFrame that ``%state list`` returns: a group, ``key`` column first.

    It is a regular DataFrame in every way except that its own display honours
    ``max_rows`` / ``max_columns`` (``None`` = pandas' display options). Any
    operation on it (filtering, ``groupby``, ...) returns a plain DataFrame.
    """

    _metadata = ["_motia_max_rows", "_motia_max_columns"]
    _motia_max_rows: int | None = None
    _motia_max_columns: int | None = None

    @property
    def _constructor(self) -> type[pd.DataFrame]:  # derived frames are plain DataFrames
        return pd.DataFrame

    @classmethod
    def wrap(cls, df: pd.DataFrame, max_rows: int | None = None, max_columns: int | None = None) -> "StateFrame":
        """A StateFrame sharing ``df``'s data, with the given display limits."""
        out = cls(df, copy=False)
        object.__setattr__(out, "_motia_max_rows", max_rows)
        object.__setattr__(out, "_motia_max_columns", max_columns)
        return out

    def _display_options(self) -> list[Any]:
        opts: list[Any] = []
        if self._motia_max_rows is not None:
            # min_rows: the number shown when truncated (pandas' default of 10 would win otherwise)
            opts += ["display.max_rows", self._motia_max_rows, "display.min_rows", self._motia_max_rows]
        if self._motia_max_columns is not None:
            opts += ["display.max_columns", self._motia_max_columns]
        return opts

    def _plain(self) -> pd.DataFrame:
        # a plain DataFrame view (no copy) so the display reads "DataFrame", not "StateFrame"
        return pd.DataFrame(self, copy=False)

    def __repr__(self) -> str:
        opts = self._display_options()
        if not opts:
            return repr(self._plain())
        with pd.option_context(*opts):
            return repr(self._plain())

    def _repr_html_(self) -> str | None:
        opts = self._display_options()
        if not opts:
            return self._plain()._repr_html_()
        with pd.option_context(*opts):
            return self._plain()._repr_html_()
