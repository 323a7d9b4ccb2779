"""The Redis write path: one task on motia_nb's loop thread, pipelined group commit.

The writer task takes queued writes in order and pipelines runs of independent
writes in one round trip (writes that touch the same item or group start a new
run, so a process's writes keep their order), then resolves each write's
``concurrent.futures.Future``.

Why optimistic compare-and-set instead of porting ops to Lua: ``update`` must
apply :func:`motia_nb.state.ops.apply_ops`, the single implementation of op
semantics. Porting it to Lua would fork those semantics, and Lua's cjson cannot
round-trip them anyway (integers beyond 2^53 turn into floats, floats are printed
with 14 significant digits, ``{}`` and ``[]`` are confused). So an update reads
the item's JSON text, applies the ops in Python, and commits with ``cas.lua``,
which writes only if the field still holds exactly the text that was read (byte
comparison — Lua never parses JSON); else the update is retried with the fresh
value. This is optimistic concurrency at *item* granularity (``WATCH`` would
conflict on any write to the whole group) and costs two round trips when
uncontended. An op that cannot apply raises before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from redis.exceptions import NoScriptError

from ...errors import StateClosedError, StateError
from ...events import StateEvent
from ...ops import MISSING, apply_ops
from ...jsontext import encode_trusted
from ..base import Write, WriteResult
from ..results import cleared, deleted, written
from . import scripts
from .codec import decode, text
from .layout import STATE_PREFIX, RedisBackendError, io_error, item_keys, safe_url, write_keys

__all__ = ["PipelinedWriter", "independent_runs", "set_result"]

_MAX_BATCH = 512
_MAX_CAS_ATTEMPTS = 10_000

Item = tuple[Write, "Future[WriteResult]"]
#: an update's plan: (the text it read, old value, new value, new JSON text)
Plan = tuple["bytes | None", Any, Any, str]


class PipelinedWriter:
    """Commits queued writes through an asyncio Redis client; lives on one event loop.

    ``put`` must be called on that loop (``loop.call_soon_threadsafe(writer.put, item)``);
    ``run`` is the writer task; ``None`` put on the queue stops it after the
    writes queued before it. ``on_commit(events)`` runs on the loop after each
    commit that produced events, before the writes' futures resolve.
    """

    def __init__(
        self, url: str, *, channel: str, origin: str, on_commit: Callable[[Sequence[StateEvent]], None],
        history_args: Callable[[Write], list[Any]] | None = None,
    ) -> None:  # fmt: skip
        self._url = url
        #: the six trailing ARGV of every write script (history.lua): cause, trace, pid, origin, limits
        self._hist = history_args or _history_off
        self._channel = channel
        self._origin = origin
        self._on_commit = on_commit
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._client: Any = None
        self._stopped = False
        #: How many updates lost a compare-and-set race and were retried (a contention gauge).
        self.cas_retries = 0

    def put(self, item: Item | None) -> None:
        if self._stopped:  # the writer task has ended: nobody would take it
            if item is not None and not item[1].done():
                item[1].set_exception(self._closed_error())
            return
        self._queue.put_nowait(item)

    def _closed_error(self) -> StateClosedError:
        return StateClosedError(f"the state database {self._url} was closed")

    async def run(self, client: Any) -> None:
        """The writer task: commit batches until ``None`` is taken from the queue."""
        self._client = client
        self._set, self._cas, self._delete, self._clear = (
            client.register_script(s) for s in (scripts.SET, scripts.CAS, scripts.DELETE, scripts.CLEAR)
        )
        q = self._queue
        stop = False
        while not stop:
            item = await q.get()
            batch: list[Item] = []
            if item is None:
                stop = True
            else:
                batch.append(item)
            while len(batch) < _MAX_BATCH and not q.empty():
                nxt = q.get_nowait()
                if nxt is None:
                    stop = True
                else:
                    batch.append(nxt)
            for run in independent_runs(batch):
                try:
                    await self._commit_run(run)
                except Exception as exc:  # pragma: no cover - defensive: never kill the writer
                    err = io_error(exc, self._url)
                    for _, fut in run:
                        if not fut.done():
                            fut.set_exception(err)
        self._stopped = True
        # fail anything that raced in after close()
        while not q.empty():
            late = q.get_nowait()
            if late is not None:
                late[1].set_exception(self._closed_error())

    # ------------------------------------------------------------------ one run
    async def _commit_run(self, run: list[Item]) -> None:
        """Commit writes that touch distinct items in one pipeline; retry lost update races."""
        # 1. read the current text of every item an update touches (one round trip)
        updates = [(i, w) for i, (w, _) in enumerate(run) if w.kind == "update"]
        current: dict[int, bytes | None] = {}
        outcomes: dict[int, WriteResult | BaseException] = {}
        if updates:
            pipe = self._client.pipeline(transaction=False)
            for _, w in updates:
                pipe.hget(STATE_PREFIX + w.group_id, w.key)
            for (i, w), raw in zip(updates, await pipe.execute(raise_on_error=False)):
                if isinstance(raw, BaseException):
                    outcomes[i] = io_error(raw, self._url, w.group_id)
                else:
                    current[i] = raw

        # 2. compute updates in Python (apply_ops is the one implementation of op semantics)
        planned: dict[int, Plan] = {}
        for i, w in updates:
            if i in outcomes:
                continue
            try:
                planned[i] = _plan_update(w, current[i])
            except Exception as exc:  # the op cannot apply: nothing is sent, the item is unchanged
                outcomes[i] = exc

        # 3. one pipeline for every write of the run, in order
        calls: dict[int, tuple[Any, list[str], list[Any]]] = {}
        for i, (w, _) in enumerate(run):
            if i in outcomes:
                continue
            keys, hist = write_keys(w.group_id), self._hist(w)
            if w.kind == "set":
                calls[i] = (self._set, keys, [w.key, w.value_json, self._channel, self._origin, w.group_id, *hist])
            elif w.kind == "update":
                calls[i] = (self._cas, keys, self._cas_args(w, planned[i][0], planned[i][3]))
            elif w.kind == "delete":
                calls[i] = (self._delete, item_keys(w.group_id), [w.key, self._channel, self._origin, w.group_id, *hist])
            elif w.kind == "clear":
                calls[i] = (self._clear, item_keys(w.group_id), [self._channel, self._origin, w.group_id, *hist])
            else:
                outcomes[i] = StateError(f"unknown write kind {w.kind!r}")
        sent = list(calls)
        replies = await self._eval_pipeline([calls[i] for i in sent])

        # 4. results, in commit order; lost races are retried one by one afterwards
        retry: list[int] = []
        for i, reply in zip(sent, replies):
            w = run[i][0]
            if isinstance(reply, BaseException):
                outcomes[i] = io_error(reply, self._url, w.group_id)
            elif w.kind == "update" and not reply:
                retry.append(i)
            else:
                outcomes[i] = _result(w, reply, planned.get(i))
        self._deliver(run, outcomes, [i for i in sent if i in outcomes])
        for i in retry:
            w = run[i][0]
            self.cas_retries += 1
            try:
                outcomes[i] = await self._update_until_committed(w)
            except Exception as exc:
                outcomes[i] = io_error(exc, self._url, w.group_id)
            self._deliver(run, outcomes, [i])
        # writes that failed before being sent (op errors) are answered last: no commit, no event
        for i, (_, fut) in enumerate(run):
            if not fut.done():
                _resolve(fut, outcomes[i])

    async def _eval_pipeline(self, calls: list[tuple[Any, list[str], list[Any]]]) -> list[Any]:
        """Run scripts in one round trip (EVALSHA; no per-batch SCRIPT EXISTS).

        A script the server forgot (restart, SCRIPT FLUSH) fails with NOSCRIPT
        *before* running, so those calls are reloaded and sent again.
        """
        replies: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for _ in range(3):
            if not todo:
                break
            pipe = self._client.pipeline(transaction=False)
            for j in todo:
                script, keys, args = calls[j]
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            out = await pipe.execute(raise_on_error=False)
            missing = []
            for j, reply in zip(todo, out):
                replies[j] = reply
                if isinstance(reply, NoScriptError):
                    missing.append(j)
            if missing:
                for s in {id(calls[j][0]): calls[j][0] for j in missing}.values():
                    s.sha = await self._client.script_load(s.script)
            todo = missing
        return replies

    def _cas_args(self, w: Write, raw: bytes | None, new_json: str) -> list[Any]:
        return [w.key, "0" if raw is None else "1", b"" if raw is None else raw, new_json,
                self._channel, self._origin, w.group_id, *self._hist(w)]  # fmt: skip

    async def _update_until_committed(self, w: Write) -> WriteResult:
        """Read, apply, compare-and-set; repeat while another process wins the race."""
        for attempt in range(_MAX_CAS_ATTEMPTS):
            raw = await self._client.hget(STATE_PREFIX + w.group_id, w.key)
            plan = _plan_update(w, raw)
            (ok,) = await self._eval_pipeline([(self._cas, write_keys(w.group_id), self._cas_args(w, raw, plan[3]))])
            if isinstance(ok, BaseException):
                raise ok
            if ok:
                return _result(w, 1, plan)
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
        if events:
            self._on_commit(events)
        for i in order:
            fut = run[i][1]
            if not fut.done():
                _resolve(fut, outcomes[i])


def _history_off(w: Write) -> list[Any]:
    """history.lua's ARGV when no changelog is kept."""
    return [w.cause, "", 0, "", -1, 0]


