"""motia_nb's stand-in for Motia's Python SDK (``motia`` 1.0.x), used when the real package is absent.

Inside a ``%%step`` cell (and in plain cells once a ``%%step`` ran, or after
``motia_nb.motia.ensure_motia()``), ``from motia import …`` gives these names,
with the real SDK's behaviour (``ChannelReader`` / ``ChannelWriter`` are the in-process
request and response bodies an http handler receives; ``Step``, ``generate_step_id``,
``schema_to_json_schema`` and the submodules ``motia.types``… as Motia's; its runtime
machinery, ``Motia``, ``setup_step_endpoint``, ``runtime``, ``validator``, fails in one line saying to
install the real package: :mod:`._tooling`): ``stateManager`` (synchronous, as the SDK;
results are the engine's), ``state_manager`` (motia_nb's awaitable API, as the
seed guide), synchronous ``enqueue``, ``logger``, ``Stream``, ``FlowContext``,
``ApiRequest`` / ``ApiResponse`` / ``MotiaHttpArgs``, the trigger helpers with
all their keyword arguments, ``step()`` / ``multi_trigger_step()``, the guards
and the type names. Engine calls are answered in-process
(:class:`motia_nb.engine.EngineFunctions`), through ``get_instance().trigger``.
"""

from __future__ import annotations

import sys as _sys
import typing
from typing import Any

from ..state import state_manager
from ..steps.config import api, cron, http, queue, state, stream
from ..session import logger
from ..steps.http_body import RequestBody as ChannelReader
from ..steps.http_body import ResponseBody as ChannelWriter
from ._client import InProcessClient, client
from ._state import StateManager, Stream, StreamConfig, enqueue, stateManager
from ._step import (MultiTriggerStepBuilder, StepBuilder, StepDefinition, get_api_triggers, get_cron_triggers,
                    get_queue_triggers, get_state_triggers, get_stream_triggers, is_api_step, is_api_trigger,
                    is_cron_step, is_cron_trigger, is_queue_step, is_queue_trigger, is_state_step, is_state_trigger,
                    is_stream_step, is_stream_trigger, multi_trigger_step, step)
from ._tooling import RUNTIME_ONLY as _RUNTIME_ONLY
from ._tooling import SUBMODULES as _SUBMODULES
from ._tooling import generate_step_id, schema_to_json_schema
from ._tooling import runtime_only as _runtime_only
from ._tooling import submodule as _submodule
from ._world import ensure_motia
from ._types import (ApiMiddleware, ApiRequest, ApiResponse, ApiRouteMethod, ApiTrigger, CronTrigger, Enqueue,
                     Enqueuer, FlowContext, MotiaHttpArgs, MotiaHttpRequest, MotiaHttpResponse, QueryParam,
                     QueueTrigger, StateTrigger, StateTriggerInput, Step, StepConfig, StreamAuthInput, StreamAuthResult,
                     StreamEvent, StreamSubscription, StreamTrigger, StreamTriggerInput, TriggerCondition,
                     TriggerConfig, TriggerInfo, TriggerInput)

__all__ = [
    "get_instance", "init_iii", "api", "http", "queue", "cron", "state", "stream", "step", "StepDefinition",
    "StepBuilder", "multi_trigger_step", "MultiTriggerStepBuilder", "ApiMiddleware", "ApiRequest", "ApiResponse",
    "ApiRouteMethod", "MotiaHttpRequest", "MotiaHttpArgs", "MotiaHttpResponse", "ApiTrigger", "CronTrigger",
    "Enqueue", "Enqueuer", "FlowContext", "QueryParam", "QueueTrigger", "StateTrigger", "StateTriggerInput",
    "StepConfig", "StreamConfig", "StreamAuthInput", "StreamAuthResult", "StreamEvent", "StreamSubscription",
    "StreamTrigger", "StreamTriggerInput", "TriggerCondition", "TriggerConfig", "TriggerInfo", "TriggerInput",
    "enqueue", "logger", "Stream", "StateManager", "stateManager", "state_manager", "is_api_trigger",
    "is_queue_trigger", "is_cron_trigger", "is_state_trigger", "is_stream_trigger", "is_api_step", "is_queue_step",
    "is_cron_step", "is_state_step", "is_stream_step", "get_api_triggers", "get_queue_triggers",
    "get_cron_triggers", "get_state_triggers", "get_stream_triggers", "ensure_motia",
    "ChannelReader", "ChannelWriter", "Step", "generate_step_id", "schema_to_json_schema",
]


def get_instance() -> InProcessClient:
    """The engine client: motia_nb's in-process one (``get_instance().trigger({...})`` works)."""
    return client


def init_iii(otel_config: Any = None) -> InProcessClient:
    return client


def __getattr__(name: str) -> Any:
    if name in _RUNTIME_ONLY:  # Motia's runtime: `from motia import Motia` says to install the real package
        raise _runtime_only(name)
    if name in _SUBMODULES:  # `from motia import types`: the stand-in's names, as the real submodule holds them
        return _submodule(_sys.modules[__name__], name)
    if name[:1].isupper():  # other type names (Handlers, …) are Any, for annotations
        return typing.Any
    raise AttributeError(f"motia_nb's stand-in for `motia` has no {name!r} (it offers: {', '.join(__all__)})")
