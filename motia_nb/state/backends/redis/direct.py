"""The direct write path: a synchronous caller commits on its own thread.

A blocking write (``state_manager.sync.set`` from a script, a magic, a plain-``def``
handler) made while nothing of this process is queued for the writer task needs no
thread at all: the script runs on the caller's thread through the synchronous client,
one round trip, and listeners are called there, as SQLite's inline commits do.
Otherwise (writes of this process still queued) it goes to the writer task behind
them, so a process's writes keep their order.

:class:`CommitGate` keeps the two paths apart: one commit (a direct write, or one
pipelined run of the writer task) at a time, listeners called before the next, so
listeners see commits in commit order. It also counts the writes queued for the
writer task, which decides whether a blocking write may go direct.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from ...errors import StateClosedError, StateError
from ...events import StateEvent
from ...._threads import loop_thread_waiting
from ..base import SYNC_WRITE_REFUSED, Write, WriteResult
from . import scripts
from .commands import HistoryArgs, history_off, plan_update, result_of, script_call, set_result
from .layout import (
    STATE_PREFIX, WRONG_TYPE, RedisBackendError, closed_error, io_error, may_have_run, not_sent, safe_url, write_keys,
)  # fmt: skip
from .wire import ScriptWire

__all__ = ["CommitGate", "DirectWriter", "MAX_CAS_ATTEMPTS", "connect", "loop_blocked", "retime", "transaction_sets"]

MAX_CAS_ATTEMPTS = 10_000
_THREAD_LOCKS = (type(threading.Lock()), type(threading.RLock()))


def connect(url: str, timeout: float, socket_timeout: float | None = None) -> Any:
    """A synchronous client of ``url`` that answered a PING, the write scripts loaded (so the
    first pipeline finds them); else :class:`RedisBackendError` in one line (redis-py's chained
    traceback added ~100 lines in a cell), the client closed. ``socket_timeout``: how long a
    reply is waited for (``busy_timeout``; a hung server never answers)."""
    sync = redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=socket_timeout, health_check_interval=30
    )
    try:
        sync.ping()
        for src in scripts.WRITE_SCRIPTS:
            sync.script_load(src)
    except redis.RedisError as exc:
        sync.close()
        raise RedisBackendError(f"cannot connect to Redis at {safe_url(url)}: {exc}") from None
    return sync


def retime(pool: Any, seconds: float) -> None:
    """Make every connection of a redis-py ``pool`` wait ``seconds`` for a reply: those it makes
    from now on (its arguments) and those it keeps, idle or in use (a synchronous one's socket
    too; an asyncio one reads its ``socket_timeout`` at each read). For an asyncio pool, call it
    on the pool's loop."""
    kwargs = pool.connection_kwargs
    kwargs["socket_timeout"] = seconds
    if "orig_socket_timeout" in kwargs:  # (redis-py 7+: what its relaxed timeouts go back to)
        kwargs["orig_socket_timeout"] = seconds
    lock = getattr(pool, "_lock", None)  # (a synchronous pool's; an asyncio pool is only used on its loop)
    with lock if isinstance(lock, _THREAD_LOCKS) else contextlib.nullcontext():
        kept = [*getattr(pool, "_available_connections", ()), *getattr(pool, "_in_use_connections", ())]
    for conn in kept:
        conn.socket_timeout = seconds
        if hasattr(conn, "orig_socket_timeout"):
            conn.orig_socket_timeout = seconds
        sock = getattr(conn, "_sock", None)
        if sock is not None:
            try:
                sock.settimeout(seconds)
            except OSError:  # (closed meanwhile: the next connect takes the new timeout)
                pass


def loop_blocked(loop_thread: threading.Thread) -> int | None:
    """The ident of motia_nb's loop thread (where the writer task runs) when it cannot run until
    the caller is done: the caller is on it, or it waits for the caller (a synchronous SDK call
    made from an async handler runs on a helper thread while that thread waits); else None."""
    if threading.current_thread() is loop_thread or loop_thread_waiting():
        return loop_thread.ident
    return None


