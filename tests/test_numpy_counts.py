"""Every public call taking a count or a number of seconds takes a numpy one too (a count read
from a DataFrame is a ``numpy.int64``), through one check (:mod:`motia_nb.state.numbers`), and
still refuses a bool, numpy's too, with the same one-line error as Python's ``True``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from motia_nb import state_manager
from motia_nb._threads import run_sync
from motia_nb.session import start_scheduler, stop_scheduler
from motia_nb.state.numbers import as_int, as_number

sync = state_manager.sync


def _viewer(**options: Any) -> Any:
    from motia_nb.notebook.viewer import viewer

    v = viewer("g", live=False, **options)
    v.close()
    return v.model.page_size


def _serve(**options: Any) -> Any:
    from motia_nb.engine import serve

    server = serve(**options)
    try:
        return server.worker_timeout, server.port > 0, server.max_frame_bytes
    finally:
        server.close()


def _scheduler(interval: Any) -> str:
    try:
        return start_scheduler(interval)
    finally:
        stop_scheduler()


def _set(name: str) -> Callable[[Any], Any]:
    def call(v: Any) -> Any:
        setattr(state_manager, name, v)
        return getattr(state_manager, name)

    return call


# (what, call with the number, a numpy value it takes, the answer with the Python number)
CALLS: list[tuple[str, Callable[[Any], Any], Any]] = [
    ("items(offset=)", lambda v: sync.items("g", offset=v), np.int64(1)),
    ("items(limit=)", lambda v: sync.items("g", limit=v), np.int64(2)),
    ("list limit (keys_with_prefix)", lambda v: sync.keys_with_prefix("g", "k", limit=v), np.int32(2)),
    ("keys_containing(limit=)", lambda v: run_sync(state_manager.keys_containing("g", "k", limit=v)), np.uint8(2)),
    ("search_keys(limit=)", lambda v: run_sync(state_manager.search_keys("g", "k", limit=v)).keys, np.int64(2)),
    ("search_keys(budget=)", lambda v: run_sync(state_manager.search_keys("g", "k", budget=v)).keys, np.float32(5)),
    ("items_after(limit=)", lambda v: run_sync(state_manager.items_after("g", None, limit=v)), np.int64(2)),
    ("history(limit=)", lambda v: sync.history("g", limit=v), np.int64(2)),
    ("history_keep (a count)", _set("history_keep"), np.int64(1000)),
    ("busy_timeout", _set("busy_timeout"), np.float32(2.5)),
    ("busy_timeout (an int)", _set("busy_timeout"), np.int64(3)),
    ("viewer(page_size=)", lambda v: _viewer(page_size=v), np.int64(7)),
    ("viewer(poll_interval=)", lambda v: _viewer(poll_interval=v), np.float64(0.25)),
    ("viewer(debounce=)", lambda v: _viewer(debounce=v), np.float32(0.5)),
    ("viewer(max_delay=)", lambda v: _viewer(max_delay=v), np.int64(2)),
    ("serve(worker_timeout=)", lambda v: _serve(worker_timeout=v), np.float32(4.5)),
    ("serve(port=)", lambda v: _serve(port=v), np.int64(0)),
    ("serve(max_frame_bytes=)", lambda v: _serve(max_frame_bytes=v), np.int64(1 << 20)),
    ("start_scheduler(interval=)", _scheduler, np.float64(0.5)),
]


@pytest.fixture
def seeded(fresh_db):
    keep, busy = state_manager.history_keep, state_manager._busy_timeout
    for i in range(4):
        sync.set("g", f"k{i}", i)
    yield
    state_manager.history_keep = keep
    state_manager.busy_timeout = busy


@pytest.mark.parametrize("what,call,value", CALLS, ids=[c[0] for c in CALLS])
def test_a_numpy_number_is_taken_as_the_python_number(seeded, what, call, value):
    assert call(value) == call(value.item())


@pytest.mark.parametrize("what,call,value", CALLS, ids=[c[0] for c in CALLS])
def test_a_bool_is_refused_numpy_s_too_in_the_same_words(seeded, what, call, value):
    errors = []
    for bad in (True, np.True_):
        with pytest.raises(Exception) as info:
            call(bad)
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1])
    assert str(errors[1]).replace(repr(np.True_), "True") == str(errors[0])
    assert "\n" not in str(errors[1])


SETTINGS = [("display_max_rows", np.int64(5), 5), ("display_max_columns", np.int32(4), 4),
            ("json_indent", np.int64(0), 0), ("completion_max_keys", np.uint16(50), 50),
            ("worker_timeout", np.float32(2.5), 2.5), ("worker_timeout", np.int64(3), 3.0),
            ("busy_timeout", np.float64(1.5), 1.5), ("history_keep", np.int64(800), "800")]  # fmt: skip


@pytest.mark.parametrize("name,value,shown", SETTINGS, ids=[f"{n}={v!r}" for n, v, _ in SETTINGS])
def test_config_settings_take_numpy_numbers_and_refuse_bools(ip, seeded, caplog, name, value, shown):
    caplog.set_level(logging.ERROR)
    before = ip.run_line_magic("config", f"MotiaNB.{name}")
    ip.user_ns["_np_value"] = value
    try:
        ip.run_line_magic("config", f"MotiaNB.{name} = _np_value")
        assert not caplog.records, caplog.text
        assert ip.run_line_magic("config", f"MotiaNB.{name}") == shown
        ip.run_line_magic("config", f"MotiaNB.{name} = {before!r}")
        for bad in ("True", "np.True_"):
            ip.user_ns["np"] = np
            ip.run_line_magic("config", f"MotiaNB.{name} = {bad}")
            assert ip.run_line_magic("config", f"MotiaNB.{name}") == before
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 2 and said[1].replace(repr(np.True_), "True") == said[0], said
    finally:
        ip.run_line_magic("config", f"MotiaNB.{name} = {before!r}")
        ip.config.MotiaNB.pop(name, None)
        ip.user_ns.pop("_np_value", None)


def test_the_shared_checks():
    assert [as_int(v) for v in (3, np.int64(3), np.uint8(3), True, np.True_, 3.0, np.float64(3), "3")] == [
        3, 3, 3, None, None, None, None, None]  # fmt: skip
    assert [as_number(v) for v in (2, 2.5, np.float32(2.5), np.int16(2), True, np.bool_(False), "2", 1j)] == [
        2, 2.5, 2.5, 2, None, None, None, None]  # fmt: skip
