"""The engine client, in-process: what Motia's SDK reaches through ``get_instance().trigger(...)``.

:class:`InProcessClient` has the SDK client's ``trigger`` (synchronous, as
iii-sdk's ``III.trigger``) and answers it with :class:`~motia_nb.engine.EngineFunctions`
— no socket, no waiting for an engine. It backs motia_nb's ``motia`` stand-in
and, with the real ``motia`` package installed, replaces the package's
WebSocket client (``motia.iii._instance``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine import EngineFunctionError, EngineFunctions
from ._sync import run_blocking

__all__ = ["InProcessClient", "client"]


class InProcessClient:
    """A stand-in for iii-sdk's ``III`` client bound to this kernel (``trigger``, ``shutdown``)."""

    def __init__(self, functions: EngineFunctions | None = None) -> None:
        self.functions = functions or EngineFunctions()

    def trigger(self, request: Any) -> Any:
        """Invoke an engine function and return its result (``action: void`` → None)."""
        req = request if isinstance(request, Mapping) else request.model_dump()
        fid, payload, action = req.get("function_id"), req.get("payload"), req.get("action")
        result = run_blocking(self.functions.call(fid, payload, caller="motia-sdk"))
        kind = action.get("type") if isinstance(action, Mapping) else getattr(action, "type", None)
        return None if kind == "void" else result

    async def async_trigger(self, request: Any) -> Any:
        req = request if isinstance(request, Mapping) else request.model_dump()
        return await self.functions.call(req.get("function_id"), req.get("payload"), caller="motia-sdk")

    def get_connection_state(self) -> str:
        return "connected"

    def _refuse(self, what: str) -> Any:
        raise EngineFunctionError(
            "not_supported",
            f"{what} is not served in-process: motia_nb registers steps from %%step cells "
            "(or motia.step(...) definitions in them), and runs them inline",
        )

    def register_function(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("register_function")

    def register_trigger(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("register_trigger")

    def shutdown(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<motia_nb in-process engine client>"


client = InProcessClient()
