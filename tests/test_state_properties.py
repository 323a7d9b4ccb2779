"""Property tests through the real store: random API call sequences vs a small model.

The pure op semantics are checked against an independent model in
test_ops_properties.py; here the *store* (batching, insertion order, events,
all-or-nothing errors, JSON round trips through SQLite) is compared with a plain
Python dict model, call after call, concurrently submitted or one by one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ops_properties import ModelError, json_values, model_apply, ops_strategy, same

from motia_nb.state import InvalidInputError, StateManager, UpdateOpError
from motia_nb.state.ops import MISSING

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

GROUPS = ["g1", "g2"]
KEYS = ["a", "b", "c"]

calls = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(GROUPS), st.sampled_from(KEYS), json_values),
    st.tuples(st.just("update"), st.sampled_from(GROUPS), st.sampled_from(KEYS), st.lists(ops_strategy(), max_size=3)),
    st.tuples(st.just("delete"), st.sampled_from(GROUPS), st.sampled_from(KEYS)),
    st.tuples(st.just("clear"), st.sampled_from(GROUPS)),
)


class Model:
    """What the store must hold: per group, an insertion-ordered dict."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str, str]] = []

    def apply(self, call: tuple) -> Any:
        kind, g = call[0], call[1]
        items = self.groups.setdefault(g, {})
        if kind == "clear":
            n = len(items)
            self.events += [("state:deleted", g, k) for k in items]
            items.clear()
            return n
        k = call[2]
        if kind == "delete":
            if k not in items:
                return None
            self.events.append(("state:deleted", g, k))
            return items.pop(k)
        old = items.get(k)
        if kind == "set":
            new = call[3]
        else:
            try:
                new = model_apply(items[k] if k in items else MISSING, call[3])
            except ModelError:
                return UpdateOpError
        self.events.append(("state:updated" if k in items else "state:created", g, k))
        items[k] = new
        return {"new_value": new, "old_value": old}


def submit(sm: StateManager, call: tuple):
    kind = call[0]
    if kind == "set":
        return sm.set(call[1], call[2], call[3])
    if kind == "update":
        return sm.update(call[1], call[2], call[3])
    if kind == "delete":
        return sm.delete(call[1], call[2])
    return sm.clear(call[1])


def check(sm: StateManager, model: Model, results: list, expected: list, events: list) -> None:
    for got, want in zip(results, expected):
        if want is UpdateOpError:
            assert isinstance(got, UpdateOpError), got
        else:
            assert not isinstance(got, BaseException), got
            assert same(got, want), (got, want)
    for g in GROUPS:
        assert [k for k, _ in sm.sync.items(g)] == list(model.groups.get(g, {}))
        for (k, v), want in zip(sm.sync.items(g), model.groups.get(g, {}).values()):
            assert same(v, want), (g, k, v, want)
    assert sm.sync.list_groups() == sorted(g for g, items in model.groups.items() if items)
    assert [(e.event_type, e.group_id, e.item_id) for e in events] == model.events


@pytest.fixture(params=[":memory:", "file"])
def store_url(request, tmp_path_factory):
    return ":memory:" if request.param == ":memory:" else str(tmp_path_factory.mktemp("p") / "s.db")


@SETTINGS
@given(seq=st.lists(calls, max_size=25), concurrent=st.booleans())
def test_store_matches_the_model(store_url, seq, concurrent):
    sm = StateManager(store_url)
    try:
        for g in GROUPS:  # hypothesis reuses the fixture's file between examples
            sm.sync.clear(g)
        events: list = []
        sm.subscribe(events.append)
        model = Model()
        expected = [model.apply(c) for c in seq]

        async def run_all():
            if concurrent:  # all queued at once: group commit batches them
                return await asyncio.gather(*(submit(sm, c) for c in seq), return_exceptions=True)
            out = []
            for c in seq:
                try:
                    out.append(await submit(sm, c))
                except UpdateOpError as e:
                    out.append(e)
            return out

        results = asyncio.run(run_all())
        check(sm, model, results, expected, events)
    finally:
        sm.close()


@SETTINGS
@given(value=json_values)
def test_any_json_value_round_trips_through_the_store(store_url, value):
    sm = StateManager(store_url)
    try:
        res = sm.sync.set("rt", "v", value)
        assert same(res["new_value"], value)
        assert same(sm.sync.get("rt", "v"), value)
        assert same(sm.sync.list("rt")[0], value)
    finally:
        sm.close()


def test_invalid_input_inside_a_concurrent_batch_stores_nothing(tmp_path):
    sm = StateManager(str(tmp_path / "s.db"))

    async def main():
        return await asyncio.gather(
            sm.set("g", "ok1", 1), sm.set("g", "bad", float("nan")), sm.set("g", "ok2", 2), return_exceptions=True
        )

    r = asyncio.run(main())
    assert isinstance(r[1], InvalidInputError)
    assert sm.sync.items("g") == [("ok1", 1), ("ok2", 2)]
    sm.close()
