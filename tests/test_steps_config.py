"""Step config validation, trigger helpers, registry (pure parts: no database)."""

from __future__ import annotations

from datetime import datetime

import pytest

from motia_nb.steps import StepConfigError, StepNotFoundError, cron, http, queue, state
from motia_nb.session import default_session, all_steps, flow_diagram, get_step, register, remove_step, reset_steps, step, steps_frame
from motia_nb.steps.config import CronTrigger, HttpTrigger, QueueTrigger, StateTrigger, call_arity, parse_config
from motia_nb.steps.scheduling import CronScheduler


@pytest.fixture(autouse=True)
def _clean_registry():
    reset_steps()
    yield
    reset_steps()


def h(input):  # noqa: A002 - Motia's parameter name
    return None


# ---------------------------------------------------------------- config errors
@pytest.mark.parametrize(
    "config, fragment",
    [
        ({"triggers": []}, "no 'name'"),
        ({"name": ""}, "non-empty str"),
        ({"name": 3}, "non-empty str"),
        ("CreateOrder", "must be a dict"),
        ({"name": "A", "triggers": [{"type": "event", "topic": "x"}]}, "unknown type 'event'"),
        ({"name": "A", "triggers": [{"topic": "x"}]}, "has no 'type'"),
        ({"name": "A", "triggers": [{"type": "http", "path": "/orders"}]}, "no 'method'"),
        ({"name": "A", "triggers": [{"type": "http", "method": "FETCH", "path": "/x"}]}, "method 'FETCH'"),
        ({"name": "A", "triggers": [{"type": "http", "method": "GET", "path": None}]}, "needs a 'path' that is a str"),
        ({"name": "A", "triggers": [{"type": "http", "method": "GET", "path": "/a/:1x"}]}, "bad param segment"),
        ({"name": "A", "triggers": [{"type": "cron", "expression": "61 * * * *"}]}, "Bad minute"),
        ({"name": "A", "triggers": [{"type": "cron", "expression": "* * * *"}]}, "expected 5 fields"),
        ({"name": "A", "triggers": [{"type": "cron", "expression": "0 0 0 * * 0"}]}, "days of week: 0 is out of range 1-7"),
        ({"name": "A", "triggers": [{"type": "queue"}]}, "needs a 'topic'"),
        ({"name": "A", "triggers": [{"type": "state", "condition": "yes"}]}, "must be callable"),
        ({"name": "A", "triggers": "queue"}, "'triggers' must be a list"),
        ({"name": "A", "triggers": [], "enqueues": "order.created"}, "'enqueues' must be a list of str"),
        ({"name": "A", "triggers": [], "flows": [1]}, "'flows'[0]"),
    ],
)
def test_bad_config_raises_clear_error_and_registers_nothing(config, fragment):
    with pytest.raises(StepConfigError, match=None) as exc:
        register(config, h)
    assert fragment in str(exc.value)
    assert all_steps() == []


def test_errors_name_the_step_and_trigger_index():
    with pytest.raises(StepConfigError) as exc:
        register({"name": "Pay", "triggers": [queue("a"), {"type": "cron", "expression": "bad"}]}, h)
    assert "step 'Pay'" in str(exc.value) and "trigger 1" in str(exc.value)


def test_cron_helper_validates_immediately():
    assert cron("0 0 * * *") == {"type": "cron", "expression": "0 0 * * *"}
    with pytest.raises(StepConfigError, match="Bad hour"):
        cron("0 24 * * *")


def test_decorator_fails_at_definition_for_bad_config():
    with pytest.raises(StepConfigError, match="unknown type 'webhook'"):

        @step({"name": "X", "triggers": [{"type": "webhook"}]})
        def handler(input):
            return None

    assert all_steps() == []


def test_handler_signatures():
    assert call_arity(lambda: 1, "h") == 0
    assert call_arity(lambda i: 1, "h") == 1
    assert call_arity(lambda i, ctx: 1, "h") == 2
    assert call_arity(lambda i, ctx=None: 1, "h") == 2
    assert call_arity(lambda *a: 1, "h") == 2
    with pytest.raises(StepConfigError, match=r"\(input\) or \(input, ctx\)"):
        register({"name": "A", "triggers": []}, lambda a, b, c: None)
    with pytest.raises(StepConfigError, match="must be callable"):
        register({"name": "A", "triggers": []}, "not a function")


def test_trigger_parsing_and_aliases():
    p = parse_config(
        {
            "name": "S",
            "triggers": [
                state(lambda e: True),
                queue("t"),
                {"type": "http", "method": "get", "path": "/orders/:id/"},
                {"type": "cron", "cron": "*/5 * * * *"},  # older Motia field name
            ],
            "emits": ["a", {"topic": "b", "label": "B"}],
            "flows": ["f"],
            "infrastructure": {"handler": {"timeout": 5}},  # unknown keys are kept, ignored
        }
    )
    st, q, hp, cr = p.triggers
    assert isinstance(st, StateTrigger) and st.arity == 1
    assert q == QueueTrigger("t")
    assert isinstance(hp, HttpTrigger) and hp.method == "GET" and hp.path == "/orders/:id" and hp.segments == ("orders", ":id")
    assert cr == CronTrigger("*/5 * * * *")
    assert p.enqueues == ["a", "b"] and p.flows == ["f"]
    assert p.raw["infrastructure"] == {"handler": {"timeout": 5}}


