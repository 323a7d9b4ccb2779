"""A state write nobody awaited, in a cell: its failure said in one line, not lost.

Where a loop runs (a cell), ``state_manager.set(...)``, ``update``, ``delete``… without
``await`` still make the write (it is buffered at the call and committed at the loop's next
turn) and return its :class:`~motia_nb.state.backends.write_future.WriteFuture`. A write that
succeeds needs nothing more; one that fails (an update that cannot apply, a value SQLite
refuses) failed silently in a cell: asyncio reports a future's unretrieved exception only to
the ``asyncio`` logger, in the kernel's terminal, and only once the future is dropped, which
IPython's output cache (``Out[n]``, ``_``) postponed for ever when the call was the cell's
last line.

- The kernel loop's exception handler (wrapping the one it had): the report of a write's
  future dropped with its failure never retrieved becomes one line on the cell's stderr,
  ``✖ a state write that was not awaited failed: <the error>``; every other report goes
  to the handler it had.
- IPython's ``text/plain`` formatter for a write's future: one line saying it was not
  awaited, and its outcome when it is already known. ``post_run_cell`` (in
  :mod:`.unawaited`) takes such a result out of the output cache and :meth:`watches
  <UnawaitedWrites.watch>` it: the write commits there, before the cell ends, as ``await`` would
  commit it (on SQLite a lone buffered write commits inline), and its failure, if nothing
  retrieved it, is said in that cell; a write that cannot commit there (queued, Redis) has it
  said when it ends.
- A write's future the cell dropped (an unawaited call mid-cell) is reported by the handler
  above once Python collects it (its error's traceback holds it in a cycle: at the next
  garbage collection, so in whichever cell runs then).

Nothing here runs on the write path: a write that is awaited never meets any of it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ..state.backends.write_future import WriteFuture

__all__ = ["UnawaitedWrites"]

SAID = "✖ a state write that was not awaited failed: "


class UnawaitedWrites:
    """The loop handler and the printer (see the module doc), for shell ``ip``."""

    def __init__(self, ip: Any) -> None:
        self.ip = ip
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handler_before: Any = None
        self._formatter: Any = None

    def install(self) -> None:
        formatter = self.ip.display_formatter.formatters["text/plain"]
        self._formatter = formatter
        formatter.for_type(WriteFuture, self._pretty)
        try:
            loop = asyncio.get_running_loop()  # the kernel's (a cell runs on it); none in a plain shell
        except RuntimeError:
            return
        self._loop, self._handler_before = loop, loop.get_exception_handler()
        loop.set_exception_handler(self._handle)

    def uninstall(self) -> None:
        formatter, self._formatter = self._formatter, None
        if formatter is not None and formatter.type_printers.get(WriteFuture) == self._pretty:
            del formatter.type_printers[WriteFuture]
        loop, self._loop = self._loop, None
        if loop is not None and loop.get_exception_handler() == self._handle:
            loop.set_exception_handler(self._handler_before)

    def watch(self, fut: WriteFuture) -> None:
        """Say ``fut``'s failure in one line, unless something retrieved it first: now, when its
        write commits here as ``await`` would commit it (SQLite: a lone buffered write, inline),
        else when it ends (a callback; output after the cell's end may reach no cell)."""
        if not fut.done():
            try:
                fut.owner.await_lone(fut)
            except Exception:  # noqa: BLE001 - never an error of this hook in place of the cell's
                pass
        if fut.done():
            _say_if_failed(fut)
        else:
            fut.add_done_callback(_say_if_failed)

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(context.get("future"), WriteFuture) and error is not None:
            print(SAID + str(error), file=sys.stderr)
            return
        if self._handler_before is not None:
            self._handler_before(loop, context)
        else:
            loop.default_exception_handler(context)

    def _pretty(self, fut: Any, p: Any, cycle: bool) -> None:
        if not fut.done():
            p.text("<a state write, not awaited: made; a failure is said in this cell when it ends (await it for its result)>")
        elif fut.cancelled():
            p.text("<a state write, not awaited: cancelled>")
        elif fut.exception() is not None:  # (retrieved: said here, and not again)
            p.text(f"<a state write, not awaited: failed: {fut.exception()}>")
        else:
            p.text("<a state write, not awaited: done (await it for its result)>")


def _say_if_failed(fut: "asyncio.Future[Any]") -> None:
    if fut.cancelled() or not getattr(fut, "_log_traceback", False):  # (retrieved, or no failure)
        return
    print(SAID + str(fut.exception()), file=sys.stderr)  # (retrieved now: said once)
