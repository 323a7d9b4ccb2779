"""A history read in this process goes first: the recorder's filing and pruning passes wait for it
between their transactions (``sqlite/recorder.py``, ``Recorder.reading``), at most
``READ_YIELD_MAX``. Measured: a filing pass running beside one key's history read of 10,000
changes right after a burst took the read from ~20-40 ms to 45-75 ms (issue 16's < 50 ms)."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite import recorder as recorder_mod
from motia_nb.state.backends.sqlite.recorder import Recorder


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A store whose recorder files only when told (``file_history()``), with unfiled changes."""
    monkeypatch.setattr(Recorder, "_start_pruner", lambda self: None)
    path = str(tmp_path / "s.db")
    sm = StateManager(path, history_keep="all")
    for i in range(5):
        sm.sync.set("g", "k", i)
    yield sm, path
    sm.close()


def _filed_upto(path: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT upto FROM changes_filed").fetchone()[0]
    finally:
        con.close()


def _filing_in_thread(sm: StateManager, monkeypatch) -> "tuple[threading.Thread, threading.Event]":
    """``file_history()`` on another thread, and an event set once the pass asks to go ahead."""
    asked = threading.Event()
    original = Recorder._yield_to_readers

    def spy(self: Recorder) -> None:
        asked.set()
        original(self)

    monkeypatch.setattr(Recorder, "_yield_to_readers", spy)
    t = threading.Thread(target=sm.backend.file_history, daemon=True)
    t.start()
    return t, asked


def test_a_filing_pass_waits_while_a_history_read_runs(store, monkeypatch):
    sm, path = store
    rec = sm.backend._recorder
    with rec.reading():
        t, asked = _filing_in_thread(sm, monkeypatch)
        assert asked.wait(5)
        t.join(0.3)  # (bounded: the pass must still be waiting, whatever the wait)
        assert t.is_alive() and _filed_upto(path) == 0, "the pass filed while a read ran"
    t.join(5)
    assert not t.is_alive() and _filed_upto(path) > 0


def test_reads_one_after_another_do_not_stop_filing_for_good(store, monkeypatch):
    sm, path = store
    monkeypatch.setattr(recorder_mod, "READ_YIELD_MAX", 0.05)
    with sm.backend._recorder.reading():  # a read that never ends
        t, _asked = _filing_in_thread(sm, monkeypatch)
        t.join(5)
        assert not t.is_alive() and _filed_upto(path) > 0


def test_an_items_and_a_groups_history_reads_go_first(store, monkeypatch):
    sm, _path = store
    rec = sm.backend._recorder
    seen: list[int] = []
    original = Recorder.reading

    def spy(self: Recorder):  # noqa: ANN202
        cm = original(self)
        seen.append(1)
        return cm

    monkeypatch.setattr(Recorder, "reading", spy)
    assert [c["new_value"] for c in sm.sync.history("g", "k")] == [0, 1, 2, 3, 4]
    assert len(sm.sync.history("g")) == 5
    assert len(seen) == 2 and rec._readers == 0


def test_closing_wakes_a_pass_waiting_for_a_read(store, monkeypatch):
    sm, _path = store
    monkeypatch.setattr(recorder_mod, "READ_YIELD_MAX", 60.0)
    rec = sm.backend._recorder
    with rec.reading():
        t, asked = _filing_in_thread(sm, monkeypatch)
        assert asked.wait(5)
        rec.close()  # stop: the waiting pass gives up at once, not after a minute
        t.join(5)
        assert not t.is_alive()
