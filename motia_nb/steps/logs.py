"""The step logger: one structured line per call in the cell, and a queryable log.

``logger.info("Order created", {"orderId": oid})`` prints::

    [INFO] CreateOrder: Order created {"orderId": "…"}

in the cell that caused the step (stdout, so it keeps causal order with the
step's own prints) and keeps a record (time, level, step, trace id, message,
data) in the session's :class:`LogStore`, whose ``frame()`` is a pandas
DataFrame. Debug lines are kept but printed only when ``logger.level = "debug"``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .context import current_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StepLogger", "LogStore", "LogRecord", "LEVELS", "MAX_RECORDS"]

LEVELS = ("debug", "info", "warn", "error")
_RANK = {name: i for i, name in enumerate(LEVELS)}
#: How many log records are kept (oldest dropped first).
MAX_RECORDS = 20_000


@dataclass(frozen=True)
class LogRecord:
    time: datetime
    level: str
    step: str | None
    trace_id: str | None
    message: str
    data: Any


_records: "deque[LogRecord]" = deque(maxlen=MAX_RECORDS)
_lock = threading.Lock()


def _json(data: Any) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(data)


class LogStore:
    """A session's kept log lines (oldest dropped past :data:`MAX_RECORDS`) and its print level."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._records: "deque[LogRecord]" = deque(maxlen=max_records)
        self._lock = threading.Lock()
        self._level = "info"

    @property
    def level(self) -> str:
        """The lowest level that is *printed* (every level is recorded)."""
        return self._level

    @level.setter
    def level(self, value: str) -> None:
        if value not in _RANK:
            raise ValueError(f"logger level must be one of {LEVELS}, got {value!r}")
        self._level = value

    def add(self, rec: LogRecord) -> None:
        with self._lock:
            self._records.append(rec)

    def records(self) -> list[LogRecord]:
        """A snapshot of the kept records, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every kept log record."""
        with self._lock:
            self._records.clear()

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
    The step name and trace id come from the running cascade (or the step it is
    bound to); outside a step they are empty. ``level`` is the store's printing
    threshold, shared by every logger of a session.
    """

    def __init__(self, store: Callable[[], LogStore], step: str | None = None) -> None:
        self._store = store
        self._step = step

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
        rec = LogRecord(datetime.now(), level, step, frame.trace_id if frame else None, str(message), data)
        store.add(rec)
        if _RANK[level] >= _RANK[store.level]:
            line = f"[{level.upper()}] " + (f"{step}: " if step else "") + rec.message
            if data is not None:
                line += " " + _json(data)
            print(line, file=sys.stdout, flush=True)

    def debug(self, message: Any, data: Any = None) -> None:
        self.log("debug", message, data)

    def info(self, message: Any, data: Any = None) -> None:
        self.log("info", message, data)

    def warn(self, message: Any, data: Any = None) -> None:
        self.log("warn", message, data)

    warning = warn

    def error(self, message: Any, data: Any = None) -> None:
        self.log("error", message, data)

    def bound(self, step: str) -> "StepLogger":
        """A logger on the same store that always names ``step`` (what ``ctx.logger`` is)."""
        return StepLogger(self._store, step)

    def __repr__(self) -> str:
        return f"<motia_nb logger level={self.level!r}, {len(self._store())} records>"
