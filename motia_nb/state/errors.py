"""Exceptions raised by the state core.

Every error says *what* was wrong and *where* (group, key, op index), so a
notebook user can fix the call without reading a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = ["StateError", "InvalidInputError", "UpdateOpError", "StateClosedError"]


class StateError(Exception):
    """Base class of every error raised by motia_nb's state core."""


class InvalidInputError(StateError, ValueError):
    """A group, key or value that the store cannot accept (nothing was stored)."""

    def __init__(self, message: str, *, group_id: Any = None, key: Any = None) -> None:
        super().__init__(message)
        self.group_id = group_id
        self.key = key


class UpdateOpError(StateError, ValueError):
    """An update op list that is malformed or cannot apply; the item is unchanged.

    ``index`` is the 0-based position of the offending op in the list (``None``
    when the list itself is malformed), ``reason`` says what was wrong.
    """

    def __init__(
        self,
        reason: str,
        *,
        group_id: str | None = None,
        key: str | None = None,
        index: int | None = None,
        op: Any = None,
    ) -> None:
        self.reason = reason
        self.group_id = group_id
        self.key = key
        self.index = index
        self.op = op
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.group_id is not None or self.key is not None:
            where = f" on {self.group_id!r}/{self.key!r}"
        at = f" op {self.index}" if self.index is not None else ""
        desc = ""
        if isinstance(self.op, dict) and "type" in self.op:
            desc = f" ({self.op.get('type')!r})"
        return f"update{where} failed at{at or ' the op list'}{desc}: {self.reason}; the item was left unchanged"

    def located(self, group_id: str, key: str) -> "UpdateOpError":
        """Return a copy of this error that names the group and key."""
        return UpdateOpError(self.reason, group_id=group_id, key=key, index=self.index, op=self.op)


class StateClosedError(StateError, RuntimeError):
    """The state manager (or its backend) was closed."""
