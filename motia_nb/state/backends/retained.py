"""What the retention keeps is what every history read shows, whatever pruning has done yet.

Pruning runs off the writers' path, in batches (SQLite: the recorder's thread, once the
writers pause; Redis: the write scripts, once a tenth of the count is too many, and whole
script calls only), so the store may hold changes the retention (``MotiaNB.history_keep``)
no longer keeps. Reads never show them: :class:`RetainedHistory` wraps a backend's
``history()`` and ``state_at()`` with its *horizon* (:class:`Horizon`, the first change the
retention keeps: of the newest ``N`` changes, those younger than the age), which the backend
computes (``_history_horizon``; SQLite: of the whole store, Redis: of the group, as each
counts). A read is clipped to the horizon taken after it (the horizon only moves forward, so
an answer never holds more than is kept); a ``since`` read starts at the horizon taken before
it (so its ``limit`` counts kept changes only); ``get(at=)`` before the horizon is refused,
as before pruned history, never answered from a change ``history()`` does not show. A
retention changed to one that keeps more leaves the old one's horizon as a floor
(``_keep_hidden``): what reads called pruned stays so, whatever pruning had deleted yet.

A ``since`` / ``at`` seq that reads like a unix time (:func:`time_like`: ``int(time.time())``,
``Date.now()``, in seconds, milliseconds or microseconds) and is past every change the store
has recorded is refused in one line saying to pass a datetime: it would silently read as
"after every change" (``history()`` empty, ``get(at=)`` the value now). Any other seq past the
newest is still after every change (``sys.maxsize``, ``10**30``: no limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, StateError
from ..history import Point, Retention, iso_time, micros

__all__ = ["Horizon", "RetainedHistory", "time_like"]

#: unix times now and for centuries ahead, as ``int(time.time())`` (seconds), ``Date.now()``
#: (milliseconds) and microseconds write them: (low, high, the unit's name, per second)
_TIME_RANGES = ((10**9, 10**10, "seconds", 1), (10**12, 10**13, "milliseconds", 1000), (10**15, 10**16, "microseconds", 10**6))


def time_like(seq: int) -> "tuple[str, int] | None":
    """``(unit, per second)`` when ``seq`` reads as a unix time since 2001 in seconds,
    milliseconds or microseconds, else None."""
    for lo, hi, unit, per_second in _TIME_RANGES:
        if lo <= seq < hi:
            return unit, per_second
    return None


@dataclass(frozen=True)
class Horizon:
    """The first change a history read shows, and what that means for ``get(at=)``.

    ``seq``: the first seq shown (a change with a smaller seq is hidden: past the retention,
    pruned or not yet); ``hidden``: some change before ``seq`` was recorded (nothing hidden:
    every point is answerable); ``known_from_us``: the earliest time (unix microseconds) from
    which the state is known from what is shown (the first shown change's time; when none is
    shown, the newest change's: every change lies before it); ``scope``: whose oldest change
    this is, as a refusal names it (``""``: the store's, ``"the group's "``)."""

    seq: int
    hidden: bool
    known_from_us: float
    scope: str = "the "

    def since(self, since: Point) -> Point:
        """``since`` moved up to the horizon: a read after it counts shown changes only."""
        if not self.hidden:
            return since
        if since.seq is not None:
            return since if since.seq >= self.seq - 1 else Point(seq=self.seq - 1)
        # every shown change is at or after known_from_us (times follow seqs): from an earlier time,
        # the shown ones are all there are
        return Point(seq=self.seq - 1) if since.lo * 1e6 <= self.known_from_us else since  # type: ignore[operator]

    def clip(self, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``changes`` (in seq order, either way) without those before the horizon."""
        if not self.hidden or not changes or min(changes[0]["seq"], changes[-1]["seq"]) >= self.seq:
            return changes
        return [c for c in changes if c["seq"] >= self.seq]

    def check(self, group_id: str, key: str, at: Point) -> None:
        """Refuse, in one line, a point whose state only a hidden change could tell."""
        if not self.hidden:
            return
        before = at.seq < self.seq - 1 if at.seq is not None else at.hi * 1e6 < self.known_from_us
        if before:
            raise StateError(
                f"the history of {group_id!r}/{key!r} at {at} was pruned "
                f"({self.scope}oldest change kept is {self.seq}; see MotiaNB.history_keep)"
            )


class RetainedHistory:
    """Mixin before a backend's history reads: ``history()`` and ``state_at()`` within the
    retention's horizon (the backend provides ``_retention`` and ``_history_horizon``)."""

    _retention: Retention
    _history_horizon: Callable[[str], Horizon]  # (the backend's: this mixin comes first in its bases)
    _newest_seq: Callable[[], int]  # the newest seq the store has given (0: none)
    _history_first_stored: Callable[[str], int]  # (Backend's: 0; Redis: its stream's oldest change)

    def _check_seq(self, p: "Point | None", name: str) -> None:
        """Refuse a seq that reads as a unix time and is past every change (see the module)."""
        if p is None or p.seq is None or (unit := time_like(p.seq)) is None:
            return
        newest = self._newest_seq()
        if p.seq > newest:
            when = iso_time(p.seq / unit[1])
            raise InvalidInputError(
                f"{name}={p.seq} is no change's seq (the newest is {newest}); it reads as a unix time in {unit[0]}: "
                f"for that time pass a datetime or the ISO text {when!r}"
            )

    #: whether the horizon is the store's (SQLite: one floor for every group) or each group's (Redis)
    _store_wide_horizon = False

    def _keep_hidden(self, groups: "Iterable[str]") -> None:
        """Before the retention changes: what the current one hides stays hidden (its horizons
        become floors). Pruning lags the retention (SQLite's pass waits for the writers to
        pause, Redis trims a tenth over the count), so a retention that keeps more (``'all'``
        after ``'100'``) would otherwise show again changes reads called pruned."""
        if not self._retention.prunes:
            return
        floors: dict[str, Horizon] = self.__dict__.setdefault("_floors", {})
        for group in groups:
            horizon = self._history_horizon(group)
            held = floors.get(group)
            if horizon.hidden and (held is None or horizon.seq > held.seq):
                floors[group] = horizon

    def _horizon(self, group_id: str) -> "Horizon | None":
        """The first change a read shows: the retention's horizon, or a floor :meth:`_keep_hidden`
        kept when that is later (None: everything stored is shown)."""
        floors = self.__dict__.get("_floors")
        floor = floors.get("" if self._store_wide_horizon else group_id) if floors else None
        if not self._retention.prunes:
            return floor
        horizon = self._history_horizon(group_id)
        return horizon if floor is None or (horizon.hidden and horizon.seq >= floor.seq) else floor

    def _clipped(self) -> bool:
        return self._retention.prunes or bool(self.__dict__.get("_floors"))

    def history_first_kept(self, group_id: str) -> int:
        """:meth:`~.base.Backend.history_first_kept`: the horizon's seq (SQLite: of the store, Redis: of the group)."""
        if not self._clipped():
            return 0
        horizon = self._horizon(group_id)
        # (what is hidden, or what pruning already deleted: Redis trims in its write scripts)
        return max(horizon.seq if horizon is not None and horizon.hidden else 0, self._history_first_stored(group_id))

    def history_cut_since(self, group_id: str, since: Point) -> int:
        """The first seq a ``since`` read of ``group_id`` shows when changes after ``since`` are
        past the retention (pruned, or hidden), so the read starts later than asked; else 0."""
        if not self._clipped():
            return 0
        horizon = self._horizon(group_id)  # (a loosened retention's floor too: reads start there)
        if horizon is None or not horizon.hidden:
            return 0
        if since.seq is not None:
            return horizon.seq if since.seq < horizon.seq - 1 else 0
        return horizon.seq if micros(since.at) < horizon.known_from_us else 0  # type: ignore[arg-type]  # to the µs

    def history(self, group_id: str, key: "str | None", since: "Point | None", limit: int) -> list[dict[str, Any]]:
        self._check_seq(since, "since")
        read = super().history  # type: ignore[misc]
        if not self._clipped():
            return read(group_id, key, since, limit)  # type: ignore[no-any-return]
        if since is not None and (horizon := self._horizon(group_id)) is not None:
            since = horizon.since(since)
        changes = read(group_id, key, since, limit)
        if not changes:
            return changes  # type: ignore[no-any-return]
        horizon = self._horizon(group_id)
        return changes if horizon is None else horizon.clip(changes)

    def state_at(self, group_id: str, key: str, at: Point) -> tuple[bool, Any]:
        self._check_seq(at, "at")
        if self._clipped() and (horizon := self._horizon(group_id)) is not None:
            horizon.check(group_id, key, at)
        return super().state_at(group_id, key, at)  # type: ignore[misc, no-any-return]
