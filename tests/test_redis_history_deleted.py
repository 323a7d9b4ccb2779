"""A group's history stream deleted by hand (``DEL motia_nb:history:<group>``).

Its change count and item index were left describing changes that were gone: one item's history
still listed them (the group's said none), ``get(at=)`` answered a point before the deletion with
the value stored now, and with a count retention the next writes' own changes were trimmed at
once (the count said the stream held the deleted ones too), so the history stayed empty. Now
the reads say what is true (the changes are gone; a point before the deletion is refused, in
one line) and the next write starts the group's history again, as a new group's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.errors import StateError

pytestmark = pytest.mark.redis


@pytest.fixture
def sm(redis_url: str) -> Iterator[StateManager]:
    m = StateManager(redis_url, history_keep="5")
    yield m
    m.close()


def _changes(sm: StateManager, key: "str | None" = None) -> list[tuple[int, Any]]:
    return [(c["seq"], c["new_value"]) for c in sm.sync.history("g", key)]


def test_reads_after_the_stream_was_deleted_say_the_changes_are_gone(sm: StateManager, redis_client: Any) -> None:
    for i in range(5):
        sm.sync.set("g", "k", i)  # seqs 1..5
    sm.sync.set("g", "j", "x")  # seq 6
    assert sm.sync.get("g", "k", at=2) == 1
    redis_client.delete("motia_nb:history:g")
    assert _changes(sm) == []
    assert _changes(sm, "k") == []  # (was the five deleted changes, from the item index)
    with pytest.raises(StateError, match=r"^the history of 'g'/'k' at 2 is gone: the group's history stream "
                                         r"motia_nb:history:g was deleted \(its changes from the next write on are kept\)$"):
        sm.sync.get("g", "k", at=2)  # (was 4: the value stored now)
    assert sm.sync.get("g", "k", at=6) == 4  # past the newest change: the stored value is the state


def test_the_next_writes_start_the_history_again_and_keep_their_changes(sm: StateManager, redis_client: Any) -> None:
    for i in range(5):
        sm.sync.set("g", "k", i)  # seqs 1..5, history_keep 5
    redis_client.delete("motia_nb:history:g")
    for i in range(3):
        sm.sync.set("g", "k", 10 + i)  # seqs 6..8
    assert _changes(sm) == [(6, 10), (7, 11), (8, 12)]  # (was [(7, 11), (8, 12)]: the first trimmed at once)
    assert _changes(sm, "k") == [(6, 10), (7, 11), (8, 12)]
    assert redis_client.get("motia_nb:history_count:g") == "3"
    with pytest.raises(StateError, match=r"^the history of 'g'/'k' at 3 was pruned \(the group's oldest change kept is 6"):
        sm.sync.get("g", "k", at=3)  # (was 4: the old value of the first change kept)
    assert [sm.sync.get("g", "k", at=s) for s in (5, 6, 7, 8)] == [4, 10, 11, 12]
    for i in range(5):
        sm.sync.set("g", "k", 20 + i)  # the count retention works on the new stream as on any
    assert [v for _, v in _changes(sm)] == [20, 21, 22, 23, 24]
