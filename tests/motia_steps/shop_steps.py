"""Step files written in Motia 1.0's Python style, run unchanged in %%step cells (tests/test_motia_kernel.py).

Each block between '# --- step' markers is one step file; together they use every public name
of Motia's SDK that a step file uses."""

STEPS = {}

STEPS["place_order"] = '''
"""Place an order: http + stream + state + enqueue."""
from typing import Any

from motia import ApiRequest, ApiResponse, FlowContext, Stream, enqueue, http, logger, stateManager

orders: Stream[dict[str, Any]] = Stream("orders")


def has_items(request: ApiRequest[Any], ctx: FlowContext[Any]) -> bool:
    body = request.body or {}
    return bool(body.get("items"))


async def audit(request: Any, ctx: FlowContext[Any], next_fn: Any) -> Any:
    logger.info("audit", {"path": ctx.trigger.path})
    return await next_fn()


config = {
    "name": "PlaceOrder",
    "description": "Store an order and enqueue it",
    "flows": ["shop"],
    "triggers": [http("POST", "/shop/orders", condition=has_items, middleware=[audit],
                      body_schema={"type": "object"}, query_params=[])],
    "enqueues": ["shop.order.placed"],
}


def handler(request: ApiRequest[dict[str, Any]], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    body = request.body or {}
    order_id = body["id"]
    order = {"id": order_id, "items": body["items"], "status": "placed", "trace": ctx.trace_id}
    stored = orders.set("open", order_id, order)
    stateManager.set("shop-orders", order_id, {"status": "placed", "total": body.get("total", 0)})
    enqueue({"topic": "shop.order.placed", "data": {"id": order_id}})
    logger.info("Order placed", {"id": order_id, "trigger": ctx.trigger.type, "api": ctx.is_api()})
    return ApiResponse(status=201, body={"stored": stored, "data": ctx.get_data()})
'''

STEPS["pay_order"] = '''
"""Pay an order: queue trigger with condition and input schema, async handler using sync SDK calls."""
from typing import Any

from motia import FlowContext, enqueue, logger, queue, stateManager


def is_shop_order(data: Any, ctx: FlowContext[Any]) -> bool:
    return isinstance(data, dict) and str(data.get("id", "")).startswith("o-")


config = {
    "name": "PayOrder",
    "triggers": [queue("shop.order.placed", condition=is_shop_order,
                       input={"type": "object", "required": ["id"]}, config={"max_retries": 1})],
    "enqueues": ["shop.order.paid"],
    "flows": ["shop"],
}


async def handler(data: Any, ctx: FlowContext[Any]) -> None:
    assert ctx.is_queue() and ctx.trigger.topic == "shop.order.placed"
    result = stateManager.update("shop-orders", data["id"], [{"type": "set", "path": "status", "value": "paid"}])
    logger.info("Paid", {"id": data["id"], "old": result["old_value"]["status"], "new": result["new_value"]["status"]})
    enqueue({"topic": "shop.order.paid", "data": {"id": data["id"]}})
'''

STEPS["on_paid_state"] = '''
"""React to state: the state trigger input carries the engine's fields and the SDK's names."""
from typing import Any

from motia import StateTriggerInput, logger, state


config = {
    "name": "OnOrderStatus",
    "triggers": [state(condition=lambda input, ctx: input.group_id == "shop-orders"
                       and (input.new_value or {}).get("status") == "paid")],
    "flows": ["shop"],
}


def handler(input: StateTriggerInput) -> None:
    logger.info("Status now paid", {"key": input["key"], "item_id": input.item_id, "scope": input["scope"]})
'''

STEPS["on_order_stream"] = '''
"""React to the orders stream (group 'open' only)."""
from typing import Any

from motia import StreamTriggerInput, logger, stream


def not_deleted(input: StreamTriggerInput, ctx: Any) -> bool:
    return input.event.type != "delete"


config = {
    "name": "OnOpenOrder",
    "triggers": [stream("orders", group_id="open", condition=not_deleted)],
    "flows": ["shop"],
}


def handler(input: StreamTriggerInput, ctx: Any) -> None:
    assert ctx.is_stream()
    logger.info("Stream event", {"stream": input.stream_name, "group": input.group_id, "id": input.id,
                                 "type": input.event.type})
'''

STEPS["multi"] = '''
"""One step, three triggers, dispatched with ctx.match; a 6-field cron with a condition."""
from typing import Any

from motia import ApiRequest, ApiResponse, FlowContext, cron, http, logger, queue, stateManager


def always(input: Any, ctx: FlowContext[Any]) -> bool:
    return True


config = {
    "name": "ShopSummary",
    "triggers": [
        http("GET", "/shop/summary"),
        queue("shop.order.paid"),
        cron("*/5 * * * * *", condition=always),
    ],
    "flows": ["shop"],
}


def handler(input_data: Any, ctx: FlowContext[Any]) -> Any:
    def _api(request: ApiRequest[Any]) -> ApiResponse[Any]:
        return ApiResponse(status=200, body={"orders": len(stateManager.list("shop-orders")),
                                             "groups": stateManager.list_groups()["groups"]})

    def _queue(data: Any) -> None:
        logger.info("Summary saw payment", {"id": data["id"]})

    def _cron() -> None:
        stateManager.set("shop-reports", "latest", {"orders": len(stateManager.list("shop-orders"))})
        logger.info("Summary (cron)", {"expression": ctx.trigger.expression})

    return ctx.match({"http": _api, "queue": _queue, "cron": _cron})
'''

STEPS["defined"] = '''
"""Steps built with step() and multi_trigger_step(), and the SDK's client reached directly."""
from typing import Any

from motia import get_instance, http, is_api_step, multi_trigger_step, queue, step

def ping(request: Any, ctx: Any) -> dict[str, Any]:
    value = get_instance().trigger({"function_id": "state::get", "payload": {"scope": "shop-reports", "key": "latest"}})
    return {"status": 200, "body": {"latest": value, "api": is_api_step(pinger)}}


pinger = step({"name": "Ping", "triggers": [http("GET", "/shop/ping")]}, ping)


async def on_q(data: Any, ctx: Any) -> None:
    print("multi queue", data)


async def on_h(request: Any, ctx: Any) -> dict[str, Any]:
    return {"status": 202, "body": {"via": ctx.trigger.type}}


both = multi_trigger_step({"name": "Both", "triggers": [queue("shop.both"), http("POST", "/shop/both")]}) \
    .on_queue(on_q).on_http(on_h).handlers()
'''

STEPS["stream_out"] = '''
"""A streaming http step (server-sent events): reads the raw body, writes the answer in chunks."""
import json
from typing import Any

from motia import MotiaHttpArgs, http

config = {"name": "ShopEvents", "triggers": [http("POST", "/shop/events")], "flows": ["shop"]}


async def handler(args: MotiaHttpArgs[Any]) -> None:
    chunks = [chunk async for chunk in args.request.request_body.stream]
    items = json.loads(b"".join(chunks))["items"]
    await args.response.status(200)
    await args.response.headers({"content-type": "text/event-stream"})
    for item in items:
        args.response.writer.stream.write(f"data: {item}\\n\\n".encode("utf-8"))
    args.response.close()
'''
