"""What a Redis history read shows: the group's changes the retention keeps (SPEC §9).

The write scripts trim a group's stream in whole entries (a script call's changes), once the
count is a tenth (at most 100) over, and by age when they run (``lua/history.lua``; the filer
trims by age once the writes pause, keeping the newest entry: :mod:`.filer`), so the stream
may hold more than ``MotiaNB.history_keep`` keeps. :meth:`RedisRetention._history_horizon`
asks ``lua/history_horizon.lua`` (read-only, one call) for the first change kept, by count of
the group's changes (the count is per group on Redis) and by age, and
:class:`~..retained.RetainedHistory` (first in the backend's bases) clips every read to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...history import Retention
from ..retained import Horizon
from .layout import HISTORY_COUNT_PREFIX, HISTORY_SEQ_KEY, history_stream
from .scripts import source

__all__ = ["RedisRetention", "HISTORY_HORIZON"]

#: the first change a group's retention keeps (KEYS: stream, count; ARGV: max count, max age)
HISTORY_HORIZON = source("history_horizon")


class RedisRetention:
    """``_history_horizon`` of :class:`~.backend.RedisBackend` (which provides ``_client``,
    ``_call`` and ``_retention``)."""

    _client: Callable[[], Any]
    _call: Callable[..., Any]
    _retention: Retention

    def _newest_seq(self) -> int:
        """The newest seq given so far (the store-wide counter; 0: none)."""
        c = self._client()
        return int(self._call(c.get, HISTORY_SEQ_KEY) or 0)

    def _history_horizon(self, group_id: str) -> Horizon:
        r = self._retention
        c = self._client()
        script = self.__dict__.get("_horizon_script")
        if script is None:
            script = self.__dict__["_horizon_script"] = c.register_script(HISTORY_HORIZON)
        keys = [history_stream(group_id), HISTORY_COUNT_PREFIX + group_id]
        lo, known, hidden = self._call(script, keys, [r.max_count or 0, r.max_age or 0], client=c, group_id=group_id)
        return Horizon(int(lo), bool(hidden), float(known) * 1e6 if known else float("inf"), "the group's ")
