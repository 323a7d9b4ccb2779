"""Another process holding SQLite's write lock (issue 12 §2.3), and the aiosqlite write path.

A second *process* takes ``BEGIN IMMEDIATE`` (with an uncommitted row) and holds it:
a new manager's first read must not wait for it, an async write waiting for it must
let the loop run, and running out of the busy timeout (a setting) is one clear line.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from motia_nb.state import StateError, StateManager

LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO items (grp, key, value) VALUES ('g', 'from-locker', '1')")
    print("locked", flush=True)
    hold = float(sys.argv[2])
    if hold < 0:
        sys.stdin.readline()
    else:
        time.sleep(hold)
    conn.execute("COMMIT")
    print("released", flush=True)
    """
)


class Locker:
    """A second process holding the write lock of ``path`` (until :meth:`release`, or ``hold`` seconds)."""

    def __init__(self, path: str, hold: float = -1) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCKER, path, str(hold)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == "locked", self.proc.stderr.read() if self.proc.stderr else line

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
        self.proc.wait(timeout=30)


@pytest.fixture
def made(db_path: str) -> Iterator[str]:
    """A state file that exists (schema current) with one item, closed again."""
    sm = StateManager(db_path)
    sm.sync.set("g", "before", {"n": 1})
    sm.close()
    yield db_path


def _in_thread(fn, timeout: float = 30):  # a hang guard, not a speed assertion
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the call waited for the other process's write lock"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_a_new_managers_first_reads_never_wait_for_another_process_write_lock(made):
    locker = Locker(made)
    try:
        # A read must not even start waiting: one that waited would fail (the hang guard, or the
        # busy timeout's error after 5 s). (At close the manager waits out this timeout for the
        # locker, which holds the lock until the test ends: 60 s here cost a minute per run.)
        sm = StateManager(made, busy_timeout=5)
        assert _in_thread(lambda: sm.sync.get("g", "before")) == {"n": 1}
        assert _in_thread(lambda: sm.sync.count("g")) == 1  # the uncommitted row is not seen

        async def reads():
            return await sm.list("g"), await sm.group_counts(), await sm.items("g")

        assert _in_thread(lambda: asyncio.run(reads())) == ([{"n": 1}], {"g": 1}, [("before", {"n": 1})])
        sm.close()
    finally:
        locker.release()


def test_an_async_write_waiting_for_another_process_lets_the_loop_run(made):
    """The first call of a new manager is a write; another process holds the lock for a while."""
    locker = Locker(made, hold=1.5)
    sm = StateManager(made)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main():
        t = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        res = await sm.set("g", "k", {"waited": True})
        more = await asyncio.gather(*(sm.set("g", f"b{i}", i) for i in range(50)))
        t.cancel()
        return res, more

    res, more = asyncio.run(main())
    locker.proc.wait(timeout=30)
    assert res == {"new_value": {"waited": True}, "old_value": None}
    assert [m["new_value"] for m in more] == list(range(50))
    assert ticks >= 20, f"the loop ran only {ticks} times while the write waited"  # ~100 when idle
    assert sm.sync.get("g", "from-locker") == 1  # the other process's write stands too
    sm.close()


def test_running_out_of_the_busy_timeout_is_one_clear_error_and_nothing_is_written(made, monkeypatch):
    locker = Locker(made)
    try:
        sm = StateManager(made, busy_timeout=0.3)
        assert sm.busy_timeout == 0.3

        async def write():
            return await sm.set("g", "k", 1)

        with pytest.raises(StateError) as err:
            _in_thread(lambda: asyncio.run(write()))
        msg = str(err.value)
        assert made in msg and "0.3 s" in msg and "\n" not in msg
        with pytest.raises(StateError, match="busy timeout"):
            _in_thread(lambda: sm.sync.update("g", "k", [{"type": "increment", "path": "n", "by": 1}]))
        sm.close()
        monkeypatch.setenv("MOTIA_NB_BUSY_TIMEOUT", "0.2")
        env = StateManager(made)
        assert env.busy_timeout == 0.2
        with pytest.raises(StateError, match=r"\(0\.2 s\)"):
            _in_thread(lambda: env.sync.delete("g", "before"))
        env.busy_timeout = 0.1  # settable on an open manager
        with pytest.raises(StateError, match=r"\(0\.1 s\)"):
            _in_thread(lambda: env.sync.set("g", "k", 2))
        env.close()
    finally:
        locker.release()
    check = StateManager(made)
    assert check.sync.get("g", "k") is None and check.sync.get("g", "before") == {"n": 1}
    check.close()


