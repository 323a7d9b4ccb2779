"""The state history's vocabulary (SPEC §9), shared by both backends (pure: no I/O).

- :class:`Retention`: how much history a store keeps (``MotiaNB.history_keep``):
  ``"100000"`` (the newest N changes), ``"7d"`` (changes younger than an age;
  units ``s m h d w``), both (``"100000,7d"``: whichever keeps less), ``"all"``
  or ``"off"`` (no changelog is written).
- :func:`point`: a ``since`` / ``at`` argument (a seq or a datetime) checked.
- :func:`change_dict`: one stored change as the dict ``history()`` returns.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from datetime import date, datetime, timezone
from typing import Any

from .errors import InvalidInputError, StateError
from .numbers import as_int
from .urls import safe_url
from .value_checks import _short_repr
from .values import check_name

__all__ = [
    "Retention", "DEFAULT_KEEP", "CHANGE_KEYS", "Point", "point", "at_point", "history_args", "change_dict", "iso_time", "micros", "iso_micros",
    "collector_paused",
]  # fmt: skip

#: Retention unless ``MotiaNB.history_keep`` / ``StateManager(history_keep=)`` say otherwise.
DEFAULT_KEEP = "100000"

#: The keys of every dict ``history()`` returns, in order.
CHANGE_KEYS = ("seq", "at", "event_type", "group_id", "key", "old_value", "new_value", "trace_id", "cause", "pid")

#: The largest seq a store can give (SQLite's INTEGER; a Redis stream ID holds it too): a
#: ``since`` / ``at`` seq beyond it names the same moment (after every change).
MAX_SEQ = 2**63 - 1
#: The largest ``limit`` handed to a store (:data:`motia_nb.state.requests.MAX_COUNT` is it: see there why).
MAX_LIMIT = 2**53

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_HELP = "use a count (10000), an age (90s, 30m, 12h, 7d, 2w), both ('10000,7d'), 'all' or 'off'"
#: What ``history_keep`` takes (one wording for ``state_manager.history_keep`` and ``%config MotiaNB``).
KEEP_TYPES = "a count (int) or a str such as '10000', '7d', '10000,7d', 'all' or 'off'"


@dataclass(frozen=True)
class Retention:
    """How much history to keep. ``enabled`` False: nothing is recorded."""

    enabled: bool = True
    max_count: int | None = None  # keep at most this many changes (the newest)
    max_age: float | None = None  # keep changes younger than this many seconds

    @classmethod
    def parse(cls, spec: "Retention | str | int | None") -> "Retention":
        """``spec`` read, or :class:`InvalidInputError` in one line naming the syntax."""
        if isinstance(spec, Retention):
            return spec
        if spec is None:
            spec = DEFAULT_KEEP
        count = as_int(spec)  # a count as an int (a numpy integer too)
        if count is not None:
            spec = str(count)
        if not isinstance(spec, str):
            raise InvalidInputError(f"history_keep must be {KEEP_TYPES}, got {spec!r}")
        text = spec.strip().lower().replace("_", "")
        if text == "off":
            return cls(enabled=False)
        if text == "all":
            return cls()
        if not text:
            raise InvalidInputError(f"history_keep is empty; {_HELP}")
        count: int | None = None
        age: float | None = None
        parts = [p.strip() for p in text.split(",")]
        for part in parts:
            m = _AGE.fullmatch(part)
            if part.isdecimal() and count is None:  # (not isdigit: int() cannot read "²")
                zeros = "".join({c for c in part if int(c) == 0})  # (int() reads at most 4,300 digits)
                significant = part.lstrip(zeros) if zeros else part
                count = MAX_SEQ if len(significant) > 19 else int(significant or "0")
                if count < 1:
                    raise InvalidInputError(f"history_keep: a count must be at least 1 (use 'off' for no history); got {spec!r}")
                count = min(count, MAX_SEQ)  # past every seq a store can give: the same (SQLite's INTEGER holds it)
            elif m and age is None:
                age = float(m.group(1)) * _UNITS[m.group(2)]
                if not math.isfinite(age):  # (past a float's range: no time can be computed from it)
                    shown = part if len(part) <= 24 else f"{part[:10]}…{part[-4:]} ({len(part)} characters)"
                    raise InvalidInputError(f"history_keep: the age {shown} is too large (past 1.8e308 seconds); "
                                            "to keep changes of any age, give no age (a count, or 'all')")
                if age <= 0:
                    raise InvalidInputError(f"history_keep: an age must be more than 0 (use 'off' for no history); got {spec!r}")
            else:
                raise InvalidInputError(f"history_keep: cannot read {part!r} in {spec!r}; {_HELP}")
        return cls(max_count=count, max_age=age)

    def __str__(self) -> str:
        if not self.enabled:
            return "off"
        parts = [] if self.max_count is None else [str(self.max_count)]
        if self.max_age is not None:
            parts.append(_age_text(self.max_age))
        return ",".join(parts) or "all"

    @property
    def prunes(self) -> bool:
        return self.enabled and (self.max_count is not None or self.max_age is not None)


def _age_text(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        n = seconds / _UNITS[unit]
        if n >= 1 and n == int(n):
            return f"{int(n)}{unit}"
    return f"{Decimal(repr(seconds)).normalize():f}s"  # never '1e-05s' (the syntax has no exponent)


@dataclass(frozen=True)
class Point:
    """A moment in the history: a change's ``seq``, or unix seconds (``at``)."""

    seq: int | None = None
    at: float | None = None

    def __str__(self) -> str:
        """As a message shows it: the seq, or the time as ISO-8601 UTC (not unix seconds)."""
        return str(self.seq) if self.seq is not None else iso_time(self.at)  # type: ignore[arg-type]

    # Times are compared to the microsecond (what ISO-8601 ``at`` shows), so a ``since`` or
    # ``at`` taken from a change's own ``at`` includes that change.
    @property
    def lo(self) -> float:
        """The earliest stored time at or after this point."""
        return self.at - 5e-7  # type: ignore[operator]

    @property
    def hi(self) -> float:
        """The latest stored time at or before this point."""
        return self.at + 5e-7  # type: ignore[operator]


