"""A hang detector for tests that fork: forked children that stop answering fail the test
with their stacks, instead of holding the suite until pytest's timeout.

:func:`children_dump_stacks` registers ``faulthandler`` for ``SIGUSR1`` in *this*
process before it forks, so every child inherits the handler from its first
instruction on (a child stuck inside an at-fork hook still answers), writing all its
threads' Python stacks into one shared file. :func:`map_or_dump` runs ``pool.map``
with a generous bound; when it runs out, it signals each child, adds its C stacks
when ``gdb`` is installed (SQLite mutexes, the GIL, malloc locks show there only),
terminates the pool and fails with all of that in the message. The bound is a hang
detector, not a speed check: a healthy run takes seconds. Single children
(``multiprocessing.Process``) use the store a parent left them in :data:`_inherited`
(:func:`_child_uses_the_store`) and are joined with a bound (:func:`_join`).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import multiprocessing
import multiprocessing.pool
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import pytest

from motia_nb.state.manager import StateManager

#: seconds a pool's work may take before its children count as hung
HANG_AFTER = 120.0


@contextlib.contextmanager
def children_dump_stacks() -> Iterator[IO[str]]:
    """While inside, children forked from here write their stacks to the yielded file on SIGUSR1."""
    with tempfile.TemporaryFile("w+") as f:
        faulthandler.register(signal.SIGUSR1, file=f, all_threads=True, chain=False)
        try:
            yield f
        finally:
            faulthandler.unregister(signal.SIGUSR1)


def _c_stacks(pid: int) -> str:
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(gdb is not installed: no C stacks)"
    try:
        out = subprocess.run(
            [gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt 25"],
            capture_output=True, text=True, timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(gdb failed: {exc})"
    return "\n".join(line for line in out.splitlines() if line.startswith(("Thread ", "#")))


def dump_children(pids: Iterable[int], stacks: IO[str]) -> str:
    """Each child's Python stacks (SIGUSR1, see :func:`children_dump_stacks`) and C stacks."""
    parts = []
    for pid in pids:
        start = stacks.seek(0, os.SEEK_END)
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            parts.append(f"--- child {pid}: gone")
            continue
        time.sleep(1.0)  # the handler writes from the signal handler, at once
        stacks.seek(start)
        parts.append(f"--- child {pid}, Python stacks:\n{stacks.read()}\n--- child {pid}, C stacks:\n{_c_stacks(pid)}")
    return "\n".join(parts)


def map_or_dump(
    pool: multiprocessing.pool.Pool, fn: Callable[[Any], Any], args: list[Any], stacks: IO[str],
    timeout: float = HANG_AFTER,
) -> list[Any]:
    """``pool.map(fn, args, chunksize=1)``; children that do not answer within ``timeout``
    seconds fail the test with their stacks (the pool is terminated first)."""
    result = pool.map_async(fn, args, chunksize=1)
    try:
        return result.get(timeout)
    except multiprocessing.TimeoutError:
        pids = [p.pid for p in pool._pool]  # type: ignore[attr-defined]
        report = dump_children(pids, stacks)
        pool.terminate()
        pytest.fail(f"forked children {pids} did not answer within {timeout:.0f} s (hung); their stacks:\n{report}")


# ---------------------------------------------------------------------- single children
#: seconds a single forked child may take (then it is killed and the test fails)
CHILD_TIMEOUT = 60

_inherited: dict[str, StateManager] = {}  # path -> the manager a forked child uses


def _join(child: "multiprocessing.process.BaseProcess") -> None:
    child.join(CHILD_TIMEOUT)
    alive = child.is_alive()
    if alive:
        child.kill()
        child.join()
    assert not alive, "the forked child hung"


def _child_uses_the_store(path: str, q) -> None:
    sm = _inherited[path]
    try:
        sm.sync.set("child", "sync", os.getpid())

        async def main():
            await asyncio.gather(*(sm.set("child", f"a{i}", i) for i in range(10)))
            return await sm.list("child"), await sm.count("big")

        values, big = asyncio.run(main())
        q.put(("ok", (sm.sync.get("child", "sync"), len(values), big)))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        q.put(("error", repr(exc)))


def fork_child_using_the_store(path: str, then: "Callable[[], Any] | None" = None) -> "tuple[str, Any, Any]":
    """Fork a child that uses the inherited manager of ``path`` (:func:`_child_uses_the_store`);
    call ``then()`` in the parent as soon as the child started; wait for the child (killed if it
    hangs). Returns ``(status, payload, what then() returned)``."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=_child_uses_the_store, args=(path, q))
    child.start()
    after = then() if then is not None else None
    _join(child)
    status, payload = q.get(timeout=5)
    return status, payload, after
