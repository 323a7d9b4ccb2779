"""Redis backend: Motia's engine layout, shared by kernels and Motia deployments.

Layout (SPEC §6, the layout of Motia's engine Redis state adapter)
------------------------------------------------------------------
- ``state:<group>`` — a hash; field = the item's key, value = the item's JSON text.
  This is *the* data: Motia reads and writes it, and so can anyone with
  ``redis-cli HSET state:orders o1 '{"total": 3}'``.
- ``motia_nb:order:<group>`` — a sorted set ``key -> sequence number`` that
  remembers insertion order (a Redis hash does not keep it once it grows past a
  listpack). Scores come from the counter ``motia_nb:seq``. It lives outside the
  ``state:`` prefix, so Motia never sees it. Fields written by somebody else
  (Motia, redis-cli) are missing from it: reads list them *after* the ordered
  items, in hash order, and the next motia_nb write to the group indexes them
  (in that same order), so their place is stable from then on. (The check is
  "the hash and the index have different sizes": if hand edits add and remove the
  same number of fields between two motia_nb writes, the added ones stay
  unindexed — still listed, after the others — until the sizes differ again.)
- ``motia_nb:events:<db>`` — a pub/sub channel. Every committed change is
  published *from inside the same Lua script that commits it*, so messages are
  atomic with the write and arrive in commit order in every process.

Atomicity: why optimistic compare-and-set instead of porting ops to Lua
-----------------------------------------------------------------------
``set``/``delete``/``clear`` are single Lua scripts (read the old value, write,
maintain the order index, publish), so they are atomic on the server.
``update`` must apply :func:`motia_nb.state.ops.apply_ops`, the single
implementation of op semantics. Porting it to Lua would fork those semantics, and
Lua's cjson cannot round-trip them anyway (integers beyond 2^53 turn into floats,
floats are printed with 14 significant digits, ``{}`` and ``[]`` are confused).
So an update reads the item's JSON text, applies the ops in Python, and commits
with a Lua *compare-and-set* script that writes only if the field still holds
exactly the text that was read (byte comparison — Lua never parses JSON), else
the update is retried with the fresh value. This is optimistic concurrency at
*item* granularity (``WATCH`` would conflict on any write to the whole group) and
costs two round trips when uncontended. An op that cannot apply raises before
anything is sent, so the item is left exactly as it was.

Threading
---------
The backend owns an asyncio loop (:class:`motia_nb._threads.LoopThread`) running
redis-py's asyncio client: one *writer task* takes queued writes in order,
pipelines runs of independent writes in one round trip (group commit; writes that
touch the same item or group start a new run, so a process's writes keep their
order), and resolves each write's ``concurrent.futures.Future``; a *subscriber
task* listens on the events channel. Local listeners are called on that loop
thread in commit order. Reads are plain blocking calls on a thread-safe
synchronous client (``direct_reads = False``): they can be made from any thread,
including from a listener, without hopping through the loop.

Events from other processes
---------------------------
Messages whose ``origin`` is not this backend are turned into
:class:`~motia_nb.state.events.StateEvent` objects and handed to the *remote
listeners* (:meth:`RedisBackend.add_remote_listener`), e.g. the viewer's live
refresh, or the steps runtime for a kernel that opted in to run its state
triggers on changes made elsewhere. :meth:`change_token` changes on every local
commit and every foreign message. Writes made by Motia itself or by hand do not
publish on our channel and are only seen on the next read.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlsplit

from ..errors import StateClosedError, StateError
from ..events import CREATED, DELETED, UPDATED, StateEvent
from ..ops import MISSING, apply_ops
from ..values import decode_value, encode_trusted
from .base import Backend, Write, WriteResult

__all__ = ["RedisBackend", "RedisBackendError", "STATE_PREFIX", "ORDER_PREFIX", "SEQ_KEY", "CHANNEL_PREFIX"]

log = logging.getLogger("motia_nb")

#: Motia's engine layout: one hash per group.
STATE_PREFIX = "state:"
#: motia_nb's insertion-order index (one sorted set per group).
ORDER_PREFIX = "motia_nb:order:"
#: The counter that scores the order index.
SEQ_KEY = "motia_nb:seq"
#: Change events are published on ``CHANNEL_PREFIX + <db number>`` (pub/sub is server-wide).
CHANNEL_PREFIX = "motia_nb:events:"

_MAX_BATCH = 512
_MAX_CAS_ATTEMPTS = 10_000
_CONNECT_TIMEOUT = 5.0


class RedisBackendError(StateError, ConnectionError):
    """Redis could not be reached, or answered with an error (the URL is in the message)."""


# --------------------------------------------------------------------------- Lua
# Shared helpers, prepended to the write scripts. KEYS[1] = state:<group>,
# KEYS[2] = motia_nb:order:<group>, KEYS[3] = motia_nb:seq.
_LUA_HELPERS = r"""
local function reconcile(h, z, seq)
  -- make the order index hold exactly the hash's fields (cheap when it already does)
  if redis.call('HLEN', h) == redis.call('ZCARD', z) then return end
  for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    if redis.call('HEXISTS', h, m) == 0 then redis.call('ZREM', z, m) end
  end
  for _, f in ipairs(redis.call('HKEYS', h)) do
    if not redis.call('ZSCORE', z, f) then redis.call('ZADD', z, redis.call('INCR', seq), f) end
  end
