"""The one-step async ``set`` (``Backend.set_submitter`` → the write path's ``set_async``)
gives exactly what the general path (``set_write`` + ``submit_async``) gives.

``StateManager.set`` takes it when on its path; anything off it (a name or value that
is not plain, no running loop, a closed store, a dispatcher) goes the general way.
Checked: the buffered ``Write`` is the general path's, field for field; results,
stored rows and errors are the same through a gather with both paths; off-path input
answers None (so the general path answers it); the batch's keys JSON is ``_dumps``'.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motia_nb import StateManager
from motia_nb.state.backends.sqlite.apply import _dumps, _keys_json
from motia_nb.state.cause import acting_as
from motia_nb.state.errors import InvalidInputError, StateError
from motia_nb.state.requests import set_write

_VALUES: list[Any] = [
    {"id": 1, "name": "a", "score": 0.5, "on": True, "none": None},
    {"nested": {"a": [1, 2]}},
    [1, "two", 3.0],
    (1, 2),
    "text",
    7,
    None,
    {"é": "ü", "emoji": "🙂"},
]

_BAD: list[tuple[Any, Any, Any]] = [
    ("g", "k", float("nan")),
    ("g", "k", {"a": object()}),
    ("g", "k", {1: "an int key"}),
    ("", "k", 1),
    ("g", "", 1),
    (5, "k", 1),
    ("g", None, 1),
    ("g\x00", "k", 1),
    ("g", "k\ud800", 1),
]


def _manager(tmp_path: Any, name: str, fast: bool) -> StateManager:
    sm = StateManager(str(tmp_path / f"{name}.db"), history_keep="off")
    sm.sync.get("g", "warm")  # opened: the one-step path is armed
    if not fast:
        sm._fast = None  # the general path only (re-armed only by a new backend)
    return sm


def test_set_async_buffers_the_general_paths_write(tmp_path: Any) -> None:
    sm = _manager(tmp_path, "w", True)
    path = sm.backend._writes  # type: ignore[attr-defined]

    async def main() -> None:
        for i, v in enumerate(_VALUES):
            with acting_as("step-x", trace_id=f"t{i}"):
                fut = sm.set("g", f"k{i}", v)
                expected = set_write("g", f"k{i}", v)
            (buffered,) = path._loop_buffers[asyncio.get_running_loop()].writes
            assert buffered == expected
            assert type(fut).__name__ == "WriteFuture" and fut.on_refused is not None
            await fut

    try:
        asyncio.run(main())
    finally:
        sm.close()


@pytest.mark.parametrize("fast", [True, False], ids=["one-step", "general"])
def test_a_gather_gives_the_same_results_rows_and_errors_both_ways(tmp_path: Any, fast: bool) -> None:
    sm = _manager(tmp_path, "g", fast)
    ref = _manager(tmp_path, "ref", False)

    async def gather(m: StateManager) -> list[Any]:
        calls = [m.set("g", f"k{i}", v) for i, v in enumerate(_VALUES)]
        calls += [m.set(*bad) for bad in _BAD]
        calls += [m.set("g", "k0", {"again": 1})]  # a key twice in one gather
        return await asyncio.gather(*calls, return_exceptions=True)

    try:
        got, want = asyncio.run(gather(sm)), asyncio.run(gather(ref))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            if isinstance(w, BaseException):
                assert type(g) is type(w) and str(g) == str(w)
                assert isinstance(g, (InvalidInputError, StateError))
            else:
                assert g == w and json.dumps(g, sort_keys=True, default=str) == json.dumps(w, sort_keys=True, default=str)
        assert sm.sync.items("g") == ref.sync.items("g")
        # again, over existing items (old values come back)
        got, want = asyncio.run(gather(sm)), asyncio.run(gather(ref))
        assert [repr(x) for x in got] == [repr(x) for x in want]
    finally:
        sm.close()
        ref.close()


def test_off_path_writes_answer_none_and_the_manager_takes_the_general_path(tmp_path: Any) -> None:
    sm = _manager(tmp_path, "off", True)
    set_async = sm.backend.set_submitter()
    assert set_async is not None
    hook = sm._fast[2]  # type: ignore[index]
    assert set_async("g", "k", 1, hook) is None  # no running loop

    async def main() -> None:
        for g, k, v in _BAD + [("grüße", "k", 1), ("g", "ключ", 1)]:
            assert set_async(g, k, v, hook) is None
        # the manager answers them anyway: errors for bad input, results for the non-ASCII names
        assert await sm.set("grüße", "k", 1) == {"new_value": 1, "old_value": None}
        with pytest.raises(InvalidInputError):
            await sm.set("g", "k", float("nan"))

    try:
        asyncio.run(main())
    finally:
        sm.close()
    # closed: the general path reopens the store (close() keeps the manager usable)
    assert asyncio.run(_set_once(sm)) == {"new_value": 2, "old_value": None}
    sm.close()


async def _set_once(sm: StateManager) -> Any:
    return await sm.set("g2", "k", 2)


def test_a_dispatcher_turns_the_one_step_path_off(tmp_path: Any) -> None:
    sm = _manager(tmp_path, "d", True)
    seen: list[Any] = []
    sm.set_dispatcher(lambda events: seen.extend(events))
    try:
        assert asyncio.run(_set_once(sm)) == {"new_value": 2, "old_value": None}
        assert [e["event_type"] for e in seen] == ["state:created"]
    finally:
        sm.set_dispatcher(None)
        sm.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6), min_size=0, max_size=8))
def test_keys_json_is_dumps(keys: list[str]) -> None:
    assert _keys_json(keys) == _dumps(keys)
