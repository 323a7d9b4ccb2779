"""The step logger: one structured line per call in the cell, and a queryable log.

``logger.info("Order created", {"orderId": oid})`` prints::

    [INFO] CreateOrder: Order created {"orderId": "…"}

in the cell that caused the step (stdout, so it keeps causal order with the
step's own prints) and keeps a record (time, level, step, trace id, message,
data) in the session's :class:`LogStore`, whose ``frame()`` is a pandas
DataFrame. Debug lines are kept but printed only when ``logger.level = "debug"``.

The record keeps a copy of ``data`` as it was when logged (a handler that changes the dict
afterwards does not rewrite its log). The printed line is JSON: a datetime as ISO 8601, a
set as a list, a numpy number or array as the number or list it holds, a pydantic model or a
dataclass as its fields, anything else as its ``str``. Lines are printed as ``print`` does
(not flushed one by one: ipykernel sends many in one message, each to its cell).
``ctx.logger`` names its step and trace id even from a thread the handler started (a thread
does not inherit the cascade's context). A step run that raised leaves an ``error`` line
(kept, not printed: the cell shows the error) saying so. The store keeps the newest
:data:`MAX_RECORDS` lines, and about :data:`MAX_BYTES` of their data at most (a handler
logging a big payload in a loop does not fill the kernel's memory), and counts the older
lines it dropped (``dropped``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import threading
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..state.cause import cause_now
from .context import current_frame
from .reporting import error_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StepLogger", "LogStore", "LogRecord", "LEVELS", "MAX_RECORDS", "MAX_BYTES"]

LEVELS = ("debug", "info", "warn", "error")
_RANK = {name: i for i, name in enumerate(LEVELS)}
#: How many log records are kept (oldest dropped first).
MAX_RECORDS = 20_000
#: About how much data (characters of text, 8 a number) the kept log records hold at most (oldest dropped first).
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LogRecord:
    time: datetime
    level: str
    step: str | None
    trace_id: str | None
    message: str
    data: Any
    size: int = 0  # about how much the message and data hold (what MAX_BYTES counts)


_records: "deque[LogRecord]" = deque(maxlen=MAX_RECORDS)
_lock = threading.Lock()


def _plain(o: Any) -> Any:
    """What a value JSON cannot write is written as (``json.dumps``'s ``default``)."""
    if isinstance(o, (datetime, date, time)):
        return o.isoformat()
    if isinstance(o, (set, frozenset)):
        try:
            return sorted(o)
        except TypeError:  # mixed types: as they come
            return list(o)
    if type(o).__module__ == "numpy" and hasattr(o, "tolist"):  # np.int64(5) -> 5, an array -> its list
        return o.tolist()
    dump = getattr(o, "model_dump", None)  # a pydantic model (a queue's input schema): its fields
    if callable(dump) and not isinstance(o, type):
        try:
            return dump(mode="json")
        except Exception:  # noqa: BLE001 - as text then
            return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return str(o)


def _json(data: Any) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, default=_plain)
    except (TypeError, ValueError, RecursionError):
        try:
            return repr(data)
        except RecursionError:  # nested thousands deep: repr gives up too (a log line never fails the step)
            return f"<a {type(data).__name__} nested too deeply to show>"


_ATOMS = (str, int, float, bool, type(None))


def _copy(value: Any, size: list[int]) -> Any:
    """A deep copy, fast for the dicts and lists of plain values a log line mostly carries;
    adds about how much it holds (characters of text, 8 a number) to ``size[0]``."""
    t = type(value)
    if t is str:
        size[0] += len(value) + 2
        return value
    if t in _ATOMS:
        size[0] += 8
        return value
    if t is dict:
        out = {}
        for k, v in value.items():
            size[0] += len(k) + 4 if type(k) is str else 12
            out[k] = _copy(v, size)
        return out
    if t is list:
        size[0] += 2
        return [_copy(v, size) for v in value]
    nbytes = getattr(value, "nbytes", None)  # a numpy array
    size[0] += nbytes if isinstance(nbytes, int) else sys.getsizeof(value)
    return copy.deepcopy(value)


def _snapshot(data: Any) -> tuple[Any, int]:
    """``data`` as it is now (a deep copy; a value that cannot be copied is kept as it is) and
    about how much it holds."""
    size = [0]
    try:
        return _copy(data, size), size[0]
    except Exception:  # noqa: BLE001 - a lock, a generator, too deep...: keep the object itself
        return data, size[0]


