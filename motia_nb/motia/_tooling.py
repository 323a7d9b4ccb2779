"""The stand-in's answers for the rest of what real ``motia`` 1.0 exports.

* Config and typing helpers a step file may use, with the real SDK's behaviour:
  :func:`generate_step_id` (the same uuid5 of a step file's path as Motia's tooling),
  :func:`schema_to_json_schema`, and the submodules ``motia.types``, ``motia.triggers``,
  ``motia.guards``, ``motia.iii``… (``from motia.types import FlowContext``), holding the
  stand-in's names; ``motia.tracing`` as real ``motia`` has it without OpenTelemetry (no-ops).
* Motia's runtime machinery, which a notebook does not have (``Motia``, the worker runtime;
  ``setup_step_endpoint``; ``runtime``; ``validator``, the step loader's config checks): importing
  one fails in one line naming it and saying to install the real ``motia`` package.
"""

from __future__ import annotations

import importlib
import sys
import types
import uuid
from typing import Any

__all__ = ["generate_step_id", "schema_to_json_schema", "RUNTIME_ONLY", "SUBMODULES", "runtime_only", "submodule"]

#: Motia's namespace for step IDs (``motia.loader.STEP_NAMESPACE``, the Node implementation's too).
STEP_NAMESPACE = uuid.UUID("7f1c3ff2-9b00-4d0a-bdd7-efb8bca49d4f")


def generate_step_id(path: str) -> str:
    """A stable step ID for a step file's path (uuid5), as Motia's tooling computes it."""
    return str(uuid.uuid5(STEP_NAMESPACE, path))


def schema_to_json_schema(schema: Any) -> dict[str, Any] | None:
    """A step's input/body schema as a JSON Schema dict: a dict as it is, a pydantic model's
    ``model_json_schema()``; None for anything else (as Motia's)."""
    if schema is None:
        return None
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, type):
        pydantic = sys.modules.get("pydantic")  # a model class means pydantic is imported already
        base = getattr(pydantic, "BaseModel", None)
        if base is not None and issubclass(schema, base):
            return schema.model_json_schema()  # type: ignore[no-any-return]
    return None


#: What real ``motia`` exports that runs Motia's own runtime (no notebook stand-in for it).
RUNTIME_ONLY = {
    "Motia": "Motia's step runtime (it serves step files to an iii engine)",
    "setup_step_endpoint": "Motia's step-content endpoint for tooling (it registers with an iii engine)",
    "runtime": "Motia's step runtime module",
    "validator": "Motia's step loader's config validator (motia_nb checks a step's config when the cell runs)",
}

#: Real ``motia``'s submodules a step file may import names from, and the stand-in names each holds.
SUBMODULES = {
    "types": ["ApiMiddleware", "ApiRequest", "ApiResponse", "ApiRouteMethod", "ApiTrigger", "CronTrigger", "Enqueue",
              "Enqueuer", "FlowContext", "MotiaHttpArgs", "MotiaHttpRequest", "MotiaHttpResponse", "QueryParam",
              "QueueTrigger", "StateTrigger", "StateTriggerInput", "Step", "StepConfig", "StreamEvent",
              "StreamTrigger", "StreamTriggerInput", "TriggerCondition", "TriggerConfig", "TriggerInfo",
              "TriggerInput"],
    "types_stream": ["FlowContext", "StreamAuthInput", "StreamAuthResult", "StreamConfig", "StreamSubscription"],
    "triggers": ["ApiRouteMethod", "ApiTrigger", "CronTrigger", "QueueTrigger", "StateTrigger", "StreamTrigger",
                 "TriggerCondition", "api", "cron", "http", "queue", "state", "stream"],
    "guards": ["ApiTrigger", "CronTrigger", "QueueTrigger", "StateTrigger", "Step", "StreamTrigger", "TriggerConfig",
               "get_api_triggers", "get_cron_triggers", "get_queue_triggers", "get_state_triggers",
               "get_stream_triggers", "is_api_step", "is_api_trigger", "is_cron_step", "is_cron_trigger",
               "is_queue_step", "is_queue_trigger", "is_state_step", "is_state_trigger", "is_stream_step",
               "is_stream_trigger"],
    "loader": ["generate_step_id"],
    "schema_utils": ["schema_to_json_schema"],
    "multi_trigger": ["MultiTriggerStepBuilder", "StepConfig", "StepDefinition", "multi_trigger_step"],
    "streams": ["Stream", "get_instance"],
    "iii": ["get_instance", "init_iii"],
    "tracing": [],  # its own module: motia_nb.motia._tracing
}  # fmt: skip


def runtime_only(name: str) -> ImportError:
    """The one-line error for importing runtime machinery the stand-in does not have."""
    return ImportError(
        f"motia.{name} is {RUNTIME_ONLY[name]}, which motia_nb's stand-in for `motia` does not provide: "
        "install the real `motia` package (pip install motia) to use it"
    )


def submodule(standin: types.ModuleType, name: str) -> types.ModuleType:
    """``motia.<name>`` for the stand-in: a module holding the stand-in's objects under the names
    the real submodule has (made once, and registered so ``from motia.<name> import X`` works)."""
    full = f"motia.{name}"
    mod = standin.__dict__.get(name)
    if not isinstance(mod, types.ModuleType) and name == "tracing":
        mod = importlib.import_module("motia_nb.motia._tracing")
        setattr(standin, name, mod)
    elif not isinstance(mod, types.ModuleType):
        mod = types.ModuleType(full, f"motia_nb's stand-in for {full}")
        for attr in SUBMODULES[name]:
            setattr(mod, attr, getattr(standin, attr))
        mod.__all__ = list(SUBMODULES[name])  # type: ignore[attr-defined]
        setattr(standin, name, mod)
    if sys.modules.get("motia") is standin:
        sys.modules.setdefault(full, mod)
    return mod
