"""A Motia 1.0 queue step: consumes ``order.paid``, writes a shipment, enqueues ``order.shipped``."""

import asyncio
from typing import Any

from motia import enqueue, queue, stateManager

config = {
    "name": "ShipOrder",
    "description": "Ship a paid order",
    "triggers": [queue("order.paid")],
    "enqueues": ["order.shipped"],
    "flows": ["orders"],
}


async def handler(input: Any, ctx: Any) -> None:
    order_id = input["order_id"]
    await asyncio.to_thread(stateManager.set, "shipments", order_id, {"order_id": order_id, "status": "shipped"})
    await asyncio.to_thread(enqueue, {"topic": "order.shipped", "data": {"order_id": order_id}})
