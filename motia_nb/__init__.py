"""motia_nb: Motia's workflow State Management, steps and triggers, inside Jupyter.

``%load_ext motia_nb`` registers the ``%state`` / ``%%state`` / ``%%step`` / ``%motia``
magics; ``from motia_nb import state_manager`` gives the async state API.
"""

from __future__ import annotations

from typing import Any

from .state import (
    InvalidInputError,
    StateError,
    StateEvent,
    StateManager,
    UpdateOpError,
    state_manager,
)

__version__ = "0.1.0"

__all__ = [
    "state_manager",
    "StateManager",
    "StateEvent",
    "StateError",
    "InvalidInputError",
    "UpdateOpError",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext motia_nb``: register magics, completion and configuration."""
    from .notebook.extension import load

    load(ip)


def unload_ipython_extension(ip: Any) -> None:
    """``%unload_ext motia_nb``: remove everything ``load`` added and release resources."""
    from .notebook.extension import unload

    unload(ip)
