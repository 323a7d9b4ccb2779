"""The opt-in cron scheduler: runs due cron steps while the kernel is idle.

Nothing runs on a schedule until you ask: ``start_scheduler()`` (or
``%motia cron start``); each session has its own. In a kernel it is a task on the kernel's own event loop
(so a due step runs between cells, like any other kernel work, and prints in
the cell that started the scheduler); without a running loop it runs on
motia_nb's loop thread. Every ``interval`` seconds it checks each cron step:
a step is due when the next time its expression matches (5 fields: cronsim,
local time; 6/7 fields: the engine's reading, UTC, to the second) after its last
run — or after the scheduler started — has passed; the scheduler wakes early
for a step due before the next check. Missed runs are not replayed: a due step runs once and its clock moves
to *now*. ``scheduler.tick(now)`` does one check at a given time (tests use it).

``stop()`` ends the scheduler's loop; a cron step it is running then finishes first (it is not cut
half-way), and no step runs after it. ``stop(cancel_running=True)`` (unloading the extension,
closing the session) cancels that step instead.

A cron step never runs beside itself, as on the engine (iii's cron worker holds a lock on the job
while its function runs and skips a firing that finds it held): a ``start()`` right after a
``stop()`` whose step is still finishing skips that step's firings until it ends (its clock moves
on, as for a missed run); the other cron steps run as usual.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cronsim import CronSim

from .._interrupts import CancelledByInterrupt
from .._threads import get_loop_thread
from ..state.numbers import as_number
from .config import CronTrigger
from .cronspec import parse_engine_cron
from .errors import StepCallError, StepLoopError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CronScheduler", "next_fire"]


def next_fire(expression: str, after: datetime) -> datetime:
    """The next time ``expression`` fires after ``after`` (naive local times).

    5 fields: cronsim, in local time. 6/7 fields: the engine's reading, in UTC
    (converted back to local time here).
    """
    if len(expression.split(" ")) == 5:
        return next(CronSim(expression, after))
    nxt = parse_engine_cron(expression).next_after(after.astimezone())
    if nxt is None:
        return datetime.max
    return nxt.astimezone().replace(tzinfo=None)


@dataclass
class _Run:
    """One start of the scheduler: its loop's task and what ``stop()`` told it."""

    loop: "asyncio.AbstractEventLoop | None" = None
    task: "asyncio.Task[None] | Future[None] | None" = None
    stopping: bool = False
    running_step: str | None = None  # the cron step the loop is running now (set and read on the loop)


