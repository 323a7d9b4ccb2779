"""motia_nb's notebook surface: ``%state`` magics, completion, display and settings.

``%load_ext motia_nb`` calls :func:`motia_nb.notebook.extension.load`.
"""

from __future__ import annotations

from .config import MotiaNB
from .extension import load, unload

__all__ = ["MotiaNB", "load", "unload"]
