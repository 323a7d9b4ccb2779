"""A Motia 1.0 queue step whose handler raises."""

from typing import Any

from motia import queue

config = {"name": "Broken", "triggers": [queue("broken.job")], "flows": ["faults"]}


async def handler(input: Any, ctx: Any) -> None:
    raise ValueError(f"cannot handle {input!r}")
