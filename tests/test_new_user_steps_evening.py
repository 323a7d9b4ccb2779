"""A Motia user's evening with steps (found by trying it; the kernel cases are in
``test_new_user_steps_evening_kernel.py``).

- A handler (or an http trigger's condition) raising an exception whose ``str()`` fails itself (a
  ``__str__`` reading a field its ``__init__`` never set): motia_nb's report of the failure raised
  in turn, so the causing cell failed with a ``RuntimeError`` and a screen of motia_nb's frames,
  the cascade stopped, and an http call got no answer. It is the step's one failure now, named
  ``Weird: <exception str() failed>`` as Python's own tracebacks name it.
"""

from __future__ import annotations

import pytest

from motia_nb import log_frame, trace_frame
from motia_nb.testing import run_cell


@pytest.fixture
def ip(steps_ip):
    steps_ip.run_cell("from motia_nb import request, enqueue, step, queue, http, state_manager")
    steps_ip.run_cell(
        "class Weird(Exception):\n"
        "    def __init__(self, code):\n"
        "        self.code = code\n"
        "    def __str__(self):\n"
        "        return f'{self.code}: {self.reason}'  # never set\n"
    )
    return steps_ip


def cell(ip, source: str):
    res = run_cell(ip, source)
    res.raise_error()
    return res.result


def test_a_handler_error_whose_str_fails_is_the_steps_failure_and_the_cascade_goes_on(ip, capsys):
    cell(ip, '@step({"name": "Weirdo", "triggers": [queue("weird")]})\n'
             'async def weirdo(d):\n'
             '    raise Weird(7)\n'
             'after = []\n'
             '@step({"name": "After", "triggers": [queue("weird")]})\n'
             'def after_step(d):\n'
             '    after.append(d)')
    capsys.readouterr()
    cell(ip, 'await enqueue({"topic": "weird", "data": 1})')
    err = capsys.readouterr().err
    assert err.startswith("✖ step 'Weirdo' failed (queue weird; trace "), err
    assert err.rstrip().endswith("Weird: <exception str() failed>"), err
    assert "motia_nb" not in err, err
    assert ip.user_ns["after"] == [1]  # the next subscriber still ran
    row = trace_frame().iloc[0]
    assert (row.step, row.status, row.error) == ("Weirdo", "error", "Weird: <exception str() failed>")
    assert log_frame(step="Weirdo").message.tolist()[-1] == "step failed: Weird: <exception str() failed>"


def test_an_http_step_or_condition_whose_error_str_fails_answers_500(ip, capsys):
    cell(ip, '@step({"name": "WeirdHttp", "triggers": [http("GET", "/weird")]})\n'
             'def weird_http(req):\n'
             '    raise Weird(1)\n'
             'def picky(req):\n'
             '    raise Weird(2)\n'
             '@step({"name": "WeirdCond", "triggers": [http("GET", "/cond", condition=picky)]})\n'
             'def weird_cond(req):\n'
             '    return {"status": 200, "body": "never"}')
    assert cell(ip, 'await request("GET", "/weird")') == {
        "status": 500, "body": {"error": "Weird: <exception str() failed>", "step": "WeirdHttp"}, "headers": {}}
    assert cell(ip, 'await request("GET", "/cond")') == {
        "status": 500, "body": {"error": "the condition raised Weird: <exception str() failed>", "step": "WeirdCond"},
        "headers": {}}
    err = capsys.readouterr().err
    assert "✖ condition of step 'WeirdCond' raised (http GET /cond; trace " in err and "motia_nb" not in err, err
