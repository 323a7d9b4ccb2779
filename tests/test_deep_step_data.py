"""Data nested thousands of levels deep on the steps side: one line, as the state side says it.

``json.dumps`` / ``json.loads`` give up with a bare ``RecursionError`` around a thousand
levels; the state refuses a value deeper than ``MAX_DEPTH`` (512) with "nests deeper than
512 levels". Enqueue data, a request's body (the step's input) and a streamed response body
now say the same, at 600 levels as at 5,000.
"""

from __future__ import annotations

import pytest

from motia_nb.session import enqueue, request, step
from motia_nb.steps.errors import EnqueueError
from motia_nb.steps.http_body import decode_body

DEEPER = "nests deeper than 512 levels"


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [600, 5000])
def test_enqueue_data_too_deep_is_one_line_and_runs_nothing(steps_ip, depth):
    got = []

    @step({"name": "Deep", "triggers": [{"type": "queue", "topic": "deep"}]})
    def deep(data, ctx):
        got.append(data)

    with pytest.raises(EnqueueError, match=f"^enqueue to 'deep': data {DEEPER}"):
        enqueue.sync({"topic": "deep", "data": nested(depth)})
    assert got == []
    enqueue.sync({"topic": "deep", "data": nested(512)})  # the limit itself passes
    assert len(got) == 1


@pytest.mark.parametrize("depth", [600, 5000])
def test_request_body_too_deep_is_one_line(steps_ip, depth):
    @step({"name": "Take", "triggers": [{"type": "http", "method": "POST", "path": "/take"}]})
    def take(req, ctx):
        return {"status": 200, "body": "ok"}

    with pytest.raises(EnqueueError, match=f"^request POST /take: body {DEEPER}"):
        request.sync("POST", "/take", body={"a": nested(depth)})
    assert request.sync("POST", "/take", body=nested(100))["body"] == "ok"


@pytest.mark.parametrize("depth", [600, 5000])
def test_a_streamed_response_body_too_deep_is_one_line(depth):
    text = ("[" * depth + "]" * depth).encode()
    with pytest.raises(ValueError, match=f"^the response body written {DEEPER}"):
        decode_body(text)
    assert decode_body(b"[[1]]") == [[1]] and decode_body(b"[oops") == "[oops"
