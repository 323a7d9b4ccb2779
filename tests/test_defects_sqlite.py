"""Issue 12 §2: defects of the SQLite backend found under attack, each pinned by a test.

2.2 fork mid-transaction, 2.4 managers dropped without close, 2.5 one bad write in
a batch, 2.6 the file deleted or replaced while open, 2.8 raw errors and races.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import sqlite3
import threading
import weakref

import pytest

from motia_nb.state.backends.sqlite.buffers import INLINE_MAX
from motia_nb.state.errors import StateError, StoredValueError, UpdateOpError
from motia_nb.state.manager import StateManager

BIG_INT_TEXT = "1" + "0" * 5000  # more digits than Python converts (sys.get_int_max_str_digits: 4300)


def _raw_put(path: str, group: str, key: str, text: str) -> None:
    """Store ``text`` as an item's value behind motia_nb's back (another tool)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value",
            (group, key, text),
        )
    finally:
        conn.close()


def _write_conn(sm: StateManager) -> sqlite3.Connection:
    """The backend's write connection (to lower SQLite's length limit cheaply)."""
    conn = sm.backend._wconn  # type: ignore[attr-defined]
    assert isinstance(conn, sqlite3.Connection)
    return conn


async def _gather(*aws):
    return await asyncio.gather(*aws, return_exceptions=True)


# ---------------------------------------------------------------------- 2.5 one bad write
@pytest.mark.parametrize("others", [2, 12], ids=["small-batch", "set-based-batch"])
def test_undecodable_stored_value_fails_only_its_own_write(db_path, others):
    """An update needs the item's value: over a stored text Python cannot decode (another tool's)
    it fails alone, naming the item, and the rest of its batch stands. (A set over it stands:
    its old value is the text, as on Redis: tests/test_foreign_values_parity.py.)"""
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "seed", 0)  # creates the file and its schema
        _raw_put(db_path, "g", "big", BIG_INT_TEXT)

        async def batch():
            writes = [sm.set("g", f"k{i}", i) for i in range(others)]
            writes.insert(1, sm.update("g", "big", [{"type": "set", "path": "y", "value": 1}]))  # cannot decode it
            return await _gather(*writes)

        out = asyncio.run(batch())
        bad = out.pop(1)
        assert isinstance(bad, StoredValueError) and "'g'/'big'" in str(bad), bad
        assert all(isinstance(r, dict) for r in out), out
        assert sm.sync.get("g", "k0") == 0 and sm.sync.get("g", f"k{others - 1}") == others - 1
        with sqlite3.connect(db_path) as con:  # nothing of it was written
            assert con.execute("SELECT value FROM items WHERE key = 'big'").fetchone() == (BIG_INT_TEXT,)
    finally:
        sm.close()


@pytest.mark.parametrize("others", [1, 12], ids=["small-batch", "set-based-batch"])
def test_value_over_sqlite_length_limit_fails_only_its_own_write(db_path, others):
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "seed", 0)
        _write_conn(sm).setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 4000)

        async def batch():
            writes = [sm.set("g", f"k{i}", "v" * 50) for i in range(others)]
            writes.insert(1, sm.set("g", "huge", "x" * 5000))
            return await _gather(*writes)

        out = asyncio.run(batch())
        bad = out.pop(1)
        assert isinstance(bad, StateError), bad
        assert "'g'/'huge'" in str(bad) and "size limit" in str(bad)
        assert all(isinstance(r, dict) for r in out), out
        assert sm.sync.count("g") == others + 1  # seed + the good ones; huge never written
        assert not sm.sync.exists("g", "huge")
    finally:
        sm.close()


def test_lone_write_over_length_limit_is_a_clear_error_and_leaves_nothing(db_path):
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "seed", 0)
        _write_conn(sm).setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 4000)
        with pytest.raises(StateError, match=r"'g'/'huge'.*size limit"):
            sm.sync.set("g", "huge", "x" * 5000)
        assert not sm.sync.exists("g", "huge")
        assert sm.sync.set("g", "after", 1)["new_value"] == 1  # the write path still works
    finally:
        sm.close()


