"""Review of today's "each trigger of a step is its own" change: a step's cron triggers too. On
the engine each cron trigger fires on its own schedule with its own condition and
``ctx.trigger.index``; the scheduler asked the first trigger's condition whichever was due."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from motia_nb.session import (
    default_session,
    register,
)
from motia_nb.steps import cron
from motia_nb.steps.scheduling import CronScheduler


@pytest.fixture(autouse=True)
def sandbox(steps_sandbox):
    """No steps, no logs, no traces, and a fresh database file for each test (conftest)."""


def test_the_due_cron_trigger_runs_the_step_with_its_own_condition_index_and_expression():
    ran = []
    register(
        {"name": "Two", "triggers": [cron("0 0 1 1 *", condition=lambda i: False), cron("0 * * * *")]},
        lambda i, ctx: ran.append((ctx.trigger.index, ctx.trigger.expression)),
    )
    s = CronScheduler(default_session().runtime)
    s.since = datetime(2024, 3, 1, 10, 30)
    assert asyncio.run(s.tick(datetime(2024, 3, 1, 11, 0, 2))) == ["Two"]
    assert ran == [(1, "0 * * * *")]


def test_two_cron_triggers_due_at_once_run_the_step_once_each():
    ran = []
    register({"name": "Both", "triggers": [cron("0 * * * *"), cron("0 11 * * *")]},
             lambda i, ctx: ran.append(ctx.trigger.index))
    s = CronScheduler(default_session().runtime)
    s.since = datetime(2024, 3, 1, 10, 30)
    asyncio.run(s.tick(datetime(2024, 3, 1, 11, 0, 2)))
    assert ran == [0, 1]
    asyncio.run(s.tick(datetime(2024, 3, 1, 12, 0, 2)))  # only the hourly one
    assert ran == [0, 1, 0]