class LogStore:
    """A session's kept log lines (oldest dropped past :data:`MAX_RECORDS`) and its print level."""

    def __init__(self, max_records: int = MAX_RECORDS, max_bytes: int = MAX_BYTES) -> None:
        self._records: "deque[LogRecord]" = deque()
        self._max_records = max_records
        self.max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self._level = "info"
        #: how many of the oldest lines were dropped to keep within the bounds (since the last clear)
        self.dropped = 0

    @property
    def level(self) -> str:
        """The lowest level that is *printed* (every level is recorded)."""
        return self._level

    @level.setter
    def level(self, value: str) -> None:
        if value not in _RANK:
            raise ValueError(f"logger level must be one of {LEVELS}, got {value!r}")
        self._level = value

    @property
    def max_records(self) -> int:
        return self._max_records

    def add(self, rec: LogRecord) -> None:
        with self._lock:
            self._records.append(rec)
            self._bytes += rec.size
            while len(self._records) > 1 and (len(self._records) > self._max_records or self._bytes > self.max_bytes):
                self._bytes -= self._records.popleft().size
                self.dropped += 1

    def records(self) -> list[LogRecord]:
        """A snapshot of the kept records, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every kept log record."""
        with self._lock:
            self._records.clear()
            self._bytes = 0
            self.dropped = 0

    def __len__(self) -> int:
        return len(self._records)

    def frame(
        self, step: str | None = None, level: str | None = None, trace_id: str | None = None, flatten: bool = False
    ) -> "pd.DataFrame":
        """The kept log lines as a DataFrame (columns time, level, step, trace_id, message, data).

        Filter by ``step``, minimum ``level`` and ``trace_id``; ``flatten=True`` adds
        the keys of dict ``data`` as ``data.<key>`` columns.
        """
        import pandas as pd

        if level is not None and level not in _RANK:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        rows = [
            r
            for r in self.records()
            if (step is None or r.step == step)
            and (level is None or _RANK[r.level] >= _RANK[level])
            and (trace_id is None or r.trace_id == trace_id)
        ]
        df = pd.DataFrame(
            {
                "time": pd.Series([r.time for r in rows], dtype="datetime64[ns]"),
                "level": pd.Series([r.level for r in rows], dtype=object),
                "step": pd.Series([r.step for r in rows], dtype=object),
                "trace_id": pd.Series([r.trace_id for r in rows], dtype=object),
                "message": pd.Series([r.message for r in rows], dtype=object),
                "data": pd.Series([r.data for r in rows], dtype=object),
            }
        )
        if flatten and rows:
            extra = pd.json_normalize([r.data if isinstance(r.data, dict) else {} for r in rows]).add_prefix("data.")
            df = pd.concat([df, extra], axis=1)
        return df


class StepLogger:
    """Motia's ``logger``: ``info``, ``warn`` (alias ``warning``), ``error``, ``debug``.

    It writes to the :class:`LogStore` that ``store()`` returns (the session's).
    The step name and trace id come from the running cascade, else from the step
    run it is bound to (``ctx.logger``, also in a thread the handler started);
    outside a step the step is empty and the trace id is the cell run's (what the
    cell's writes carry: :mod:`motia_nb.state.cause`), else empty. ``level`` is the
    store's printing threshold, shared by every logger of a session.
    """

    def __init__(self, store: Callable[[], LogStore], step: str | None = None, trace_id: str | None = None) -> None:
        self._store = store
        self._step = step
        self._trace_id = trace_id

    @property
    def level(self) -> str:
        return self._store().level

    @level.setter
    def level(self, value: str) -> None:
        self._store().level = value

    def log(self, level: str, message: Any, data: Any = None) -> None:
        """Record and print one line at ``level``."""
        if level not in _RANK:
            raise ValueError(f"log level must be one of {LEVELS}, got {level!r}")
        store = self._store()
        frame = current_frame()
        step = self._step or (frame.step if frame else None)
        # a thread the handler started has no frame (ctx.logger is bound to its run); a cell's own
        # line outside any step has the cell run's trace id, as the cell's writes do
        trace_id = frame.trace_id if frame else (self._trace_id or cause_now()[1])
        message = str(message)
        kept, size = _snapshot(data)
        rec = LogRecord(datetime.now(), level, step, trace_id, message, kept, len(message) + size)
        store.add(rec)
        if _RANK[level] >= _RANK[store.level]:
            line = f"[{level.upper()}] " + (f"{step}: " if step else "") + rec.message
            if data is not None:
                line += " " + _json(data)
            print(line, file=sys.stdout)

    def debug(self, message: Any, data: Any = None) -> None:
        self.log("debug", message, data)

    def info(self, message: Any, data: Any = None) -> None:
        self.log("info", message, data)

    def warn(self, message: Any, data: Any = None) -> None:
        self.log("warn", message, data)

    warning = warn

    def error(self, message: Any, data: Any = None) -> None:
        self.log("error", message, data)

    def keep_failure(self, step: str, trace_id: str, err: BaseException) -> None:
        """Keep (not print: the cell shows the error already) an error line saying step ``step`` failed
        with ``err``, so that the log of a failed run ends with why."""
        message = f"step failed: {error_text(err)}"
        self._store().add(LogRecord(datetime.now(), "error", step, trace_id, message, None, len(message)))

    def bound(self, step: str, trace_id: str | None = None) -> "StepLogger":
        """A logger on the same store that always names ``step`` and, outside any cascade (a thread
        the handler started), ``trace_id`` (what ``ctx.logger`` is)."""
        return StepLogger(self._store, step, trace_id)

    def __repr__(self) -> str:
        return f"<motia_nb logger level={self.level!r}, {len(self._store())} records>"
