"""A Motia 1.0 http step: GET /tickets/:id answers with the ticket and its triage."""

import asyncio
from typing import Any

from motia import http, stateManager

config = {
    "name": "TicketStatus",
    "description": "A ticket and its priority",
    "triggers": [http("GET", "/tickets/:id")],
    "flows": ["helpdesk"],
}


async def handler(request: Any, ctx: Any) -> dict[str, Any]:
    ticket_id = request.request.path_params["id"]
    ticket = await asyncio.to_thread(stateManager.get, "tickets", ticket_id)
    if ticket is None:
        return {"status": 404, "body": {"error": f"no ticket {ticket_id}"}}
    triage = await asyncio.to_thread(stateManager.get, "triage", ticket_id)
    return {"status": 200, "body": {"id": ticket_id, "title": ticket["title"], "triage": triage}}
