"""The system-binary rule: tests and benchmarks that drive ``redis-server`` or
``chromium`` find it here, or get one clear message saying how to install it.

What a missing binary *means* is the caller's choice: the pytest fixtures skip on
a user's machine and fail under ``CI=true`` (CI installs the binaries); the
benchmarks report the affected rows as n/a with the message.
"""

from __future__ import annotations

import os
import shutil

__all__ = ["BinaryMissing", "find_binary", "in_ci"]


class BinaryMissing(RuntimeError):
    """A system binary is not on PATH; the message says why it is needed and how to install it."""


def in_ci() -> bool:
    """True when ``$CI`` says this is a CI run (``1``, ``true`` or ``yes``)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def find_binary(name: str, why: str) -> str:
    """The path of the system binary ``name``; :class:`BinaryMissing` if it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        raise BinaryMissing(f"{name} is not installed ({why}); install it with: apt-get install {name}")
    return path