class CommitGate:
    """One commit at a time across threads, and how many writes wait for the writer task."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._owner: int | None = None
        #: writes handed to the writer task and not yet answered
        self.queued = 0

    def add(self, n: int) -> None:
        with self._count_lock:
            self.queued += n

    def done(self, n: int) -> None:
        with self._count_lock:
            self.queued = max(0, self.queued - n)  # (a write failed twice over must not wedge it)

    def acquire(self) -> None:
        self._lock.acquire()
        self._owner = threading.get_ident()

    def acquire_unless_held_by(self, ident: int) -> bool:
        """Take the gate, waiting for another thread's commit; False (not taken) when thread
        ``ident`` holds it: a thread blocked until the caller is done never releases it."""
        while not self._lock.acquire(timeout=0.05):
            if self._owner == ident:
                return False
        self._owner = threading.get_ident()
        return True

    async def acquire_async(self) -> None:
        """For the writer task: wait without blocking its loop (a direct commit is one round trip)."""
        while not self._lock.acquire(blocking=False):
            await asyncio.sleep(0.0002)
        self._owner = threading.get_ident()

    def release(self) -> None:
        self._owner = None
        self._lock.release()

    def held_here(self) -> bool:
        """True on the thread committing now (a listener called by that commit)."""
        return self._owner == threading.get_ident()


class DirectWriter:
    """Commits one write on the calling thread with a synchronous client (see the module doc)."""

    def __init__(
        self,
        client: Any,
        url: str,
        *,
        channel: Callable[[], str],
        origin: str,
        gate: CommitGate,
        on_commit: Callable[[Sequence[StateEvent]], None],
        on_gap: Callable[[], None],
        history_args: HistoryArgs = history_off,
    ) -> None:
        self._client = client
        self._hist = history_args  # history.lua's six trailing ARGV
        self._url = url
        self._channel = channel
        self._origin = origin
        self._gate = gate
        self._on_commit = on_commit
        self._on_gap = on_gap
        # redis-py's Script objects run EVALSHA and reload a script the server forgot
        self._scripts = {name: client.register_script(src) for name, src in scripts.BY_NAME.items()}
        self._wire = ScriptWire(client)  # the script calls' round trips (one commit at a time: the gate)
        #: updates that lost a compare-and-set race and were retried
        self.cas_retries = 0
        #: writes committed on their caller's thread (a test observable)
        self.commits = 0
        #: set by the backend's close() under the gate: no commit is under way, none follows
        self.stopped = False
        #: the client's socket timeout (seconds), for the error a reply waited for in vain names it
        self.timeout: float | None = None

    def commit(self, w: Write, *, blocked: int | None = None) -> WriteResult:
        """Commit ``w`` now; listeners are called before it returns. Raises the write's error.
        ``blocked``: the ident of a thread that cannot run until this call returns (motia_nb's
        loop thread, where the writer task runs: the caller, or blocked waiting for it). A gate
        it holds (the writer task mid-commit, a listener) is never released meanwhile: then
        ``RuntimeError(SYNC_WRITE_REFUSED)`` instead of a deadlock."""
        if blocked is not None:  # (the gate's owner is a thread: there, any task "holds" it)
            if not self._gate.acquire_unless_held_by(blocked):
                raise RuntimeError(SYNC_WRITE_REFUSED)
        elif self._gate.held_here():
            raise StateError(
                "motia_nb: a state write was made from inside a state subscriber callback; "
                "subscribers must only record or schedule work"
            )
        else:
            self._gate.acquire()
        try:
            if self.stopped:  # the store closed: never applied (a caller's commit_wait resubmits it)
                raise closed_error(self._url)
            try:
                wr = self._update(w) if w.kind == "update" else self._run(w)
            except redis.RedisError as exc:
                if may_have_run(exc):  # sent, then the connection went: it may have committed, unseen
                    self._on_gap()
                raise io_error(exc, self._url, w.group_id, self.timeout) from None
            except BaseException:  # interrupted mid round trip: it may have committed, unseen
                self._on_gap()
                raise
            self.commits += 1
            if wr.events:
                self._on_commit(wr.events)
            return wr
        finally:
            self._gate.release()

    def commit_items(self, items: "list[Any]", blocked: int) -> "list[Any]":
        """Commit the ``(write, future, result_only)`` of a loop iteration one by one on this
        thread (``blocked``: as for :meth:`commit`), answering each future; behind writes queued
        for the writer task, which cannot run now, they are refused (their order would be lost).
        Returns the items the closed store refused, never applied."""
        refused = []
        for write, fut, result_only in items:
            if fut.done():
                continue
            if self._gate.queued:
                fut.set_exception(RuntimeError(SYNC_WRITE_REFUSED))
                continue
            try:
                wr = self.commit(write, blocked=blocked)
            except StateClosedError:  # closed meanwhile, before it was applied
                refused.append((write, fut, result_only))
            except Exception as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(wr.result if result_only else wr)
        return refused

    def _run(self, w: Write) -> WriteResult:
        name, keys, args = script_call(w, None, self._channel(), self._origin, self._hist)
        return result_of(w, self._wire.call(self._scripts[name], keys, args), None)

    def _update(self, w: Write) -> WriteResult:
        """Read, apply, compare-and-set; repeat while another process wins the race."""
        for attempt in range(MAX_CAS_ATTEMPTS):
            try:  # (the earlier attempts lost their races: nothing of this write was applied)
                raw = self._client.hget(STATE_PREFIX + w.group_id, w.key)
            except redis.RedisError as exc:
                raise not_sent(exc)
            plan = plan_update(w, raw)  # an op that cannot apply raises here: nothing was sent
            name, keys, args = script_call(w, plan, self._channel(), self._origin, self._hist)
            if self._wire.call(self._scripts[name], keys, args):
                return result_of(w, 1, plan)
            self.cas_retries += 1
            if attempt >= 3:  # heavy contention: back off a little, randomly
                time.sleep(random.uniform(0, min(0.0005 * attempt, 0.02)))
        raise RedisBackendError(
            f"update on {w.group_id!r}/{w.key!r} lost {MAX_CAS_ATTEMPTS} races in a row against other "
            f"writers on {safe_url(self._url)}; the item was left unchanged"
        )


def transaction_sets(
    client: Any, writes: Sequence[Write], args_of: Callable[[Write], list[Any]], url: str,
    committed: Callable[[list[Any]], None], on_gap: Callable[[], None] = lambda: None,
) -> list[WriteResult]:
    """``writes`` (all sets) as ``set.lua`` calls in ONE ``MULTI``/``EXEC`` transaction
    (:meth:`RedisBackend.write_all`): the results, after ``committed(events)`` of those that
    stood. Raises when the transaction was not confirmed: not applied when it was refused or
    never sent; when the connection was lost once it was sent, it may have run whole (only its
    reply lost): said so, and ``on_gap()`` (its events reached no listener here). After
    ``committed``, raises when some sets failed inside it (Redis has no rollback: the others stand)."""
    try:
        sha = client.script_load(scripts.SET)  # idempotent; reloads it after a SCRIPT FLUSH
    except redis.RedisError as exc:
        raise RedisBackendError(
            f"writing {len(writes)} items to Redis at {safe_url(url)} failed before the transaction was sent "
            f"({type(exc).__name__}: {exc}); nothing was applied"
        ) from exc
    try:
        pipe = client.pipeline(transaction=True)
        for w in writes:
            keys = write_keys(w.group_id)
            pipe.evalsha(sha, len(keys), *keys, *args_of(w))
        replies = pipe.execute(raise_on_error=False)
    except redis.RedisError as exc:
        if may_have_run(exc):
            on_gap()
            outcome = "it may or may not have run (all of it, or none of it)"
        else:
            outcome = "nothing was applied"
        raise RedisBackendError(
            f"writing {len(writes)} items to Redis at {safe_url(url)} failed before the transaction was confirmed "
            f"({type(exc).__name__}: {exc}); {outcome}"
        ) from exc
    failed = [(w, r) for w, r in zip(writes, replies) if isinstance(r, BaseException)]
    results = [set_result(w, r) for w, r in zip(writes, replies) if not isinstance(r, BaseException)]
    events = [ev for r in results for ev in r.events]
    if events:
        committed(events)
    if failed:
        w, err = failed[0]
        said = str(err).split(WRONG_TYPE, 1)[-1]  # (a key of the wrong type: "<key> holds a string, not a stream")
        raise RedisBackendError(
            f"{len(failed)} of {len(writes)} sets failed inside the Redis transaction (first: "
            f"{w.group_id!r}/{w.key!r}: {said}); the other {len(results)} were written"
        )
    return results
