"""The kernel as a local iii engine (SPEC §8): real Motia workers connect to the notebook.

``serve(port=0)`` → a :class:`Server` (``.url``, ``.port``, ``.workers``,
``.close()``); ``stop_all()`` closes every endpoint (``%unload_ext``, exit).
"""

from __future__ import annotations

from .endpoint import Server, serve, servers, settings, stop_all
from .functions import EngineFunctionError, EngineFunctions

__all__ = ["serve", "Server", "servers", "stop_all", "settings", "EngineFunctions", "EngineFunctionError"]