def test_update_over_a_stored_number_json_reads_as_inf_fails_alone_naming_it(db_path):
    """``{"x": 1e400}`` decoded to ``{"x": inf}``, and the update then failed with
    ``set.result_not_json`` (its result could not be written back). Redis refuses to read such a
    value at all; so does SQLite now: the update is a StoredValueError naming the item (the
    encoder's own error, for any value it cannot write, is pinned by the next test)."""
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "seed", 0)
        _raw_put(db_path, "g", "o", '{"x": 1e400}')

        async def batch():
            return await _gather(
                sm.set("g", "a", 1), sm.update("g", "o", [{"type": "set", "path": "y", "value": 1}]), sm.set("g", "b", 2)
            )

        a, bad, b = asyncio.run(batch())
        assert isinstance(bad, StoredValueError), bad
        assert str(bad).startswith("the value of 'g'/'o' cannot be read: the number 1e400 is too large for a float")
        assert isinstance(a, dict) and isinstance(b, dict)
        with pytest.raises(StoredValueError, match=r"'g'/'o'"):
            sm.sync.update("g", "o", [{"type": "increment", "path": "x", "by": 1}])
    finally:
        sm.close()


def test_encode_result_names_the_first_op_whose_result_cannot_be_stored():
    """The shared encoder both backends use after apply_ops (Redis raised a bare ValueError)."""
    from motia_nb.state.op_result import encode_result
    from motia_nb.state.ops import apply_ops

    current = {"x": 1, "y": float("inf")}  # as decoded from stored text such as 1e400
    ops = [{"type": "remove", "path": "y"}, {"type": "set", "path": "z", "value": 1}]
    assert encode_result(apply_ops(current, ops, group_id="g", key="k"), ops, current, group_id="g", key="k") == '{"x":1,"z":1}'
    ops = [{"type": "increment", "path": "x", "by": 1}, {"type": "set", "path": "z", "value": 1}]
    new = apply_ops(current, ops, group_id="g", key="k")
    with pytest.raises(UpdateOpError) as info:
        encode_result(new, ops, current, group_id="g", key="k")
    assert info.value.op_index == 0 and info.value.code == "increment.result_not_json"
    assert "$.y is Infinity" in str(info.value) and "'g'/'k'" in str(info.value)


