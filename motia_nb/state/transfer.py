"""Import and export of state as JSON Lines: one ``{"group": ..., "key": ..., "value": ...}`` per line.

- :func:`export_jsonl` writes one group, several, or every group to a file, in each
  group's insertion order (values copied as stored once each is checked to be one JSON
  value; a value another tool wrote that is not JSON refuses the export, naming the
  item, and no file is written). The file is written next to its final name and
  renamed at the end: an interrupted export leaves no half-written file.
- :func:`import_jsonl` reads such a file. **All or nothing**: every line is checked
  first (JSON, the three fields, names and values the store accepts); when any
  line is bad, the error lists the bad lines with their numbers and nothing is
  written. The items are then written with :meth:`Backend.write_all`: on SQLite
  in one transaction, so a crash or an error midway leaves nothing of the import;
  on Redis in one ``MULTI``/``EXEC`` (all or, if the connection is lost first,
  none; a set failing inside ``EXEC`` is reported and the others stand, as Redis
  has no rollback). A backend without ``atomic_write_all`` writes them in order,
  chunk by chunk, and an import cut short keeps the chunks written before. An
  import fires no state triggers unless ``triggers=True``; subscribers (the
  viewer) see the changes either way.

Past :data:`PROGRESS_MIN` items both show a progress bar (``tqdm.auto``: the
notebook widget bar in Jupyter, text on stderr elsewhere).
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._threads import run_sync
from .backends.base import Write
from .cause import current_cause
from .errors import InvalidInputError
from .jsontext import decode_all, encode_trusted
from .value_checks import MAX_DEPTH
from .values import check_name, encode_value

if TYPE_CHECKING:
    from .manager import StateManager

__all__ = ["export_jsonl", "import_jsonl", "read_jsonl", "progress_bar", "ImportReport", "PROGRESS_MIN", "MAX_REPORTED"]

#: a progress bar is shown for more items than this
PROGRESS_MIN = 10_000
#: an import error lists at most this many bad lines (and says how many there are)
MAX_REPORTED = 20
_FIELDS = ("group", "key", "value")
_encode_name = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote: how many items, into which groups, and whether triggers ran."""

    items: int
    groups: tuple[str, ...]
    triggers: bool


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str) -> Any:
    """A ``tqdm.auto`` bar for ``total`` items, or a bar that shows nothing up to :data:`PROGRESS_MIN`."""
    if total <= PROGRESS_MIN:
        return _NoBar()
    from tqdm.auto import tqdm  # chooses the notebook widget bar in Jupyter

    return tqdm(total=total, desc=desc, unit=" items")


# ----------------------------------------------------------------------------- export
def _check_folder(path: str) -> str:
    if "\x00" in path:
        raise InvalidInputError(f"{path!r} holds the NUL character '\\x00': no file name can")
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):  # refused before a word is read or written, not at the final rename
        raise InvalidInputError(f"{path} is a folder: give the file to write, e.g. {os.path.join(path, 'state.jsonl')}")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise InvalidInputError(f"{path}: the folder {folder} does not exist (create it first)")
    return path


def export_jsonl(manager: "StateManager", path: str, groups: Sequence[str] | None = None) -> int:
    """Write ``groups`` (None: every group) to ``path`` as JSON Lines; returns the item count.

    A group that holds no item is refused (a typo, most often), naming the groups there are.
    Every value is checked as a read checks it: one that another tool wrote and that is not
    JSON (plain text, ``NaN``, ``1e400``, a BLOB, bytes that are not UTF-8) refuses the whole
    export with a :class:`~motia_nb.state.errors.StoredValueError` naming the item, and nothing
    is written (``path`` is left as it was): a backup that skipped an item, or held a line
    that cannot be imported, would be found out only when it is needed. Overwrite or delete
    that item, then export again. A value that is JSON but spans lines (another tool's
    pretty-printed text) is written compactly, so each item stays one line.
    """
    path = _check_folder(path)
    sync = manager.sync
    counts = sync.group_counts()
    if groups is None:
        names = list(counts)
    else:
        names = [check_name(g, "group_id") for g in groups]
        missing = [g for g in names if g not in counts]
        if missing:
            known = ", ".join(list(counts)[:10]) or "none"
            raise InvalidInputError(f"there is no group {missing[0]!r} (no item is stored in it); groups: {known}")
    total = sum(counts[g] for g in names)
    backend = manager.backend
    tmp = f"{path}.{os.getpid()}.part"
    bar = progress_bar(total, f"export {os.path.basename(path)}")
    written = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for g in names:
                head = '{"group":' + _encode_name(g) + ',"key":'
                rows = backend.rows_json(g)
                for i in range(0, len(rows), 1000):
                    part = rows[i : i + 1000]
                    texts = _line_texts(part, g)
                    f.write("".join(f'{head}{_encode_name(k)},"value":{v}}}\n' for (k, _), v in zip(part, texts)))
                    bar.update(len(part))
                    written += len(part)
        os.replace(tmp, path)
    except OSError as err:  # no permission, a full disk...: nothing is written (the .part goes)
        raise InvalidInputError(f"{path}: cannot write it: {err.strerror or err}; nothing was exported") from None
    finally:
        bar.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    return written


