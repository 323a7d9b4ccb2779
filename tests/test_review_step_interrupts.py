"""Review of today's step changes: an interrupt told from a caller's cancel (the SIGINT count of
the wake-up fd) when the SIGINT arrived while an earlier step of the cascade ran."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from motia_nb._interrupts import (
    CancelledByInterrupt,
    cancel_on_interrupt,
    wake_on_signals,
)
from motia_nb.session import enqueue, step
from motia_nb.steps import queue


@pytest.fixture(autouse=True)
def sandbox(steps_sandbox):
    """No steps, no logs, no traces, and a fresh database file for each test (conftest)."""


def test_an_interrupt_during_one_step_that_cancels_the_next_is_an_interrupt(capsys):
    """Kernel › Interrupt while a busy async step runs (no await: the cancel can only land in the
    step after it): the cascade is cancelled by an interrupt, not by its caller. The next step's
    own count of SIGINTs already held this one, so its cancel read as a wait_for's: a bare
    CancelledError and 'the call waiting for it was cancelled'."""
    started = []

    @step({"name": "Busy", "triggers": [queue("t")]})
    async def busy(data):
        os.kill(os.getpid(), signal.SIGINT)  # Kernel › Interrupt, while this step computes
        sum(range(10_000))  # (the Python-level handler runs here: the cancel is scheduled)

    @step({"name": "Waits", "triggers": [queue("t")]})
    async def waits(data):
        started.append(1)
        await asyncio.Event().wait()

    async def main():
        undo = wake_on_signals(asyncio.get_running_loop())
        assert undo is not None
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # between cells, as ipykernel leaves it
        try:
            with cancel_on_interrupt() as watch:
                assert watch is not None
                with pytest.raises(CancelledByInterrupt) as info:
                    await enqueue({"topic": "t", "data": 1})
                return info.value
        finally:
            signal.signal(signal.SIGINT, old)
            undo()

    err = asyncio.run(main())
    assert started == [1]
    assert "Waits" in str(err)
    said = capsys.readouterr().err
    assert "cancelled: interrupted" in said
    assert "the call waiting for it was cancelled" not in said


def test_a_forked_childs_signals_are_not_counted_as_the_kernels():
    """A forked child (multiprocessing's fork) inherits the wake-up fd: a SIGINT the child takes
    was written into the kernel's socket and counted as a Kernel › Interrupt of the kernel (a
    caller's cancel then read as an interrupt). The child lets go of the wake-up fd."""
    from motia_nb._interrupts import sigints_seen

    async def main():
        undo = wake_on_signals(asyncio.get_running_loop())
        assert undo is not None
        try:
            before = sigints_seen()
            pid = os.fork()
            if pid == 0:  # the child: a SIGINT handled in Python, as a worker process may
                try:
                    signal.signal(signal.SIGINT, lambda *a: None)
                    os.kill(os.getpid(), signal.SIGINT)
                finally:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            return before, sigints_seen()
        finally:
            undo()

    before, after = asyncio.run(main())
    assert before is not None and after == before


def test_undoing_the_wake_up_fd_keeps_one_set_since_by_someone_else():
    """undo() put back the wake-up fd it found at install (always none) instead of the one set
    after it: another library's wake-up fd was cleared."""
    import socket

    async def main():
        undo = wake_on_signals(asyncio.get_running_loop())
        assert undo is not None
        r, w = socket.socketpair()
        w.setblocking(False)
        try:
            signal.set_wakeup_fd(w.fileno())  # someone else's, set after ours
            undo()
            return signal.set_wakeup_fd(-1), w.fileno()
        finally:
            r.close()
            w.close()

    now, theirs = asyncio.run(main())
    assert now == theirs