# ---------------------------------------------------------------------- 2.4 dropped managers
def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settles(cond, timeout: float = 30.0) -> bool:
    """Poll ``cond`` until true (collection and thread exit are asynchronous), False on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gc.collect()
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_managers_dropped_without_close_release_their_threads_and_files(tmp_path):
    def use_and_drop(i: int) -> None:
        sm = StateManager(str(tmp_path / f"s{i}.db"))
        sm.sync.set("g", "k", i)  # opens the file and starts the writer thread
        assert sm.sync.get("g", "k") == i

    use_and_drop(-1)  # imports, caches and the first writer start before the baseline
    gc.collect()
    threads, fds = threading.active_count(), _fd_count()
    for i in range(200):
        use_and_drop(i)
    assert _settles(lambda: threading.active_count() <= threads + 5 and _fd_count() <= fds + 10), (
        f"threads {threads} -> {threading.active_count()}, fds {fds} -> {_fd_count()}"
    )
    # what the dropped managers wrote was committed before they let go
    for i in (0, 199):
        sm = StateManager(str(tmp_path / f"s{i}.db"))
        assert sm.sync.get("g", "k") == i
        sm.close()


def test_a_dropped_manager_with_a_subscriber_is_released_too(tmp_path):
    events = []
    before = set(threading.enumerate())
    sm = StateManager(str(tmp_path / "s.db"))
    sm.subscribe(events.append)
    sm.sync.set("g", "k", 1)

    async def batch():  # a gather of over INLINE_MAX writes is a queued batch: it starts the file's aiosqlite writer thread
        await asyncio.gather(*(sm.set("g", f"a{i}", i) for i in range(INLINE_MAX + 1)))
        assert await sm.list("g") == [1, *range(INLINE_MAX + 1)]  # a long read: the aiosqlite reader thread too

    asyncio.run(batch())
    assert len(events) == INLINE_MAX + 2
    # the SQLite loop (writer_thread) is shared by every file; these threads are this file's own
    own = [t for t in set(threading.enumerate()) - before if t.name in ("motia-nb-sqlite-writer", "motia-nb-sqlite-reader")]
    assert len(own) == 2, own
    backend = weakref.ref(sm.backend)
    del sm
    assert _settles(lambda: backend() is None and not any(t.is_alive() for t in own))


# ---------------------------------------------------------------------- 2.2 fork mid-transaction
def _child_write(path: str, q) -> None:
    sm = _inherited[path]
    try:
        q.put(("ok", sm.sync.set("child", "k", os.getpid())))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        q.put(("error", repr(exc)))


_inherited: dict[str, StateManager] = {}


def test_a_child_forked_while_the_parent_is_in_a_write_transaction_can_write(db_path):
    from motia_nb.state.backends.base import Write
    from motia_nb.state.values import encode_value

    sm = StateManager(db_path)
    _inherited[db_path] = sm
    sm.sync.set("g", "seed", 0)
    in_txn = threading.Event()

    def progress(n: int) -> None:  # called inside the open transaction, chunk by chunk
        in_txn.set()
        import time

        time.sleep(0.05)

    writes = [Write("set", "big", f"k{i}", value_json=encode_value(i, group_id="big", key="k")) for i in range(20_000)]
    parent = threading.Thread(target=lambda: sm.backend.write_all(writes, progress=progress))
    try:
        parent.start()
        assert in_txn.wait(30)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_child_write, args=(db_path, q))
        child.start()  # the parent's transaction is open right now
        child.join(90)
        alive = child.is_alive()
        if alive:
            child.kill()
        assert not alive, "the forked child's first write hung"
        status, payload = q.get(timeout=5)
        assert status == "ok", payload
        parent.join(60)
        assert sm.sync.get("child", "k") == payload["new_value"]
        assert sm.sync.count("big") == 20_000  # the parent's transaction was not disturbed
    finally:
        parent.join(60)
        _inherited.pop(db_path, None)
        sm.close()


# ---------------------------------------------------------------------- 2.6 file deleted / replaced
def test_a_write_after_the_file_was_deleted_is_refused_not_acknowledged(db_path):
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "before", 1)
        os.remove(db_path)
        with pytest.raises(StateError, match=r"deleted"):
            sm.sync.set("g", "lost", 2)

        async def gathered():
            return await _gather(*(sm.set("g", f"k{i}", i) for i in range(20)))

        assert all(isinstance(r, StateError) and "deleted" in str(r) for r in asyncio.run(gathered()))
        # reopening starts on what is there now: a new, empty database
        sm.close()
        assert sm.sync.items("g") == []
        sm.sync.set("g", "after", 3)
        assert sm.sync.get("g", "after") == 3
    finally:
        sm.close()


@pytest.mark.parametrize("reopen", ["close", "use", "another-manager"])
def test_a_replaced_file_is_detected_and_read_after_reopen(db_path, tmp_path, reopen):
    other = str(tmp_path / "other.db")
    sm = StateManager(db_path)
    try:
        sm.sync.set("g", "old", 1)
        o = StateManager(other)
        o.sync.set("g", "new", 2)
        o.close()
        os.replace(other, db_path)
        with pytest.raises(StateError, match=r"replaced"):
            sm.sync.set("g", "x", 3)
        if reopen == "close":
            sm.close()
            reader = sm
        elif reopen == "use":
            sm.use(db_path)
            reader = sm
        else:
            reader = StateManager(db_path)
        # the replacement's data, not the old file's hidden behind its WAL
        assert reader.sync.items("g") == [("new", 2)]
        reader.sync.set("g", "y", 4)
        assert reader.sync.items("g") == [("new", 2), ("y", 4)]
        if reader is not sm:
            reader.close()
    finally:
        sm.close()


def _child_write_report(path: str, q) -> None:
    try:
        q.put(("ok", _inherited[path].sync.set("child", "k", 1)))
    except StateError as exc:
        q.put(("error", str(exc)))


def test_a_child_forked_inside_a_transaction_it_cannot_wait_for_gets_a_clear_error_at_once(db_path, monkeypatch):
    """When the parent's transaction outlasts the fork's wait, the child says so instead of hanging."""
    from motia_nb.state.backends.base import Write
    from motia_nb.state.backends.sqlite import forking

    monkeypatch.setattr(forking, "FORK_WAIT", 0.1)
    sm = StateManager(db_path)
    _inherited[db_path] = sm
    sm.sync.set("g", "seed", 0)
    in_txn, release = threading.Event(), threading.Event()

    def progress(n: int) -> None:  # holds the transaction open until the child has answered
        in_txn.set()
        release.wait(60)

    writes = [Write("set", "big", f"k{i}", value_json=str(i)) for i in range(10)]
    parent = threading.Thread(target=lambda: sm.backend.write_all(writes, progress=progress))
    try:
        parent.start()
        assert in_txn.wait(30)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_child_write_report, args=(db_path, q))
        child.start()
        child.join(60)
        alive = child.is_alive()
        if alive:
            child.kill()
        assert not alive
        status, payload = q.get(timeout=5)
        assert status == "error" and "forked while its parent was writing" in payload, payload
    finally:
        release.set()
        parent.join(60)
        _inherited.pop(db_path, None)
    assert sm.sync.count("big") == 10  # the parent's transaction committed as usual
    sm.close()
