"""Backends: where state lives, behind one contract (:mod:`.base`).

- :mod:`.base`: the contract every backend implements (:class:`Backend`), the
  write request (:class:`Write`), its outcome (:class:`WriteResult`), :class:`Order`;
- :mod:`.results`: the one place results and events are built;
- :mod:`.threads`: where backends get their threads and event loop;
- :mod:`.sqlite` and :mod:`.redis`: the two implementations.

``open_backend(url)`` picks one from a URL.
"""

from __future__ import annotations

from .base import Backend, Order, Write, WriteResult
from .sqlite import SQLiteBackend

__all__ = ["Backend", "Order", "Write", "WriteResult", "open_backend"]


def open_backend(url: str, *, busy_timeout: float | None = None) -> Backend:
    """A (not yet opened) backend for ``url``.

    - ``redis://…`` / ``rediss://…`` / ``unix://…``: the Redis backend (Motia's engine layout);
    - ``sqlite:///path`` or a plain path: an SQLite file;
    - ``:memory:``: a private in-memory SQLite database.
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        # imported on first use: redis-py costs import time that SQLite users need not pay
        from .redis import RedisBackend

        return RedisBackend(url)
    if url.startswith("sqlite://"):
        url = url[len("sqlite://") :]
        if url.startswith("/") and url[1:] == ":memory:":
            url = ":memory:"
    return SQLiteBackend(url, busy_timeout=busy_timeout)
