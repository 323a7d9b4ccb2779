"""Review of today's http changes: a query key given twice is refused (the engine keeps only the
last value, silently), also when once in the path's query string and once in ``query=``."""

from __future__ import annotations

import asyncio

import pytest

from motia_nb.session import request, reset_steps, step
from motia_nb.steps import http
from motia_nb.steps.errors import StepCallError


@pytest.fixture(autouse=True)
def sandbox():
    reset_steps()
    yield
    reset_steps()


def test_a_query_key_in_the_path_and_in_query_is_refused_as_a_repeated_key():
    seen = []

    @step({"name": "Q", "triggers": [http("GET", "/q")]})
    def q(req):
        seen.append(dict(req.query_params))
        return {"status": 200, "body": None}

    with pytest.raises(StepCallError, match="'a' is given 2 values"):
        asyncio.run(request("GET", "/q?a=1&a=2"))
    with pytest.raises(StepCallError, match=r"query 'a' is given in the path \('1'\) and in query= \('2'\)"):
        asyncio.run(request("GET", "/q?a=1", query={"a": "2"}))
    assert seen == []
    asyncio.run(request("GET", "/q?a=1", query={"b": "2"}))
    assert seen == [{"a": "1", "b": "2"}]


def test_status_code_wins_over_status_as_in_motias_runtime():
    """Motia's runtime answers ``int(result.get("status_code", result.get("status", 200)))``."""

    @step({"name": "Both", "triggers": [http("GET", "/both")]})
    def both(req):
        return {"status": 200, "status_code": 201, "body": "x"}

    assert asyncio.run(request("GET", "/both"))["status"] == 201
