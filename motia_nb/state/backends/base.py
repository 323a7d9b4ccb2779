"""The backend contract: SQLite and Redis are two implementations of one interface.

Everything the facade (``motia_nb.state.manager``) may ask of a backend is
declared here, with a default where one makes sense; the facade never probes a
backend with ``hasattr``.

Data. A backend stores JSON *text*: the facade validates and encodes values
before a write reaches a backend, and validates op lists structurally. A backend
applies update ops with ``motia_nb.state.ops.apply_ops`` inside its own atomic
section (an SQLite transaction, a Redis compare-and-set script), so the
all-or-nothing rule of SPEC §3 holds across processes. Results and events are
built by :mod:`motia_nb.state.backends.results` only.

The values it speaks (:class:`Write`, :class:`WriteResult`, :class:`Order`) are in
:mod:`.shapes`, the listener lists and their fan-out in :mod:`.listening`; both are
importable from here too.

Threads. Every method may be called from any thread, concurrently. Reads block
the calling thread; the facade runs them on the caller's thread only when
``direct_reads`` says they are cheap. Local listeners run on ``writer_thread``
(or, for a commit made inline, on the committing caller's thread), in commit
order; remote listeners run where the backend receives other processes' changes.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from ..._threads import run_io
from ..errors import StateError
from ..history import Point, Retention
from ..jsontext import encode_trusted
from .key_matches import KeySearch
from .listening import Listening
from .shapes import Listener, Order, Write, WriteResult

__all__ = ["Backend", "KeySearch", "Listener", "Order", "Write", "WriteResult", "WRITE_ALL_CHUNK", "SYNC_WRITE_REFUSED"]

#: Why a blocking write is refused on the thread that would have to commit it.
SYNC_WRITE_REFUSED = (
    "motia_nb: state writes cannot be made synchronously from a state subscriber callback "
    "or from the thread that commits writes (in an async handler, await the write instead)"
)

#: :meth:`Backend.write_all` applies (and reports progress) this many writes at a time.
WRITE_ALL_CHUNK = 2000


class Backend(Listening, abc.ABC):
    """One store. ``url`` is what the user chose (a path, ``:memory:``, ``redis://…``)."""

    url: str
    #: True when reads are cheap enough to run on the caller's thread, even on an
    #: event loop (SQLite: a local point read; a Redis on this machine). False: the
    #: facade reads from a worker thread so a slow store never blocks a loop.
    direct_reads: bool = False
    #: True when the backend delivers changes committed by *other* processes to
    #: remote listeners (Redis pub/sub). False: remote listeners are never called;
    #: watch :meth:`change_token` instead.
    publishes_remote: bool = False
    #: True when no other process can ever write this store (SQLite ``:memory:``): asking for
    #: other processes' changes there (``subscribe(fn, remote=True)``, remote triggers) is refused.
    private: bool = False
    #: True when :meth:`count` costs the same for any group size (Redis ``HLEN``); False when
    #: it counts rows (SQLite): the viewer then keeps counts from change events instead.
    cheap_count: bool = False
    #: True when :meth:`write_all` commits a list of sets in one transaction (SQLite:
    #: all or none, even across a crash; Redis: MULTI/EXEC); False: in order, chunk by chunk.
    atomic_write_all: bool = False

    # -- life cycle -------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Connect / create the schema. Idempotent; raises ``StateClosedError`` after close."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush pending writes, release threads and connections. Idempotent."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """True once :meth:`close` was called."""

    @property
    def writer_thread(self) -> threading.Thread | None:
        """The thread that commits queued writes and calls listeners, if the backend
        has one. Blocking on a write's future from it would deadlock, so the facade
        refuses synchronous writes there (unless :meth:`blocks_on_itself` says otherwise)."""
        return None

    def blocks_on_itself(self) -> bool:
        """Whether a blocking write submitted from the calling thread would wait on that very
        thread (deadlock): on :attr:`writer_thread`. The facade then refuses it with
        :data:`SYNC_WRITE_REFUSED`. A backend that can commit there instead (Redis's direct
        path) answers False and refuses in :meth:`submit` only when it cannot."""
        return threading.current_thread() is self.writer_thread

    # -- writes -----------------------------------------------------------
    @abc.abstractmethod
    def submit(self, write: Write) -> "Future[WriteResult]":
        """Queue a write; the returned ``concurrent.futures.Future`` resolves after
        commit with a :class:`WriteResult`, or with the write's own exception.
        Backends may batch concurrent writes into one transaction (group commit),
        but each write succeeds or fails on its own, and one thread's writes
        commit in the order it submitted them."""

    def write_all(
        self, writes: Sequence[Write], progress: Callable[[int], None] | None = None
    ) -> list[WriteResult]:
        """Commit many writes (an import), in order; one :class:`WriteResult` each.
        ``progress(n)`` is called as each chunk of ``n`` writes is applied.

        A backend with transactions overrides it to commit them all in one
        transaction and raise, with nothing written, if any fails
        (``atomic_write_all``). This default submits them chunk by chunk and waits:
        the first failure is raised, and the writes before it stay committed (as
        they do when the process dies midway)."""
        results: list[WriteResult] = []
        for i in range(0, len(writes), WRITE_ALL_CHUNK):
            futures = [self.submit(w) for w in writes[i : i + WRITE_ALL_CHUNK]]
            results.extend(f.result() for f in futures)
            if progress is not None:
                progress(len(futures))
        return results

    def submit_async(self, write: Write, *, result_only: bool = False) -> "asyncio.Future[Any]":
        """:meth:`submit` for a caller on a running event loop (override to batch
        wake-ups). With ``result_only`` the future resolves to ``WriteResult.result``."""
        fut = asyncio.wrap_future(self.submit(write))
        if not result_only:
            return fut

        async def result() -> Any:
            return (await fut).result

        return asyncio.ensure_future(result())

    def set_submitter(self) -> "Callable[[Any, Any, Any, Callable[..., None]], Any] | None":
        """An optional one-step entry for the async API's ``set`` (the hot path of a gather):
        ``fn(group_id, key, value, on_refused)`` returns the future :meth:`submit_async` would
        give for ``set_write(group_id, key, value)`` with ``result_only`` (its ``on_refused``
        set), or None when the caller must take the general path (which then answers the
        same). None (the default): no such entry. Asked once per opened backend."""
        return None

    def write_submitter(self) -> "Callable[[Write, Callable[..., None]], Any] | None":
        """Like :meth:`set_submitter`, for any validated write (the async API's ``update``):
        ``fn(write, on_refused)`` returns the future :meth:`submit_async` would give with
        ``result_only`` (its ``on_refused`` set), or None (the general path then submits it).
        None (the default): no such entry."""
        return None

    # -- reads (blocking; JSON already decoded) ---------------------------
    @abc.abstractmethod
    def get(self, group_id: str, key: str) -> Any:
        """The stored value, or None for a missing item."""

    @abc.abstractmethod
    def exists(self, group_id: str, key: str) -> bool:
        """Whether the item exists (``get`` cannot tell a stored ``null`` from a missing item)."""

    def value_size(self, group_id: str, key: str) -> int | None:
        """The length of the item's stored JSON text, without reading the value out (None: no
        item); a backend that cannot tell reads it (the length of its compact JSON text)."""
        if not self.exists(group_id, key):
            return None
        import json

        return len(json.dumps(self.get(group_id, key), ensure_ascii=False, default=str))

    @abc.abstractmethod
    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: Order | str = Order.INSERTION
    ) -> list[tuple[str, Any]]:
        """(key, value) pairs of one page. ``order`` was validated by the facade
        (:meth:`Order.parse`); an :class:`Order` or its string value."""

    @abc.abstractmethod
    def count(self, group_id: str) -> int:
        """Number of items in a group."""

    @abc.abstractmethod
    def group_counts(self) -> dict[str, int]:
        """{group: number of items} for groups holding at least one item, sorted by name."""

    def values(self, group_id: str) -> list[Any]:
        """Values of a group in insertion order (``list``)."""
        return [v for _, v in self.items(group_id)]

    async def read_async(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Await a read that may be long (``items``, ``values``, ``keys``, ``rows_json``,
        ``frame_rows``, ``values_json``, ``count``, ``group_counts``) from a loop, without making the loop
        wait on the store. Default: the blocking method on the caller's thread when
        ``direct_reads``, else on the I/O pool. SQLite overrides it (aiosqlite)."""
        fn = functools.partial(getattr(self, name), *args, **kwargs)
        if self.direct_reads:
            return fn()
        return await run_io(fn)

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another process's lock before failing (SQLite); default: ignored."""

    def keys(self, group_id: str) -> list[str]:
        """Keys of a group in insertion order."""
        return [k for k, _ in self.items(group_id)]

    def keys_with_prefix(self, group_id: str, prefix: str, limit: int) -> list[str]:
        """The first ``limit`` keys of a group that start with ``prefix``, in key order
        (code points, as Python sorts ``str``). For completion and search, so it must not
        read the whole group where the store has a key index: SQLite overrides it with a
        range query on its (grp, key) index. This default pages through the group in key
        order and stops at the first key past the prefix."""
        if limit <= 0:
            return []
        found: list[str] = []
        offset, page = 0, 1000
        while True:
            rows = self.items(group_id, offset, page, order=Order.KEY)
            for k, _ in rows:
                if k.startswith(prefix):
                    found.append(k)
                    if len(found) == limit:
                        return found
                elif k > prefix:
                    return found
            if len(rows) < page:
                return found
            offset += page

    def items_after(
        self, group_id: str, after: str | None, limit: int, *, order: Order | str = Order.INSERTION,
        inclusive: bool = False,
    ) -> list[tuple[str, Any]]:
        """Keyset paging: up to ``limit`` (key, value) pairs that follow the item ``after`` in
        ``order`` (from the first item when ``after`` is None; with ``inclusive``, starting with
        ``after`` itself). In key order a missing ``after`` still has a place; in insertion order
        it has none, and the answer is ``[]``.

        A template: the arguments are handled here (``order`` made an :class:`Order`, nothing
        for ``limit <= 0``, the first page for no cursor), and a backend answers the rest in
        :meth:`_items_after`."""
        order = Order(order)
        if limit <= 0:
            return []
        if after is None:
            return self.items(group_id, 0, limit, order=order)
        return self._items_after(group_id, after, limit, order, inclusive)

    def _items_after(
        self, group_id: str, after: str, limit: int, order: Order, inclusive: bool
    ) -> list[tuple[str, Any]]:
        """The page after the cursor ``after`` (``limit`` > 0, ``order`` an :class:`Order`).
        Where the store has an index, one page costs a page, wherever it is (SQLite
        overrides this). This default pages through the group."""
        found: list[tuple[str, Any]] = []
        started = False
        for k, v in self._scan(group_id, order):
            if not started:
                if order.by_key:
                    past = k > after if not order.descending else k < after
                    started = past or (inclusive and k == after)
                elif k == after:
                    started = True
                    if not inclusive:
                        continue
                if not started:
                    continue
            found.append((k, v))
            if len(found) == limit:
                break
        return found

    def rank(self, group_id: str, key: str, *, order: Order | str = Order.INSERTION) -> int | None:
        """The 0-based position of ``key`` in ``order``, or None when the group has no such item
        (go to key: the page that holds it). This default pages through the group."""
        order = Order(order)
        for i, (k, _) in enumerate(self._scan(group_id, order)):
            if k == key:
                return i
        return None

    def keys_containing(self, group_id: str, needle: str, limit: int) -> list[str]:
        """The first ``limit`` keys of a group that contain ``needle``, in key order (key
        search). SQLite answers it with one pass over its key index and stops at ``limit``;
        Redis filters on the server (``HSCAN MATCH``). This default pages through the group."""
        if limit <= 0:
            return []
        found = []
        for k, _ in self._scan(group_id, Order.KEY):
            if needle in k:
                found.append(k)
                if len(found) == limit:
                    break
        return found

    def search_keys(
        self, group_id: str, needle: str, limit: int, *, after: str | None = None, budget: float | None = None
    ) -> KeySearch:
        """``keys_containing`` for a caller who must not wait: with ``budget`` (seconds) the
        search may stop early with the keys found so far (SQLite scanning a big group while
        its trigram index is built); ``after``: only keys after it. This default answers in full."""
        if after is None:
            return KeySearch(self.keys_containing(group_id, needle, limit))
        return KeySearch([k for k in self.keys_containing(group_id, needle, 2**62) if k > after][:limit])

    def _scan(self, group_id: str, order: Order, page: int = 1000) -> Iterator[tuple[str, Any]]:
        """Every item of a group in ``order``, read ``page`` at a time (for the defaults above)."""
        offset = 0
        while True:
            rows = self.items(group_id, offset, page, order=order)
            yield from rows
            if len(rows) < page:
                return
            offset += page

    def rows_json(self, group_id: str) -> list[tuple[str, str]]:
        """(key, JSON text) pairs in insertion order (the DataFrame path; backends
        override it to skip decoding and re-encoding)."""
        return [(k, encode_trusted(v)) for k, v in self.items(group_id)]

    def frame_rows(self, group_id: str) -> list[tuple[Any, ...]]:
        """:meth:`rows_json` for ``frame()``: rows whose first two items are the key and its JSON
        text (SQLite's add its ``json_valid``, and ``all_valid``: ``to_frame`` then decodes them
        with one parse)."""
        return self.rows_json(group_id)

    def values_json(self, group_id: str) -> list[str]:
        """JSON texts of a group's values in insertion order."""
        return [v for _, v in self.rows_json(group_id)]

    # -- history (SPEC §9) --------------------------------------------------
    #: True when the backend records a changelog (SQLite table, Redis streams).
    keeps_history: bool = False

    def set_history_keep(self, retention: Retention) -> None:
        """How much history to keep (``off``: record none). Takes effect now, before or after ``open``."""

    def prune_history(self) -> int:
        """Delete now what the retention no longer keeps (normally done off the writers' path,
        in the background); the number of changes deleted."""
        return 0

    def history_first_kept(self, group_id: str) -> int:
        """The seq of the first change a history read of ``group_id`` shows now: a change with a
        smaller seq is past the retention (0: the retention hides none). Cheap (no change is read)."""
        return 0

    def _history_first_stored(self, group_id: str) -> int:
        """The seq of the oldest change the store holds for ``group_id`` when pruning deleted older
        ones that the retention's horizon no longer tells of (0: not known; SQLite's horizon tells)."""
        return 0

    def history(self, group_id: str, key: str | None, since: Point | None, limit: int) -> list[dict[str, Any]]:
        """Recorded changes, oldest first: the newest ``limit``, or the first ``limit`` after ``since``."""
        raise StateError(f"{self.url}: this backend keeps no history")

    def state_at(self, group_id: str, key: str, at: Point) -> tuple[bool, Any]:
        """``(existed, value)``: the item as it was at ``at`` (after the change with that seq, or at that time)."""
        raise StateError(f"{self.url}: this backend keeps no history")

    def change_token(self) -> Any:
        """A cheap value that changes whenever *any* process commits (SQLite's
        ``PRAGMA data_version`` plus local commits; Redis: a counter of local
        commits and received messages). None when the backend cannot tell."""
        return None

    def missed_changes(self) -> int:
        """For a backend that :attr:`publishes_remote`: a counter that moves whenever changes
        may have been committed without their events reaching the listeners (Redis: the
        event subscription was lost and came back). Whoever keeps state from events must
        then read the store whole. 0 for a backend whose events never skip a change."""
        return 0