def point(value: Any, name: str) -> Point:
    """``since=`` / ``at=`` checked: an int seq (>= 0), a ``datetime`` (naive = local time, as
    Python's own ``timestamp()`` reads it), a ``date`` (its local midnight, as ``%state history
    --since 2026-05-01`` reads it) or an ISO-8601 text (a change's own ``at``)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInputError(
                f"{name} must be a change's seq (an int >= 0), a datetime or an ISO-8601 time "
                f"(e.g. '2026-05-01T12:00:00+00:00'), got {_short_repr(value, 80)}"
            ) from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, datetime):
        if type(value).__name__ == "NaTType":  # pandas' missing time: a datetime that is no time
            raise InvalidInputError(f"{name} must be a change's seq (an int >= 0) or a datetime, got NaT (no time)")
        return Point(at=_timestamp(value))
    seq = as_int(value)
    if seq is not None and seq >= 0:
        return Point(seq=min(seq, MAX_SEQ))  # past every seq: the same answer as the last one
    raise InvalidInputError(f"{name} must be a change's seq (an int >= 0) or a datetime, got {_got(value, name)}")


def _got(value: Any, name: str) -> str:
    """What a refused ``since`` / ``at`` was, on one line: a whole change (a dict of ``history()``,
    a row of ``%state history``'s frame) says to pass its seq; a column, to pass one of them."""
    if isinstance(value, dict) and "seq" in value:
        return f"a whole change (a dict of history()): pass its seq, {name}=change['seq']"
    if type(value).__module__.partition(".")[0] == "pandas":
        index = getattr(value, "index", None)
        if getattr(value, "ndim", 0) == 1 and index is not None and "seq" in index and "at" in index:
            return f"a whole change (a row of the history frame): pass its seq, {name}=row['seq']"
        if getattr(value, "ndim", 0) >= 1:
            n = len(value)
            what = f"of {n} value{'s' if n != 1 else ''}" if value.ndim == 1 else f"of {n} row{'s' if n != 1 else ''}"
            return f"a pandas {type(value).__name__} {what}: pass one seq, e.g. {name}=df.seq.iloc[-1]"
    return _short_repr(value, 80)


def _timestamp(value: datetime) -> float:
    """Unix seconds of ``value``, a naive one read as local time (``datetime``'s own
    ``timestamp``: pandas' ``Timestamp.timestamp()`` reads a naive one as UTC, so
    ``pd.Timestamp.now()`` west of Greenwich named a moment hours before now); a naive one at the
    ends of the calendar (``datetime.min``, where local time falls outside year 1..9999:
    ``timestamp()`` raises) read as UTC."""
    try:
        return datetime.timestamp(value)
    except (ValueError, OverflowError, OSError):
        return datetime.timestamp(value.replace(tzinfo=value.tzinfo or timezone.utc))


def at_point(at: Any, retention: Retention, url: str) -> Point:
    """``get(at=)`` checked; refused while history is off (the answer would be a guess)."""
    if not retention.enabled:
        raise StateError(f"{safe_url(url)}: the state history is off (history_keep = 'off'), so get(at=...) cannot answer")
    return point(at, "at")


def history_args(group_id: Any, key: Any, since: Any, limit: Any) -> tuple[str, str | None, Point | None, int]:
    """The checked arguments of ``history()``."""
    g = check_name(group_id, "group_id")
    k = None if key is None else check_name(key, "key", group_id=g)
    n = as_int(limit)
    if n is None or n < 1:
        raise InvalidInputError(f"limit must be an int >= 1, got {limit!r}")
    # a limit past any history (sys.maxsize, 10**30) is no limit, on every backend
    return g, k, None if since is None else point(since, "since"), min(n, MAX_LIMIT)


_SECONDS: dict[int, str] = {}  # whole second -> its ISO text: a history page shares few seconds


def iso_time(at: float) -> str:
    """Unix seconds as ISO-8601 UTC (``2026-11-30T12:00:00.123456+00:00``), exactly as
    ``datetime.fromtimestamp(at, timezone.utc).isoformat()`` (microseconds rounded half to
    even, none shown when zero), with each whole second formatted once (10,000 changes:
    a few datetime objects, not 10,000)."""
    frac, whole = math.modf(at)
    us = round(frac * 1e6)
    second = int(whole)
    if us < 0:  # before 1970
        second -= 1
        us += 1_000_000
    if us >= 1_000_000:
        second += 1
        us -= 1_000_000
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[second] = datetime.fromtimestamp(second, timezone.utc).isoformat()[:19]  # (strftime's %Y: '999' for 0999)
    return f"{text}.{us:06d}+00:00" if us else text + "+00:00"


def micros(at: float) -> int:
    """Unix seconds as whole microseconds, rounded as :func:`iso_time` (and ``datetime``) round them."""
    frac, whole = math.modf(at)
    return int(whole) * 1_000_000 + round(frac * 1e6)


def iso_micros(ats: "list[int]") -> list[str]:
    """:func:`iso_time` of each of ``ats`` (whole microseconds, see :func:`micros`), in one
    loop: a history page's changes share few seconds, each formatted once; a time inside the
    second of the one before (two comparisons of ints) is that second's text and the last six
    digits of its own decimal text (cheaper than formatting them: 10,000 changes, about a fifth
    of the instructions of ``%06d``). A whole second (no fraction shown) is never inside: it
    takes the other branch, as a new second does."""
    out: list[str] = []
    append = out.append
    lo = hi = 0  # the second of the time before, in microseconds: (lo, hi) holds the times inside it
    head = ""  # that second's text and the point
    for us in ats:
        if lo < us < hi:
            append(f"{head}{str(us)[-6:]}+00:00")
            continue
        if us < 1_000_000:  # before 1970-01-01T00:00:01: no six digits to take
            append(iso_time(us / 1e6) if us >= 0 else _iso_before_1970(us))
            continue
        second = us // 1_000_000
        lo = second * 1_000_000
        hi = lo + 1_000_000
        whole = iso_time(float(second))[:-6]
        head = whole + "."
        append(f"{head}{str(us)[-6:]}+00:00" if us != lo else whole + "+00:00")
    return out


def _iso_before_1970(us: int) -> str:
    second, frac = divmod(us, 1_000_000)
    head = iso_time(float(second))[:-6]
    return f"{head}.{frac:06d}+00:00" if frac else f"{head}+00:00"


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a history page is built: its objects (a tuple
    or list per change, a dict per change and per value) hold no cycles, yet 10,000 changes
    would run the collector dozens of times, each pass walking them (measured with callgrind:
    ~10% of a SQLite read). Back on afterwards, unless somebody else had turned it off."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


_loads = json.loads


def change_dict(
    seq: int, at: float, event_type: str, group_id: str, key: str, old_json: "str | bytes | None",
    new_json: "str | bytes | None", trace_id: str | None, cause: str, pid: int,
) -> dict[str, Any]:  # fmt: skip
    """One change as ``history()`` returns it (values decoded; an absent value is None)."""
    return {
        "seq": int(seq),
        "at": iso_time(float(at)),
        "event_type": event_type,
        "group_id": group_id,
        "key": key,
        "old_value": None if old_json is None else _loads(old_json),
        "new_value": None if new_json is None else _loads(new_json),
        "trace_id": trace_id or None,
        "cause": cause,
        "pid": int(pid),
    }
