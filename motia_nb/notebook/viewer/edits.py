"""The viewer's edit actions: add, save, revert, delete and clear (each after a confirmation).

Each is a coroutine run by the panel (see :mod:`.panel`); writes go through the async
state API inside the *Trigger output* area, so what triggered steps print shows there.
Bad input (text that is not JSON, a missing key, an existing key) is refused with a
message on the status line and nothing is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..._interrupts import CancelledByInterrupt
from ...state.cause import acting_as, new_trace_id
from ...state.errors import InvalidInputError, UpdateOpError
from ..parsing import load_json
from .model import page_after_add
from .paging import Heavy
from .text import name_html, one_line

if TYPE_CHECKING:
    import ipywidgets as widgets

    from motia_nb.state.manager import StateManager

    from .model import ViewModel

__all__ = ["EditActions"]


class EditActions:
    """Mixin of :class:`~.panel.Viewer`: the actions that write."""

    if TYPE_CHECKING:  # provided by the panel and its layout
        manager: StateManager
        model: ViewModel
        output: widgets.Output
        value_text: widgets.Textarea
        new_group: widgets.Text
        new_key: widgets.Text
        new_value: widgets.Textarea
        confirm_label: widgets.HTML
        confirm_box: widgets.VBox
        delete_label: widgets.HTML
        delete_box: widgets.VBox
        _loaded_text: str | None
        _heavy: Heavy
        _page_rows: dict[str, Any]
        group: str | None
        key: str | None

        def _set_status(self, text: str, kind: str = "info") -> None: ...

        async def _refresh_async(self, force_value: bool = False) -> None: ...

    async def _write(self, what: str, write: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """Run a write inside the trigger output area; report errors on the status line."""
        # Catch inside the ``with``: in a kernel, Output.__exit__ swallows exceptions
        # (it shows the traceback in the widget), so nothing would reach an outer try.
        # CancelledError too (Kernel › Interrupt during the write): it leaves the panel's task, see panel._run.
        error: BaseException | None = None
        result: Any = None
        # the history records the viewer as the writer; one trace per action (its steps run in it)
        with self.output, acting_as("viewer", new_trace_id()):
            try:
                result = await write()
            except (Exception, asyncio.CancelledError) as exc:
                error = exc
        self.model.bump()
        if isinstance(error, asyncio.CancelledError):
            raise error
        if isinstance(error, (InvalidInputError, UpdateOpError)):
            self._set_status(f"{what} refused: {error}", "error")
            return False, None
        if isinstance(error, CancelledByInterrupt):  # the write committed; its steps were cancelled
            self._loaded_text = None
            await self._refresh_async()
            steps = ", ".join(repr(s) for s in error.steps) or "none"
            self._set_status(f"{what} interrupted: cancelled step(s) {steps}; the write was made and stands", "error")
            return False, None
        if error is not None:  # e.g. a triggered step failed after the write committed
            self._loaded_text = None  # show what the store holds now
            await self._refresh_async()
            self._set_status(f"{what}: {type(error).__name__}: {error} (a write that committed stands)", "error")
            return False, None
        return True, result

    async def _save(self) -> None:
        g, k = self.group, self.key
        if g is None or k is None:
            self._set_status("select an item first", "error")
            return
        try:
            value = load_json(self.value_text.value)
        except ValueError as exc:
            self._set_status(f"not saved: {one_line(str(exc))}; nothing was written", "error")
            return
        ok, _ = await self._write(f"save {k!r}", lambda: self.manager.set(g, k, value))
        if ok:
            self._loaded_text = None
            await self._refresh_async(force_value=True)
            self._set_status(f"saved {g}/{k}", "ok")

    async def _revert(self) -> None:
        self._loaded_text = None
        self.model.bump()
        await self._refresh_async(force_value=True)
        self._set_status("reloaded the stored value")

    async def _ask_delete(self) -> None:
        g, k = self.group, self.key
        if g is None or k is None:
            self._set_status("select an item first", "error")
            return
        self.delete_label.value = f"Delete <code>{name_html(g)}</code> / <code>{name_html(k)}</code>?"
        self.delete_box.layout.display = "flex"

    async def _cancel_delete(self) -> None:
        self.delete_box.layout.display = "none"

    async def _confirm_delete(self) -> None:
        g, k = self.group, self.key
        await self._cancel_delete()
        if g is None or k is None:
            self._set_status("select an item first", "error")
            return
        ok, _ = await self._write(f"delete {k!r}", lambda: self.manager.delete(g, k))
        if ok:
            self.model.key = None
            await self._refresh_async()
            self._set_status(f"deleted {g}/{k}", "ok")

    async def _add(self) -> None:
        m = self.model
        g = self.new_group.value.strip() or m.group
        k = self.new_key.value
        if not g:
            self._set_status("not added: type a group name", "error")
            return
        if not k.strip():
            self._set_status("not added: type a key", "error")
            return
        try:
            value = load_json(self.new_value.value)
        except ValueError as exc:
            self._set_status(f"not added: {one_line(str(exc))}; nothing was written", "error")
            return
        if await self.manager.exists(g, k):
            self._set_status(f"not added: {g}/{k} already exists; select it and Save to change it", "error")
            return
        ok, _ = await self._write(f"add {k!r}", lambda: self.manager.set(g, k, value))
        if ok:
            self.new_key.value = ""
            self.new_value.value = ""
            with m.hold_trait_notifications():
                m.page = page_after_add(m.order, m.page, g == m.group)  # the page holding the new item
                m.group, m.key = g, k
            m.bump()
            await self._refresh_async()
            self._set_status(f"added {g}/{k}", "ok")

    async def _ask_clear(self) -> None:
        g = self.group
        if g is None:
            self._set_status("select a group first", "error")
            return
        n = await self._heavy(self.manager.count(g))  # counts the group: off the loop
        self.confirm_label.value = f"Remove all <b>{n:,}</b> items of <code>{name_html(g)}</code>?&nbsp;"
        self.confirm_box.layout.display = "flex"

    async def _cancel_clear(self) -> None:
        self.confirm_box.layout.display = "none"

    async def _confirm_clear(self) -> None:
        g = self.group
        await self._cancel_clear()
        if g is None:
            return
        ok, removed = await self._write(f"clear {g!r}", lambda: self.manager.clear(g))
        if ok:
            self.model.select_group(None)  # an emptied group leaves the list
            await self._refresh_async()
            self._set_status(f"cleared {g}: {removed:,} items removed", "ok")
