"""Every name real ``motia`` 1.0.4rc1 exports has an answer in motia_nb's stand-in: the config and
typing ones work in a ``%%step`` cell without the real package (``ChannelReader`` /
``ChannelWriter``, ``Step``, ``generate_step_id``, ``schema_to_json_schema``, the submodules
``motia.types``, ``motia.iii``…, ``motia.tracing`` as real motia has it without OpenTelemetry);
the runtime machinery (``Motia``, ``setup_step_endpoint``, ``runtime``, ``validator``) fails in
one line naming it and saying to install the real ``motia``.

Before: ``from motia import Motia`` / ``Step`` / ``ChannelWriter`` gave ``typing.Any`` (a step
file failed later, far from the import), ``from motia import generate_step_id`` / ``types`` /
``tracing`` a bare ``ImportError: cannot import name``."""

from __future__ import annotations

import json
import subprocess
import typing
from pathlib import Path

import pytest

from motia_nb.motia._tooling import RUNTIME_ONLY
from motia_nb.session import request
from motia_nb.testing import run_cell
from test_motia_standin import motia as standin  # noqa: F401 (a fixture: the stand-in on a state file of its own)

ROOT = Path(__file__).resolve().parent.parent
REAL_PYTHON = ROOT / ".venv-motia" / "bin" / "python"

#: What `motia` 1.0.4rc1 exports (``sorted(n for n in dir(motia) if not n.startswith('_'))``),
#: checked against the installed real package below when it is there.
REAL_NAMES = [
    "ApiMiddleware", "ApiRequest", "ApiResponse", "ApiRouteMethod", "ApiTrigger", "ChannelReader", "ChannelWriter",
    "CronTrigger", "Enqueue", "Enqueuer", "FlowContext", "Motia", "MotiaHttpArgs", "MotiaHttpRequest",
    "MotiaHttpResponse", "MultiTriggerStepBuilder", "QueryParam", "QueueTrigger", "StateManager", "StateTrigger",
    "StateTriggerInput", "Step", "StepBuilder", "StepConfig", "StepDefinition", "Stream", "StreamAuthInput",
    "StreamAuthResult", "StreamConfig", "StreamEvent", "StreamSubscription", "StreamTrigger", "StreamTriggerInput",
    "TriggerCondition", "TriggerConfig", "TriggerInfo", "TriggerInput", "api", "cron", "enqueue", "generate_step_id",
    "get_api_triggers", "get_cron_triggers", "get_instance", "get_queue_triggers", "get_state_triggers",
    "get_stream_triggers", "guards", "http", "iii", "init_iii", "is_api_step", "is_api_trigger", "is_cron_step",
    "is_cron_trigger", "is_queue_step", "is_queue_trigger", "is_state_step", "is_state_trigger", "is_stream_step",
    "is_stream_trigger", "loader", "logger", "multi_trigger", "multi_trigger_step", "queue", "runtime",
    "schema_to_json_schema", "schema_utils", "setup_step_endpoint", "state", "stateManager", "step", "stream",
    "streams", "tracing", "triggers", "types", "types_stream", "validator",
]  # fmt: skip


@pytest.mark.skipif(not REAL_PYTHON.exists(), reason="no .venv-motia (the real motia 1.0.4rc1)")
def test_the_list_is_what_real_motia_exports():
    code = "import motia; print(__import__('json').dumps(sorted(n for n in dir(motia) if not n.startswith('_'))))"
    out = subprocess.run([str(REAL_PYTHON), "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == REAL_NAMES


@pytest.mark.parametrize("name", REAL_NAMES)
def test_each_name_imports_from_the_standin_or_says_to_install_motia(standin, name):
    namespace: dict[str, typing.Any] = {}
    if name in RUNTIME_ONLY:
        with pytest.raises(ImportError) as info:
            exec(f"from motia import {name}", namespace)
        message = str(info.value)
        assert "\n" not in message and f"motia.{name}" in message
        assert "install the real `motia` package" in message
    else:
        exec(f"from motia import {name}", namespace)
        # defined, not the fallback that makes any other capitalised name typing.Any
        # (TriggerInput is Any in the real package too)
        assert name in vars(standin), f"{name} is only a placeholder"
        assert namespace[name] is vars(standin)[name]


STEP_FILE = '''%%step
"""A step file using the config and typing names of motia 1.0 (no real package here)."""
from typing import Any

from motia import ChannelReader, ChannelWriter, MotiaHttpArgs, Step, generate_step_id, schema_to_json_schema
from motia import guards, iii, loader, multi_trigger, schema_utils, streams, tracing, triggers, types, types_stream
from motia.types import FlowContext
from motia.triggers import http
from motia.tracing import operation_span

BODY = {"type": "object", "properties": {"words": {"type": "array"}}}
config = {"name": "Names", "triggers": [http("POST", "/names", body_schema=BODY)], "enqueues": []}
STEP_ID = generate_step_id("steps/names_step.py")


async def handler(args: MotiaHttpArgs[Any]) -> None:
    step = Step(file_path="steps/names_step.py", config=config)
    with operation_span("read-body", step="Names") as span:  # no OpenTelemetry: a no-op, as real motia's
        raw = await args.request.request_body.read_all()
    answer = {
        "id": STEP_ID, "same_id": loader.generate_step_id("steps/names_step.py") == STEP_ID,
        "api": guards.is_api_step(step), "queue": guards.is_queue_step(step),
        "schema": schema_utils.schema_to_json_schema(BODY) == schema_to_json_schema(BODY) == BODY,
        "reader": isinstance(args.request.request_body, ChannelReader),
        "writer": isinstance(args.response.writer, ChannelWriter),
        "types": types.FlowContext is FlowContext and types_stream.StreamConfig is not None,
        "builders": multi_trigger.multi_trigger_step is not None and streams.Stream is not None
                    and triggers.http is http,
        "body": raw.decode(),
        "tracing": [span, tracing.inject_context(), tracing.get_trace_id_from_span()],
        "iii": iii.get_instance() is not None and iii.init_iii is not None,
    }
    await args.response.status(200)
    args.response.writer.stream.write(__import__("json").dumps(answer).encode())
    args.response.close()
'''


def test_a_step_file_using_the_config_and_typing_names_runs_in_a_step_cell(standin, ip):
    run_cell(ip, STEP_FILE).raise_error()
    r = request.sync("POST", "/names", body={"words": ["a"]})
    assert r["status"] == 200, r
    assert r["body"] == {
        "id": "32f7d477-bd8b-5acb-abab-e6f295167736",  # what real motia's generate_step_id gives
        "same_id": True, "api": True, "queue": False, "schema": True, "reader": True, "writer": True,
        "types": True, "builders": True, "body": '{"words": ["a"]}', "tracing": [None, {}, None], "iii": True,
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(RUNTIME_ONLY))
def test_a_step_cell_importing_runtime_machinery_fails_in_one_line(standin, ip, name, capsys):
    res = run_cell(ip, f"%%step\nfrom motia import {name}\nconfig = {{'name': 'R', 'triggers': []}}\n"
                       "def handler(data, ctx):\n    pass\n")  # fmt: skip
    assert not res.success
    err = res.error_in_exec or res.error_before_exec
    assert isinstance(err, ImportError), err
    assert f"motia.{name} is " in str(err) and "install the real `motia` package" in str(err)
