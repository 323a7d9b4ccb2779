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
from motia_nb.session import clear_logs, clear_traces, enqueue, reset_steps, step
from motia_nb.state import state_manager
from motia_nb.steps import queue


@pytest.fixture(autouse=True)
def sandbox(tmp_path):
    previous = state_manager.url
    reset_steps()
    clear_logs()
    clear_traces()
    state_manager.use(str(tmp_path / "state.db"))
    yield
    reset_steps()
    state_manager.use(previous)


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
