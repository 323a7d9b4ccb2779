"""The two worlds a kernel test runs a step file in: motia_nb's stand-in for Motia's SDK
(this interpreter) and the real ``motia`` 1.0.4rc1 (``.venv-motia``, built by ``make test``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from motia_nb.testing import in_ci

__all__ = ["REAL_PYTHON", "WORLDS", "world_python"]

REAL_PYTHON = Path(__file__).resolve().parent.parent / ".venv-motia" / "bin" / "python"
WORLDS = ("standin", "real")


def world_python(world: str) -> str:
    """The interpreter a kernel of ``world`` runs (the real one missing: a failure under
    ``CI=true``, else a skip saying how to build it)."""
    if world == "standin":
        return sys.executable
    if not REAL_PYTHON.exists():
        msg = f"{REAL_PYTHON} is missing (make test builds it: motia==1.0.4rc1 + iii-sdk==0.9.0)"
        if in_ci():
            pytest.fail(f"CI=true but {msg}", pytrace=False)
        pytest.skip(msg)
    return str(REAL_PYTHON)
