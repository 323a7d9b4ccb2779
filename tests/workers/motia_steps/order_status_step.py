"""A Motia 1.0 http step: GET /orders/:id/status answers from state."""

import asyncio
from typing import Any

from motia import http, stateManager

config = {"name": "OrderStatus", "triggers": [http("GET", "/orders/:id/status")], "flows": ["orders"]}


async def handler(request: Any, ctx: Any) -> dict[str, Any]:
    order_id = request.request.path_params["id"]
    order = await asyncio.to_thread(stateManager.get, "orders", order_id)
    if order is None:
        return {"status": 404, "body": {"error": f"no order {order_id}"}}
    return {"status": 200, "body": {"id": order_id, "total": order.get("total")}}
