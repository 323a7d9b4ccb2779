"""Exceptions raised by the state core.

Every error says *what* was wrong and *where* (group, key, op index), so a
notebook user can fix the call without reading a traceback.
"""

from __future__ import annotations

from typing import Any

from .._frames import ShortTraceback

__all__ = ["StateError", "InvalidInputError", "UpdateOpError", "StateClosedError", "StoredValueError", "RemoteUnsupportedError"]


class StateError(ShortTraceback, Exception):
    """Base class of every error raised by motia_nb's state core.

    Shown in a notebook as the user's frames plus one line (``%tb`` shows every frame):
    the message names what was wrong and where; motia_nb's own frames add nothing."""


class InvalidInputError(StateError, ValueError):
    """A group, key or value that the store cannot accept (nothing was stored)."""

    def __init__(self, message: str, *, group_id: Any = None, key: Any = None) -> None:
        super().__init__(message)
        self.group_id = group_id
        self.key = key


class UpdateOpError(StateError, ValueError):
    """An update op list that is malformed or cannot apply; the item is unchanged.

    ``code`` is the iii engine's error code for the problem (``increment.not_number``,
    ``set.target_not_object``, ``append.type_mismatch``, ``merge.path.proto_polluted``…),
    or, where the engine rejects the whole request instead of recording an op error,
    a code in the same ``<op>.<field>.<reason>`` style (``increment.by.missing``,
    ``op.unknown_type``, ``ops.not_a_list``). ``op_index`` (also ``index``) is the
    0-based position of the offending op (``None`` when the list itself is
    malformed); ``reason`` says what was wrong in plain words.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: str = "op.invalid",
        group_id: str | None = None,
        key: str | None = None,
        index: int | None = None,
        op: Any = None,
    ) -> None:
        self.reason = reason
        self.code = code
        self.group_id = group_id
        self.key = key
        self.index = index
        self.op = op
        super().__init__(self._format())

    @property
    def op_index(self) -> int | None:
        """The 0-based index of the offending op (the engine's name for ``index``)."""
        return self.index

    def _format(self) -> str:
        where = ""
        if self.group_id is not None or self.key is not None:
            where = f" on {self.group_id!r}/{self.key!r}"
        at = f" op {self.index}" if self.index is not None else " the op list"
        return f"update{where} failed at{at} ({self.code}): {self.reason}; the item was left unchanged"

    def located(self, group_id: str, key: str) -> "UpdateOpError":
        """Return a copy of this error that names the group and key."""
        return UpdateOpError(
            self.reason, code=self.code, group_id=group_id, key=key, index=self.index, op=self.op
        )

    def __reduce__(self) -> Any:  # picklable across processes, keyword fields included
        return (_rebuild_update_op_error, (self.reason, self.code, self.group_id, self.key, self.index, self.op))


def _rebuild_update_op_error(
    reason: str, code: str, group_id: Any, key: Any, index: Any, op: Any
) -> UpdateOpError:
    return UpdateOpError(reason, code=code, group_id=group_id, key=key, index=index, op=op)


class StateClosedError(StateError, RuntimeError):
    """The state manager (or its backend) was closed."""


class RemoteUnsupportedError(StateError, NotImplementedError):
    """The store cannot tell this process other processes' changes (SQLite with history off)."""


class StoredValueError(StateError, ValueError):
    """A stored value that is not JSON motia_nb can read (written by another tool: plain
    text, ``NaN``, ``1e400``, an integer over Python's digit limit, bytes that are not
    UTF-8). ``group_id`` and ``key`` name the item; nothing was changed."""

    def __init__(self, message: str, *, group_id: Any = None, key: Any = None) -> None:
        super().__init__(message)
        self.group_id = group_id
        self.key = key

    def __reduce__(self) -> Any:
        return (_rebuild_stored_value_error, (str(self), self.group_id, self.key))


def _rebuild_stored_value_error(message: str, group_id: Any, key: Any) -> StoredValueError:
    return StoredValueError(message, group_id=group_id, key=key)