end
local function index(z, seq, f)
  if not redis.call('ZSCORE', z, f) then redis.call('ZADD', z, redis.call('INCR', seq), f) end
end
local function publish(chan, origin, events)
  -- old/new values travel as JSON *text* (Lua strings): cjson never parses them
  redis.call('PUBLISH', chan, cjson.encode({origin = origin, events = events}))
end
"""

# ARGV: field, value, channel, origin, group. Returns the old text or nil.
_LUA_SET = _LUA_HELPERS + r"""
local old = redis.call('HGET', KEYS[1], ARGV[1])
reconcile(KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
index(KEYS[2], KEYS[3], ARGV[1])
local ev = {t = 'state:created', g = ARGV[5], k = ARGV[1], n = ARGV[2]}
if old then ev.t = 'state:updated'; ev.o = old end
publish(ARGV[3], ARGV[4], {ev})
return old
"""

# ARGV: field, expect_present ('0'|'1'), expected text, new text, channel, origin, group.
# Returns 1 when written, 0 when the field no longer holds the expected text.
_LUA_CAS = _LUA_HELPERS + r"""
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  if cur ~= ARGV[3] then return 0 end
elseif cur then
  return 0
end
reconcile(KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
index(KEYS[2], KEYS[3], ARGV[1])
local ev = {t = 'state:created', g = ARGV[7], k = ARGV[1], n = ARGV[4]}
if cur then ev.t = 'state:updated'; ev.o = cur end
publish(ARGV[5], ARGV[6], {ev})
return 1
"""

# KEYS: state:<group>, order:<group>. ARGV: field, channel, origin, group. Returns old text or nil.
_LUA_DELETE = r"""
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], cjson.encode({origin = ARGV[3],
  events = {{t = 'state:deleted', g = ARGV[4], k = ARGV[1], o = old}}}))
