"""The backend contract itself (motia_nb.state.backends.base).

A third backend that implements only the abstract methods gets every other
capability from the base class; the facade asks backends only for what the base
class declares; results, events and orders have one definition.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from motia_nb.state.backends import open_backend
from motia_nb.state.backends.base import Backend, Order, Write, WriteResult
from motia_nb.state.backends.redis import RedisBackend
from motia_nb.state.backends.results import cleared, deleted, written
from motia_nb.state.backends.sqlite import SQLiteBackend
from motia_nb.state.errors import InvalidInputError
from motia_nb.state.events import StateEvent
from motia_nb.state.ops import MISSING, apply_ops
from motia_nb.state.jsontext import decode_value, encode_trusted

MANAGER = Path(__file__).resolve().parents[1] / "motia_nb" / "state" / "manager.py"


class DictBackend(Backend):
    """The smallest honest backend: a dict, one lock, and a count of the reads it served."""

    def __init__(self) -> None:
        super().__init__()
        self.url = "dict://test"
        self.data: dict[str, dict[str, str]] = {}
        self.reads: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._closed = False

    def open(self) -> None:
        pass

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, write: Write) -> "Future[WriteResult]":
        fut: Future[WriteResult] = Future()
        with self._lock:
            group = self.data.setdefault(write.group_id, {})
            g, k = write.group_id, write.key
            if write.kind == "clear":
                out = cleared(g, [(kk, decode_value(v)) for kk, v in group.items()])
                group.clear()
            elif write.kind == "delete":
                old = group.pop(k, None)  # type: ignore[arg-type]
                out = deleted(g, k, None if old is None else decode_value(old), existed=old is not None)  # type: ignore[arg-type]
            else:
                old = group.get(k)  # type: ignore[arg-type]
                if write.kind == "set":
                    new = decode_value(write.value_json)  # type: ignore[arg-type]
                else:
                    new = apply_ops(MISSING if old is None else decode_value(old), write.ops or [], group_id=g, key=k)
                group[k] = encode_trusted(new)  # type: ignore[index]
                out = written(g, k, None if old is None else decode_value(old), new, existed=old is not None)  # type: ignore[arg-type]
            self._notify(out.events)
        fut.set_result(out)
        return fut

    def get(self, group_id: str, key: str) -> Any:
        self.reads.append(("get", key))
        raw = self.data.get(group_id, {}).get(key)
        return None if raw is None else decode_value(raw)

    def exists(self, group_id: str, key: str) -> bool:
        return key in self.data.get(group_id, {})

    def items(self, group_id: str, offset: int = 0, limit: int | None = None, *, order: Order | str = Order.INSERTION) -> list[tuple[str, Any]]:
        order = Order(order)
        self.reads.append(("items", order))
        pairs = [(k, decode_value(v)) for k, v in self.data.get(group_id, {}).items()]
        if order.by_key:
            pairs.sort(key=lambda kv: kv[0])
        if order.descending:
            pairs.reverse()
        return pairs[offset : None if limit is None else offset + limit]

    def count(self, group_id: str) -> int:
        return len(self.data.get(group_id, {}))

    def group_counts(self) -> dict[str, int]:
        return {g: len(v) for g, v in sorted(self.data.items()) if v}


def test_a_backend_with_only_the_abstract_methods_has_every_capability() -> None:
    b = DictBackend()
    seen: list[StateEvent] = []
    remote: list[StateEvent] = []
    b.add_listener(seen.extend)
    b.add_remote_listener(remote.extend)
    assert b.submit(Write("set", "g", "b", value_json='{"n":1}')).result().result == {"new_value": {"n": 1}, "old_value": None}
    b.submit(Write("set", "g", "a", value_json="2")).result()
    # the defaults: built on items(), in insertion order
    assert b.keys("g") == ["b", "a"]
    assert b.rows_json("g") == [("b", '{"n":1}'), ("a", "2")]
    assert b.values_json("g") == ['{"n":1}', "2"]
    assert [(e.event_type, e.item_id) for e in seen] == [("state:created", "b"), ("state:created", "a")]
    # capabilities a simple backend does not have are declared off, not missing
    assert b.writer_thread is None and b.change_token() is None
    assert b.publishes_remote is False and b.direct_reads is False and remote == []
    b.remove_listener(seen.extend)
    b.remove_listener(seen.extend)  # removing twice is harmless
    b.submit(Write("delete", "g", "a")).result()
    assert len(seen) == 2


def test_a_failing_listener_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    b = DictBackend()
    got: list[Any] = []
    b.add_listener(lambda evs: 1 / 0)
    b.add_listener(got.extend)
    assert b.submit(Write("set", "g", "k", value_json="1")).result().result["new_value"] == 1
    assert len(got) == 1 and "state listener failed" in caplog.text


def test_the_facade_asks_backends_only_for_what_the_contract_declares() -> None:
    """No probing: every backend attribute manager.py uses is declared on Backend."""
    used = set(re.findall(r"backend\.([a-z_]+)", MANAGER.read_text()))
    assert used, "the pattern no longer finds the facade's backend calls"
    assert not re.search(r"hasattr\((self\.)?(_)?backend|getattr\((self\.)?(_)?backend", MANAGER.read_text())
    undeclared = sorted(name for name in used if not hasattr(Backend, name) and name != "url")
    assert undeclared == []


def test_both_backends_declare_their_capabilities() -> None:
    assert SQLiteBackend.direct_reads is True  # publishes_remote: a file with history on (test_sqlite_remote.py)
    assert RedisBackend.publishes_remote is True
    assert RedisBackend.cheap_count is True and SQLiteBackend.cheap_count is False and Backend.cheap_count is False
    assert isinstance(open_backend(":memory:"), SQLiteBackend)
    assert isinstance(open_backend("redis://127.0.0.1:1/0"), RedisBackend)  # not opened: no connection


@pytest.mark.parametrize("text,member", [("insertion", Order.INSERTION), ("-insertion", Order.NEG_INSERTION), ("key", Order.KEY), ("-key", Order.NEG_KEY)])
def test_order_accepts_the_strings_and_its_members(text: str, member: Order) -> None:
    assert Order.parse(text) is member and Order.parse(member) is member
    assert member == text and str(member) == text
    assert member.by_key == ("key" in text) and member.descending == text.startswith("-")


@pytest.mark.parametrize("bad", ["random", "KEY", "", None, 1])
def test_a_bad_order_is_one_clear_error(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"order must be one of insertion, -insertion, key, -key; got"):
        Order.parse(bad)


def test_results_and_events_have_one_shape() -> None:
    r = written("g", "k", None, {"a": 1}, existed=False)
    assert r.result == {"new_value": {"a": 1}, "old_value": None}
    assert [dict(e) for e in r.events] == [
        {"type": "state", "event_type": "state:created", "scope": "g", "key": "k", "group_id": "g", "item_id": "k",
         "old_value": None, "new_value": {"a": 1}}
    ]
    r = written("g", "k", None, 2, existed=True)  # a stored null is an update, not a creation
    assert r.events[0].event_type == "state:updated" and r.result == {"new_value": 2, "old_value": None}
    assert deleted("g", "k", None, existed=False) == WriteResult(None, [])
    r = deleted("g", "k", [1], existed=True)
    assert r.result == [1] and r.events[0].event_type == "state:deleted" and r.events[0].old_value == [1]
    r = cleared("g", [("a", 1), ("b", None)])
    assert r.result == 2 and [(e.item_id, e.old_value, e.new_value) for e in r.events] == [("a", 1, None), ("b", None, None)]
