"""motia_nb's notebook surface, the only layer that needs IPython: the ``%state``, ``%motia`` and
``%%step`` magics (one parser, one command router), completion, display, ``%config MotiaNB``
settings and the live state viewer.

``%load_ext motia_nb`` calls :func:`motia_nb.notebook.extension.load`.
"""

from __future__ import annotations

from .config import MotiaNB
from .extension import load, unload

__all__ = ["MotiaNB", "load", "unload"]
