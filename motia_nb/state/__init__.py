"""The state core: Motia's State Management API, update ops, change events, backends."""

from .errors import InvalidInputError, StateClosedError, StateError, UpdateOpError
from .events import StateEvent
from .manager import StateManager, SyncStateManager, default_url

#: The process-wide state manager (``from motia_nb import state_manager``).
state_manager = StateManager()

__all__ = [
    "StateManager",
    "SyncStateManager",
    "StateEvent",
    "StateError",
    "InvalidInputError",
    "UpdateOpError",
    "StateClosedError",
    "state_manager",
    "default_url",
]
