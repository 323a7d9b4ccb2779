"""Traces: one row per step run (trace id, step, trigger, start, duration, status).

Every step run of a cascade shares the cascade's trace id. ``status`` is
``ok``, ``error`` (the handler raised), ``condition-error`` (a state condition
raised; the step was skipped) ``loop-stopped`` (refused by the loop guard) or ``cancelled`` (the causing cell was interrupted).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TraceRecord", "TraceStore", "MAX_RECORDS"]

#: How many step runs are kept (oldest dropped first).
MAX_RECORDS = 20_000


@dataclass(frozen=True)
class TraceRecord:
    trace_id: str
    step: str
    trigger: str
    start: datetime
    duration_ms: float
    status: str
    error: str | None
    depth: int
    caused_by: str | None
    seq: int = 0  # start order (datetimes can tie)
    worker: str | None = None  # the connected worker that served the step (motia_nb.engine)


class TraceStore:
    """A session's kept step runs (oldest dropped past :data:`MAX_RECORDS`)."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._records: "deque[TraceRecord]" = deque(maxlen=max_records)
        self._lock = threading.Lock()
        self._cleared_at: datetime | None = None
        #: how many of the oldest rows were dropped to keep the newest ``maxlen`` (since the last clear)
        self.dropped = 0

    @property
    def max_records(self) -> int:
        return self._records.maxlen or 0

    @property
    def cleared_at(self) -> datetime | None:
        """When the kept step runs were last forgotten (``%motia reset``, ``clear_traces()``), or None."""
        return self._cleared_at

    def record(self, rec: TraceRecord) -> None:
        """Keep one step run (not one that started before the last :meth:`clear`: a cron step still
        running at ``%motia reset`` does not bring back a trace of before the reset)."""
        with self._lock:
            if self._cleared_at is not None and rec.start < self._cleared_at:
                return
            if len(self._records) == self._records.maxlen:
                self.dropped += 1
            self._records.append(rec)

    def records(self) -> list[TraceRecord]:
        """A snapshot of the kept step runs, in the order they finished."""
        with self._lock:
            return list(self._records)

    def last_trace_id(self) -> str | None:
        """The trace id of the most recently *started* cascade that ran a step."""
        recs = self.records()
        if not recs:
            return None
        return max(recs, key=lambda r: r.seq).trace_id

    def clear(self) -> None:
        """Forget every kept trace row, and the runs under way now when they end."""
        with self._lock:
            self._records.clear()
            self._cleared_at = datetime.now()
            self.dropped = 0

    def frame(self, trace_id: str | None = None, step: str | None = None) -> "pd.DataFrame":
        """Step runs as a DataFrame, ordered by start time.

        Columns: trace_id, step, trigger, start, duration_ms, status, error, depth,
        caused_by. ``trace_id="last"`` selects the latest cascade.
        """
        import pandas as pd

        if trace_id == "last":
            trace_id = self.last_trace_id()
        rows = sorted(
            (r for r in self.records() if (trace_id is None or r.trace_id == trace_id) and (step is None or r.step == step)),
            key=lambda r: r.seq,
        )
        return pd.DataFrame(
            {
                "trace_id": pd.Series([r.trace_id for r in rows], dtype=object),
                "step": pd.Series([r.step for r in rows], dtype=object),
                "trigger": pd.Series([r.trigger for r in rows], dtype=object),
                "start": pd.Series([r.start for r in rows], dtype="datetime64[ns]"),
                "duration_ms": pd.Series([r.duration_ms for r in rows], dtype="float64"),
                "status": pd.Series([r.status for r in rows], dtype=object),
                "error": pd.Series([r.error for r in rows], dtype=object),
                "depth": pd.Series([r.depth for r in rows], dtype="int64"),
                "caused_by": pd.Series([r.caused_by for r in rows], dtype=object),
                # only when a worker served a step, so notebook-only traces keep their columns
                **({"worker": pd.Series([r.worker or "" for r in rows], dtype=object)} if any(r.worker for r in rows) else {}),
            }
        )
