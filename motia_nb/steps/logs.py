"""The step logger: one structured line per call in the cell, and a queryable log.

``logger.info("Order created", {"orderId": oid})`` prints::

    [INFO] CreateOrder: Order created {"orderId": "…"}

in the cell that caused the step (stdout, so it keeps causal order with the
step's own prints) and keeps a record (time, level, step, trace id, message,
data) that :func:`log_frame` returns as a pandas DataFrame. Debug lines are
kept but printed only when ``logger.level = "debug"``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .context import current_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StepLogger", "logger", "log_frame", "clear_logs", "LogRecord", "LEVELS"]

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


class StepLogger:
    """Motia's ``logger``: ``info``, ``warn`` (alias ``warning``), ``error``, ``debug``.

    The step name and trace id come from the running cascade; outside a step
    they are empty. ``level`` is the lowest level that is *printed* (every
    level is recorded).
    """

    def __init__(self, level: str = "info", step: str | None = None) -> None:
        self.level = level
        self._step = step

    @property
    def level(self) -> str:
        return self._level

    @level.setter
    def level(self, value: str) -> None:
        if value not in _RANK:
            raise ValueError(f"logger level must be one of {LEVELS}, got {value!r}")
        self._level = value

    def log(self, level: str, message: Any, data: Any = None) -> None:
        """Record and print one line at ``level``."""
        if level not in _RANK:
            raise ValueError(f"log level must be one of {LEVELS}, got {level!r}")
        frame = current_frame()
        step = self._step or (frame.step if frame else None)
        rec = LogRecord(datetime.now(), level, step, frame.trace_id if frame else None, str(message), data)
        with _lock:
            _records.append(rec)
        if _RANK[level] >= _RANK[logger.level]:
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
        """A logger that always names ``step`` (what ``ctx.logger`` is)."""
        return _BoundLogger(step)

    def __repr__(self) -> str:
        return f"<motia_nb logger level={self.level!r}, {len(_records)} records>"


class _BoundLogger(StepLogger):
    """``ctx.logger``: same log, printing threshold shared with the global logger."""

    def __init__(self, step: str) -> None:
        self._step = step
        self._level = "info"

    @property  # type: ignore[override]
    def level(self) -> str:
        return logger.level

    @level.setter
    def level(self, value: str) -> None:
        logger.level = value


logger = StepLogger()


def log_records() -> list[LogRecord]:
    """A snapshot of the kept records, oldest first."""
    with _lock:
        return list(_records)


def log_frame(
    step: str | None = None, level: str | None = None, trace_id: str | None = None, flatten: bool = False
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
        for r in log_records()
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


def clear_logs() -> None:
    """Forget every kept log record."""
    with _lock:
        _records.clear()
