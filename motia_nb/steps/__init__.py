"""Steps in notebook cells: Motia's step model (config + handler) with inline triggers.

Public names (SPEC §5): :func:`step`, :data:`enqueue`, :data:`logger`, the trigger
helpers :func:`cron`, :func:`state`, :func:`queue`, :func:`http`, and the entry
points :data:`request` and :data:`run_cron` (each awaitable, with a ``.sync``
form). Inspection: :func:`steps_frame`, :func:`log_frame`, :func:`trace_frame`,
:func:`flow_diagram`; scheduling: :func:`start_scheduler` / :func:`stop_scheduler`.
"""

from __future__ import annotations

from .config import cron, http, queue, state
from .scheduling import scheduler, start_scheduler, stop_scheduler
from .errors import EnqueueError, StepConfigError, StepError, StepLoopError, StepNotFoundError
from .flow import FlowDiagram, flow_diagram
from .logs import clear_logs, log_frame, logger
from .registry import all_steps, get_step, register, remove_step, reset_steps, step, steps_frame
from .runtime import enqueue, request, run_cron
from .trace import clear_traces, last_trace_id, trace_frame

__all__ = [
    "step",
    "enqueue",
    "logger",
    "cron",
    "state",
    "queue",
    "http",
    "request",
    "run_cron",
    "register",
    "remove_step",
    "get_step",
    "all_steps",
    "reset_steps",
    "steps_frame",
    "log_frame",
    "clear_logs",
    "trace_frame",
    "last_trace_id",
    "clear_traces",
    "flow_diagram",
    "FlowDiagram",
    "scheduler",
    "start_scheduler",
    "stop_scheduler",
    "StepError",
    "StepConfigError",
    "StepNotFoundError",
    "StepLoopError",
    "EnqueueError",
]
