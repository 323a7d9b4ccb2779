"""Resolving the futures of committed writes, from whichever thread committed them.

Both backends answer a write through a future: a ``concurrent.futures.Future`` for
a blocking caller (resolved on the committing thread), or an ``asyncio.Future`` of
the caller's loop, resolved on that loop: directly when the commit ran on the
loop's own thread, else with one ``call_soon_threadsafe`` per loop and batch. A batch's
done callbacks can be taken off its futures (:func:`take_callbacks`) and run together
in one loop callback (:func:`run_callbacks`) instead of one Handle per future; the
calls of one ``asyncio.gather``'s child callback for a run of its children that all got
a result are made as one (:func:`collapse_gathers`: a 20,000-set gather's callback runs
once, not 20,000 times).
"""

from __future__ import annotations

import asyncio
import asyncio.tasks
import itertools
from collections.abc import Callable
from operator import itemgetter
from typing import Any

__all__ = [
    "resolve", "resolve_all", "resolve_on_loops", "hand_refused", "run_callbacks", "take_callbacks", "collapse_gathers",
]  # fmt: skip


def _gather_callback_code() -> Any:
    """The code of ``asyncio.gather``'s per-child ``_done_callback`` (None if this Python's gather
    has no such closure, with a ``nfinished`` counter and its ``outer`` future)."""
    code = getattr(asyncio.tasks.gather, "__code__", None)
    for const in code.co_consts if code is not None else ():
        if getattr(const, "co_name", None) == "_done_callback" and {"nfinished", "outer"} <= set(const.co_freevars):
            return const
    return None


_GATHER_DONE = _gather_callback_code()
_first = itemgetter(0)


def resolve(fut: Any, out: Any) -> None:
    """Set ``out`` as ``fut``'s result, or as its exception when it is one."""
    if isinstance(out, BaseException):
        fut.set_exception(out)
    else:
        fut.set_result(out)


def take_callbacks(fut: Any, cbs: list[tuple[Any, Any]], add: Callable[[Any], None]) -> None:
    """Take every done callback ``cbs`` (``fut._callbacks``) off ``fut``, handing ``add`` a
    ``(callback, context, fut)`` for each, in order (for :func:`run_callbacks`)."""
    cbs = list(cbs)  # it may be the future's own list, which removing empties
    for cb, ctx in cbs:
        add((cb, ctx, fut))
    for cb in {cb: None for cb, _ in cbs}:
        fut.remove_done_callback(cb)


def run_callbacks(loop: "asyncio.AbstractEventLoop", pending: list[tuple[Any, Any, Any]]) -> None:
    """Run done callbacks taken off resolved futures (``(callback, context, fut)`` in order):
    each ``callback(fut)`` in its context, as the loop's own handles would (an exception goes
    to the loop's exception handler; ``SystemExit`` / ``KeyboardInterrupt`` propagate, and the
    callbacks left still run, in the loop's next turn). One loop callback for a batch of
    futures, where their ``set_result`` would schedule one per future."""
    it = iter(pending)
    while True:
        for cb, ctx, fut in it:
            if cb is None:  # a run of one gather's child callbacks (collapse_gathers)
                if not _bump_gather(ctx):  # that gather is done already: each call as usual
                    it = itertools.chain(ctx, it)
                    break
                cb, ctx, fut = ctx[-1]
            try:
                ctx.run(cb, fut)
            except (SystemExit, KeyboardInterrupt):
                loop.call_soon(run_callbacks, loop, list(it))
                raise
            except BaseException as exc:
                loop.call_exception_handler(
                    {"message": f"Exception in callback {cb!r}({fut!r})", "exception": exc, "future": fut}
                )
        else:
            return


def collapse_gathers(pending: list[tuple[Any, Any, Any]]) -> list[Any]:
    """``pending`` (for :func:`run_callbacks`) with each run of consecutive calls of ONE
    ``asyncio.gather``'s child callback made one entry ``(None, run, None)`` (see
    :func:`_bump_gather`). Only for futures that all got a result (no exception, none
    cancelled): then each call but the last only counts a finished child."""
    if _GATHER_DONE is None:
        return pending
    out: list[Any] = []
    for cb, group in itertools.groupby(pending, _first):
        if getattr(cb, "__code__", None) is _GATHER_DONE:
            run = list(group)
            out.append((None, run, None) if len(run) > 1 else run[0])
        else:
            out.extend(group)
    return out


def _bump_gather(run: list[tuple[Any, Any, Any]]) -> bool:
    """Count all but the last of ``run`` (calls of one gather's child callback, each for a
    future with a result) as finished children of that gather, as those calls would: while
    its ``outer`` future is pending, each call before the last only adds one to ``nfinished``
    (which reaches ``nfuts`` at the last call at the earliest). True: the caller then makes
    the last call, in its context. False (the gather was cancelled or failed meanwhile): the
    caller makes every call, as usual."""
    cb = run[-1][0]
    cells = dict(zip(cb.__code__.co_freevars, cb.__closure__))
    outer = cells["outer"].cell_contents
    if outer is None or outer.done():
        return False
    cells["nfinished"].cell_contents += len(run) - 1
    return True


def resolve_all(pairs: list[tuple["asyncio.Future[Any]", Any]]) -> None:
    """Resolve a caller loop's futures (on that loop); one already done (the awaiting task
    was cancelled: the write stands) is skipped."""
    for fut, out in pairs:
        if not fut.done():
            resolve(fut, out)


def resolve_on_loops(by_loop: dict[Any, list[tuple["asyncio.Future[Any]", Any]]]) -> None:
    """Resolve each loop's futures on that loop: here if it is the running loop, else with
    one ``call_soon_threadsafe``; a loop closed meanwhile has nobody waiting."""
    if not by_loop:
        return
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for loop, pairs in by_loop.items():
        if loop is here:
            resolve_all(pairs)
            continue
        try:
            loop.call_soon_threadsafe(resolve_all, pairs)
        except RuntimeError:  # that loop was closed: nobody is waiting
            pass


def hand_refused(loop: Any, fut: Any, write: Any, result_only: bool, error: BaseException) -> bool:
    """``write`` was refused, unapplied, by a closed store: if ``fut`` (an asyncio future of
    ``loop``) has an ``on_refused`` hook, schedule ``on_refused(fut, write, result_only, error)``
    on that loop (it resubmits the write) and return True; else return False (answer it)."""
    hook = getattr(fut, "on_refused", None)
    if hook is None:
        return False
    try:
        loop.call_soon_threadsafe(hook, fut, write, result_only, error)
    except RuntimeError:  # that loop was closed meanwhile: nobody is waiting
        pass
    return True