def _resolve(fut: "Future[WriteResult]", out: Any) -> None:
    if isinstance(out, BaseException):
        fut.set_exception(out)
    else:
        fut.set_result(out)


def _plan_update(w: Write, raw: bytes | None) -> Plan:
    """Apply the ops to the text just read: (that text, old value, new value, new JSON)."""
    cur = MISSING if raw is None else decode(raw)
    new = apply_ops(cur, w.ops or [], group_id=w.group_id, key=w.key)
    old = None if raw is None else decode(raw)  # a private copy: apply_ops may share parts with `cur`
    return raw, old, new, encode_trusted(new)


def _result(w: Write, reply: Any, plan: Plan | None) -> WriteResult:
    g, k = w.group_id, w.key
    if w.kind == "set":
        assert k is not None
        return written(g, k, None if reply is None else decode(reply), json.loads(w.value_json), existed=reply is not None)  # type: ignore[arg-type]
    if w.kind == "update":
        assert plan is not None and k is not None
        raw, old, new, _ = plan
        return written(g, k, old, new, existed=raw is not None)
    if w.kind == "delete":
        assert k is not None
        return deleted(g, k, None if reply is None else decode(reply), existed=reply is not None)
    # clear: flat [key, value, ...] in insertion order
    return cleared(g, [(text(kk), decode(v)) for kk, v in zip(reply[0::2], reply[1::2])])


def set_result(w: Write, reply: Any) -> WriteResult:
    """The result of a ``set`` committed by ``set.lua`` (``reply``: the old text or None)."""
    return _result(w, reply, None)


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
