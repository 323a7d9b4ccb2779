"""Exceptions raised by the steps runtime.

They are ``ValueError``/``RuntimeError`` subclasses with messages that name the
step, the trigger and what was wrong, so a notebook user can fix the cell
without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._calls import RaisedAtTheCall
from .._frames import ShortTraceback

__all__ = ["StepError", "StepConfigError", "StepNotFoundError", "StepLoopError", "EnqueueError", "StepInputError", "StepCallError", "StateHelperError", "StepArgumentError"]


class StepError(ShortTraceback, Exception):
    """Base class of every error raised by ``motia_nb.steps``.

    IPython shows one as the user's frames plus one line (``%tb`` has every frame):
    a bad ``@step(config)`` in a plain cell points at the cell, not into motia_nb."""


class StepConfigError(StepError, ValueError):
    """A step ``config`` (or handler) that cannot be registered; nothing was registered."""


class StepNotFoundError(StepError, KeyError):
    """No step with that name (or no step of the needed kind) is registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "step not found"


class EnqueueError(StepError, ValueError):
    """A malformed ``enqueue({"topic", "data"})`` message; nothing was delivered."""


class StepCallError(StepError, ValueError):
    """A bad argument to a steps call (``request``'s method or path, the scheduler's interval); nothing ran."""


class StateHelperError(StepError, AttributeError):
    """``state.set(...)``: the ``state`` trigger helper used as the state API (an AttributeError)."""


class StepArgumentError(StepError, TypeError):
    """``enqueue("orders", data)``, ``request("/orders")``: a call given arguments it does not take; nothing ran."""


class StepInputError(StepError, ValueError):
    """Data a step's trigger delivered does not match its ``input=`` schema; the handler did not run."""


class StepLoopError(StepError, RuntimeError, RaisedAtTheCall):
    """A cascade re-triggered steps deeper than the loop guard allows.

    ``chain`` is the causal path of step names from the cascade's first step to
    the one that was refused; ``steps`` the distinct names in it.
    """

    def __init__(self, chain: Sequence[str], max_depth: int) -> None:
        self.chain = tuple(chain)
        self.max_depth = max_depth
        self.steps = tuple(dict.fromkeys(self.chain))
        shown = list(self.chain)
        if len(shown) > 12:
            shown = shown[:4] + ["…"] + shown[-7:]
        super().__init__(
            f"trigger loop stopped: a cascade went deeper than {max_depth} steps "
            f"(steps involved: {', '.join(self.steps)}; path: {' → '.join(shown)}). "
            "The writes made so far stand; change a condition or a handler so the cascade ends, "
            f"or, if that depth is intended, set a higher limit: motia_nb.steps.runtime.MAX_DEPTH = {2 * max_depth}"
        )

    def _render_traceback_(self) -> list[str]:
        """IPython: show the message alone (the traceback would repeat every level of the loop)."""
        return [f"\x1b[0;31mStepLoopError\x1b[0m: {self}"]
