"""Steps: Motia's step model (config + handler) and the inline runtime, with no IPython.

This package holds the parts a :class:`~motia_nb.session.Session` is made of:
:class:`StepRegistry` (steps by name), :class:`Runtime` (state triggers,
``enqueue``, ``request``, ``run_cron``, inline and in causal order),
:class:`CronScheduler`, :class:`LogStore` / :class:`StepLogger` and
:class:`TraceStore`, plus the trigger helpers :func:`cron`, :func:`state`,
:func:`queue`, :func:`http` and the flow diagram. The public names that act on
the current session (``step``, ``enqueue``, ``logger`` …) live in
:mod:`motia_nb.session` and are re-exported by ``motia_nb``.
"""

from __future__ import annotations

from .config import cron, http, queue, state
from .errors import EnqueueError, StepConfigError, StepError, StepInputError, StepLoopError, StepNotFoundError
from .flow import FlowDiagram
from .logs import LogStore, StepLogger
from .registry import Step, StepRegistry
from .entry import Entry
from .runtime import MAX_DEPTH, Outcome, Runtime
from .scheduling import CronScheduler
from .trace import TraceStore

__all__ = [
    "cron",
    "state",
    "queue",
    "http",
    "Step",
    "StepRegistry",
    "Runtime",
    "Entry",
    "Outcome",
    "MAX_DEPTH",
    "CronScheduler",
    "LogStore",
    "StepLogger",
    "TraceStore",
    "FlowDiagram",
    "StepError",
    "StepConfigError",
    "StepNotFoundError",
    "StepLoopError",
    "EnqueueError",
    "StepInputError",
]
