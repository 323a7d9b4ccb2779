"""What motia_nb's awaitable calls return, so a call nobody awaits is neither lost nor silent.

- :class:`DoneCall`: a call already made, where no event loop runs in the calling thread (a
  plain-``def`` step handler, a thread of the user's): awaiting it (``asyncio.run(call)``, a
  coroutine to asyncio) answers the result or raises the error; an error nothing awaited is
  printed in one line when the object is dropped.
- :class:`NotAwaitedCall`: a coroutine of a call made where a loop runs (a cell, an async
  handler), which only runs when awaited; dropped unawaited, it says in one line that nothing
  ran and how to write the call, instead of Python's ``RuntimeWarning: coroutine … was never
  awaited`` (shown once per place, pointing into motia_nb).
"""

from __future__ import annotations

import collections.abc
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["DoneCall", "NotAwaitedCall", "RaisedAtTheCall"]


class RaisedAtTheCall:
    """Mixin of an error that a call made where no loop runs raises at once, never keeps for an
    await: the loop guard's (``StepLoopError``), which must stop the cascade above the call, as it
    does for an awaited one."""


class DoneCall(collections.abc.Coroutine):  # type: ignore[type-arg]
    """``label(...)``, already made: its ``result`` or its ``error`` (build it outside the frame
    that made the call, so an error's traceback holds no frame that holds this object)."""

    __slots__ = ("_label", "_result", "_error", "_awaited")

    def __init__(self, label: str, result: Any, error: BaseException | None) -> None:
        self._label, self._result, self._error, self._awaited = label, result, error, False

    def __await__(self) -> Any:
        self._awaited = True
        if self._error is not None:
            raise self._error
        return self._result
        yield  # pragma: no cover - makes this a generator, done at its first send

    def send(self, value: Any) -> Any:
        return self.__await__().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._awaited = True
        raise typ if val is None else val

    def close(self) -> None:
        self._awaited = True

    def __repr__(self) -> str:
        if self._error is not None:
            return f"<{self._label}(...) made, and failed: {self._error}>"
        return f"<{self._label}(...) made: {self._result!r}>"

    def __del__(self) -> None:
        if not self._awaited and self._error is not None:
            print(f"✖ {self._label}(...) was not awaited and failed: {self._error}", file=sys.stderr)


class NotAwaitedCall(collections.abc.Coroutine):  # type: ignore[type-arg]
    """``coro`` of ``name(...)``, the same when awaited, gathered or scheduled; dropped before it
    ever started, it is closed and says so in one line."""

    __slots__ = ("_name", "_coro", "_started")

    def __init__(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        self._name, self._coro, self._started = name, coro, False

    def __await__(self) -> Any:
        self._started = True
        return self._coro.__await__()

    def send(self, value: Any) -> Any:
        self._started = True
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._started = True
        return self._coro.throw(typ) if val is None and tb is None else self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._started = True
        self._coro.close()

    def _not_awaited(self) -> str:
        n = self._name
        return f"{n}(...) was not awaited, so nothing ran: write await {n}(...) (or {n}.sync(...))"

    def __repr__(self) -> str:
        # a cell's last line: IPython shows this and its result cache keeps the call alive, so the
        # line __del__ says would come only when the kernel exits
        return f"<{self._not_awaited()}>" if not self._started else f"<{self._name}(...) awaited>"

    def __del__(self) -> None:
        if not self._started:
            self._coro.close()  # (Python's own "never awaited" warning would follow)
            print(f"✖ {self._not_awaited()}", file=sys.stderr)
