"""Which ``motia`` a ``%%step`` cell imports, and how Motia-style steps are registered.

* No real package: ``motia`` is motia_nb's stand-in (:mod:`motia_nb.motia`).
* The real package (``motia`` 1.0.x + ``iii-sdk``): its own objects; its engine
  client (``motia.iii._instance``) is replaced by motia_nb's in-process client,
  and its logger's lines go to motia_nb's log and the causing cell.
* The real package installed but not importable (e.g. ``motia`` 1.0.4rc1 with
  ``iii-sdk`` 0.25): the stand-in, after a one-line notice saying why.

:func:`register_motia_step` registers a Motia step (config dict or pydantic
``StepConfig``, handler) with motia_nb's runtime. With the real package, the
handler and the trigger conditions receive the package's own objects — a
``MotiaHttpArgs`` for an http handler, an ``ApiRequest`` for an http condition,
a ``FlowContext`` with a ``TriggerInfo`` — built from motia_nb's inputs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..session import logger as nb_logger
from ..session import register
from ..steps.errors import StepInputError
from ..steps.reporting import say
from ..steps.registry import Step
from ..steps.config import (CronTrigger, HttpTrigger, QueueTrigger, StateTrigger, StreamTrigger, as_mapping,
                            call_arity, parse_config, validate_cron)
from ._client import client
from ._tooling import SUBMODULES, submodule

__all__ = ["ensure_motia", "motia_module", "is_real", "register_motia_step", "register_namespace"]


_state: dict[str, Any] = {"module": None, "real": False, "notice": None}


def _standin() -> types.ModuleType:
    return importlib.import_module("motia_nb.motia")


class _SdkLogHandler(logging.Handler):
    """iii-sdk's ``Logger`` falls back to the ``iii.logger`` logging channel: forward to motia_nb's logger."""

    _LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "error"}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        message = args[1] if len(args) == 2 else record.getMessage()
        nb_logger.log(self._LEVELS.get(record.levelname, "info"), message, getattr(record, "data", None))


def _clear_every_item(self: Any, scope: str) -> None:
    """The real SDK's ``StateManager.clear``, served as the engine's ``state::clear``: every item goes.

    The SDK's own ``clear`` lists the scope and deletes ``item["id"]`` for values that
    have an ``id``: an item without one stays, and one whose ``id`` is not its key
    deletes another item (SPEC §7: ours removes every item, in both worlds)."""
    client.trigger({"function_id": "state::clear", "payload": {"scope": scope}})


def _bind_real(mod: types.ModuleType) -> None:
    sys.modules["motia.iii"]._instance = client  # type: ignore[attr-defined]
    state_mod = sys.modules.get("motia.state")
    manager_cls = getattr(state_mod, "StateManager", None)
    if manager_cls is not None and getattr(manager_cls, "clear", None) is not _clear_every_item:
        manager_cls.clear = _clear_every_item  # type: ignore[attr-defined]
    log = logging.getLogger("iii.logger")
    if not any(isinstance(h, _SdkLogHandler) for h in log.handlers):
        log.addHandler(_SdkLogHandler())
    log.setLevel(logging.DEBUG)
    log.propagate = False


def ensure_motia() -> types.ModuleType:
    """Make ``import motia`` resolve (real package, bound in-process, or the stand-in) and return it."""
    cur = sys.modules.get("motia")
    if cur is not None and cur is _state["module"]:
        return cur
    standin = _standin()
    if cur is None or cur is standin:
        if cur is None and importlib.util.find_spec("motia") is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cur = importlib.import_module("motia")
            except Exception as e:  # noqa: BLE001 - any import failure falls back, visibly
                for name in [n for n in sys.modules if n == "motia" or n.startswith("motia.")]:
                    del sys.modules[name]
                _state["notice"] = (f"motia_nb: the installed `motia` package cannot be imported "
                                    f"({type(e).__name__}: {e}); using motia_nb's stand-in for `motia`")
                print(_state["notice"], file=sys.stderr, flush=True)
                cur = None
        if cur is None:
            sys.modules["motia"] = standin
            cur = standin
            for name in SUBMODULES:  # `from motia.types import FlowContext` works too
                submodule(standin, name)
    real = cur is not standin
    if real:
        _bind_real(cur)
    _state.update(module=cur, real=real)
    return cur


def motia_module() -> types.ModuleType:
    return _state["module"] or ensure_motia()


def is_real() -> bool:
    """True when ``motia`` is the real package (bound in-process)."""
    motia_module()
    return bool(_state["real"])


# ---------------------------------------------------------------- inputs, as the real runtime builds them
def _real_input(mod: Any, kind: str, value: Any, for_condition: bool) -> Any:
    if kind != "http":
        return value
    fields = dict(path_params=dict(value.path_params), query_params=dict(value.query_params), body=value.body,
                  headers=dict(value.headers))
    if for_condition:
        return mod.ApiRequest(**fields)
    # the body channels are motia_nb's (steps/http_body.py): what the handler writes is the answer
    req = mod.MotiaHttpRequest(**fields, method=value.method, request_body=value.request_body)
    return mod.MotiaHttpArgs(request=req, response=mod.MotiaHttpResponse(value.response.writer))


def _real_ctx(mod: Any, nb_ctx: Any, index: int | None, value: Any) -> Any:
    t = nb_ctx.trigger
    fields = dict(type=t["type"], index=index, path=t.get("path"), method=t.get("method"), topic=t.get("topic"),
                  expression=t.get("expression"))
    # run_step_now's "manual" run is none of Motia's five trigger types, which its TriggerInfo
    # refuses: built unchecked, the handler sees ctx.trigger.type == "manual" as in the stand-in
    known = t["type"] in ("http", "queue", "cron", "state", "stream")
    info = mod.TriggerInfo(**fields) if known else mod.TriggerInfo.model_construct(**fields)
    return mod.FlowContext(trace_id=nb_ctx.trace_id, trigger=info, input_value=value)


def _index(parsed: list[Any], trig: Mapping[str, Any]) -> int | None:
    known = getattr(trig, "index", None)  # the runtime's: the trigger that fired (of two state triggers...)
    if known is not None:
        return known
    kind = trig.get("type")
    for i, t in enumerate(parsed):
        if (
            (kind == "queue" and isinstance(t, QueueTrigger) and t.topic == trig.get("topic"))
            or (kind == "http" and isinstance(t, HttpTrigger) and (t.method, t.path) == (trig.get("method"), trig.get("path")))
            or (kind == "cron" and isinstance(t, CronTrigger) and t.expression == trig.get("expression"))
            or (kind == "stream" and isinstance(t, StreamTrigger) and t.stream_name == trig.get("stream_name"))
            or (kind == "state" and isinstance(t, StateTrigger) and not isinstance(t, StreamTrigger))
        ):
            return i
    return None


#: the step queues whose JSON Schema input could not be checked (said once each)
_unvalidated: set[str] = set()


def _validate_input(schema: Any, value: Any, where: str) -> Any:
    """Check queue data against ``input=`` as Motia's runtime does (pydantic model, or JSON Schema if
    jsonschema exists). Data that does not match is a :class:`StepInputError` naming ``where`` (the
    step and its queue), the field and why, in one line: the validator's frames and its multi-line
    report are the library's, not the user's."""
    try:
        if isinstance(schema, type) and hasattr(schema, "model_validate"):
            return schema.model_validate(value)
        json_schema = schema.model_json_schema() if hasattr(schema, "model_json_schema") else schema
        if isinstance(json_schema, Mapping):
            try:
                import jsonschema
            except ImportError:  # as Motia's runtime: not validated, and said (once per step and queue)
                if where not in _unvalidated:
                    _unvalidated.add(where)
                    say(f"⚠ {where} is not checked against its JSON Schema input: the jsonschema package is not "
                        "installed (Motia skips the check too; pip install jsonschema to have it)")
                return value
            jsonschema.validate(instance=value, schema=json_schema)
        return value
    except Exception as exc:
        problem = _schema_problem(exc)
        if problem is None:  # not a validation failure (a broken schema...): as it is
            raise
        raise StepInputError(f"{where} does not match its input schema: {problem}") from None


def _field(path: Any) -> str:
    """``input.items[2].price`` from a path of names and indexes (pydantic's ``loc``, jsonschema's ``absolute_path``)."""
    out = "input"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_problem(exc: BaseException) -> str | None:
    """``field: why`` of a pydantic or jsonschema ValidationError (None for any other error)."""
    if type(exc).__name__ != "ValidationError":
        return None
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic: every problem, each with its loc and msg
        try:
            found = list(errors())
        except Exception:
            return None
        if not found:
            return None
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return f"{_field(first.get('loc', ()))}: {first.get('msg', 'invalid')}{more}"
    if hasattr(exc, "absolute_path") and hasattr(exc, "message"):  # jsonschema: the best match
        return f"{_field(exc.absolute_path)}: {exc.message}"
    return None


async def _settle(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def _adapt_handler(handler: Callable[..., Any], raw: list[Mapping[str, Any]], parsed: list[Any], real: bool,
                   name: str) -> Callable[..., Any]:
    mod = motia_module()
    arity = call_arity(handler, f"step {name!r}: handler")

    def prepare(value: Any, nb_ctx: Any) -> tuple[int | None, Any, Any]:
        i = _index(parsed, nb_ctx.trigger)
        kind = nb_ctx.trigger["type"]
        v = _real_input(mod, kind, value, False) if real else value
        if kind == "queue" and i is not None and raw[i].get("input") is not None:
            v = _validate_input(raw[i]["input"], v, f"step {name!r}: data on queue {raw[i].get('topic')!r}")
            if not real:  # ctx.input_value / get_data() / match() hand on what the handler gets, as Motia's
                nb_ctx.input_value = v
        ctx = _real_ctx(mod, nb_ctx, i, v) if real else nb_ctx
        return i, v, ctx

    def invoke(v: Any, ctx: Any) -> Any:
        return handler(*(v, ctx)[:arity])

    middlewares = {i: list(t.get("middleware") or []) for i, t in enumerate(raw) if t.get("type") == "http"}
    if inspect.iscoroutinefunction(handler) or any(middlewares.values()):

        async def motia_handler(value: Any, nb_ctx: Any) -> Any:
            i, v, ctx = prepare(value, nb_ctx)
            chain = middlewares.get(i) or [] if nb_ctx.trigger["type"] == "http" else []

            async def call(k: int) -> Any:
                if k == len(chain):
                    return await _settle(invoke(v, ctx))
                return await _settle(chain[k](v, ctx, lambda: call(k + 1)))

            return await call(0)

    else:

        def motia_handler(value: Any, nb_ctx: Any) -> Any:  # type: ignore[misc]
            _, v, ctx = prepare(value, nb_ctx)
            return invoke(v, ctx)

    motia_handler.__name__ = getattr(handler, "__name__", "handler")
    motia_handler.__qualname__ = getattr(handler, "__qualname__", "handler")
    return motia_handler


def _adapt_condition(cond: Callable[..., Any], kind: str, index: int, name: str) -> Callable[..., Any]:
    mod = motia_module()
    arity = call_arity(cond, f"step {name!r}: trigger {index} ({kind}) condition", (1, 2))

    def motia_condition(value: Any, nb_ctx: Any) -> Any:
        v = _real_input(mod, kind, value, True)
        return cond(v, _real_ctx(mod, nb_ctx, index, v)) if arity == 2 else cond(v)

    motia_condition.__name__ = getattr(cond, "__name__", "condition")
    return motia_condition


def register_motia_step(config: Any, handler: Callable[..., Any], source: str = "%%step") -> tuple[Step, bool]:
    """Register a Motia step (dict or pydantic config, handler) with motia_nb's runtime."""
    cfg = dict(as_mapping(config)) if isinstance(as_mapping(config), Mapping) else config
    parsed = parse_config(cfg)  # validates (raises StepConfigError naming the problem)
    raw = [dict(as_mapping(t)) for t in (cfg.get("triggers") or [])] if isinstance(cfg.get("triggers"), (list, tuple)) else []
    real = is_real()
    needs_wrap = real or any(t.get("middleware") for t in raw) or any(t.get("input") is not None for t in raw)
    if real:
        for i, t in enumerate(raw):
            if t.get("condition") is not None:
                t["condition"] = _adapt_condition(t["condition"], t.get("type", ""), i, parsed.name)
            if t.get("type") == "cron":
                validate_cron(t.get("expression"), f"step {parsed.name!r}: trigger {i} (cron)")
        cfg = {**cfg, "triggers": raw}
    if needs_wrap:
        handler = _adapt_handler(handler, raw, parsed.triggers, real, parsed.name)
    return register(cfg, handler, source=source)


def register_namespace(ns: Mapping[str, Any], source: str = "%%step") -> list[tuple[Step, bool]]:
    """Register what a step file defines: module-level ``config`` + ``handler``, and/or ``step(...)`` definitions."""
    out = []
    config, handler = ns.get("config"), ns.get("handler")
    if config is not None and handler is not None and callable(handler):
        out.append(register_motia_step(config, handler, source))
    defs = [v for v in ns.values() if type(v).__name__ == "StepDefinition" and hasattr(v, "config") and hasattr(v, "handler")]
    for d in defs:
        if d.handler is not handler or d.config is not config:
            out.append(register_motia_step(d.config, d.handler, source))
    return out
