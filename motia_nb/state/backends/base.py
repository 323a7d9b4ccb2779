"""The backend boundary: SQLite and Redis are two implementations of one contract.

A backend stores JSON *text*: the facade (``motia_nb.state.manager``) validates
and encodes values before a write reaches a backend, and validates op lists
structurally. A backend applies update ops with ``motia_nb.state.ops.apply_ops``
inside its own atomic section (an SQLite transaction, a Redis Lua script / WATCH),
so the all-or-nothing rule of SPEC §3 holds across processes.

Threading: every method of a backend may be called from any thread, concurrently.
Blocking calls are fine: the facade never calls a backend on the caller's event
loop except for reads a backend declares cheap (``direct_reads``).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..events import StateEvent

__all__ = ["Backend", "Write", "WriteResult"]

WriteKind = Literal["set", "update", "delete", "clear"]


@dataclass(slots=True)
class Write:
    """One write request, already validated by the facade.

    - ``set``: ``value_json`` holds the encoded value.
    - ``update``: ``ops`` holds the structurally valid op list (paths normalised
      to segment lists); applying it may still fail (type clash) -> the backend
      raises ``UpdateOpError`` for this write only, leaving the item unchanged.
    - ``delete``: group + key. ``clear``: group only.
    """

    kind: WriteKind
    group_id: str
    key: str | None = None
    value_json: str | None = None
    ops: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class WriteResult:
    """What a committed write returns: the API result and the events it produced."""

    result: Any
    events: list[StateEvent] = field(default_factory=list)


class Backend(abc.ABC):
    """One store. ``url`` is what the user chose (a path, ``:memory:``, ``redis://…``)."""

    url: str
    #: True when get/list reads are cheap enough to run on the caller's thread
    #: (SQLite: a local point read). False: the facade may still call them from
    #: any thread, but not on an event loop it must not block.
    direct_reads: bool = False

    # -- life cycle -------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Connect / create the schema. Idempotent."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush pending writes, release threads and connections. Idempotent."""

    # -- writes -----------------------------------------------------------
    @abc.abstractmethod
    def submit(self, write: Write) -> "Future[WriteResult]":
        """Queue a write; the returned ``concurrent.futures.Future`` resolves after
        commit with a :class:`WriteResult`, or with the write's own exception.
        Backends may batch concurrent writes into one transaction (group commit),
        but each write succeeds or fails on its own."""

    def submit_async(self, write: Write, *, result_only: bool = False) -> "asyncio.Future[Any]":
        """:meth:`submit` for a caller on a running event loop (override to batch
        wake-ups). With ``result_only`` the future resolves to ``WriteResult.result``."""
        fut = asyncio.wrap_future(self.submit(write))
        if not result_only:
            return fut

        async def result() -> Any:
            return (await fut).result

        return asyncio.ensure_future(result())

    # -- reads (blocking; JSON already decoded) ---------------------------
    @abc.abstractmethod
    def get(self, group_id: str, key: str) -> Any: ...

    @abc.abstractmethod
    def items(
        self, group_id: str, offset: int = 0, limit: int | None = None, *, order: str = "insertion"
    ) -> list[tuple[str, Any]]:
        """(key, value) pairs of one page, in insertion order (``order`` also takes
        ``-insertion``, ``key`` and ``-key``)."""

    @abc.abstractmethod
    def exists(self, group_id: str, key: str) -> bool:
        """Whether the item exists (``get`` cannot tell a stored ``null`` from a missing item)."""

    @abc.abstractmethod
    def values_json(self, group_id: str) -> list[str]:
        """Raw JSON texts of a group's values in insertion order (fast path for frames)."""

    @abc.abstractmethod
    def count(self, group_id: str) -> int: ...

    @abc.abstractmethod
    def group_counts(self) -> dict[str, int]:
        """{group: number of items} for groups holding at least one item, sorted by name."""

    # -- change notification ----------------------------------------------
    def add_listener(self, fn: Callable[[Sequence[StateEvent]], None]) -> None:
        """Call ``fn(events)`` after each commit *of this process*, in commit order,
        on the backend's writer thread. ``fn`` must be quick and must not block."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[Sequence[StateEvent]], None]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    def change_token(self) -> Any:
        """A cheap value that changes whenever *any* process commits (SQLite's
        ``PRAGMA data_version`` plus local commits). Used for cross-process
        polling (the viewer); backends with push notifications may return None."""
        return None

    def __init__(self) -> None:
        self._listeners: list[Callable[[Sequence[StateEvent]], None]] = []


from concurrent.futures import Future  # noqa: E402  (for the annotation above)
