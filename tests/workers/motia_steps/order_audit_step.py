"""A Motia 1.0 step (motia 1.0.4rc1): a state trigger with a condition, writing state back.

motia 1.0.4rc1 runs every handler on its SDK's loop thread, where its synchronous
``stateManager`` raises; an async handler hands those calls to a thread.
"""

import asyncio
from typing import Any

from motia import logger, state, stateManager

config = {
    "name": "OrderAudit",
    "description": "Audit every change to an order",
    "triggers": [state(condition=lambda input, ctx: input.get("scope") == "orders")],
    "flows": ["orders"],
}


async def handler(input: Any, ctx: Any) -> None:
    logger.info("order changed", {"key": input["key"]})
    new = input.get("new_value") or {}
    await asyncio.to_thread(
        stateManager.set,
        "audit",
        input["key"],
        {"event": input["event_type"], "total": new.get("total"), "by": "OrderAudit"},
    )