def test_a_bad_busy_timeout_is_refused_clearly(db_path, monkeypatch):
    with pytest.raises(StateError, match="busy_timeout must be a number of seconds >= 0"):
        StateManager(db_path, busy_timeout=-1)
    monkeypatch.setenv("MOTIA_NB_BUSY_TIMEOUT", "soon")
    with pytest.raises(StateError, match="MOTIA_NB_BUSY_TIMEOUT must be a number of seconds"):
        StateManager(db_path).sync.get("g", "k")


def test_busy_timeout_in_notebook_config(db_path):
    from traitlets import TraitError

    from motia_nb.notebook.config import MotiaNB
    from motia_nb.session import default_session

    manager = default_session().manager
    before = manager._busy_timeout
    settings = MotiaNB()
    try:
        settings.busy_timeout = 2.5
        assert manager.busy_timeout == 2.5
        with pytest.raises(TraitError, match="busy_timeout"):
            settings.busy_timeout = -3
        assert manager.busy_timeout == 2.5
    finally:
        manager.busy_timeout = before


def test_a_gather_is_one_transaction_and_a_lone_write_commits_inline(db_path):
    # history off: after a 20,000-change gather the history's own thread files and prunes (its
    # short transactions hold the write lock), and a write meeting one is queued, not inline
    sm = StateManager(db_path, history_keep="off")
    sm.sync.set("g", "open", 0)
    commits = lambda: sm.backend.change_token()[1]  # noqa: E731
    loop_thread: list[threading.Thread] = []

    def where(ev):
        loop_thread.append(threading.current_thread())

    async def main():
        before = commits()
        out = await asyncio.gather(*(sm.set("g", f"k{i}", i) for i in range(20_000)))
        after_gather = commits()
        unsub = sm.subscribe(where)
        await sm.set("g", "lone", 1)  # nothing in flight: committed inline, on this thread
        unsub()
        return out, after_gather - before

    out, n = asyncio.run(main())
    assert n == 1
    assert out[-1] == {"new_value": 19_999, "old_value": None}
    assert loop_thread == [threading.main_thread()]
    assert sm.sync.count("g") == 20_002
    sm.close()


def test_a_script_that_never_closes_exits_after_a_batch_and_a_long_read(db_path):
    code = textwrap.dedent(
        f"""
        import asyncio
        from motia_nb.state import StateManager
        sm = StateManager({db_path!r})
        async def main():
            await asyncio.gather(*(sm.set("g", str(i), i) for i in range(100)))
            return await sm.list("g")
        print(len(asyncio.run(main())))
        """
    )
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "100"
    assert time.monotonic() - t0 < 60


def test_a_read_waits_for_its_own_writes_that_had_to_be_queued(tmp_path) -> None:
    """An unawaited write finds the write lock taken (here held as the history pruner holds
    it) and is queued: a read on the same thread still sees it (program order). History off:
    the real pruner's pass at open reads under the gate too (fork safety) and could hold it
    just when the test takes it."""
    sm = StateManager(str(tmp_path / "s.db"), history_keep="off")
    try:
        sm.sync.set("g", "k", 0)
        gate = sm.backend._wlock  # type: ignore[attr-defined]

        async def main() -> object:
            assert gate.acquire(False)
            first = sm.set("g", "k", 1)  # buffered; the read below flushes it into the queue
            threading.Thread(target=lambda: (time.sleep(0.2), gate.release())).start()
            assert await sm.get("g", "k") == 1
            return await first

        assert asyncio.run(main()) == {"new_value": 1, "old_value": 0}
    finally:
        sm.close()