def test_http_route_matching_and_specificity():
    t = parse_config({"name": "x", "triggers": [http("GET", "/orders/:id")]}).triggers[0]
    assert t.match(("orders", "42")) == {"id": "42"}
    assert t.match(("orders",)) is None
    assert t.match(("users", "42")) is None
    lit = parse_config({"name": "y", "triggers": [http("GET", "/orders/latest")]}).triggers[0]
    assert lit.specificity > t.specificity


# ---------------------------------------------------------------- registry
def test_redefinition_replaces_by_name_and_keeps_position():
    register({"name": "A", "triggers": [queue("x")]}, h)
    register({"name": "B", "triggers": [queue("x")]}, h)

    def h2(input, ctx):
        return None

    st, replaced = register({"name": "A", "triggers": [queue("y")], "description": "v2"}, h2)
    assert replaced is True
    assert [s.name for s in all_steps()] == ["A", "B"]
    assert get_step("A").handler is h2 and get_step("A").arity == 2
    assert get_step("A").of_type(QueueTrigger) == [QueueTrigger("y")]


def test_http_route_clash_between_steps_is_refused():
    register({"name": "A", "triggers": [http("GET", "/orders/:id")]}, h)
    with pytest.raises(StepConfigError, match="already served by step 'A'"):
        register({"name": "B", "triggers": [http("GET", "/orders/:orderId")]}, h)
    # the same step may be redefined with the same route; another method is fine
    register({"name": "A", "triggers": [http("GET", "/orders/:id")]}, h)
    register({"name": "C", "triggers": [http("DELETE", "/orders/:id")]}, h)


def test_remove_and_steps_frame():
    register({"name": "A", "triggers": [queue("x")], "flows": ["f"], "enqueues": ["y"]}, h)

    async def ah(input, ctx):
        return None

    register({"name": "B", "triggers": [cron("0 0 * * *")], "flows": ["g"]}, ah)
    df = steps_frame()
    assert list(df["name"]) == ["A", "B"]
    assert list(df["triggers"]) == ["queue x", "cron 0 0 * * *"]
    assert list(df["handler"]) == ["def (input)", "async (input, ctx)"]
    assert list(steps_frame("g")["name"]) == ["B"]
    remove_step("A")
    assert [s.name for s in all_steps()] == ["B"]
    with pytest.raises(StepNotFoundError, match="no step named 'A'"):
        remove_step("A")


def test_flow_diagram_text_and_mermaid():
    register({"name": "CreateOrder", "triggers": [http("POST", "/orders")], "enqueues": ["order.created"], "flows": ["o"]}, h)
    register({"name": "ProcessPayment", "triggers": [queue("order.created")], "enqueues": ["payment.completed"], "flows": ["o"]}, h)

    def done(e):
        return True

    register({"name": "OnDone", "triggers": [state(done)], "flows": ["o"]}, h)
    register({"name": "Other", "triggers": [queue("z")], "flows": ["other"]}, h)
    d = flow_diagram("o")
    assert d.text() == (
        "flow 'o': 3 step(s), 2 topic(s)\n"
        "  [http POST /orders] → CreateOrder → (order.created)\n"
        "  [queue order.created] → ProcessPayment → (payment.completed)\n"
        "  [state if done] → OnDone"
    )
    m = d.mermaid
    assert m.startswith("flowchart LR")
    assert '"CreateOrder"' in m and '"order.created"' in m and "Other" not in m
    assert '-- "if done" -->' in m
    bundle = d._repr_mimebundle_()
    assert bundle["text/markdown"].startswith("```mermaid\nflowchart LR")
    assert bundle["text/plain"] == d.text()
    with pytest.raises(ValueError, match="known flows: o, other"):
        flow_diagram("nope")


def test_cron_due_check_with_given_times():
    register({"name": "Daily", "triggers": [cron("0 0 * * *")]}, h)
    register({"name": "Hourly", "triggers": [cron("0 * * * *")]}, h)
    register({"name": "Q", "triggers": [queue("x")]}, h)
    s = CronScheduler(default_session().runtime)
    s.since = datetime(2024, 1, 1, 22, 30)
    assert s.due_steps(datetime(2024, 1, 1, 22, 59, 59)) == []
    assert s.due_steps(datetime(2024, 1, 1, 23, 0, 0)) == ["Hourly"]
    assert s.due_steps(datetime(2024, 1, 2, 0, 0, 1)) == ["Daily", "Hourly"]
    s.last_run["Hourly"] = datetime(2024, 1, 2, 0, 0, 1)
    assert s.due_steps(datetime(2024, 1, 2, 0, 30)) == ["Daily"]