class CronScheduler:
    """Checks cron steps every ``interval`` seconds and runs the due ones inline, one by one."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.interval = 1.0
        self.since: datetime | None = None
        self.last_run: dict[str, datetime] = {}
        self.runs: dict[str, int] = {}
        self._run: _Run | None = None
        #: the cron steps running now, whichever start of the scheduler runs them (a step in it is not started again)
        self._busy: set[str] = set()

    # -------------------------------------------------------------- due-check
    def next_run(self, name: str, expressions: list[str], now: datetime | None = None) -> datetime:
        """When step ``name`` is next due (earliest of its expressions) after its last run (local time)."""
        ref = self.last_run.get(name) or self.since or now or datetime.now()
        return min(next_fire(e, ref) for e in expressions)

    def due_steps(self, now: datetime) -> list[str]:
        """Names of the cron steps due at ``now`` (pure: nothing runs, nothing changes)."""
        out = []
        for st in self.runtime.registry.all():
            exprs = [t.expression for t in st.of_type(CronTrigger)]
            if exprs and self.next_run(st.name, exprs, now) <= now:
                out.append(st.name)
        return out

    async def tick(self, now: datetime | None = None, run: _Run | None = None) -> list[str]:
        """Run every step due at ``now`` (default: the current time); returns their names.

        ``run`` is the scheduler loop calling: once it is told to stop, no further step starts."""
        now = now or datetime.now()
        if self.since is None:
            self.since = now
        ran = []
        for name in self.due_steps(now):
            if run is not None and run.stopping:
                break
            ref = self.last_run.get(name) or self.since or now
            try:  # each of its cron triggers that is due fires, as the engine's (one job per trigger)
                due = [t for t in self.runtime.registry.get(name).of_type(CronTrigger) if next_fire(t.expression, ref) <= now]
            except LookupError:  # pragma: no cover - removed since due_steps listed it
                due = []
            self.last_run[name] = now
            if name in self._busy:  # still running (a stopped scheduler's run finishing): this firing is skipped
                continue
            if run is not None:
                run.running_step = name
            self._busy.add(name)
            self.runs[name] = self.runs.get(name, 0) + 1
            try:
                await self.runtime.run_cron(name, scheduled=True, due=due)
            except StepLoopError as e:  # a handler error is already reported by the runtime
                print(f"✖ cron step {name!r}: {e}", file=sys.stderr, flush=True)
            finally:
                self._busy.discard(name)
                if run is not None:
                    run.running_step = None
            ran.append(name)
        return ran

    # -------------------------------------------------------------- life cycle
    @property
    def running(self) -> bool:
        run = self._run
        return run is not None and run.task is not None and not run.task.done() and not run.stopping

    def _sleep_for(self) -> float:
        """Seconds until the next check: ``interval``, or less when a step is due sooner (6/7-field
        expressions fire on the second)."""
        now = datetime.now()
        nexts = [self.next_run(st.name, [t.expression for t in st.of_type(CronTrigger)], now)
                 for st in self.runtime.registry.with_trigger(CronTrigger)]
        soonest = min(nexts, default=None)
        if soonest is None:
            return self.interval
        return max(0.0, min(self.interval, (soonest - now).total_seconds()))

    async def _main(self, run: _Run) -> None:
        while not run.stopping:
            await asyncio.sleep(self._sleep_for())
            if run.stopping:
                return
            try:
                await self.tick(run=run)
            except CancelledByInterrupt:  # the step it ran was cancelled: so is this loop (stop(cancel_running=True))
                raise asyncio.CancelledError() from None
            except Exception as e:  # noqa: BLE001 - keep the scheduler alive
                print(f"✖ cron scheduler: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

    def start(self, interval: float = 1.0) -> str:
        """Start checking every ``interval`` seconds (on the kernel's loop when there is one)."""
        seconds = as_number(interval)  # a numpy number too
        if seconds is None or not 0 < seconds <= 3600:
            raise StepCallError(f"scheduler interval must be a number of seconds in (0, 3600], got {interval!r}")
        if self.running:
            return f"cron scheduler already running (every {self.interval:g}s); stop it first to change the interval"
        self.interval = float(seconds)
        self.since = datetime.now()
        self.last_run.clear()
        run = _Run()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            lt = get_loop_thread()
            run.loop = lt.loop
            run.task = asyncio.run_coroutine_threadsafe(self._main(run), lt.loop)  # type: ignore[arg-type]
            where = "motia_nb's loop thread"
        else:
            run.loop = loop
            run.task = loop.create_task(self._main(run))
            where = "the kernel's event loop"
        self._run = run
        n = len(self.runtime.registry.with_trigger(CronTrigger))
        said = f"cron scheduler started on {where}, checking {n} cron step(s) every {self.interval:g}s"
        busy = sorted(self._busy)
        if busy:  # the stopped scheduler's step, finishing: not run beside itself
            said += (f" (cron step {', '.join(map(repr, busy))} is still running: it does not run again "
                     "until that run ends)")
        return said

    def stop(self, cancel_running: bool = False) -> str:
        """Stop the scheduler: no cron step runs after this. A step it is running now finishes first
        (the returned line names it), unless ``cancel_running``."""
        run = self._run
        self._run = None
        if run is None or run.task is None or run.task.done() or run.stopping:
            return "cron scheduler is not running"
        run.stopping = True  # the loop starts no step from now on
        busy = run.running_step
        assert run.loop is not None

        def end_on_loop() -> None:  # on the scheduler's loop: cancel it while it sleeps, or a running step if asked
            if run.task is not None and (cancel_running or run.running_step is None):
                run.task.cancel()

        if run.loop.is_closed():
            return "cron scheduler stopped"
        run.loop.call_soon_threadsafe(end_on_loop)
        if busy is not None and not cancel_running:
            return f"cron scheduler stopped (cron step {busy!r} is running: it finishes first)"
        return "cron scheduler stopped"

    def frame(self) -> "pd.DataFrame":
        """The cron steps: expression, next run, last run, runs since start, and whether the scheduler runs."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        now = datetime.now()
        for st in self.runtime.registry.all():
            exprs = [t.expression for t in st.of_type(CronTrigger)]
            if not exprs:
                continue
            rows.append(
                {
                    "step": st.name,
                    "expression": ", ".join(exprs),
                    "next_run": self.next_run(st.name, exprs, now) if self.running else None,
                    "last_run": self.last_run.get(st.name),
                    "runs": self.runs.get(st.name, 0),
                    "scheduled": self.running,
                }
            )
        return pd.DataFrame(rows, columns=["step", "expression", "next_run", "last_run", "runs", "scheduled"])
