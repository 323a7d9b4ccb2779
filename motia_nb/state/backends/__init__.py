"""Backends: where state lives, behind one contract (:mod:`.base`).

- :mod:`.base`: the contract every backend implements (:class:`Backend`), the
  write request (:class:`Write`), its outcome (:class:`WriteResult`), :class:`Order`;
- :mod:`.results`: the one place results and events are built;
- :mod:`.threads`: where backends get their threads and event loop;
- :mod:`.sqlite` and :mod:`.redis`: the two implementations.

``open_backend(url)`` picks one from a URL.
"""

from __future__ import annotations

import os
import re

from ..errors import StateError
from ..urls import safe_url
from .base import Backend, Order, Write, WriteResult
from .sqlite import SQLiteBackend

__all__ = ["Backend", "Order", "Write", "WriteResult", "open_backend"]


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
#: one of our schemes without its '//' (redis:localhost:6379, redis:/host, sqlite:x.db)
_BARE_SCHEME = re.compile(r"(redis|rediss|unix|sqlite):(?!//)(.*)", re.I | re.S)
#: sqlite3's URI filename (file:state.db?mode=ro)
_SQLITE_URI = re.compile(r"file:(?!//)", re.I)
#: the password of user:password@host, masked in a refusal
_PASSWORD = re.compile(r":[^:@/]*@")
#: a Redis address without its scheme (localhost:6379, 10.0.0.5:6379/1)
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}(?:/\d+)?")


def _as_typed(text: str) -> str:
    """``text`` as the user would type it, quoted as a literal when it holds a line break, a tab or
    another unprintable character (the refusal stays one line)."""
    return text if text.isprintable() else repr(text)


def _refuse_url_typo(url: str) -> None:
    """A URL mistyped into a path is refused (was: an SQLite file named ``redis:localhost:6379``
    made in the working folder, the notebook's state written there while the user thought it
    was on Redis). The file name itself stays one ``./`` away."""
    bare = _BARE_SCHEME.fullmatch(url)
    if bare:
        scheme, rest = bare.group(1).lower(), _PASSWORD.sub(":***@", bare.group(2))  # never echo a password
        meant = rest if scheme == "sqlite" else f"{scheme}://{'/' if scheme == 'unix' else ''}{rest.lstrip('/')}"
        what = "an SQLite path needs no scheme" if scheme == "sqlite" else "a URL's scheme is followed by '//'"
        shown = f"{bare.group(1)}:{rest}"
        raise StateError(f"{shown!r} is not a database URL ({what}): write {_as_typed(meant)}; "
                         f"for a file at that path, write {_as_typed('./' + shown)}")
    if _SQLITE_URI.match(url):  # sqlite3's URI filename (file:state.db?mode=ro): not a path
        path = url[len("file:"):].partition("?")[0].partition("#")[0]
        raise StateError(
            f"{url!r} is an SQLite URI filename, and motia_nb takes a path: write {_as_typed(path) if path else 'a path'}; "
            f"for a file at that path, write {_as_typed('./' + url)}"
        )
    if url.endswith("/") and url.strip("/") and not os.path.isdir(url):
        shown = _PASSWORD.sub(":***@", url)  # (redis//user:pw@host/, a colon lost)
        raise StateError(
            f"{shown!r} names a folder (it ends with '/'), and the state database is a file: name a file in it, "
            f"e.g. {_as_typed(shown + 'state.db')}"
        )
    if _HOST_PORT.fullmatch(url):
        raise StateError(
            f"{url!r} looks like a Redis address without its scheme: write redis://{url}; "
            f"for a file at that path, write ./{url}"
        )


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
    if scheme:  # a scheme is any case (RFC 3986): Redis://host is Redis, not a folder 'Redis:'
        url = scheme.group(1).lower() + url[scheme.end(1) :]
    else:
        _refuse_url_typo(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        # imported on first use: redis-py costs import time that SQLite users need not pay
        from .redis import RedisBackend

        return RedisBackend(url, busy_timeout=busy_timeout)
    if url.startswith("sqlite://"):
        url = url[len("sqlite://") :]
        if url.startswith("/") and url[1:] == ":memory:":
            url = ":memory:"
    return SQLiteBackend(url, busy_timeout=busy_timeout)
