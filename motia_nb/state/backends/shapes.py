"""The values that cross the backend contract: a write request, its outcome, a read order.

:class:`Write` is what the facade hands a backend (already validated),
:class:`WriteResult` what a committed write answers, :class:`Order` the order of a
page (validated once, by the facade), :data:`Listener` what hears about commits.
Pure: no store, no threads.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidInputError
from ..events import StateEvent
from ..values import NOT_COPIED

__all__ = ["Listener", "Order", "Write", "WriteKind", "WriteResult"]

WriteKind = Literal["set", "update", "delete", "clear"]
Listener = Callable[[Sequence[StateEvent]], None]

class Order(str, enum.Enum):
    """The order of ``Backend.items``. Members equal (and hash as) their strings,
    so ``"key"`` and ``Order.KEY`` are interchangeable once validated."""

    INSERTION = "insertion"
    NEG_INSERTION = "-insertion"
    KEY = "key"
    NEG_KEY = "-key"

    @classmethod
    def parse(cls, value: "Order | str") -> "Order":
        """``value`` as an :class:`Order`, or :class:`InvalidInputError` naming the choices."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(o.value for o in cls)
            raise InvalidInputError(f"order must be one of {choices}; got {value!r}") from None

    @property
    def by_key(self) -> bool:
        return self in (Order.KEY, Order.NEG_KEY)

    @property
    def descending(self) -> bool:
        return self in (Order.NEG_INSERTION, Order.NEG_KEY)

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class Write:
    """One write request, already validated by the facade.

    - ``set``: ``value_json`` holds the encoded value.
    - ``update``: ``ops`` holds the structurally valid op list (paths normalised
      to segment lists); applying it may still fail (type clash) -> the backend
      answers ``UpdateOpError`` for this write only, leaving the item unchanged.
    - ``delete``: group + key. ``clear``: group only.

    ``cause`` and ``trace_id`` say who wrote (``motia_nb.state.cause``, read at
    submission); the changelog records them with each change.

    ``value`` (a ``set``): what it answers as ``new_value``, taken at submission
    (:func:`~motia_nb.state.values.encode_copy`), or ``NOT_COPIED``: ``value_json`` decoded.
    """

    kind: WriteKind
    group_id: str
    key: str | None = None
    value_json: str | None = None
    ops: list[dict[str, Any]] | None = None
    cause: str = "cell"
    trace_id: str | None = None
    value: Any = NOT_COPIED


@dataclass(slots=True)
class WriteResult:
    """What a committed write returns: the API result and the events it produced."""

    result: Any
    events: list[StateEvent] = field(default_factory=list)
