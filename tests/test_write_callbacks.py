"""A batch of write futures is resolved with ONE loop callback running their done callbacks.

``delivery.LoopBatch`` takes each future's done callbacks off before setting its
result and runs them all in one loop callback (``waiters.run_callbacks``) instead
of the one Handle per future ``set_result`` schedules. Checked here against what
asyncio itself does: same callbacks, each exactly once, in the same order, in its
own context, after every result of the batch is set, never inside ``_resolve``;
an exception goes to the loop's handler and the others still run; ``SystemExit``
propagates and the callbacks left run in the next turn.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from motia_nb.state.backends.base import WriteResult
from motia_nb.state.backends.sqlite.delivery import LoopBatch
from motia_nb.state.backends.waiters import run_callbacks
from motia_nb.state.backends.write_future import WriteFuture
from motia_nb.state.errors import StateError

_var: contextvars.ContextVar[str] = contextvars.ContextVar("_var", default="-")


class _NoLone:
    def await_lone(self, fut: Any) -> None:
        pass  # never the loop's only buffered write: awaiting suspends as a plain future


def _batch(loop: asyncio.AbstractEventLoop, n: int, future_type: Any = WriteFuture) -> LoopBatch:
    batch = LoopBatch(loop)
    batch.futs = [future_type(loop=loop) for _ in range(n)]
    for f in batch.futs:
        if type(f) is WriteFuture:
            f.owner = _NoLone()
    batch.writes = [None] * n  # type: ignore[list-item]
    return batch


def _outcomes(n: int) -> list[Any]:
    out: list[Any] = []
    for i in range(n):
        if i % 4 == 3:
            out.append(StateError(f"bad {i}"))
        elif i % 4 == 2:
            out.append(WriteResult(result=i))
        else:
            out.append({"new_value": i, "old_value": None})
    return out


@pytest.mark.parametrize("future_type", [WriteFuture, asyncio.Future])
def test_callbacks_run_once_each_in_order_in_their_context_after_every_result(future_type: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        n = 9
        batch = _batch(loop, n, future_type)
        seen: list[tuple[int, str, str, bool]] = []
        in_resolve = [False]

        def make(i: int, tag: str) -> Any:
            def cb(fut: Any) -> None:
                assert not in_resolve[0], "a callback ran inside _resolve"
                assert all(f.done() for f in batch.futs)
                seen.append((i, tag, _var.get(), fut is batch.futs[i]))
            return cb

        expected = []
        for i, fut in enumerate(batch.futs):
            tags = ["a"] if i % 3 else ["a", "b", "c"]  # several callbacks on some futures
            for tag in tags:
                ctx = contextvars.copy_context()
                ctx.run(_var.set, f"{i}{tag}")
                fut.add_done_callback(make(i, tag), context=ctx)
                expected.append((i, tag, f"{i}{tag}", True))
        extra = make(0, "x")
        batch.futs[0].add_done_callback(extra)
        batch.futs[0].remove_done_callback(extra)  # removed before: never runs
        outcomes = _outcomes(n)
        in_resolve[0] = True
        batch._resolve(outcomes)
        in_resolve[0] = False
        assert seen == []
        await asyncio.sleep(0)
        assert seen == expected
        await asyncio.sleep(0)
        assert seen == expected  # exactly once
        for fut, out in zip(batch.futs, outcomes):
            if isinstance(out, BaseException):
                assert fut.exception() is out
            elif isinstance(out, WriteResult):
                assert fut.result() == out.result
            else:
                assert fut.result() is out

    asyncio.run(main())


def test_a_gather_and_awaiting_tasks_see_the_batch_as_before() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        batch = _batch(loop, 6)
        outcomes = [{"new_value": i, "old_value": None} for i in range(6)]
        gathered = asyncio.gather(*batch.futs[:3])
        awaited = [asyncio.ensure_future(_await(f)) for f in batch.futs[3:]]
        await asyncio.sleep(0)  # the tasks now wait on their futures
        batch._resolve(outcomes)
        assert await gathered == outcomes[:3]
        assert [await t for t in awaited] == outcomes[3:]

    asyncio.run(main())


async def _await(fut: Any) -> Any:
    return await fut


def test_a_future_done_already_is_skipped_and_its_callbacks_left_alone() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        batch = _batch(loop, 3)
        calls: list[int] = []
        for i, f in enumerate(batch.futs):
            f.add_done_callback(lambda _f, i=i: calls.append(i))
        batch.futs[1].cancel()  # its awaiting task was cancelled: the write stands
        batch._resolve([{"new_value": i, "old_value": None} for i in range(3)])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert sorted(calls) == [0, 1, 2]
        assert batch.futs[1].cancelled()

    asyncio.run(main())


def test_a_failing_callback_goes_to_the_exception_handler_and_the_others_run() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        batch = _batch(loop, 3)
        calls: list[int] = []

        def boom(_f: Any) -> None:
            raise ValueError("boom")

        batch.futs[0].add_done_callback(lambda _f: calls.append(0))
        batch.futs[1].add_done_callback(boom)
        batch.futs[2].add_done_callback(lambda _f: calls.append(2))
        batch._resolve([{"new_value": i, "old_value": None} for i in range(3)])
        await asyncio.sleep(0)
        assert calls == [0, 2]
        assert len(reported) == 1 and isinstance(reported[0]["exception"], ValueError)
        assert reported[0]["future"] is batch.futs[1]

    asyncio.run(main())


def test_system_exit_propagates_and_the_callbacks_left_run_next_turn() -> None:
    loop = asyncio.new_event_loop()
    try:
        futs = [loop.create_future() for _ in range(3)]
        calls: list[int] = []

        def stop(_f: Any) -> None:
            calls.append(1)
            raise SystemExit(3)

        pending = [(lambda _f: calls.append(0), contextvars.copy_context(), futs[0]),
                   (stop, contextvars.copy_context(), futs[1]),
                   (lambda _f: calls.append(2), contextvars.copy_context(), futs[2])]  # fmt: skip
        loop.call_soon(run_callbacks, loop, pending)
        with pytest.raises(SystemExit):
            loop.run_until_complete(asyncio.sleep(0))
        assert calls == [0, 1]
        loop.run_until_complete(asyncio.sleep(0))
        assert calls == [0, 1, 2]
    finally:
        loop.close()


def test_a_gathers_calls_made_as_one_give_what_asyncio_gives() -> None:
    """A run of one gather's children answers the gather once (collapse_gathers): the same
    results, the gather done only when its last child is (another batch, a plain future),
    two gathers interleaved, an awaiting task's callback between them."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        first, second = _batch(loop, 5), _batch(loop, 4)
        other = loop.create_future()
        outs1 = [{"new_value": i, "old_value": None} for i in range(5)]
        outs2 = [{"new_value": 10 + i, "old_value": i} for i in range(4)]
        across = asyncio.gather(*first.futs[:3], *second.futs[:2], other)  # spans both batches and a plain future
        alone = asyncio.gather(*first.futs[3:])
        task = asyncio.ensure_future(_await(second.futs[2]))
        tail = asyncio.gather(second.futs[3])
        await asyncio.sleep(0)
        first._resolve(outs1)
        await asyncio.sleep(0)
        assert alone.done() and alone.result() == outs1[3:]
        assert not across.done()
        second._resolve(outs2)
        await asyncio.sleep(0)
        assert not across.done()  # `other` still pending: counted, not finished
        other.set_result("x")
        assert await across == outs1[:3] + outs2[:2] + ["x"]
        assert await task == outs2[2] and await tail == [outs2[3]]

    asyncio.run(main())


def test_a_gather_cancelled_before_its_results_arrive_gets_each_call() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        batch = _batch(loop, 4)
        g = asyncio.gather(*batch.futs)
        g.cancel()  # cancels the children: the batch skips them (done already)
        batch2 = _batch(loop, 3)
        g2 = asyncio.gather(*batch2.futs)
        batch2._resolve([{"new_value": i, "old_value": None} for i in range(3)])
        g2.cancel()  # the outer is done before the callbacks run: each call made as usual
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert g2.cancelled() or g2.done()
        assert [f.result() for f in batch2.futs] == [{"new_value": i, "old_value": None} for i in range(3)]
        with pytest.raises(asyncio.CancelledError):
            await g

    asyncio.run(main())


def test_a_batch_with_a_failed_write_calls_the_gather_once_per_child() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        batch = _batch(loop, 4)
        g = asyncio.gather(*batch.futs, return_exceptions=True)
        outs: list[Any] = [{"new_value": 0, "old_value": None}, StateError("bad"), {"new_value": 2, "old_value": None}, 3]
        batch._resolve(outs)
        assert await g == outs

    asyncio.run(main())
