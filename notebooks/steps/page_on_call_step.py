"""A Motia 1.0 queue step: page the on-call engineer for an escalated ticket."""

import asyncio
from typing import Any

from motia import queue, stateManager

config = {
    "name": "PageOnCall",
    "description": "Record a page for an escalated ticket",
    "triggers": [queue("ticket.escalated")],
    "flows": ["helpdesk"],
}


async def handler(input: Any, ctx: Any) -> None:
    await asyncio.to_thread(stateManager.set, "pages", input["id"], {"ticket": input["id"], "channel": "pager"})
