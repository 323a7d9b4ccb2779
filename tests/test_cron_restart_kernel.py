"""``%motia cron stop`` then a quick ``%motia cron start``, in a real kernel (nbclient).

The stop lets the cron step it is running finish; the new scheduler started meanwhile ran the
same step again at its next second while the first run still ran: two runs of one cron step at
once. The engine never overlaps a cron job with itself (iii's cron worker holds a lock for the
job while its function runs and skips a firing that finds it held): a scheduler that finds the
step still running skips that firing, as the engine does, and other cron steps still run.
"""

from __future__ import annotations

import re

import pytest
from test_new_user_unawaited_reads import run_in_kernel, shown

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Tick counts the runs in flight (the most at once) and waits to be released; Other, on the same
# schedule, says the new scheduler has checked its steps (it comes after Tick: with two Ticks at
# once, the second Tick starts before Other runs)
CELLS = {
    "setup": ("%load_ext motia_nb\nimport asyncio, builtins\n"
              "builtins.active = builtins.most = 0\n"
              "builtins.started, builtins.again, builtins.release, builtins.other = (asyncio.Event() for _ in range(4))"),
    "tick": '''%%step
import builtins
from motia import cron
config = {"name": "Tick", "triggers": [cron("* * * * * *")]}
async def handler(input, ctx):
    builtins.active += 1
    builtins.most = max(builtins.most, builtins.active)
    if builtins.started.is_set():
        builtins.again.set()
    builtins.started.set()
    try:
        await builtins.release.wait()
    finally:
        builtins.active -= 1''',
    "other": '''%%step
import builtins
from motia import cron
config = {"name": "Other", "triggers": [cron("* * * * * *")]}
async def handler(input, ctx):
    if builtins.started.is_set():
        builtins.other.set()''',
    "start": "%motia cron start 0.1",
    "restart": ("await asyncio.wait_for(builtins.started.wait(), 10)\n%motia cron stop\n%motia cron start 0.1\n"
                "waits = [asyncio.ensure_future(e.wait()) for e in (builtins.again, builtins.other)]\n"
                "done, _ = await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)\n"
                "print('again' if waits[0] in done else 'other' if waits[1] in done else 'neither')\n"
                "builtins.release.set()\n"
                "print('most at once:', builtins.most)"),
    "after": ("builtins.started.clear()\nbuiltins.release.clear()\n"
              "await asyncio.wait_for(builtins.started.wait(), 10)\nbuiltins.release.set()\n"
              "%motia cron stop\nprint('most at once:', builtins.most)"),
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_in_kernel(CELLS, tmp_path_factory.mktemp("cron-restart"))


def out(cell) -> str:
    return ANSI.sub("", shown(cell))


def test_a_restart_while_the_cron_step_finishes_does_not_run_it_twice_at_once(ran):
    assert out(ran["start"]).startswith("cron scheduler started"), out(ran["start"])
    lines = out(ran["restart"]).splitlines()
    assert lines[0] == "cron scheduler stopped (cron step 'Tick' is running: it finishes first)", lines
    assert lines[1].startswith("cron scheduler started") and lines[1].endswith(
        "(cron step 'Tick' is still running: it does not run again until that run ends)"), lines
    # the new scheduler checked its steps (Other ran) and did not start Tick beside the running one
    assert lines[2:] == ["other", "most at once: 1"], lines


def test_the_skipped_step_runs_again_on_its_schedule_once_the_first_run_ended(ran):
    # (Tick started again; the stop comes while it finishes)
    stopped, most = out(ran["after"]).splitlines()
    assert stopped.startswith("cron scheduler stopped") and most == "most at once: 1", out(ran["after"])