return old
"""

# Ordered snapshot of a hash: indexed fields by sequence, then unindexed ones in hash order.
_LUA_ORDERED = r"""
local function ordered(h, z)
  local flat = redis.call('HGETALL', h)
  local vals = {}
  for i = 1, #flat, 2 do vals[flat[i]] = flat[i + 1] end
  local out = {}
  for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    local v = vals[m]
    if v then out[#out + 1] = m; out[#out + 1] = v; vals[m] = nil end
  end
  for i = 1, #flat, 2 do
    local f = flat[i]
    if vals[f] then out[#out + 1] = f; out[#out + 1] = flat[i + 1]; vals[f] = nil end
  end
  return out
end
"""

# KEYS: state:<group>, order:<group>. ARGV: channel, origin, group. Returns flat [k, v, ...] removed.
_LUA_CLEAR = _LUA_ORDERED + r"""
local out = ordered(KEYS[1], KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
if #out == 0 then return out end
local evs = {}
for i = 1, #out, 2 do evs[#evs + 1] = {t = 'state:deleted', g = ARGV[3], k = out[i], o = out[i + 1]} end
redis.call('PUBLISH', ARGV[1], cjson.encode({origin = ARGV[2], events = evs}))
return out
"""

# KEYS: state:<group>, order:<group>. ARGV: offset, limit (-1 = all), what ('kv' | 'k').
# Fast path when the index is complete: page through the sorted set; else full ordered snapshot.
_LUA_READ = _LUA_ORDERED + r"""
local off, lim, what, rev = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == 'rev'
local n = redis.call('HLEN', KEYS[1])
if n == 0 or off >= n then return {} end
if n == redis.call('ZCARD', KEYS[2]) then
  local stop = -1
  if lim >= 0 then stop = off + lim - 1 end
  local range = 'ZRANGE'
  if rev then range = 'ZREVRANGE' end
  local out, ok = {}, true
  for _, m in ipairs(redis.call(range, KEYS[2], off, stop)) do
    local v = redis.call('HGET', KEYS[1], m)
    if not v then ok = false; break end
    out[#out + 1] = m
    if what == 'kv' then out[#out + 1] = v end
  end
  if ok then return out end
end
local all = ordered(KEYS[1], KEYS[2])
local out = {}
local total = #all / 2
local last = total
if lim >= 0 and off + lim < last then last = off + lim end
for j = off + 1, last do
  local i = j
  if rev then i = total - j + 1 end
  out[#out + 1] = all[2 * i - 1]
  if what == 'kv' then out[#out + 1] = all[2 * i] end
end
return out
"""


# --------------------------------------------------------------------------- decoding
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def _decode(raw: bytes | str) -> Any:
    """A stored value. Text that is not JSON (written by hand) is returned as a str."""
    text = _text(raw)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # a very deep value: the state core's iterative decoder
        return decode_value(text)
    except ValueError:
        return text


def _as_json_text(raw: bytes | str) -> str:
    """A stored value as valid JSON text (non-JSON text written by hand becomes a JSON string)."""
    text = _text(raw)
    try:
        json.loads(text, parse_constant=_reject_constant)
        return text
    except RecursionError:
        return text  # deep, and written by motia_nb or Motia: valid
    except ValueError:
        return json.dumps(text, ensure_ascii=False)


def _decode_many(raws: Sequence[bytes]) -> list[Any]:
    """Decode a page of values with one parse when they are all JSON (the common case)."""
    texts = [_text(r) for r in raws]
    if not texts:
        return []
    try:
        values = json.loads("[" + ",".join(texts) + "]", parse_constant=_reject_constant)
        if len(values) == len(texts):
            return values
    except (ValueError, RecursionError):
        pass
    return [_decode(t) for t in texts]


def _event_from_wire(ev: dict[str, Any]) -> StateEvent:
    old, new = ev.get("o"), ev.get("n")
    return StateEvent(
        ev["t"],
        ev["g"],
        ev["k"],
        None if old is None else _decode(old),
        None if new is None else _decode(new),
    )


# --------------------------------------------------------------------------- the backend
class _Conflict(Exception):
    """A compare-and-set lost a race: retry the update."""


class RedisBackend(Backend):
    """State in Redis, in Motia's engine layout (``state:<group>`` hashes).

    ``url`` is any URL redis-py accepts: ``redis://host:port/db``,
    ``rediss://…`` (TLS), ``unix:///path/redis.sock?db=0``.

    Reads of a Redis on this machine (loopback or a unix socket) run on the
    caller's thread: a local round trip (~70 µs) is cheaper than a thread hop.
    A remote Redis is read from a worker thread, so a slow network never
    blocks the caller's event loop.
    """

    direct_reads = False

    def __init__(self, url: str) -> None:
        super().__init__()
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise RedisBackendError(f"not a Redis URL: {url!r} (expected redis://host:port/db, rediss://… or unix://…)")
        self.url = url
        self.origin = f"{uuid.uuid4().hex}"
        self._remote_listeners: list[Callable[[Sequence[StateEvent]], None]] = []
        self._open_lock = threading.Lock()
        self._opened = False
        self._closed = False
        self._token = 0
        self._token_lock = threading.Lock()
        self._loop_thread: Any = None
        self._sync: Any = None
        self._aclient: Any = None
        self._queue: asyncio.Queue[tuple[Write, Future[WriteResult]] | None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._sub_task: asyncio.Task[None] | None = None
        #: How many updates lost a compare-and-set race and were retried (a contention gauge).
        self.cas_retries = 0
        self._db = self._parse_db(url)
        self.channel = f"{CHANNEL_PREFIX}{self._db}"
        self.direct_reads = _is_local(url)

    @staticmethod
    def _parse_db(url: str) -> int:
        """The database number of ``url`` (redis-py's rules: ``?db=`` or the path)."""
        from redis.connection import parse_url

        try:
            kwargs = parse_url(url)
        except ValueError as exc:
            raise RedisBackendError(f"bad Redis URL {url!r}: {exc}") from exc
        return int(kwargs.get("db", 0) or 0)

    # ------------------------------------------------------------------ life cycle
    def open(self) -> None:
        """Connect (failing fast with a clear error), load the scripts, start the writer and subscriber."""
        with self._open_lock:
            if self._closed:
                raise StateClosedError(f"the state database {self.url} was closed")
            if self._opened:
                return
            import redis

            from ..._threads import LoopThread

            sync = redis.Redis.from_url(
                self.url, socket_connect_timeout=_CONNECT_TIMEOUT, health_check_interval=30
            )
            try:
                sync.ping()
                self._read_script = sync.register_script(_LUA_READ)
            except redis.RedisError as exc:
                sync.close()
                raise RedisBackendError(f"cannot connect to Redis at {self._safe_url()}: {exc}") from exc
            lt = LoopThread(name="motia-nb-redis")
            try:
                lt.submit(self._astart()).result(timeout=_CONNECT_TIMEOUT * 3)
            except BaseException as exc:
                try:
                    lt.submit(self._astop()).result(timeout=_CONNECT_TIMEOUT)
                except BaseException:
                    pass
                lt.stop()
                sync.close()
                if isinstance(exc, StateError):
                    raise
                raise RedisBackendError(f"cannot start the Redis backend for {self._safe_url()}: {exc}") from exc
            self._sync = sync
            self._loop_thread = lt
            self._opened = True

    async def _astart(self) -> None:
        import redis.asyncio as aredis

        self._aclient = aredis.Redis.from_url(self.url, socket_connect_timeout=_CONNECT_TIMEOUT)
        c = self._aclient
        self._s_set = c.register_script(_LUA_SET)
        self._s_cas = c.register_script(_LUA_CAS)
        self._s_delete = c.register_script(_LUA_DELETE)
        self._s_clear = c.register_script(_LUA_CLEAR)
        for s in (self._s_set, self._s_cas, self._s_delete, self._s_clear):
            s.sha = await c.script_load(s.script)
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._writer())
        subscribed = asyncio.get_running_loop().create_future()
        self._sub_task = asyncio.create_task(self._subscriber(subscribed))
        await subscribed  # events published after open() returns are never missed

    async def _astop(self) -> None:
        if self._queue is not None and self._writer_task is not None:
            self._queue.put_nowait(None)
            try:
                await self._writer_task
            except BaseException:
                pass
        if self._sub_task is not None:
            self._sub_task.cancel()
            try:
                await self._sub_task
            except BaseException:
                pass
        if self._aclient is not None:
            await self._aclient.aclose()

    def close(self) -> None:
        """Finish queued writes, stop the subscriber, close connections and the loop thread."""
        with self._open_lock:
            if self._closed:
                return
            self._closed = True
            opened = self._opened
        if not opened:
            return
        lt = self._loop_thread
        try:
            lt.submit(self._astop()).result(timeout=30)
        except Exception:
            log.exception("closing the Redis backend %s", self._safe_url())
        lt.stop()
        self._sync.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def writer_thread(self) -> threading.Thread | None:
        """The thread that runs the writer and calls listeners (the backend's loop thread)."""
        return None if self._loop_thread is None else self._loop_thread.thread

    def _safe_url(self) -> str:
        """The URL without its password, for messages."""
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url

    # ------------------------------------------------------------------ writes
    def submit(self, write: Write) -> "Future[WriteResult]":
        fut: Future[WriteResult] = Future()
        if self._closed:
            fut.set_exception(StateClosedError(f"the state database {self.url} was closed"))
            return fut
        if not self._opened:
            self.open()
        loop, q = self._loop_thread.loop, self._queue
        try:
            loop.call_soon_threadsafe(q.put_nowait, (write, fut))
        except RuntimeError:  # loop already closed by a concurrent close()
            fut.set_exception(StateClosedError(f"the state database {self.url} was closed"))
        return fut

    async def _writer(self) -> None:
        q = self._queue
        assert q is not None
        stop = False
        while not stop:
            item = await q.get()
            batch: list[tuple[Write, Future[WriteResult]]] = []
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
            for run in _independent_runs(batch):
                try:
                    await self._commit_run(run)
                except Exception as exc:  # pragma: no cover - defensive: never kill the writer
                    err = self._io_error(exc)
                    for _, fut in run:
                        if not fut.done():
                            fut.set_exception(err)
        # fail anything that raced in after close()
        while not q.empty():
            late = q.get_nowait()
            if late is not None:
                late[1].set_exception(StateClosedError(f"the state database {self.url} was closed"))

    def _io_error(self, exc: BaseException, group_id: str | None = None) -> StateError:
        if isinstance(exc, StateError):
            return exc
        if "WRONGTYPE" in str(exc):
            err = RedisBackendError(
                f"{STATE_PREFIX}{group_id if group_id is not None else '<group>'} (or its order index) on "
                f"{self._safe_url()} holds a Redis value that is not a hash; nothing was written"
            )
            err.__cause__ = exc
            return err
        err = RedisBackendError(
            f"write to Redis at {self._safe_url()} failed ({type(exc).__name__}: {exc}); "
            "it may or may not have been applied"
        )
        err.__cause__ = exc
        return err

    def _keys(self, group: str) -> list[str]:
        return [STATE_PREFIX + group, ORDER_PREFIX + group, SEQ_KEY]

    async def _commit_run(self, run: list[tuple[Write, Future[WriteResult]]]) -> None:
        """Commit writes that touch distinct items in one pipeline; retry lost update races."""
        c = self._aclient
        # 1. read the current text of every item an update touches (one round trip)
        updates = [(i, w) for i, (w, _) in enumerate(run) if w.kind == "update"]
        current: dict[int, bytes | None] = {}
        outcomes: dict[int, WriteResult | BaseException] = {}
        if updates:
            pipe = c.pipeline(transaction=False)
            for _, w in updates:
                pipe.hget(STATE_PREFIX + w.group_id, w.key)
            for (i, w), raw in zip(updates, await pipe.execute(raise_on_error=False)):
                if isinstance(raw, BaseException):
                    outcomes[i] = self._io_error(raw, w.group_id)
                else:
                    current[i] = raw

        # 2. compute updates in Python (apply_ops is the one implementation of op semantics)
        planned: dict[int, tuple[bytes | None, Any, Any, str]] = {}
        for i, w in updates:
            if i in outcomes:
                continue
            try:
                planned[i] = self._plan_update(w, current[i])
            except Exception as exc:  # the op cannot apply: nothing is sent, the item is unchanged
                outcomes[i] = exc

        # 3. one pipeline for every write of the run, in order
        calls: dict[int, tuple[Any, list[str], list[Any]]] = {}
        for i, (w, _) in enumerate(run):
            if i in outcomes:
                continue
            if w.kind == "set":
                calls[i] = (self._s_set, self._keys(w.group_id), [w.key, w.value_json, self.channel, self.origin, w.group_id])
            elif w.kind == "update":
                raw, _, _, new_json = planned[i]
                calls[i] = (self._s_cas, self._keys(w.group_id), self._cas_args(w, raw, new_json))
            elif w.kind == "delete":
                calls[i] = (self._s_delete, self._keys(w.group_id)[:2], [w.key, self.channel, self.origin, w.group_id])
            elif w.kind == "clear":
                calls[i] = (self._s_clear, self._keys(w.group_id)[:2], [self.channel, self.origin, w.group_id])
            else:
                outcomes[i] = StateError(f"unknown write kind {w.kind!r}")
        sent = list(calls)
        replies = await self._eval_pipeline([calls[i] for i in sent])

        # 4. results, in commit order; lost races are retried one by one afterwards
        retry: list[int] = []
        for i, reply in zip(sent, replies):
            w = run[i][0]
            if isinstance(reply, BaseException):
                outcomes[i] = self._io_error(reply, w.group_id)
            elif w.kind == "update" and not reply:
                retry.append(i)
            else:
                outcomes[i] = self._result(w, reply, planned.get(i))
        self._deliver(run, outcomes, [i for i in sent if i in outcomes])
        for i in retry:
            w = run[i][0]
            self.cas_retries += 1
            try:
                result = await self._update_until_committed(w)
            except Exception as exc:
                outcomes[i] = self._io_error(exc, w.group_id)
            else:
                outcomes[i] = result
            self._deliver(run, outcomes, [i])
        # writes that failed before being sent (op errors) are answered last: no commit, no event
        for i, (_, fut) in enumerate(run):
            if not fut.done():
                out = outcomes[i]
                fut.set_exception(out) if isinstance(out, BaseException) else fut.set_result(out)

    async def _eval_pipeline(self, calls: list[tuple[Any, list[str], list[Any]]]) -> list[Any]:
        """Run scripts in one round trip (EVALSHA; no per-batch SCRIPT EXISTS).

        A script the server forgot (restart, SCRIPT FLUSH) fails with NOSCRIPT
        *before* running, so those calls are reloaded and sent again.
        """
        from redis.exceptions import NoScriptError

        replies: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for _ in range(3):
            if not todo:
                break
            pipe = self._aclient.pipeline(transaction=False)
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
                    s.sha = await self._aclient.script_load(s.script)
            todo = missing
        return replies

    @staticmethod
    def _plan_update(w: Write, raw: bytes | None) -> tuple[bytes | None, Any, Any, str]:
        """Apply the ops to the text just read: (that text, old value, new value, new JSON)."""
        cur = MISSING if raw is None else _decode(raw)
        new = apply_ops(cur, w.ops or [], group_id=w.group_id, key=w.key)
        old = None if raw is None else _decode(raw)  # a private copy: apply_ops may share parts with `cur`
        return raw, old, new, encode_trusted(new)

    def _cas_args(self, w: Write, raw: bytes | None, new_json: str) -> list[Any]:
        return [w.key, "0" if raw is None else "1", b"" if raw is None else raw, new_json,
                self.channel, self.origin, w.group_id]  # fmt: skip

    async def _update_until_committed(self, w: Write) -> WriteResult:
        """Read, apply, compare-and-set; repeat while another process wins the race."""
        c = self._aclient
        for attempt in range(_MAX_CAS_ATTEMPTS):
            raw = await c.hget(STATE_PREFIX + w.group_id, w.key)
            plan = self._plan_update(w, raw)
            if await self._s_cas(self._keys(w.group_id), self._cas_args(w, raw, plan[3])):
                return self._result(w, 1, plan)
            self.cas_retries += 1
            if attempt >= 3:  # heavy contention: back off a little, randomly
                await asyncio.sleep(random.uniform(0, min(0.0005 * attempt, 0.02)))
        raise RedisBackendError(
            f"update on {w.group_id!r}/{w.key!r} lost {_MAX_CAS_ATTEMPTS} races in a row against other "
            f"writers on {self._safe_url()}; the item was left unchanged"
        )

    @staticmethod
    def _result(w: Write, reply: Any, plan: tuple[bytes | None, Any, Any, str] | None) -> WriteResult:
        g, k = w.group_id, w.key
        if w.kind == "set":
            old = None if reply is None else _decode(reply)
            new = json.loads(w.value_json)  # type: ignore[arg-type]
            return WriteResult({"new_value": new, "old_value": old}, [StateEvent(UPDATED if reply is not None else CREATED, g, k, old, new)])  # type: ignore[arg-type]
        if w.kind == "update":
            assert plan is not None
            raw, old, new, _ = plan
            return WriteResult({"new_value": new, "old_value": old}, [StateEvent(UPDATED if raw is not None else CREATED, g, k, old, new)])  # type: ignore[arg-type]
        if w.kind == "delete":
            if reply is None:
                return WriteResult(None, [])
            old = _decode(reply)
            return WriteResult(old, [StateEvent(DELETED, g, k, old, None)])  # type: ignore[arg-type]
        # clear: flat [key, value, ...] in insertion order
        pairs = list(zip(reply[0::2], reply[1::2]))
        return WriteResult(len(pairs), [StateEvent(DELETED, g, _text(kk), _decode(v), None) for kk, v in pairs])

    def _deliver(self, run: list[tuple[Write, Future[WriteResult]]], outcomes: dict[int, Any], order: list[int]) -> None:
        """Call local listeners with the committed events, then resolve the futures."""
        events = [ev for i in order if isinstance(outcomes[i], WriteResult) for ev in outcomes[i].events]
        if events:
            self._bump()
            for fn in list(self._listeners):
                try:
                    fn(events)
                except Exception:  # a listener must never break the writer
                    log.exception("state listener failed")
        for i in order:
            fut, out = run[i][1], outcomes[i]
            if not fut.done():
                fut.set_exception(out) if isinstance(out, BaseException) else fut.set_result(out)

    # ------------------------------------------------------------------ events from other processes
    def add_remote_listener(self, fn: Callable[[Sequence[StateEvent]], None]) -> None:
        """Call ``fn(events)`` for changes committed by *other* processes (or other backends).

        Called on the backend's loop thread, in the order Redis committed them; ``fn``
        must be quick and must not block (it may read, but not write through this
        backend synchronously). Exceptions are logged, never raised.
        """
        self._remote_listeners.append(fn)

    def remove_remote_listener(self, fn: Callable[[Sequence[StateEvent]], None]) -> None:
        try:
            self._remote_listeners.remove(fn)
        except ValueError:
            pass

    def forward_remote_to(self, dispatch: Callable[[list[StateEvent]], Any]) -> Callable[[], None]:
        """Opt in to run ``dispatch(events)`` (e.g. the steps runtime's state triggers)
        for changes made by *other* processes. Returns a function that opts out.

        Each batch runs on motia_nb's process-wide loop thread (never on this
        backend's loop, so handlers may read and write state, synchronously too),
        one after the other in commit order; an awaitable result is awaited.
        Errors are logged (the steps runtime reports handler errors itself).
        """
        from ..._threads import get_loop_thread

        tail: list[Future[Any] | None] = [None]

        def listener(events: Sequence[StateEvent]) -> None:
            before = tail[0]

            async def run() -> None:
                if before is not None and not before.done():
                    try:
                        await asyncio.wrap_future(before)
                    except BaseException:
                        pass
                try:
                    r = dispatch(list(events))
                    if inspect.isawaitable(r):
                        await r
                except Exception:
                    log.exception("running state triggers for a change made in another process failed")

            tail[0] = get_loop_thread().submit(run())

        self.add_remote_listener(listener)
        return lambda: self.remove_remote_listener(listener)

    def change_token(self) -> Any:
        """A counter bumped by every local commit and every change published by another process."""
        return self._token

    def _bump(self) -> None:
        with self._token_lock:
            self._token += 1

    async def _subscriber(self, subscribed: "asyncio.Future[None]") -> None:
        backoff = 0.1
        while True:
            pubsub = self._aclient.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if not subscribed.done():
                    subscribed.set_result(None)
                else:  # reconnected: changes may have been missed while we were away
                    self._bump()
                backoff = 0.1
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        self._on_message(msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not subscribed.done():
                    subscribed.set_exception(RedisBackendError(f"cannot subscribe to {self.channel} on {self._safe_url()}: {exc}"))
                    return
                log.warning("motia_nb: lost the Redis event subscription (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    def _on_message(self, data: bytes | str) -> None:
        try:
            msg = json.loads(_text(data))
            if msg.get("origin") == self.origin:
                return  # our own commit: local listeners already had it
            events = [_event_from_wire(ev) for ev in msg.get("events") or []]
        except Exception:
            log.warning("motia_nb: ignoring a malformed message on %s: %.200r", self.channel, data)
            return
        if not events:
            return
        self._bump()
        for fn in list(self._remote_listeners):
            try:
                fn(events)
            except Exception:
                log.exception("remote state listener failed")

    # ------------------------------------------------------------------ reads (blocking, any thread)
    def _client(self) -> Any:
        if self._closed:
            raise StateClosedError(f"the state database {self.url} was closed")
        if not self._opened:
            self.open()
        return self._sync

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            if "WRONGTYPE" in str(exc):
                raise RedisBackendError(
                    f"a {STATE_PREFIX}… key read on {self._safe_url()} holds a Redis value that is not a hash: {exc}"
                ) from exc
            raise RedisBackendError(f"read from Redis at {self._safe_url()} failed: {exc}") from exc

    def _read_flat(
        self, group_id: str, offset: int, limit: int | None, what: str, *, reverse: bool = False
    ) -> list[bytes]:
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got {offset!r}")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be None or an int >= 0, got {limit!r}")
        if limit == 0:
            return []
        c = self._client()
        keys = [STATE_PREFIX + group_id, ORDER_PREFIX + group_id]
        args = [offset, -1 if limit is None else limit, what, "rev" if reverse else "fwd"]
        return self._call(self._read_script, keys, args, client=c)

    def get(self, group_id: str, key: str) -> Any:
        raw = self._call(self._client().hget, STATE_PREFIX + group_id, key)
        return None if raw is None else _decode(raw)

    def exists(self, group_id: str, key: str) -> bool:
        return bool(self._call(self._client().hexists, STATE_PREFIX + group_id, key))

    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: str = "insertion"
    ) -> list[tuple[str, Any]]:
        """(key, value) pairs in insertion order (``order`` also takes -insertion, key, -key)."""
        if order not in ("insertion", "-insertion", "key", "-key"):
            raise ValueError(f"order must be one of insertion, -insertion, key, -key; got {order!r}")
        if order in ("insertion", "-insertion"):  # one page, read on the server
            flat = self._read_flat(group_id, offset, limit, "kv", reverse=order == "-insertion")
            keys = [_text(k) for k in flat[0::2]]
            return list(zip(keys, _decode_many(flat[1::2])))
        # key order: Redis keeps no key index for a hash, so this sorts the whole group
        pairs = self.items(group_id)
        pairs.sort(key=lambda kv: kv[0], reverse=order == "-key")
        return pairs[offset : None if limit is None else offset + limit]

    def keys(self, group_id: str) -> list[str]:
        """Keys of a group in insertion order."""
        return [_text(k) for k in self._read_flat(group_id, 0, None, "k")]

    def rows_json(self, group_id: str) -> list[tuple[str, str]]:
        """(key, JSON text) pairs in insertion order, undecoded (the DataFrame fast path)."""
        flat = self._read_flat(group_id, 0, None, "kv")
        keys = [_text(k) for k in flat[0::2]]
        texts = [_text(v) for v in flat[1::2]]
        try:  # one parse checks the whole page (the common case: everything is JSON)
            if texts and len(json.loads("[" + ",".join(texts) + "]", parse_constant=_reject_constant)) == len(texts):
                return list(zip(keys, texts))
        except (ValueError, RecursionError):
            pass
        return [(k, _as_json_text(t)) for k, t in zip(keys, texts)]

    def values_json(self, group_id: str) -> list[str]:
        return [v for _, v in self.rows_json(group_id)]

    def count(self, group_id: str) -> int:
        return int(self._call(self._client().hlen, STATE_PREFIX + group_id))

    def group_counts(self) -> dict[str, int]:
        """Every ``state:*`` hash (ours, Motia's, hand-written), sorted by group name."""
        c = self._client()
        names = [
            k
            for k in self._call(lambda: list(c.scan_iter(match=STATE_PREFIX + "*", count=1000, _type="hash")))
            if len(k) > len(STATE_PREFIX)
        ]
        if not names:
            return {}
        pipe = c.pipeline(transaction=False)
        for k in names:
            pipe.hlen(k)
        counts = self._call(pipe.execute)
        out = {_text(k)[len(STATE_PREFIX) :]: int(n) for k, n in zip(names, counts) if n}
        return dict(sorted(out.items()))


def _is_local(url: str) -> bool:
    """True for a unix socket or a loopback host (127.0.0.0/8, ::1, localhost)."""
    import ipaddress
    from urllib.parse import urlsplit

    if url.startswith("unix://"):
        return True
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _independent_runs(batch: list[tuple[Write, Future[WriteResult]]]) -> list[list[tuple[Write, Future[WriteResult]]]]:
    """Split a batch into consecutive runs whose writes touch distinct items and groups.

    Inside a run, writes commute, so pipelining them (and retrying an update that lost
    a race after the others) never reorders two writes of this process to one item.
    """
    runs: list[list[tuple[Write, Future[WriteResult]]]] = []
    run: list[tuple[Write, Future[WriteResult]]] = []
    items: set[tuple[str, str | None]] = set()
    groups: set[str] = set()
    cleared: set[str] = set()
    for entry in batch:
        w = entry[0]
        if w.kind == "clear":
            conflict = w.group_id in groups
        else:
            conflict = (w.group_id, w.key) in items or w.group_id in cleared
        if conflict and run:
            runs.append(run)
            run, items, groups, cleared = [], set(), set(), set()
        run.append(entry)
        groups.add(w.group_id)
        if w.kind == "clear":
            cleared.add(w.group_id)
        else:
            items.add((w.group_id, w.key))
    if run:
        runs.append(run)
    return runs