def _line_texts(rows: Sequence[tuple[str, Any]], group_id: str) -> list[str]:
    """The stored texts of ``rows`` as an export line holds them: each checked to be one JSON
    value (:func:`~motia_nb.state.jsontext.decode_all`: a StoredValueError naming the first
    that is not), a text that spans lines written compactly."""
    texts = [r[1] for r in rows]
    values = decode_all(texts, group_id, [r[0] for r in rows])
    return [t if "\n" not in t and "\r" not in t else encode_trusted(v) for t, v in zip(texts, values)]


# ----------------------------------------------------------------------------- import
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _read_line(text: str) -> Write:
    """One line as a ``set`` write, or :class:`ValueError` / :class:`InvalidInputError` saying why not."""
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {err.msg} (column {err.colno})") from None
    except RecursionError:  # (thousands of nested brackets: Python's reader gives up before any check)
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels (the limit is MAX_DEPTH)") from None
    if not isinstance(obj, dict):
        raise ValueError(f'expected an object {{"group": ..., "key": ..., "value": ...}}, got {type(obj).__name__}')
    missing = [f for f in _FIELDS if f not in obj]
    extra = sorted(set(obj) - set(_FIELDS))
    if missing or extra:
        parts = [f"missing field {', '.join(missing)}"] if missing else []
        parts += [f"unknown field {', '.join(extra)}"] if extra else []
        raise ValueError(f"{'; '.join(parts)} (each line holds group, key and value)")
    g = check_name(obj["group"], "group_id")
    k = check_name(obj["key"], "key", group_id=g)
    return Write("set", g, k, encode_value(obj["value"], group_id=g, key=k), None, *current_cause())


def _lines(path: str) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8-sig") as f:  # a leading byte-order mark (Windows editors) is skipped
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, line


def read_jsonl(path: str) -> list[Write]:
    """Every line of ``path`` as a ``set`` write; :class:`InvalidInputError` listing the
    bad lines (with their numbers) when there is any."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise InvalidInputError(f"{path} is a folder, not a file" if os.path.isdir(path) else f"{path}: no such file")
    writes: list[Write] = []
    bad: list[str] = []
    n_bad = 0
    try:
        for number, text in _lines(path):
            try:
                writes.append(_read_line(text))
            except (ValueError, InvalidInputError) as err:
                n_bad += 1
                if len(bad) < MAX_REPORTED:
                    bad.append(f"  line {number}: {err}")
    except UnicodeDecodeError as err:
        raise InvalidInputError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); nothing imported") from None
    if n_bad:
        more = f"\n  ... and {n_bad - len(bad)} more" if n_bad > len(bad) else ""
        raise InvalidInputError(
            f"{path}: {n_bad} bad line{'s' if n_bad != 1 else ''}, nothing imported\n" + "\n".join(bad) + more
        )
    return writes


def import_jsonl(manager: "StateManager", path: str, *, triggers: bool = False) -> ImportReport:
    """Import ``path`` (JSON Lines, as :func:`export_jsonl` writes) all or nothing.

    Every line is validated before anything is written; then the items are written
    with the backend's ``write_all`` (one transaction on SQLite: see the module
    docstring for what a backend without transactions does). State triggers run
    only with ``triggers=True``, after the commit, as for any write.
    """
    writes = read_jsonl(path)
    backend = manager.backend
    if threading.current_thread() is backend.writer_thread:
        raise RuntimeError("motia_nb: an import cannot run on the thread that commits writes")
    bar = progress_bar(len(writes), f"import {os.path.basename(path)}")
    try:
        results = backend.write_all(writes, progress=bar.update) if writes else []
    finally:
        bar.close()
    dispatcher = manager.dispatcher
    if triggers and dispatcher is not None:
        events = [ev for r in results for ev in r.events]
        if events:
            r = dispatcher(events)
            if inspect.isawaitable(r):
                run_sync(r)  # type: ignore[arg-type]
    groups = tuple(dict.fromkeys(w.group_id for w in writes))
    return ImportReport(len(writes), groups, triggers)
