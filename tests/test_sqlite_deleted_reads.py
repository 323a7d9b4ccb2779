"""Every read after the SQLite state file was deleted or replaced under the open database says so.

SQLite keeps a deleted (or replaced) file's inode open and reads it on: after ``rm state.db``,
``await state_manager.list(...)`` said the file was deleted (when its connection had yet to
open), but ``state_manager.sync.get``, ``%state list``, ``history()`` and ``get(at=)`` quietly
returned the old file's data. Every read now gives the same one line (writes were refused
already: ``test_defects_sqlite``). A read checks the file unless a check less than
``FILE_RECHECK`` (2 ms) ago found it there: a burst of gets stats once per window, not per get.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from motia_nb.state.backends.sqlite import backend as sqlite_backend
from motia_nb.state.errors import StateError
from motia_nb.state.manager import StateManager
from motia_nb.testing.shell import error_lines, get_shell

#: the reads of the API, sync and awaited (``at`` reads a seq of the item's history)
READS = {
    "sync.get": lambda sm: sm.sync.get("g", "k"),
    "sync.exists": lambda sm: sm.sync.exists("g", "k"),
    "sync.get(at=)": lambda sm: sm.sync.get("g", "k", at=1),
    "sync.items": lambda sm: sm.sync.items("g"),
    "sync.count": lambda sm: sm.sync.count("g"),
    "sync.list_groups": lambda sm: sm.sync.list_groups(),
    "sync.frame": lambda sm: sm.sync.frame("g"),
    "sync.history": lambda sm: sm.sync.history("g"),
    "sync.history(key)": lambda sm: sm.sync.history("g", "k"),
    "get": lambda sm: asyncio.run(sm.get("g", "k")),
    "get(at=)": lambda sm: asyncio.run(sm.get("g", "k", at=1)),
    "list": lambda sm: asyncio.run(sm.list("g")),
    "count": lambda sm: asyncio.run(sm.count("g")),
    "list_groups": lambda sm: asyncio.run(sm.list_groups()),
    "history": lambda sm: asyncio.run(sm.history("g")),
    "history(key)": lambda sm: asyncio.run(sm.history("g", "k")),
}


def said(path, what: str) -> str:
    return (f"the state database file {path} {what} while it was open, so nothing was read (SQLite would read the "
            f"old file on). Reopen it to use what is there now: %state use {path} (or close() the manager and use "
            f"it again)")


def _replace(path, tmp_path) -> None:
    other = tmp_path / "other.db"
    o = StateManager(str(other))
    o.sync.set("g", "k", "the new file's")
    o.close()
    os.replace(other, path)


@pytest.fixture(params=["deleted", "replaced"])
def moved(request, tmp_path):
    """A manager that read its file (every reader's connection open), then the file deleted or replaced."""
    path = tmp_path / "state.db"
    sm = StateManager(str(path))
    sm.sync.set("g", "k", "old")
    for read in READS.values():  # each read path's connection opened, and the old file read once
        read(sm)
    if request.param == "deleted":
        os.remove(path)
    else:
        _replace(path, tmp_path)
    yield sm, path, f"was {request.param}" + (" by another file" if request.param == "replaced" else "")
    sm.close()


@pytest.mark.parametrize("read", list(READS))
def test_every_read_after_the_file_moved_says_so_in_one_line(moved, monkeypatch, read):
    sm, path, what = moved
    now = sqlite_backend._monotonic()  # past the trust of the reads' check just before (FILE_RECHECK)
    monkeypatch.setattr(sqlite_backend, "_monotonic", lambda: now + sqlite_backend.FILE_RECHECK)
    with pytest.raises(StateError) as info:
        READS[read](sm)
    assert str(info.value) == said(path, what)
    with pytest.raises(StateError):  # and again: never the old data
        READS[read](sm)
    if what == "was deleted":
        assert not path.exists()  # no empty file created at the path


def test_a_burst_of_reads_checks_the_file_once_per_window(tmp_path, monkeypatch):
    """The point-read hot path pays a clock compare, not an ``os.stat`` per get."""
    from motia_nb.state.backends.sqlite import lifecycle

    path = tmp_path / "state.db"
    sm = StateManager(str(path))
    checks = []
    real = lifecycle.file_problem
    monkeypatch.setattr(lifecycle, "file_problem", lambda b: checks.append(1) or real(b))
    clock = [sqlite_backend._monotonic()]
    monkeypatch.setattr(sqlite_backend, "_monotonic", lambda: clock[0])
    try:
        sm.sync.set("g", "k", 1)
        for _ in range(1000):
            assert sm.sync.get("g", "k") == 1
        sm.sync.items("g"), sm.sync.history("g", "k")
        assert len(checks) == 1
        clock[0] += sqlite_backend.FILE_RECHECK
        os.remove(path)
        for read in ("sync.get", "sync.items", "list", "sync.history"):
            with pytest.raises(StateError, match="was deleted while it was open, so nothing was read"):
                READS[read](sm)
    finally:
        sm.close()


def test_a_reopened_file_is_read_again(tmp_path):
    path = tmp_path / "state.db"
    sm = StateManager(str(path))
    try:
        sm.sync.set("g", "k", "old")
        _replace(path, tmp_path)
        with pytest.raises(StateError, match="replaced"):
            sm.sync.items("g")
        sm.use(str(path))
        assert sm.sync.get("g", "k") == "the new file's" and asyncio.run(sm.list("g")) == ["the new file's"]
    finally:
        sm.close()


@pytest.mark.parametrize("line", ["list g", "get g k", "history g", "groups"])
def test_the_state_magic_fails_in_one_line(tmp_path, monkeypatch, line):
    from motia_nb import state_manager

    ip = get_shell()
    before = state_manager.url
    path = tmp_path / "state.db"
    state_manager.use(str(path))
    try:
        state_manager.sync.set("g", "k", 1)
        assert ip.run_line_magic("state", "get g k") == 1
        os.remove(path)
        now = sqlite_backend._monotonic()  # past the trust of the get's check (FILE_RECHECK)
        monkeypatch.setattr(sqlite_backend, "_monotonic", lambda: now + sqlite_backend.FILE_RECHECK)
        lines = error_lines(ip, f"%state {line}")
        assert len(lines) == 1 and "StateError" in lines[0] and said(path, "was deleted") in lines[0], lines
    finally:
        state_manager.use(before)
