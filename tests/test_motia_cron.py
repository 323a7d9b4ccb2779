"""Cron with seconds (6/7 fields) as the iii engine's cron crate reads it; 5 fields stay cronsim's."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from motia_nb.steps import StepConfigError, cron
from motia_nb.session import default_session, register, reset_steps
from motia_nb.steps.cronspec import CronSpecError, parse_engine_cron
from motia_nb.steps.scheduling import CronScheduler, next_fire

UTC = timezone.utc


def at(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize(
    "expr, after, expected",
    [
        ("5 * * * * *", at(2024, 1, 1), at(2024, 1, 1, 0, 0, 5)),
        ("5 * * * * *", at(2024, 1, 1, 0, 0, 5), at(2024, 1, 1, 0, 1, 5)),  # strictly after
        ("*/5 * * * * *", at(2024, 1, 1, 0, 0, 7), at(2024, 1, 1, 0, 0, 10)),
        ("5/15 * * * * *", at(2024, 1, 1, 0, 0, 36), at(2024, 1, 1, 0, 0, 50)),
        ("0 30 9 * * Mon", at(2024, 1, 1, 10), at(2024, 1, 8, 9, 30)),  # 2024-01-01 is a Monday
        ("0 0 0 * * 2", at(2024, 1, 2), at(2024, 1, 8)),  # 1 = Sunday, so 2 = Monday
        ("0 0 0 * * SUN", at(2024, 1, 1), at(2024, 1, 7)),
        ("0 0 0 13 * 6", at(2024, 1, 1), at(2024, 9, 13)),  # day of month AND day of week: a Friday 13th
        ("0 0 12 ? * MON-FRI", at(2024, 1, 6), at(2024, 1, 8, 12)),
        ("0 0 0 1 JAN-MAR/2 *", at(2024, 1, 2), at(2024, 3, 1)),
        ("0 0 0 1 1 * 2030", at(2024, 1, 1), at(2030, 1, 1)),
        ("5 * * * * * *", at(2024, 1, 1), at(2024, 1, 1, 0, 0, 5)),
        ("@daily", at(2024, 1, 1, 1), at(2024, 1, 2)),
        ("@weekly", at(2024, 1, 1), at(2024, 1, 7)),
        ("@hourly", at(2024, 1, 1, 1, 30), at(2024, 1, 1, 2)),
    ],
)
def test_next_fire_time_as_the_engine(expr, after, expected):
    assert parse_engine_cron(expr).next_after(after) == expected


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("0 0 0 * * 0", "days of week: 0 is out of range 1-7"),
        ("60 * * * * *", "seconds: 60 is out of range 0-59"),
        ("* * * * * * 1969", "years: 1969"),
        ("*/0 * * * * *", "step must be between 1 and 59"),
        ("*/60 * * * * *", "step must be between 1 and 59"),
        ("? * * * * *", "'?' is only allowed in the day fields"),
        ("0 0 0 31 2 *", "never fires"),
        ("0 0 0 * FOO *", "'FOO' is not a valid name in months"),
        ("0 0 0 5-1 * *", "invalid range"),
        ("1 2 3 4 5 6 7 8", "expected 6 or 7 fields"),
    ],
)
def test_expressions_the_engine_refuses(expr, fragment):
    with pytest.raises(CronSpecError, match=None) as exc:
        parse_engine_cron(expr)
    assert fragment in str(exc.value)
    with pytest.raises(StepConfigError):
        cron(expr)


def test_cron_helper_takes_five_six_and_seven_fields_and_a_condition():
    assert cron("0 9 * * *") == {"type": "cron", "expression": "0 9 * * *"}
    cond = lambda i, c: True  # noqa: E731
    assert cron("*/5 * * * * *", condition=cond) == {"type": "cron", "expression": "*/5 * * * * *", "condition": cond}
    assert cron("5 * * * * * *")["expression"] == "5 * * * * * *"


def test_scheduler_fires_six_field_steps_on_the_second():
    reset_steps()
    ran = []
    try:
        register({"name": "Every2s", "triggers": [cron("*/2 * * * * *")]}, lambda _: ran.append(1))
        s = CronScheduler(default_session().runtime)
        t0 = datetime(2024, 1, 1, 12, 0, 0, 500000)  # local time
        s.since = t0
        assert s.due_steps(t0 + timedelta(seconds=1)) == []
        assert s.due_steps(t0 + timedelta(seconds=1.6)) == ["Every2s"]  # 12:00:02
        asyncio.run(s.tick(t0 + timedelta(seconds=1.6)))
        assert ran == [1]
        assert s.next_run("Every2s", ["*/2 * * * * *"]) == datetime(2024, 1, 1, 12, 0, 4)
        assert next_fire("0 0 * * *", t0) == datetime(2024, 1, 2)  # 5 fields: cronsim, local time
    finally:
        reset_steps()
