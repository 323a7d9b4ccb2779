"""The Redis backend: Motia's engine layout, shared by kernels and Motia deployments.

Threads: the backend runs no thread or event loop of its own. Its writer task
(:mod:`.writer`) and subscriber task (:mod:`.pubsub`) run on motia_nb's one loop
thread, through redis-py's asyncio client; remote listeners are called there, local
listeners where the write commits, in commit order. Reads (:mod:`.reads`) are
blocking calls on a thread-safe synchronous client, made on the caller's thread.

Writes: the async API's writes made in one iteration of the caller's loop are handed
to the writer task together (:mod:`.batching`: one ``call_soon_threadsafe`` per iteration, not per
write) and answered together (a lone one, to a Redis on this machine with nothing
queued, commits on the caller's thread like a read); a blocking write with nothing of this process queued
commits directly on the caller's thread (:mod:`.direct`), else behind the queued
ones. ``writer_thread`` is motia_nb's loop thread: blocking there on a queued write's
future would deadlock, so a blocking write there (an async handler's ``state_manager.sync``
call) commits directly when nothing is queued or committing, and is refused otherwise
(await it instead).

Closing: ``close()`` lets the writer task commit what it holds (those writes are answered
with their results), then stops the direct path under the commit gate (no direct commit
is under way when the synchronous client closes). A write that reaches this backend after
that was never applied: an async one (a :class:`~..write_future.WriteFuture`) goes to its
``on_refused`` — the manager resubmits it to its reopened store —, a blocking one fails with
``StateClosedError``, which the manager's ``commit_wait`` resubmits too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import redis.asyncio as aredis

from ...errors import StateClosedError, StateError
from ..sqlite.schema import busy_timeout_setting
from ...events import StateEvent
from ...history import Retention
from ..base import SYNC_WRITE_REFUSED, Backend, Write, WriteResult
from ..retained import RetainedHistory
from ...._threads import LoopThread, get_loop_thread
from . import scripts
from .batching import IterationBatches
from .commands import set_args
from .direct import CommitGate, DirectWriter, connect, loop_blocked, retime, transaction_sets
from .filer import HistoryFiler
from .history import RedisHistory
from .key_index import RedisKeyIndex
from .layout import (
    CHANNEL_PREFIX, HISTORY_PREFIX, HISTORY_SEQ_GROUP_STREAM, HISTORY_SEQ_KEY, RedisBackendError, closed_error, is_local, parse_db, safe_url,
)
from .pubsub import ChangeCounts, Subscriber
from .reads import RedisReads
from .retention import RedisRetention
from .writer import Item, PipelinedWriter

__all__ = ["RedisBackend"]

log = logging.getLogger("motia_nb")

_CONNECT_TIMEOUT = 5.0
#: how much longer than ``busy_timeout`` the reply of :meth:`RedisBackend.write_all`'s one
#: transaction is waited for, per set (its EXEC runs ~30 µs a set here: a margin of ~15x)
EXEC_WAIT_PER_SET = 0.0005


class RedisBackend(IterationBatches, RetainedHistory, RedisRetention, RedisHistory, RedisKeyIndex, RedisReads, Backend):
    """State in Redis, in Motia's engine layout (``state:<group>`` hashes).

    ``url`` is any URL redis-py accepts: ``redis://host:port/db``,
    ``rediss://…`` (TLS), ``unix:///path/redis.sock?db=0``.

    Reads of a Redis on this machine (loopback or a unix socket) run on the
    caller's thread: a local round trip (~70 µs) is cheaper than a thread hop.
    A remote Redis is read from a worker thread, so a slow network never
    blocks the caller's event loop.
    """

    publishes_remote = True
    atomic_write_all = True
    keeps_history = True

    def __init__(self, url: str, *, busy_timeout: float | None = None) -> None:
        super().__init__()
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise RedisBackendError(f"not a Redis URL: {url!r} (expected redis://host:port/db, rediss://… or unix://…)")
        self.url = url
        #: seconds a call waits for Redis's answer (the socket timeout) before a clear error: a hung
        #: server (stopped, not gone) answers nothing, and no error would ever come
        self.busy_timeout = busy_timeout_setting(busy_timeout)
        self.origin = uuid.uuid4().hex
        self._retention = Retention.parse(None)
        self.channel = f"{CHANNEL_PREFIX}{parse_db(url)}"
        self.direct_reads = is_local(url)
        self._open_lock = threading.Lock()
        self._opened = False
        self._closed = False
        self._counts = ChangeCounts()  # change_token(), missed_changes()
        self._lt: LoopThread | None = None
        self._sync: Any = None
        self._aclient: Any = None
        self._gate = CommitGate()
        self._direct: DirectWriter | None = None
        #: the async API's writes of the running iteration, per caller loop (sent together)
        self._buffers: dict[asyncio.AbstractEventLoop, list[Item]] = {}
        self._subscriber = Subscriber(
            self.channel, self.origin, where=safe_url(url), on_events=self._received, on_gap=self._counts.gap
        )
        self._writer = self._new_writer()
        self._filer = HistoryFiler(lambda: self._retention)  # files the item index, trims by age, once writes pause
        self._writer_task: asyncio.Task[None] | None = None
        self._sub_task: asyncio.Task[None] | None = None
        self._filer_task: asyncio.Task[None] | None = None

    def _new_writer(self) -> PipelinedWriter:
        writer = PipelinedWriter(
            self.url, channel=self._subscriber.channel_arg, origin=self.origin, on_commit=self._committed, gate=self._gate,
            history_args=self._history_args, wants_events=lambda: bool(self._listeners), on_gap=self._counts.gap,
        )
        writer.timeout = self.busy_timeout
        return writer

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a call waits for Redis's answer: applies now, to every connection (kept ones too)."""
        self.busy_timeout = t = busy_timeout_setting(seconds)
        self._writer.timeout = t
        if self._direct is not None:
            self._direct.timeout = t
        if self._sync is not None:
            retime(self._sync.connection_pool, t)
        lt, aclient = self._lt, self._aclient
        if aclient is not None and lt is not None and lt.loop is not None:
            try:
                lt.loop.call_soon_threadsafe(retime, aclient.connection_pool, t)  # (its pool lives on that loop)
            except RuntimeError:  # (the loop was stopped: nothing uses the client any more)
                pass

    def set_history_keep(self, retention: Retention) -> None:
        if self._opened and retention != self._retention and self._retention.prunes:
            self._keep_hidden(self._history_groups())
        self._retention = retention  # read by every write (the scripts' ARGV): applies at once

    def _history_groups(self) -> list[str]:
        """The groups with a changelog stream (one SCAN of the database's keys)."""
        c = self._client()
        names = [k.decode() if isinstance(k, bytes) else k for k in self._call(list, c.scan_iter(match=HISTORY_PREFIX + "*", count=1000))]
        groups = [n[len(HISTORY_PREFIX):] for n in names if n != HISTORY_SEQ_KEY]
        if self._call(c.exists, HISTORY_SEQ_GROUP_STREAM):
            groups.append("seq")
        return groups

    def _history_args(self, w: Write) -> list[Any]:
        """The six trailing ARGV of the write scripts (lua/history.lua)."""
        r = self._retention
        maxlen = -1 if not r.enabled else (r.max_count or 0)
        if maxlen >= 0:
            self._filer.noted(w.group_id)
        return [w.cause, w.trace_id or "", os.getpid(), self.origin, maxlen, r.max_age or 0]

    @property
    def cas_retries(self) -> int:
        """How many updates lost a compare-and-set race and were retried (a contention gauge)."""
        return self._writer.cas_retries + (0 if self._direct is None else self._direct.cas_retries)

    # ------------------------------------------------------------------ life cycle
    def open(self) -> None:
        """Connect (failing fast with a clear error), load the scripts, start the writer
        and subscriber tasks. Called off motia_nb's loop thread it returns once the
        subscription is live (events published after it are never missed); on the
        loop thread it cannot wait, so the subscription follows shortly after."""
        with self._open_lock:
            if self._closed:
                raise closed_error(self.url)
            if self._opened:
                return
            sync = connect(self.url, _CONNECT_TIMEOUT, self.busy_timeout)
            self._read_script = sync.register_script(scripts.READ)
            lt = get_loop_thread()
            self._writer = self._new_writer()  # (a failed open may have stopped the previous one)
            started = lt.submit(self._astart())
            if threading.current_thread() is lt.thread:
                started.add_done_callback(self._log_start_failure)
            else:
                try:
                    started.result(timeout=_CONNECT_TIMEOUT * 3)
                except BaseException as exc:
                    try:
                        lt.submit(self._astop()).result(timeout=_CONNECT_TIMEOUT)
                    except BaseException:
                        pass
                    sync.close()
                    if isinstance(exc, StateError):
                        raise
                    raise RedisBackendError(f"cannot start the Redis backend for {safe_url(self.url)}: {exc}") from exc
            self._sync = sync
            self._direct = DirectWriter(
                sync, self.url, channel=self._subscriber.channel_arg, origin=self.origin, gate=self._gate,
                on_commit=self._committed, on_gap=self._counts.gap, history_args=self._history_args,
            )
            self._direct.timeout = self.busy_timeout
            self._lt = lt
            self._opened = True

    def _log_start_failure(self, fut: "Future[None]") -> None:
        if not fut.cancelled() and fut.exception() is not None:
            log.error("motia_nb: starting the Redis backend for %s failed: %s", safe_url(self.url), fut.exception())

    async def _astart(self) -> None:
        self._aclient = aredis.Redis.from_url(
            self.url, socket_connect_timeout=_CONNECT_TIMEOUT, socket_timeout=self.busy_timeout
        )
        self._writer_task = asyncio.ensure_future(self._writer.run(self._aclient))
        subscribed = asyncio.get_running_loop().create_future()
        self._sub_task = asyncio.ensure_future(self._subscriber.run(self._aclient, subscribed))
        self._filer_task = asyncio.ensure_future(self._filer.run(self._aclient))
        await subscribed

    async def _astop(self) -> None:
        if self._writer_task is not None:
            self._writer.put(None)  # commits what is queued, then ends
            try:
                await self._writer_task
            except BaseException:
                pass
        self._filer.stop()  # (a cancel the redis client swallowed must not leave its task waiting)
        for task in (self._sub_task, self._filer_task):
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=5)
                if task.done() and not task.cancelled():
                    task.exception()  # (retrieved: it ended the task, the close goes on)
        if self._aclient is not None:
            await self._aclient.aclose()
        await self._gate.acquire_async()  # no direct commit under way; none follows
        try:
            self._stop_direct()
        finally:
            self._gate.release()

    def _stop_direct(self) -> None:
        if self._direct is not None:
            self._direct.stopped = True
        if self._sync is not None:
            self._sync.close()

    def close(self) -> None:
        """Finish queued writes, stop the writer and subscriber tasks, close connections.
        motia_nb's loop thread keeps running (it is shared)."""
        self._flush_here()  # this thread's unsent async writes are committed, not dropped
        with self._open_lock:
            if self._closed:
                return
            self._closed = True
            opened = self._opened
        if not opened:
            return
        lt = self._lt
        assert lt is not None
        if lt.thread.is_alive():
            try:
                stopped = lt.submit(self._astop())
                if threading.current_thread() is not lt.thread:
                    stopped.result(timeout=30)
            except Exception:
                log.exception("closing the Redis backend %s", safe_url(self.url))
        else:  # (interpreter exit) nobody else commits
            self._stop_direct()

    @property
    def closed(self) -> bool:
        return self._closed

    def _closed_error(self) -> StateClosedError:  # (WriteFuture.of: a write after close fails at once)
        return closed_error(self.url)

    @property
    def writer_thread(self) -> threading.Thread | None:
        """motia_nb's loop thread, where the writer runs and listeners are called."""
        return None if self._lt is None else self._lt.thread

    # ------------------------------------------------------------------ writes
    def submit(self, write: Write) -> "Future[WriteResult]":
        """Off motia_nb's loop thread with nothing of this process queued: commit now, on
        this thread (the future is done on return); else queue it behind the others."""
        fut: Future[WriteResult] = Future()
        if self._closed:
            fut.set_exception(self._closed_error())
            return fut
        if not self._opened:
            self.open()
        lt, direct = self._lt, self._direct
        assert lt is not None and direct is not None
        self._flush_here()  # this thread's unsent async writes go first
        blocked = loop_blocked(lt.thread)
        if self._gate.queued == 0:
            try:
                # where motia_nb's loop thread cannot run meanwhile (we are on it: an async handler's
                # plain state_manager.sync call; or it waits for us), neither can the writer task
                fut.set_result(direct.commit(write, blocked=blocked))
            except Exception as exc:
                fut.set_exception(exc)
            return fut
        if blocked is not None:  # behind queued writes that the writer task cannot commit meanwhile
            fut.set_exception(RuntimeError(SYNC_WRITE_REFUSED))
            return fut
        self._send([(write, fut, False)])
        return fut

    def blocks_on_itself(self) -> bool:
        """False: on motia_nb's loop thread a blocking write commits directly when nothing is
        queued (as on SQLite, whose writer has a thread of its own); :meth:`submit` refuses it
        there otherwise."""
        return False

    def write_all(
        self, writes: Sequence[Write], progress: Callable[[int], None] | None = None
    ) -> list[WriteResult]:
        """Sets (an import) in one ``MULTI``/``EXEC`` transaction of ``set.lua`` calls: the
        server runs them all, with nothing interleaved, or, when the connection is lost
        before ``EXEC``, none (lost after it was sent: either, and the error says so).
        (Redis has no rollback: a set that fails inside ``EXEC``,
        e.g. a group key holding a non-hash, is reported, and the others stand.) Other
        kinds of write take the default path, chunk by chunk. Listeners are called on
        this thread after ``EXEC``; ``progress`` once, at the end. The server runs the whole
        ``EXEC`` before it answers (~30 µs a set): its reply is waited for ``busy_timeout`` plus
        :data:`EXEC_WAIT_PER_SET` a set, on a connection of its own when that is a second more."""
        if any(w.kind != "set" for w in writes):
            return super().write_all(writes, progress)
        channel = self._subscriber.channel_arg()
        client, extra = self._client(), len(writes) * EXEC_WAIT_PER_SET
        own = connect(self.url, _CONNECT_TIMEOUT, self.busy_timeout + extra) if extra >= 1.0 else None
        try:
            results = transaction_sets(
                own or client, writes, lambda w: set_args(w, channel, self.origin, self._history_args(w)), self.url,
                self._committed, self._counts.gap,
            )
        finally:
            if own is not None:
                own.close()
        if progress is not None:
            progress(len(writes))
        return results

    def _committed(self, events: Sequence[StateEvent]) -> None:
        self._counts.bump()
        self._filer.committed()
        if events:
            self._notify(events)

    # ------------------------------------------------------------------ events from other processes
    def _received(self, events: Sequence[StateEvent]) -> None:
        self._counts.bump()
        self._notify_remote(events)

    def change_token(self) -> Any:
        """A counter bumped by every local commit and every change published by another process."""
        return self._counts.token

    def missed_changes(self) -> int:
        """A counter bumped at each gap in the events: the event subscription was lost and
        re-established (a restarted or unreachable server), or a write was interrupted mid
        round trip. Whoever keeps state from events (the viewer's counts) reads the store
        whole when it moves."""
        return self._counts.missed

    # ------------------------------------------------------------------ reads
    def _client(self) -> Any:
        if self._closed:
            raise closed_error(self.url)
        if not self._opened:
            self.open()
        return self._sync
