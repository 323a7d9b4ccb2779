"""Review of today's step changes: a worker step's streamed http body nested past the state's
depth limit is refused as a notebook step's is (``decode_body``), not handed on at 600 levels nor
a bare RecursionError at thousands."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from motia_nb.engine.channels import Channels
from motia_nb.engine.workers import WorkerCallError
from motia_nb.steps.context import HttpResponse
from motia_nb.steps.http_body import ResponseBody


def nested(n: int) -> bytes:
    return b"[" * n + b"1" + b"]" * n


async def worker_streams(raw: bytes) -> dict:
    """http_call of a worker step whose handler streams ``raw`` as its response body."""
    server = SimpleNamespace(loop=asyncio.get_running_loop(), worker_timeout=5.0)
    channels = Channels(server)

    class Worker:
        name = "w"

        async def call(self, function_id, data, timeout, origin):
            ch = channels._open[data["response"]["channel_id"]]
            ch.opened = True
            ch.status = 200
            ch.chunks.append(raw)
            ch.done.set()

    request = SimpleNamespace(path_params={}, query_params={}, body=None, headers={}, method="GET", request_body=None)
    return await channels.http_call(Worker(), "steps::Deep::trigger::http", request, "Deep")


def notebook_streams(raw: bytes) -> None:
    """What a notebook step's streamed body of ``raw`` reads as (``HttpResponse.streamed``)."""
    w = ResponseBody()
    asyncio.run(w.write(raw))
    HttpResponse(w).streamed()


@pytest.mark.parametrize("depth", [513, 600, 100_000])
def test_a_streamed_body_past_512_levels_is_refused_from_a_worker_as_from_a_notebook_step(depth):
    with pytest.raises(ValueError, match="nests deeper than 512 levels"):
        notebook_streams(nested(depth))
    with pytest.raises(WorkerCallError, match="nests deeper than 512 levels") as info:
        asyncio.run(worker_streams(nested(depth)))
    assert info.value.code == "bad_response"


def test_a_streamed_body_of_512_levels_reaches_the_caller_from_a_worker():
    out = asyncio.run(worker_streams(nested(512)))
    assert out["status"] == 200 and out["body"] == json.loads(nested(512))


async def worker_returns(result: dict) -> dict:
    """http_call of a worker step whose handler answers by return value only."""
    server = SimpleNamespace(loop=asyncio.get_running_loop(), worker_timeout=5.0)
    channels = Channels(server)

    class Worker:
        name = "w"

        async def call(self, function_id, data, timeout, origin):
            return result

    request = SimpleNamespace(path_params={}, query_params={}, body=None, headers={}, method="GET", request_body=None)
    return await channels.http_call(Worker(), "steps::Deep::trigger::http", request, "Deep")


def test_a_returned_body_past_512_levels_is_refused_from_a_worker_as_from_a_notebook_step():
    with pytest.raises(WorkerCallError, match="nests deeper than 512 levels") as info:
        asyncio.run(worker_returns({"status_code": 200, "body": json.loads(nested(513))}))
    assert info.value.code == "bad_response"
    out = asyncio.run(worker_returns({"status_code": 200, "body": json.loads(nested(512))}))
    assert out["body"] == json.loads(nested(512))
