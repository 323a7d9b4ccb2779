"""Backends: where state lives, behind one contract (:mod:`.base`).

- :mod:`.base`: the contract every backend implements (:class:`Backend`), the
  write request (:class:`Write`), its outcome (:class:`WriteResult`), :class:`Order`;
- :mod:`.results`: the one place results and events are built;
- :mod:`.threads`: where backends get their threads and event loop;
- :mod:`.sqlite` and :mod:`.redis`: the two implementations.

``open_backend(url)`` picks one from a URL.
"""

from __future__ import annotations

import re

from ..errors import StateError
from ..urls import safe_url
from .base import Backend, Order, Write, WriteResult
from .sqlite import SQLiteBackend

__all__ = ["Backend", "Order", "Write", "WriteResult", "open_backend"]


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def open_backend(url: str, *, busy_timeout: float | None = None) -> Backend:
    """A (not yet opened) backend for ``url``.

    - ``redis://…`` / ``rediss://…`` / ``unix://…``: the Redis backend (Motia's engine layout);
    - ``sqlite:///path`` or a plain path: an SQLite file;
    - ``:memory:``: a private in-memory SQLite database.

    Any other ``scheme://`` (``mysql://``, ``postgres://``…) is refused with :class:`StateError`,
    not taken for a path.
    """
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1).lower() not in ("redis", "rediss", "unix", "sqlite"):
        raise StateError(
            f"unsupported database URL {safe_url(url)!r}: motia_nb stores state in SQLite (a path, sqlite:///path or "
            ":memory:) or Redis (redis://, rediss://, unix://)"
        )
    if url.startswith(("redis://", "rediss://", "unix://")):
        # imported on first use: redis-py costs import time that SQLite users need not pay
        from .redis import RedisBackend

        return RedisBackend(url, busy_timeout=busy_timeout)
    if url.startswith("sqlite://"):
        url = url[len("sqlite://") :]
        if url.startswith("/") and url[1:] == ":memory:":
            url = ":memory:"
    return SQLiteBackend(url, busy_timeout=busy_timeout)
