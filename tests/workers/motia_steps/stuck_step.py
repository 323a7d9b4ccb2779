"""A Motia 1.0 queue step that never answers (the engine's worker_timeout must say so)."""

import asyncio
from typing import Any

from motia import queue

config = {"name": "Stuck", "triggers": [queue("stuck.job")], "flows": ["faults"]}


async def handler(input: Any, ctx: Any) -> None:
    await asyncio.sleep(3600)
