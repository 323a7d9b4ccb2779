"""Who owns a function id on the endpoint, mixed into :class:`~motia_nb.engine.endpoint.Server`.

The rules, as the iii engine's ``Engine`` keeps them (``Engine::router_msg``'s
``RegisterFunction`` arm → ``claim_function``; ``Engine::cleanup_worker`` releases a
worker's ids when it leaves; the frame and its code are ``engine/src/protocol.rs``'s
``RegistrationRejected`` / ``FUNCTION_NAMESPACE_CONFLICT``):

- one live worker per function id: another worker's ``registerfunction`` of an id is
  refused with ``registrationrejected`` naming the owner, and its connection stays;
- a worker's own replay of an id it holds is idempotent;
- a worker that left (or was retired by a ``reattach``) owns nothing: its functions went
  with its connection, so a restarted or reconnected worker takes them back;
- an owner whose socket died unnoticed (answering no WebSocket ping within 5 s) is
  retired for the worker registering its id;
- the functions the engine serves itself (``state::*``, ``stream::*``, ``enqueue``,
  ``engine::*``) cannot be replaced: refused with an empty owner (motia_nb's difference
  from the engine, README "engine differences": the notebook reads and writes its store
  directly, so a worker's replacement would split the state in two).

:meth:`FunctionOwnership._provider` answers who owns an id now, for the endpoint's calls,
remote triggers (:mod:`motia_nb.engine.remote`) and custom streams
(:mod:`motia_nb.engine.functions`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from . import protocol
from .workers import Worker

__all__ = ["FunctionOwnership", "ENGINE_CALLS"]

log = logging.getLogger("motia_nb.engine")

#: the engine:: functions the endpoint answers itself (Server._call), beside EngineFunctions' ids
ENGINE_CALLS = frozenset({"engine::workers::register", "engine::workers::list", "engine::functions::list", "engine::triggers::list"})


class FunctionOwnership:
    """The endpoint's function registrations; the server provides the engine's own function ids,
    its live workers and the dropping of a connection."""

    _engine_names: set[str]
    _live: Callable[[], list[Worker]]
    _drop: Callable[[Worker], None]

    async def _register_function(self, w: Worker, b: dict[str, Any]) -> None:
        """As the engine's ``RegisterFunction`` (``Engine::router_msg`` → ``claim_function``): a
        function id belongs to one live worker; another worker's registration of it is refused
        with ``registrationrejected`` (``FUNCTION_NAMESPACE_CONFLICT``), the connection kept. A
        worker's own replay is idempotent, and a worker that left (or was retired by a
        ``reattach``) owns nothing: its functions went with its connection, as ``cleanup_worker``
        releases them. The engine's own functions (``state::*``, ``stream::*``, ``enqueue``,
        ``engine::*``) are refused too: motia_nb's notebook reads and writes its store directly,
        so a worker's replacement would split the state in two (README, engine differences)."""
        fid = b["id"]
        if fid in self._engine_names or fid in ENGINE_CALLS:
            log.warning(
                "motia_nb engine: worker %s registered %r, a function the engine serves itself: refused "
                "(a worker cannot replace the engine's state, stream, queue or engine:: functions here)", w.name, fid,
            )
            await w.send(protocol.registration_rejected(fid, ""))
            return
        owner = self._provider(fid)
        if owner is not None and owner is not w and not await self._answers(owner):
            # the owner's connection is dead but not yet noticed (a half-open socket: a worker whose
            # network dropped and that reconnects, with an SDK that sends no `reattach`): retired,
            # as the engine takes over the lease of a worker that has gone away (a live worker
            # answers a ping in milliseconds; the endpoint's own pings notice only after 20-80 s)
            log.warning("motia_nb engine: worker %s answered no ping in 5 s: its connection retired, %s takes %r",
                        owner.name, w.name, fid)  # fmt: skip
            self._drop(owner)
            owner.conn.transport.abort()  # no closing handshake to wait for on a dead socket (alive, it reconnects)
            owner = None
        if owner is not None and owner is not w:
            log.warning(
                "motia_nb engine: function %r is already registered by live worker %s (%s): refused from worker %s "
                "(as the engine: one live worker per function id; rename the function)", fid, owner.name, owner.id, w.name,
            )
            await w.send(protocol.registration_rejected(fid, owner.id))
            return
        w.functions[fid] = b

    async def _answers(self, w: Worker, timeout: float = 5.0) -> bool:
        """Whether ``w``'s connection answers a WebSocket ping within ``timeout`` seconds."""
        try:
            pong = await w.conn.ping()
            await asyncio.wait_for(pong, timeout)
        except (ConnectionClosed, TimeoutError, RuntimeError):
            return False
        return True

    def _provider(self, function_id: str) -> Worker | None:
        """The live worker that registered ``function_id`` now, if any."""
        for other in self._live():
            if function_id in other.functions:
                return other
        return None
