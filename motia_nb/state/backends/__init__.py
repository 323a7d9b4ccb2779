"""Backends: where state lives. ``open_backend(url)`` picks one from a URL."""

from __future__ import annotations

from .base import Backend, Write, WriteResult

__all__ = ["Backend", "Write", "WriteResult", "open_backend"]


def open_backend(url: str) -> Backend:
    """A (not yet opened) backend for ``url``.

    - ``redis://…`` / ``rediss://…`` / ``unix://…``: the Redis backend (Motia's engine layout);
    - ``sqlite:///path`` or a plain path: an SQLite file;
    - ``:memory:``: a private in-memory SQLite database.
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisBackend

        return RedisBackend(url)
    if url.startswith("sqlite://"):
        url = url[len("sqlite://") :]
        if url.startswith("/") and url[1:] == ":memory:":
            url = ":memory:"
    from .sqlite import SQLiteBackend

    return SQLiteBackend(url)
