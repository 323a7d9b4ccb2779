"""The Redis write path: one task on motia_nb's loop thread, pipelined group commit.

The writer task takes queued writes in order and pipelines runs of independent
writes in one round trip (writes that touch the same item or group start a new
run, so a process's writes keep their order); consecutive sets of a run to one group go in
``set_many.lua`` calls of up to :data:`SET_MANY_MAX` (one script run and one published
message each). The calls are streamed (:class:`~.wire.AsyncScriptWire`: the server runs one
while the next is packed) and each call's writes are answered as its reply arrives: a
``concurrent.futures.Future`` directly, a caller's ``asyncio.Future`` with one
``call_soon_threadsafe`` per caller loop and call, its done callbacks in one loop callback
(:mod:`.answers`).
Each run commits under the backend's :class:`~.direct.CommitGate`, so a
synchronous caller committing directly on its own thread never interleaves with it.
Writes that reach it after it stopped (a concurrent ``close()``) were never applied:
:meth:`PipelinedWriter.refuse` hands each to its future's ``on_refused`` (the manager
resubmits it to the reopened store), or fails it with ``StateClosedError``.

Why optimistic compare-and-set instead of porting ops to Lua: ``update`` must
apply :func:`motia_nb.state.ops.apply_ops`, the single implementation of op
semantics. Porting it to Lua would fork those semantics, and Lua's cjson cannot
round-trip them anyway (integers beyond 2^53 turn into floats, floats are printed
with 14 significant digits, ``{}`` and ``[]`` are confused). So an update reads
the item's JSON text, applies the ops in Python, and commits with ``cas.lua``,
which writes only if the field still holds exactly the text that was read (byte
comparison — Lua never parses JSON); else it is retried with the fresh value:
optimistic concurrency at *item* granularity (``WATCH`` would conflict on any write to
the group), two round trips uncontended; an op that cannot apply raises before sending.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from contextlib import aclosing
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from ...events import StateEvent
from ..base import Write, WriteResult
from ..waiters import hand_refused, resolve
from . import scripts
from .answers import answer_on_loops
from .commands import (
    HistoryArgs, Plan, history_off, plan_update, result_of, script_call, set_many_call, set_many_olds, set_outcome,
)  # fmt: skip
from .direct import CommitGate
from .layout import STATE_PREFIX, RedisBackendError, closed_error, io_error, may_have_run, not_sent, safe_url
from .wire import AsyncScriptWire

__all__ = ["PipelinedWriter", "independent_runs", "Item"]

#: writes taken off the queue at once (a 20,000-write gather is one batch: one pipeline)
_MAX_BATCH = 32_768
#: sets of one group per ``set_many.lua`` call (a call blocks the server while it runs: ~10 ms)
SET_MANY_MAX = 1024
_MAX_CAS_ATTEMPTS = 10_000

#: a queued write: the write, its future (a ``concurrent.futures.Future``, or an
#: ``asyncio.Future`` of the caller's loop), and whether that future wants ``WriteResult.result`` only
Item = tuple[Write, Any, bool]
#: one script call of a pipeline: (script name, KEYS, ARGV, indexes of the run's writes it commits)
Call = tuple[str, list[str], list[Any], list[int]]


class PipelinedWriter:
    """Commits queued writes through an asyncio Redis client; lives on one event loop.

    ``put`` / ``put_many`` must be called on that loop (from elsewhere with
    ``loop.call_soon_threadsafe``); ``run`` is the writer task; ``None`` put on the
    queue stops it after the writes queued before it. ``on_commit(events)`` runs on
    the loop after each commit that produced events, before the writes' futures resolve.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: Callable[[], str],
        origin: str,
        on_commit: Callable[[Sequence[StateEvent]], None],
        gate: CommitGate,
        history_args: HistoryArgs = history_off,
        wants_events: Callable[[], bool] = lambda: True,
        on_gap: Callable[[], None] = lambda: None,
    ) -> None:
        self._url = url
        #: called when writes may have committed with no event reaching this process (a lost connection)
        self._on_gap = on_gap
        #: whether committed writes must carry their events (a local listener is registered)
        self._wants_events = wants_events
        #: the six trailing ARGV of every write script (history.lua): cause, trace, pid, origin, limits
        self._hist = history_args
        self._channel = channel
        self._origin = origin
        self._on_commit = on_commit
        self._gate = gate
        self._items: deque[Item | None] = deque()
        self._wake: asyncio.Event | None = None
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._stopped = False
        #: How many updates lost a compare-and-set race and were retried (a contention gauge).
        self.cas_retries = 0
        #: How many pipelines were sent (one per run of independent writes; a test observable).
        self.pipelines = 0
        #: the client's socket timeout (seconds), for the error a reply waited for in vain names it
        self.timeout: float | None = None

    def put(self, item: Item | None) -> None:
        self.put_many([item])

    def put_many(self, items: Sequence[Item | None]) -> None:
        if self._stopped:  # the writer task has ended: nobody would take them
            self.refuse([it for it in items if it is not None])
            return
        self._items.extend(items)
        if self._wake is not None:
            self._wake.set()

    async def run(self, client: Any) -> None:
        """The writer task: commit batches until ``None`` is taken from the queue."""
        self._client = client
        self._wire = AsyncScriptWire(client)
        self._scripts = {name: client.register_script(src) for name, src in scripts.BY_NAME.items()}
        self._wake = wake = asyncio.Event()
        q = self._items
        stop = False
        while not stop:
            if not q:
                wake.clear()
                await wake.wait()
                continue
            batch: list[Item] = []
            while q and len(batch) < _MAX_BATCH:
                nxt = q.popleft()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            for run in independent_runs(batch):
                await self._gate.acquire_async()
                try:
                    await self._commit_run(run)
                except Exception as exc:  # pragma: no cover - defensive: never kill the writer
                    err = io_error(exc, self._url, timeout=self.timeout)
                    self._settle([(it, err) for it in run if not it[1].done()])
                finally:
                    self._gate.release()
        self._stopped = True
        try:
            await self._wire.close()
        except Exception:  # pragma: no cover - the client's close disconnects it anyway
            pass
        # fail anything that raced in after close()
        late = [it for it in q if it is not None]
        q.clear()
        self.refuse(late)

    def refuse(self, items: Sequence[Item], *, counted: bool = True) -> None:
        """Answer writes never applied (the store closed; ``counted``: by ``gate.add``): an async
        write whose future has ``on_refused`` goes to it, on its loop; the rest fail with
        ``StateClosedError`` (a blocking caller's ``commit_wait`` resubmits it)."""
        if not items:
            return
        if counted:
            self._gate.done(len(items))
        err = closed_error(self._url)
        answer = []
        for it in items:
            w, fut, result_only = it
            if isinstance(fut, Future) or fut.done() or not hand_refused(fut.get_loop(), fut, w, result_only, err):
                answer.append((it, err))
        self._answer(answer)

    # ------------------------------------------------------------------ one run
    async def _commit_run(self, run: list[Item]) -> None:
        """Commit writes that touch distinct items in one pipeline; retry lost update races."""
        # 1. read the current text of every item an update touches (one round trip)
        updates = [(i, it[0]) for i, it in enumerate(run) if it[0].kind == "update"]
        current: dict[int, bytes | None] = {}
        outcomes: dict[int, WriteResult | BaseException] = {}
        if updates:
            pipe = self._client.pipeline(transaction=False)
            for _, w in updates:
                pipe.hget(STATE_PREFIX + w.group_id, w.key)
            try:
                read = await pipe.execute(raise_on_error=False)
            except RedisError as exc:  # nothing of the run was sent yet
                raise not_sent(exc)
            for (i, w), raw in zip(updates, read):
                if isinstance(raw, BaseException):
                    outcomes[i] = io_error(raw, self._url, w.group_id, self.timeout)
                else:
                    current[i] = raw

        # 2. compute updates in Python (apply_ops is the one implementation of op semantics)
        planned: dict[int, Plan] = {}
        for i, w in updates:
            if i in outcomes:
                continue
            try:
                planned[i] = plan_update(w, current[i])
            except Exception as exc:  # the op cannot apply: nothing is sent, the item is unchanged
                outcomes[i] = exc

        # 3. one pipeline for every write of the run, in order; consecutive sets of a group in
        # calls of up to SET_MANY_MAX; 4. each call's results delivered as its reply arrives
        # (the server runs the next calls meanwhile); lost races are retried one by one afterwards
        calls = self._calls(run, planned, outcomes)
        retry: list[int] = []
        sent: list[int] = []
        wants = self._wants_events()
        try:
            async with aclosing(self._eval_stream(calls)) as replies:  # (left early: the connection goes)
                async for j, reply in replies:
                    done = self._outcomes(run, calls[j][0], calls[j][3], reply, planned, outcomes, retry, wants)
                    sent += done
                    self._deliver(run, outcomes, done)
        except Exception as exc:  # the connection failed for good: the writes not answered yet fail
            err = self._failed(exc)  # (those sent may have committed, unseen)
            answered = set(sent)  # (an update that lost its race is not retried: it fails too)
            self._settle([(run[i], outcomes.get(i, err)) for i in range(len(run)) if i not in answered])
            return
        for i in retry:
            w = run[i][0]
            self.cas_retries += 1
            try:
                outcomes[i] = await self._update_until_committed(w)
            except Exception as exc:
                outcomes[i] = self._failed(exc, w.group_id)
            self._deliver(run, outcomes, [i])
        # writes that failed before being sent (op errors) are answered last: no commit, no event
        done = set(sent) | set(retry)
        self._settle([(run[i], outcomes[i]) for i in range(len(run)) if i not in done])

    def _outcomes(
        self, run: list[Item], name: str, idx: list[int], reply: Any, planned: dict[int, Plan],
        outcomes: dict[int, Any], retry: list[int], wants: bool,
    ) -> list[int]:
        """Record the outcomes of one script call's writes (``idx``) from its reply; returns
        those answered now (an update that lost its race goes to ``retry`` instead)."""
        done: list[int] = []
        if name == "set_many" and not isinstance(reply, BaseException):
            for i, old in zip(idx, set_many_olds(reply, len(idx))):
                w, _, result_only = run[i]
                outcomes[i] = set_outcome(w, old, wants or not result_only)
                done.append(i)
            return done
        for i in idx:
            w = run[i][0]
            if isinstance(reply, BaseException):
                outcomes[i] = io_error(reply, self._url, w.group_id, self.timeout)
            elif w.kind == "update" and not reply:
                retry.append(i)
                continue
            else:
                outcomes[i] = result_of(w, reply, planned.get(i))
            done.append(i)
        return done

    def _calls(self, run: list[Item], planned: dict[int, Plan], outcomes: dict[int, Any]) -> list[Call]:
        calls: list[Call] = []
        sets: list[int] = []

        def flush_sets() -> None:
            if not sets:
                return
            if len(sets) == 1:
                calls.append((*script_call(run[sets[0]][0], None, self._channel(), self._origin, self._hist), [sets[0]]))
            else:  # each set carries its own cause into the changelog; long runs in several calls
                for lo in range(0, len(sets), SET_MANY_MAX):
                    part = sets[lo : lo + SET_MANY_MAX]
                    writes = [run[i][0] for i in part]
                    calls.append((*set_many_call(writes, self._channel(), self._origin, self._hist), part))
            sets.clear()

        for i, (w, _, _) in enumerate(run):
            if outcomes and i in outcomes:
                continue
            if w.kind == "set":  # one call per group, so a bad group key fails before any write
                if sets and run[sets[0]][0].group_id != w.group_id:
                    flush_sets()
                sets.append(i)
                continue
            flush_sets()
            try:
                calls.append((*script_call(w, planned.get(i), self._channel(), self._origin, self._hist), [i]))
            except ValueError as exc:
                outcomes[i] = exc
        flush_sets()
        return calls

    async def _eval_stream(self, calls: Sequence[tuple[str, list[str], list[Any], Any]]) -> AsyncIterator[tuple[int, Any]]:
        """Run scripts in one pipeline (EVALSHA; no per-batch SCRIPT EXISTS), yielding
        ``(index, reply)`` as the replies arrive (:class:`~.wire.AsyncScriptWire`).

        A script the server forgot (restart, SCRIPT FLUSH) fails with NOSCRIPT *before*
        running, so those calls are reloaded and sent again afterwards (a run's writes
        touch distinct items: their order does not matter)."""
        todo = list(range(len(calls)))
        for attempt in range(3):
            if not todo:
                return
            self.pipelines += 1
            missing = []
            sends = [(self._scripts[calls[j][0]].sha, calls[j][1], calls[j][2]) for j in todo]
            async with aclosing(self._wire.stream(sends)) as replies:
                async for k, reply in replies:
                    if isinstance(reply, NoScriptError) and attempt < 2:
                        missing.append(todo[k])
                    else:
                        yield todo[k], reply
            for name in {calls[j][0] for j in missing}:
                s = self._scripts[name]
                s.sha = await self._client.script_load(s.script)
            todo = missing

    async def _eval_pipeline(self, calls: Sequence[tuple[str, list[str], list[Any], Any]]) -> list[Any]:
        """:meth:`_eval_stream`'s replies, in the order of ``calls``."""
        replies: list[Any] = [None] * len(calls)
        async for j, reply in self._eval_stream(calls):
            replies[j] = reply
        return replies

    async def _update_until_committed(self, w: Write) -> WriteResult:
        """Read, apply, compare-and-set; repeat while another process wins the race."""
        for attempt in range(_MAX_CAS_ATTEMPTS):
            raw = await self._client.hget(STATE_PREFIX + w.group_id, w.key)
            plan = plan_update(w, raw)
            call = script_call(w, plan, self._channel(), self._origin, self._hist)
            (ok,) = await self._eval_pipeline([(*call, None)])
            if isinstance(ok, BaseException):
                raise ok
            if ok:
                return result_of(w, 1, plan)
            self.cas_retries += 1
            if attempt >= 3:  # heavy contention: back off a little, randomly
                await asyncio.sleep(random.uniform(0, min(0.0005 * attempt, 0.02)))
        raise RedisBackendError(
            f"update on {w.group_id!r}/{w.key!r} lost {_MAX_CAS_ATTEMPTS} races in a row against other "
            f"writers on {safe_url(self._url)}; the item was left unchanged"
        )

    def _deliver(self, run: list[Item], outcomes: dict[int, Any], order: list[int]) -> None:
        """Hand the committed events to ``on_commit``, then resolve the futures."""
        events = [ev for i in order if isinstance(outcomes[i], WriteResult) for ev in outcomes[i].events]
        if events or any(type(outcomes[i]) is dict for i in order):  # (a dict: a set nobody wanted events of)
            self._on_commit(events)
        self._settle([(run[i], outcomes[i]) for i in order])

    def _failed(self, exc: Exception, group_id: "str | None" = None) -> Exception:
        """The error a write answers for ``exc``; one that may have run is a gap in this process's events."""
        if may_have_run(exc):
            self._on_gap()
        return io_error(exc, self._url, group_id, self.timeout)

    def _settle(self, pairs: list[tuple[Item, Any]]) -> None:
        """Resolve futures: concurrent ones here, a caller loop's with one hop per loop."""
        if not pairs:
            return
        self._gate.done(len(pairs))
        self._answer(pairs)

    def _answer(self, pairs: list[tuple[Item, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for (_, fut, result_only), out in pairs:
            if result_only and isinstance(out, WriteResult):
                out = out.result
            if isinstance(fut, Future):
                if not fut.done():
                    resolve(fut, out)
            else:
                by_loop.setdefault(fut.get_loop(), []).append((fut, out))
        answer_on_loops(by_loop)


def independent_runs(batch: list[Item]) -> list[list[Item]]:
    """Split a batch into consecutive runs whose writes touch distinct items and groups.

    Inside a run, writes commute, so pipelining them (and retrying an update that lost
    a race after the others) never reorders two writes of this process to one item.
    """
    runs: list[list[Item]] = []
    run: list[Item] = []
    items: set[tuple[str, str | None]] = set()
    groups: set[str] = set()
    cleared_groups: set[str] = set()
    for entry in batch:
        w = entry[0]
        if w.kind == "clear":
            conflict = w.group_id in groups
        else:
            conflict = (w.group_id, w.key) in items or w.group_id in cleared_groups
        if conflict and run:
            runs.append(run)
            run, items, groups, cleared_groups = [], set(), set(), set()
        run.append(entry)
        groups.add(w.group_id)
        if w.kind == "clear":
            cleared_groups.add(w.group_id)
        else:
            items.add((w.group_id, w.key))
    if run:
        runs.append(run)
    return runs
