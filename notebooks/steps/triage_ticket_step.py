"""A Motia 1.0 step: triage each new support ticket (a state trigger with a condition).

motia 1.0.4rc1 calls handlers on its SDK's event-loop thread, where the synchronous
``stateManager`` and ``enqueue`` refuse to run; an ``async def`` handler hands them
to a thread with ``asyncio.to_thread``.
"""

import asyncio
from typing import Any

from motia import enqueue, logger, state, stateManager

config = {
    "name": "TriageTicket",
    "description": "Give every new ticket a priority",
    "triggers": [
        state(condition=lambda input, ctx: input.get("scope") == "tickets" and input.get("event_type") == "state:created"),
    ],
    "enqueues": ["ticket.triaged"],
    "flows": ["helpdesk"],
}


async def handler(input: Any, ctx: Any) -> None:
    ticket = input["new_value"]
    priority = "high" if "urgent" in ticket.get("title", "").lower() else "normal"
    logger.info("ticket triaged", {"ticket": input["key"], "priority": priority})
    await asyncio.to_thread(stateManager.set, "triage", input["key"], {"priority": priority, "by": "TriageTicket"})
    await asyncio.to_thread(enqueue, {"topic": "ticket.triaged", "data": {"id": input["key"], "priority": priority}})
