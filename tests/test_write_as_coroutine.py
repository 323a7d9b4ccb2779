"""A state write is a coroutine to asyncio, as Motia's ``async def`` writes are.

Motia code hands writes to ``asyncio.create_task(state_manager.set(...))`` (fire now, await
later) and ``TaskGroup.create_task``, which take a coroutine only: motia_nb's write (a
``WriteFuture``, so that a gather is one batch and a lone await commits without suspending)
failed with "TypeError: a coroutine was expected, got <WriteFuture pending>". It now speaks
the coroutine protocol over its own ``__await__``; ``await`` and ``gather`` are unchanged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.write_future import WriteFuture


@pytest.fixture
def sm(backend_url):
    m = StateManager(backend_url)
    yield m
    m.close()


def test_create_task_and_a_task_group_take_a_write(sm):
    async def main():
        task = asyncio.create_task(sm.set("orders", "o1", {"status": "new"}))
        assert await task == {"new_value": {"status": "new"}, "old_value": None}
        async with asyncio.TaskGroup() as tg:
            paid = tg.create_task(sm.update("orders", "o1", [{"type": "set", "path": "status", "value": "paid"}]))
            other = tg.create_task(sm.set("orders", "o2", 2))
            gone = tg.create_task(sm.delete("orders", "nope"))
        assert paid.result()["new_value"] == {"status": "paid"}
        assert other.result() == {"new_value": 2, "old_value": None} and gone.result() is None
        return await sm.get("orders", "o1")

    assert asyncio.run(main()) == {"status": "paid"}


def test_a_task_of_a_failing_write_fails_with_its_error(sm):
    async def main():
        await sm.set("g", "n", 1)
        task = asyncio.create_task(sm.update("g", "n", [{"type": "increment", "path": "x", "by": 1}]))
        with pytest.raises(Exception, match="increment"):
            await task
        return await sm.get("g", "n")

    assert asyncio.run(main()) == 1


def test_a_write_is_both_a_coroutine_and_a_future_to_asyncio(sm):
    async def main():
        w = sm.set("g", "k", 1)
        assert isinstance(w, WriteFuture)
        assert asyncio.iscoroutine(w) and asyncio.isfuture(w)
        assert asyncio.ensure_future(w) is w  # a future stays itself: a gather is still one batch
        await w
        with pytest.raises(TypeError, match="coroutines is forbidden"):  # as for Motia's own coroutines
            await asyncio.wait([sm.set("g", "w", 1)])
        assert (await asyncio.wait_for(sm.set("g", "w", 2), 5))["new_value"] == 2
        assert (await asyncio.shield(sm.set("g", "w", 3)))["new_value"] == 3
        many = await asyncio.gather(*(sm.set("g", f"k{i}", i) for i in range(50)))
        assert [r["new_value"] for r in many] == list(range(50))

    asyncio.run(main())


def test_a_cancelled_task_of_a_write_is_cancelled(sm):
    async def main():
        task = asyncio.create_task(sm.set("g", "k", 1))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())


def test_close_stops_driving_it_only(sm):
    async def main():
        w = sm.set("g", "k", 1)
        w.close()  # never driven: nothing to stop; the write was submitted
        assert await w == {"new_value": 1, "old_value": None}

    asyncio.run(main())


def test_in_a_real_kernel_a_cell_creates_a_task_of_a_write(tmp_path: Path):
    from test_new_user_unawaited_reads import run_in_kernel, shown

    ran = run_in_kernel({
        "setup": "%load_ext motia_nb\nimport asyncio\nfrom motia_nb import state_manager",
        "task": "t = asyncio.create_task(state_manager.set('orders', 'o1', {'status': 'new'}))\nprint(await t)",
        "group": ("async with asyncio.TaskGroup() as tg:\n"
                  "    for i in range(3):\n"
                  "        tg.create_task(state_manager.set('orders', f'o{i + 2}', i))\n"
                  "print(await state_manager.count('orders'))"),
    }, tmp_path)  # fmt: skip
    assert shown(ran["setup"]) == ""
    assert shown(ran["task"]) == "{'new_value': {'status': 'new'}, 'old_value': None}\n", shown(ran["task"])
    assert shown(ran["group"]) == "4\n", shown(ran["group"])
