"""Cron expressions with seconds, as the iii engine reads them (Rust ``cron`` crate 0.15).

``sec min hour day-of-month month day-of-week [year]``, evaluated in UTC:

* seconds/minutes 0-59, hours 0-23, day of month 1-31, month 1-12 or ``JAN``…,
  day of week **1-7 with 1 = Sunday** or ``SUN``…, year 1970-2100 (``*`` when absent);
* each field: ``*``, a number, a range ``a-b``, a named range ``MON-FRI``, a list
  ``a,b``, a period ``start/step`` (``5/15`` = 5, 20, 35, 50; the step between 1
  and the field's maximum); ``?`` means ``*`` in the two day fields;
* day of month **and** day of week must both match (not cron's usual "either");
* ``@yearly``, ``@monthly``, ``@weekly`` (Sunday), ``@daily``, ``@hourly``.

5-field expressions are not the engine's (it refuses them); motia_nb reads those
with cronsim (minute first, local time) — see :mod:`motia_nb.steps.config`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = ["EngineCron", "CronSpecError", "parse_engine_cron"]


class CronSpecError(ValueError):
    """An expression the engine's cron parser would refuse."""


_MONTHS = {n: i for i, n in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_MONTHS.update({calendar.month_name[i].lower(): i for i in range(1, 13)})
_DAYS = {"sun": 1, "sunday": 1, "mon": 2, "monday": 2, "tue": 3, "tues": 3, "tuesday": 3, "wed": 4, "wednesday": 4,
         "thu": 5, "thurs": 5, "thursday": 5, "fri": 6, "friday": 6, "sat": 7, "saturday": 7}

# name, min, max, names, accepts "?"
_FIELDS = [
    ("seconds", 0, 59, None, False),
    ("minutes", 0, 59, None, False),
    ("hours", 0, 23, None, False),
    ("days of month", 1, 31, None, True),
    ("months", 1, 12, _MONTHS, False),
    ("days of week", 1, 7, _DAYS, True),
    ("years", 1970, 2100, None, False),
]
_SHORTHAND = {
    "@yearly": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 1",
    "@daily": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_ITEM = re.compile(r"^(?:(\*|\?)|(\d+)-(\d+)|([A-Za-z]+)-([A-Za-z]+)|(\d+)|([A-Za-z]+))(?:/(\d+))?$")


def _ordinal(text: str, field: tuple, names: dict | None) -> int:
    name, lo, hi = field[0], field[1], field[2]
    if text.isdigit():
        value = int(text)
    else:
        if names is None or text.lower() not in names:
            raise CronSpecError(f"{text!r} is not a valid name in {name}")
        value = names[text.lower()]
    if not lo <= value <= hi:
        raise CronSpecError(f"{name}: {value} is out of range {lo}-{hi}")
    return value


def _field(text: str, field: tuple) -> frozenset[int]:
    name, lo, hi, names, any_ok = field
    out: set[int] = set()
    for item in text.split(","):
        m = _ITEM.match(item.strip())
        if not m:
            raise CronSpecError(f"{name}: cannot read {item!r}")
        star, r1, r2, n1, n2, point, npoint, step = m.groups()
        if star == "?" and not any_ok:
            raise CronSpecError(f"{name}: '?' is only allowed in the day fields")
        if npoint is not None and step is not None:
            raise CronSpecError(f"{name}: a name cannot start a period ({item!r})")
        if star:
            base = list(range(lo, hi + 1))
        elif r1 is not None or n1 is not None:
            a, b = (_ordinal(r1, field, None), _ordinal(r2, field, None)) if r1 is not None else (
                _ordinal(n1, field, names), _ordinal(n2, field, names))
            if a > b:
                raise CronSpecError(f"{name}: invalid range {item!r}")
            base = list(range(a, b + 1))
        elif point is not None:
            start = _ordinal(point, field, None)
            base = list(range(start, hi + 1)) if step is not None else [start]
        else:
            base = [_ordinal(npoint, field, names)]
        if step is not None:
            n = int(step)
            if not 1 <= n <= hi:
                raise CronSpecError(f"{name}: the step must be between 1 and {hi} ({n} given)")
            base = base[::n]
        out.update(base)
    return frozenset(out)


@dataclass(frozen=True)
class EngineCron:
    """A parsed 6/7-field expression; :meth:`next_after` gives the next fire time (UTC)."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    years: frozenset[int]

    def matches(self, t: datetime) -> bool:
        return (
            t.year in self.years and t.month in self.months and t.day in self.days
            and (t.isoweekday() % 7) + 1 in self.weekdays
            and t.hour in self.hours and t.minute in self.minutes and t.second in self.seconds
        )

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (aware; naive means UTC), or None."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=timezone.utc)
        t = after.astimezone(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
        limit = datetime(max(self.years) + 1, 1, 1, tzinfo=timezone.utc)
        while t < limit:
            if t.year not in self.years:
                t = datetime(t.year + 1, 1, 1, tzinfo=timezone.utc)
            elif t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif t.day not in self.days or (t.isoweekday() % 7) + 1 not in self.weekdays:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        return None


def parse_engine_cron(expression: str) -> EngineCron:
    """Parse a 6/7-field expression (or an ``@`` shorthand) as the engine does; CronSpecError if refused."""
    text = expression.strip()
    text = _SHORTHAND.get(text, text)
    parts = text.split()
    if len(parts) not in (6, 7):
        raise CronSpecError(f"expected 6 or 7 fields (sec min hour day-of-month month day-of-week [year]), got {len(parts)}")
    if len(parts) == 6:
        parts.append("*")
    sets = [_field(p, f) for p, f in zip(parts, _FIELDS)]
    cron = EngineCron(expression, *sets)
    if cron.next_after(datetime(1970, 1, 1, tzinfo=timezone.utc) - timedelta(seconds=1)) is None:
        raise CronSpecError("the expression never fires")
    return cron
