"""A Motia 1.0 http step: POST /echo answers the body and content-type it got, or raises."""

from typing import Any

from motia import http

config = {"name": "Echo", "triggers": [http("POST", "/echo")]}


async def handler(request: Any, ctx: Any) -> dict[str, Any]:
    req = request.request
    if isinstance(req.body, dict) and req.body.get("fail"):
        raise RuntimeError("payment provider down")
    raw = None if req.body is not None else (await req.request_body.read_all()).decode()
    return {"status": 200, "body": {"body": req.body, "ct": req.headers.get("content-type"), "raw": raw}}
