"""SPEC §4: a change event is a dict with the engine's keys and the seed's names."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from motia_nb.state.events import CREATED, DELETED, EVENT_KEYS, UPDATED, StateEvent


def test_an_event_is_a_dict_with_eight_keys_in_order() -> None:
    ev = StateEvent(UPDATED, "orders", "o1", {"n": 1}, {"n": 2})
    assert isinstance(ev, dict)
    assert tuple(ev) == EVENT_KEYS == (
        "type", "event_type", "scope", "key", "group_id", "item_id", "old_value", "new_value",
    )
    assert ev == {
        "type": "state", "event_type": "state:updated", "scope": "orders", "key": "o1",
        "group_id": "orders", "item_id": "o1", "old_value": {"n": 1}, "new_value": {"n": 2},
    }


@pytest.mark.parametrize("name", EVENT_KEYS)
def test_item_and_attribute_access_agree(name: str) -> None:
    ev = StateEvent(CREATED, "g", "k", None, [1])
    assert getattr(ev, name) == ev[name]


def test_json_pickle_and_copies_keep_it_an_event() -> None:
    ev = StateEvent(DELETED, "g", "k", {"a": [1]}, None)
    assert json.loads(json.dumps(ev)) == ev
    for twin in (pickle.loads(pickle.dumps(ev)), copy.deepcopy(ev), copy.copy(ev)):
        assert type(twin) is StateEvent and twin == ev and twin.item_id == "k"


def test_unknown_attributes_are_attribute_errors() -> None:
    ev = StateEvent(CREATED, "g", "k", None, 1)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ev.nope  # noqa: B018
    assert not hasattr(ev, "nope")
    with pytest.raises(AttributeError):
        ev.group = "x"  # type: ignore[attr-defined]
    assert repr(ev).startswith("StateEvent({'type': 'state'")
