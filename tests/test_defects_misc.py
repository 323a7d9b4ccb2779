"""Issue 12 §2.8: raw errors that escaped, misleading messages, close() races, Ctrl-C.

Each test failed before its fix.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading

import pytest

from motia_nb.state import StateManager
from motia_nb.state.errors import InvalidInputError, StateError
from motia_nb.testing.races import buffered_on_another_loop

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ---------------------------------------------------------------------- items(offset=, limit=)
def test_items_pages_take_any_int_and_refuse_the_rest_clearly(sm):
    sm.sync.set("g", "a", 1)
    sm.sync.set("g", "b", 2)
    huge = 10**30
    assert sm.sync.items("g", huge) == []
    assert sm.sync.items("g", 0, huge) == [("a", 1), ("b", 2)]
    assert sm.sync.items("g", 1, 2**63) == [("b", 2)]
    assert asyncio.run(sm.items("g", huge)) == []
    for offset, limit in [(-1, None), (0, -1), (1.5, None), ("1", None), (True, None), (0, 2.0)]:
        with pytest.raises(InvalidInputError, match=r"offset|limit"):
            sm.sync.items("g", offset, limit)
        with pytest.raises(InvalidInputError, match=r"offset|limit"):
            asyncio.run(sm.items("g", offset, limit))


# ---------------------------------------------------------------------- where the file is
def test_a_path_under_a_plain_file_says_so(tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("my notes")
    for path in (plain / "state.db", plain / ".motia" / "state.db"):
        sm = StateManager(str(path))
        with pytest.raises(StateError, match=r"notes\.txt is a file, not a folder"):
            sm.sync.set("g", "k", 1)
    assert plain.read_text() == "my notes"


@pytest.mark.parametrize("content", [b"x", b"my notes\n" * 100], ids=["tiny", "text"])
def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    sm = StateManager(str(path))
    with pytest.raises(StateError, match=r"not an SQLite database"):
        sm.sync.set("g", "k", 1)
    sm.close()
    assert path.read_bytes() == content  # SQLite used to turn a 1-byte file into a database


def test_a_page_corrupted_file_is_a_clear_state_error(tmp_path):
    path = str(tmp_path / "state.db")
    sm = StateManager(path)
    sm.sync.set("seed", "k", 0)

    async def fill():
        await asyncio.gather(*(sm.set("g", f"k{i:05d}", "v" * 200) for i in range(3000)))

    asyncio.run(fill())
    sm.close()
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # garbage over every page but the first (the header)
        for at in range(4096, size, 4096):
            f.seek(at)
            f.write(b"\xa5" * 4096)
    sm = StateManager(path)
    try:
        with pytest.raises(StateError, match=r"corrupt") as info:
            sm.sync.items("g")
            sm.sync.count("g")
        assert "malformed" in str(info.value) or "not a database" in str(info.value)
    finally:
        sm.close()


_READ_ONLY = """
import sys
from motia_nb.state import StateManager
sm = StateManager(sys.argv[1])
try:
    sm.sync.set("g", "k", 2)
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare to make a read-only mount")
def test_a_read_only_mount_is_reported_as_read_only(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    db = mnt / "state.db"
    script = tmp_path / "ro.py"
    script.write_text(_READ_ONLY)
    py = sys.executable
    shell = (
        f"mount -t tmpfs tmpfs {mnt} && "
        f"{py} -c 'from motia_nb.state import StateManager as S; m = S(\"{db}\"); m.sync.set(\"g\", \"k\", 1); m.close()' && "
        f"mount -o remount,ro {mnt} && {py} {script} {db}"
    )
    out = subprocess.run(
        ["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    if "mount:" in out.stderr or "unshare:" in out.stderr:
        pytest.skip(f"cannot make a read-only mount here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert "read-only" in out.stdout, out.stdout
    assert "not a usable" not in out.stdout


# ---------------------------------------------------------------------- close() races
def test_writes_racing_close_all_land(tmp_path):
    """close()'s docstring: the manager stays usable, the next call reopens the database."""
    sm = StateManager(str(tmp_path / "state.db"))
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set() and i < 400:
            try:
                sm.sync.set(f"t{n}", f"k{i}", i)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for _ in range(60):
        sm.close()
    for t in threads:
        t.join(120)
    stop.set()
    try:
        assert errors == []
        assert all(sm.sync.count(f"t{n}") == 400 for n in range(4))
    finally:
        sm.close()


def test_async_writes_racing_close_on_the_same_loop_land(tmp_path):
    sm = StateManager(str(tmp_path / "state.db"))

    async def main():
        pending = [sm.set("g", f"k{i}", i) for i in range(50)]
        sm.close()  # the writes above are still in this loop's buffer
        return await asyncio.gather(*pending, return_exceptions=True)

    try:
        out = asyncio.run(main())
        assert [type(r) for r in out] == [dict] * 50, out[:3]
        assert sm.sync.count("g") == 50
    finally:
        sm.close()


def test_async_writes_buffered_on_another_threads_loop_racing_close_land(tmp_path):
    """A loop on another thread has buffered writes (not yet flushed) when close() runs:
    they commit, before the close or after the reopen, and none fails."""
    sm = StateManager(str(tmp_path / "state.db"))
    sm.sync.set("g", "warm", 0)
    try:
        out = buffered_on_another_loop(
            lambda: [sm.set("g", "one", 1)] + [sm.set("g", f"k{i}", i) for i in range(20)],
            sm.close,
            lambda: sm.set("g", "after", 2),  # and the manager stays usable from here
        )
        assert [type(r) for r in out] == [dict] * 22, out[:3]
        assert sm.sync.get("g", "one") == 1 and sm.sync.count("g") == 23
    finally:
        sm.close()


def test_async_writes_on_another_threads_loop_racing_many_closes_land(tmp_path):
    sm = StateManager(str(tmp_path / "state.db"))
    errors: list[BaseException] = []

    async def writer(n: int) -> None:
        for i in range(300):
            r = await asyncio.gather(sm.set(f"t{n}", f"k{i}", i), sm.set(f"t{n}", f"j{i}", i), return_exceptions=True)
            errors.extend(x for x in r if isinstance(x, BaseException))
            if i % 3 == 0:
                try:
                    await sm.set(f"t{n}", f"a{i}", i)
                except BaseException as exc:  # noqa: BLE001 - asserted below
                    errors.append(exc)

    threads = [threading.Thread(target=asyncio.run, args=(writer(n),)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            sm.close()
        for t in threads:
            t.join(120)
        assert errors == []
        assert [sm.sync.count(f"t{n}") for n in range(3)] == [700] * 3
    finally:
        sm.close()


# ---------------------------------------------------------------------- Ctrl-C
_CTRL_C = """
import signal, sqlite3, sys, threading, time
from motia_nb.state import StateManager

path = sys.argv[1]
# a long busy timeout: under heavy load the SIGINT below may land seconds late, and must still
# find the write waiting (it once ran out of the 10 s default first: a busy error, not the test)
sm = StateManager(path, busy_timeout=60)
sm.sync.set("g", "seed", 0)
other = sqlite3.connect(path, isolation_level=None)
other.execute("BEGIN IMMEDIATE")  # another process's write lock, held
main = threading.main_thread().ident
threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
try:
    sm.sync.set("g", "k", 1)
    print("returned")
except KeyboardInterrupt as exc:
    print("interrupted:", exc)
other.execute("COMMIT")
sm.sync.set("g", "after", 1)  # queued behind the interrupted write, if it was kept
print("committed" if sm.sync.exists("g", "k") else "not committed")
sm.close()
"""


def test_a_sync_write_interrupted_while_waiting_for_a_lock_does_not_commit_later(tmp_path):
    script = tmp_path / "ctrl_c.py"
    script.write_text(_CTRL_C)
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "state.db")], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("interrupted"), out.stdout
    # it raised, so it must not have committed afterwards
    assert lines[-1] == "not committed", out.stdout


# ---------------------------------------------------------------------- use(URL) with an unknown scheme
@pytest.mark.parametrize("url", ["mysql://db/x", "postgres://u@h/db", "http://example.com/state"])
def test_a_url_of_another_database_is_refused_not_taken_for_a_folder(tmp_path, url):
    sm = StateManager(str(tmp_path / "state.db"))
    try:
        sm.sync.set("g", "k", 1)
        with pytest.raises(StateError, match=r"unsupported database URL .*: motia_nb stores state in SQLite \(a path, "
                                             r"sqlite:///path or :memory:\) or Redis \(redis://, rediss://, unix://\)"):
            sm.use(url)
        assert sm.sync.get("g", "k") == 1  # still on the same store
        assert not os.path.exists(url.split(":")[0])  # no folder or file made for it
    finally:
        sm.close()
