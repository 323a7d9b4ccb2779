"""The endpoints serving now, as one list both the endpoint and the function surface read.

:mod:`.endpoint` adds a server once it listens and removes it when it closes;
:mod:`.functions` asks which one has a worker implementing a custom stream (the engine's
stream worker hands that stream's calls to it). Kept apart so that neither imports the other
for it (the endpoint imports the functions).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .endpoint import Server

__all__ = ["servers", "add", "remove"]

_servers: list["Server"] = []
_lock = threading.Lock()


def servers() -> list["Server"]:
    """The endpoints running now, oldest first."""
    with _lock:
        return list(_servers)


def add(server: "Server") -> None:
    with _lock:
        _servers.append(server)


def remove(server: "Server") -> bool:
    """Forget ``server``; whether another endpoint still serves its session."""
    with _lock:
        if server in _servers:
            _servers.remove(server)
        return any(s.session is server.session for s in _servers)
