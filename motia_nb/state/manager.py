"""The state facade: Motia's ``state_manager`` API on top of a backend.

Every public method is a coroutine (``await state_manager.get(...)``), and
``state_manager.sync`` offers the same calls synchronously for code that cannot
await (magics, widget callbacks, scripts). Validation happens here, in the
caller, before anything is queued: bad input never half-happens.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._threads import on_exit, on_fork_child, run_io
from .backends import open_backend
from .backends.base import Backend, Order
from .backends.key_matches import KeySearch, search_args
from .errors import InvalidInputError, StateError
from .events import StateEvent
from .history import Retention, at_point
from .history_calls import HistoryCalls
from .lifetime import WeakCall, release_when_collected
from .remote import Dispatcher, RemoteChanges
from .subscribing import Subscribing
from .store_settings import BusyTimeout, SettingWatchers, busy_timeout_setting
from .sync import SyncStateManager, to_frame
from .urls import safe_url
from .requests import clear_write, delete_write, item_names, page_args, prefix_args, set_write, update_write
from .values import check_name
from .writing import Writing

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StateManager", "SyncStateManager", "default_url", "DEFAULT_DB"]

log = logging.getLogger("motia_nb")

#: Where the state lives unless MOTIA_NB_DB, %config or %state use say otherwise.
DEFAULT_DB = os.path.join(".motia", "state.db")


def default_url() -> str:
    """``$MOTIA_NB_DB`` or ``.motia/state.db`` under the current working directory."""
    return os.environ.get("MOTIA_NB_DB") or DEFAULT_DB


class StateManager(Writing, HistoryCalls, Subscribing, BusyTimeout, SettingWatchers):
    """Motia's State Management: groups of keys holding JSON values.

    ``url`` may be a file path, ``":memory:"`` or ``redis://host:port/db``; when
    omitted the store opens lazily at first use from :func:`default_url`.
    """

    def __init__(self, url: str | None = None, *, history_keep: "Retention | str | None" = None, busy_timeout: float | None = None) -> None:
        self._url = url
        self._retention = Retention.parse(history_keep)
        self._busy_timeout = None if busy_timeout is None else busy_timeout_setting(busy_timeout)
        self._backend: Backend | None = None
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[StateEvent], None]] = []
        self._dispatcher: Dispatcher | None = None
        self._remote = RemoteChanges(lambda: self._dispatcher)  # other processes' changes
        self._user_remote: list[Any] = []  # the remote subscribers of subscribe() calls (not the viewer's)
        # per attached backend: its weak listener and the finalizer that closes it if this
        # manager is dropped without close() (a backend never refers back to its manager)
        self._attached: dict[int, tuple[WeakCall, Any]] = {}
        self._setting_watchers = []
        self.sync = SyncStateManager(self)
        _live_managers.add(self)

    # ------------------------------------------------------------------ life cycle
    @property
    def url(self) -> str:
        """The database in use (or that will open at first use)."""
        return self._backend.url if self._backend is not None else (self._url or default_url())

    @property
    def backend(self) -> Backend:
        """The open backend, opened on first access."""
        b = self._backend
        if b is not None:
            return b
        with self._lock:
            if self._backend is None:
                backend = open_backend(self._url or default_url(), busy_timeout=self._busy_timeout)
                backend.set_history_keep(self._retention)
                backend.open()
                self._attach(backend)
                self._backend = backend
            return self._backend

    def _attach(self, backend: Backend) -> None:
        local = WeakCall(self._on_commit)
        # the local listener only while someone subscribes: a backend builds no
        # event objects for a commit nobody listens to (_listen_locally)
        if self._subscribers:
            backend.add_listener(local)
        self._attached[id(backend)] = (local, release_when_collected(self, backend.close))
        self._refusals_for(backend)
        self._remote.follow(backend)

    def _detach(self, backend: Backend) -> None:
        entry = self._attached.pop(id(backend), None)
        if entry is not None:
            local, finalizer = entry
            backend.remove_listener(local)
            finalizer.detach()  # the caller closes it
        self._remote.detach()

    def use(self, url: str) -> str:
        """Switch to another database (``":memory:"``, a path or ``redis://…``).

        The new store is opened now, so a bad location fails here; the old one is
        closed only once the new one is open. Returns the new URL.
        """
        if not isinstance(url, str) or not url.strip():
            raise InvalidInputError(f"database must be a non-empty str (a path, ':memory:' or redis://…), got {url!r}")
        try:
            if "\x00" in url:
                raise ValueError("a path or URL cannot hold the NUL character '\\x00'")
            url.encode("utf-8")  # a lone surrogate ('\ud800') names no file and no server
            new = open_backend(url.strip(), busy_timeout=self._busy_timeout)
        except StateError:
            raise
        except ValueError as err:  # urlsplit's "Invalid IPv6 URL", the checks above
            reason = "a lone surrogate is not valid Unicode text" if isinstance(err, UnicodeEncodeError) else err
            raise InvalidInputError(f"database {_masked(url)!r}: {reason}; nothing was switched") from None
        new.set_history_keep(self._retention)
        new.open()
        with self._lock:
            old, self._backend, self._url = self._backend, new, url.strip()
            if old is not None:
                self._detach(old)
            self._attach(new)
        if old is not None:
            old.close()
        self._setting_changed("database", url.strip())
        self._say_remote_deaf(new)
        return new.url

    def close(self) -> None:
        """Flush pending writes and release threads and connections.

        The manager stays usable: the next call reopens the same database. Writes
        made meanwhile from other threads land either before the close or after
        the reopen (a write the closing backend refused is submitted again).
        """
        with self._lock:
            old, self._backend = self._backend, None
            if old is not None:
                self._detach(old)
        if old is not None:
            old.close()

    @property
    def is_open(self) -> bool:
        return self._backend is not None

    # ------------------------------------------------------------------ events
    def set_dispatcher(self, fn: Dispatcher | None) -> None:
        """Install the inline hook (the session's runtime): ``fn(events)`` runs after each
        committed write in the caller's context; the write returns after it."""
        self._dispatcher = fn

    @property
    def dispatcher(self) -> Dispatcher | None:
        """The installed inline hook, or None."""
        return self._dispatcher

    def change_token(self) -> Any:
        """A value that changes whenever any process commits to this database."""
        return self.backend.change_token()

    # ------------------------------------------------------------------ plumbing
    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.backend.direct_reads:
            return fn(*args)  # a local point read: cheaper than any hop
        return await run_io(fn, *args)  # a remote store: wait off the loop

    # ------------------------------------------------------------------ async API
    def set(self, group_id: str, key: str, value: Any) -> "Awaitable[dict[str, Any]]":
        """Store ``value`` under ``group_id``/``key``; returns ``{"new_value", "old_value"}``."""
        f = self._fast  # the backend's one-step submission (a gather's thousands of sets), when on its path
        if f is not None and f[0] is self._backend and self._dispatcher is None:
            fut = f[1](group_id, key, value, f[2])
            if fut is not None:
                return fut  # type: ignore[no-any-return]
        return self._write(set_write, group_id, key, value)

    async def get(self, group_id: str, key: str, *, at: Any = None) -> Any:
        """The value stored under ``group_id``/``key``, or ``None``; with ``at`` (a seq or a datetime)
        the value then, from what ``history()`` shows (earlier than that: a one-line ``StateError``)."""
        g, k = item_names(group_id, key)
        if at is not None:
            return (await self._read(self.backend.state_at, g, k, at_point(at, self._retention, self.url)))[1]
        b = self._backend or self.backend
        if b.direct_reads:
            return b.get(g, k)  # a local point read: cheaper than any hop
        return await run_io(b.get, g, k)

    async def list(self, group_id: str) -> list[Any]:
        """Every value of a group, in insertion order."""
        return await self.backend.read_async("values", check_name(group_id, "group_id"))

    def delete(self, group_id: str, key: str) -> "Awaitable[Any]":
        """Remove an item; returns the deleted value, or ``None`` if there was none."""
        return self._write(delete_write, group_id, key)

    def clear(self, group_id: str) -> "Awaitable[int]":
        """Remove every item of a group; returns how many were removed."""
        return self._write(clear_write, group_id)

    def update(self, group_id: str, key: str, ops: list[dict[str, Any]]) -> "Awaitable[dict[str, Any]]":
        """Apply update ops atomically (all or nothing); returns ``{"new_value", "old_value"}``."""
        f = self._fast  # as set's, once the write is made (a gather of increments)
        if f is not None and f[3] is not None and f[0] is self._backend and self._dispatcher is None:
            try:
                write = update_write(group_id, key, ops)
            except Exception:  # the general path answers the same error
                return self._write(update_write, group_id, key, ops)
            fut = f[3](write, f[2])
            if fut is not None:
                return fut  # type: ignore[no-any-return]
        return self._write(update_write, group_id, key, ops)

    async def list_groups(self) -> list[str]:
        """Sorted names of the groups that hold at least one item."""
        return list(await self.backend.read_async("group_counts"))

    async def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: str = "insertion"
    ) -> list[tuple[str, Any]]:
        """``(key, value)`` pairs of a group (``list`` drops keys), a page at a time.

        ``order``: ``"insertion"`` (default), ``"-insertion"``, ``"key"`` or ``"-key"``.
        """
        g, o, n = page_args(group_id, offset, limit)
        return await self.backend.read_async("items", g, o, n, order=Order.parse(order))

    async def keys_with_prefix(self, group_id: str, prefix: str = "", limit: int = 100) -> list[str]:
        """The first ``limit`` keys of a group starting with ``prefix``, in key order
        (an index range read on SQLite, never the whole group)."""
        args = prefix_args(group_id, prefix, limit)
        return await self._read(self.backend.keys_with_prefix, *args)

    async def keys_containing(self, group_id: str, text: str, limit: int = 100) -> list[str]:
        """The first ``limit`` keys of a group containing ``text``, in key order (key search)."""
        return await self._read(self.backend.keys_containing, *prefix_args(group_id, text, limit, "text"))

    async def search_keys(
        self, group_id: str, text: str, limit: int = 100, *, after: str | None = None, budget: float | None = None
    ) -> KeySearch:
        """``keys_containing`` that may answer in part within ``budget`` seconds (:class:`KeySearch`)."""
        after, budget = search_args(after, budget)
        search = functools.partial(self.backend.search_keys, after=after, budget=budget)
        return await self._read(search, *prefix_args(group_id, text, limit, "text"))

    async def items_after(
        self, group_id: str, after: str | None = None, limit: int = 50, *, order: str = "insertion",
        inclusive: bool = False,
    ) -> list[tuple[str, Any]]:
        """A keyset page: up to ``limit`` items that follow the item ``after`` in ``order`` (the
        first ones when None; ``inclusive``: starting with it). An index read on SQLite, wherever
        the page is; ``[]`` in insertion order when ``after`` is not in the group."""
        g, _, n = prefix_args(group_id, "", limit)
        a = None if after is None else check_name(after, "after", group_id=g)
        read = functools.partial(self.backend.items_after, order=Order.parse(order), inclusive=bool(inclusive))
        return await self._read(read, g, a, n)

    async def rank(self, group_id: str, key: str, *, order: str = "insertion") -> int | None:
        """The 0-based position of an item in ``order``, or None when there is no such item."""
        g, k = item_names(group_id, key)
        return await self._read(functools.partial(self.backend.rank, order=Order.parse(order)), g, k)

    async def exists(self, group_id: str, key: str) -> bool:
        """Whether an item exists (``get`` returns ``None`` both for a stored ``null`` and a missing item)."""
        g, k = item_names(group_id, key)
        return await self._read(self.backend.exists, g, k)

    async def count(self, group_id: str) -> int:
        """Number of items in a group."""
        return await self.backend.read_async("count", check_name(group_id, "group_id"))

    async def group_counts(self) -> dict[str, int]:
        """``{group: item count}`` for every non-empty group, sorted by name."""
        return await self.backend.read_async("group_counts")

    async def frame(self, group_id: str, *, flatten: bool = True) -> "pd.DataFrame":
        """A group as a pandas DataFrame: a ``key`` column, then the values' fields.

        Nested objects become dotted columns (``shipping.city``) when ``flatten``;
        non-object values go in a ``value`` column.
        """
        g = check_name(group_id, "group_id")
        rows = await self.backend.read_async("frame_rows", g)
        return to_frame(rows, flatten=flatten, group_id=g)


def _masked(url: str) -> str:
    """``url`` with any password hidden (``safe_url``), even where the URL cannot be parsed."""
    try:
        return safe_url(url)
    except ValueError:  # (urlsplit refuses it: a bad IPv6 host) user:password@ is cut by hand
        return re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1***@", url)


# Close every manager at interpreter exit: pending writes are flushed and no
# thread is left to hold the process (motia_nb's threads are daemons anyway).
_live_managers: "weakref.WeakSet[StateManager]" = weakref.WeakSet()


# After fork() the child has the parent's connections but none of its threads:
# using them would hang (no thread to commit) or corrupt (SQLite forbids carrying a
# connection across fork). The child abandons them, never touching or closing
# them, and reopens the store on first use.
_abandoned_after_fork: list[Backend] = []


def _reset_after_fork_in_child() -> None:
    for m in list(_live_managers):
        m._lock = threading.RLock()
        if m._backend is not None:
            _abandoned_after_fork.append(m._backend)
            m._backend = None
            m._remote.forget_after_fork()


on_fork_child(_reset_after_fork_in_child)


@on_exit
def _close_all() -> None:
    for m in list(_live_managers):
        try:
            m.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass
