"""A state read nobody awaited, in a cell: said in one line, closed, and kept by nothing.

``state_manager.get("orders", "o1")`` without ``await`` makes a coroutine that reads nothing.
As a cell's last line IPython showed ``<coroutine object StateManager.get at 0x7f…>``, kept it
in its output cache (``Out[n]``, ``_n``, ``_``), and Python said ``RuntimeWarning: coroutine
'StateManager.get' was never awaited`` whenever it went. Reads are the hot path, so their
coroutines are not wrapped as ``enqueue``'s are (``_calls.NotAwaitedCall``): the notebook knows
one by its code (the state API's ``async def`` reads, :data:`READS`) when it meets one.

- IPython's ``text/plain`` formatter for coroutines: a read's shows one line,
  ``<state_manager.get(...) was not awaited, so nothing was read: write await
  state_manager.get("orders", "o1") (or state_manager.sync.get("orders", "o1"))>``, in the words
  of the unawaited ``enqueue``'s; any other coroutine is shown as IPython shows it.
- ``post_run_cell``: a cell whose result is a read's coroutine gets it closed (no "never
  awaited" later) and taken out of the output cache (``Out[n]``, ``_n``; ``_``, ``__``, ``___``
  back to what they were), so nothing half-made stays to be awaited or shown later.
- A write's future as a cell's result is taken out of the cache likewise (its failure is then
  said when it ends: :mod:`.unawaited_writes`, installed and removed with this).
- A cell that failed with a ``TypeError`` / ``AttributeError`` about a coroutine
  (``order["total"]``, ``order.get("x")``) while a name the cell uses holds an unstarted read:
  one line under the error saying to await it, and that coroutine closed. Found only when such
  an error happens (a look through the namespace then, nothing on other cells).
- A read the cell calls without ``await`` inside an expression (``len(state_manager.list("g"))``)
  or as a statement whose value is dropped: its coroutine goes while the cell runs, and Python
  said ``RuntimeWarning: coroutine 'StateManager.list' was never awaited`` before our line.
  Python hands such a coroutine to ``warnings._warn_unawaited_coroutine``; ours takes the place
  of that hook while the extension is loaded and, for a read that the running cell's own code
  calls without ``await`` (on the thread running the cell), says the one line after the cell
  instead (``✖ state_manager.list(...) is not awaited in this cell, ...``). Any other coroutine,
  a read the cell's code does not show (a function of another cell), a read going in another
  thread or between cells: Python's warning, as before.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
import threading
import traceback
import warnings
from types import CodeType, CoroutineType
from typing import Any

from ..state.backends.write_future import WriteFuture
from ..state.manager import StateManager
from ..state.sync import SyncStateManager
from .unawaited_writes import UnawaitedWrites

__all__ = ["READS", "UnawaitedReads", "read_of"]


def _reads() -> dict[CodeType, str]:
    codes: dict[CodeType, str] = {}
    for klass in reversed(StateManager.__mro__):
        for name, fn in vars(klass).items():
            if not name.startswith("_") and inspect.iscoroutinefunction(fn):
                codes[fn.__code__] = name
    return codes


#: the code of each ``async def`` read of the state API -> its name (``get``, ``list``, ``history``…)
READS: dict[CodeType, str] = _reads()

#: an argument longer than this is written ``...`` (the line stays one line)
_LONGEST_ARG = 60


def read_of(value: Any) -> str | None:
    """The read's name when ``value`` is an unstarted coroutine of a state API read, else None."""
    if type(value) is not CoroutineType:
        return None
    name = READS.get(value.cr_code)
    if name is None or inspect.getcoroutinestate(value) != inspect.CORO_CREATED:
        return None
    return name


def _arg(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False) if type(value) is str else repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails: the line is still said
        return "..."
    return text if len(text) <= _LONGEST_ARG and "\n" not in text else "..."


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        return bool(value == default)
    except Exception:  # noqa: BLE001 - an array's == (no truth value): not the default
        return False


def _args(name: str, given: dict[str, Any]) -> str:
    """The call's arguments as the user would write them: those without a default in order, then
    the others that differ from their defaults (a positional one by position while it can be)."""
    params = list(inspect.signature(getattr(StateManager, name)).parameters.values())[1:]  # (self)
    out: list[str] = []
    by_position = True
    for p in params:
        v = given.get(p.name, p.default)
        if p.default is not p.empty and _is_default(v, p.default):
            by_position = False  # a later argument goes by keyword
            continue
        keyword = p.kind is p.KEYWORD_ONLY or not by_position
        out.append(f"{p.name}={_arg(v)}" if keyword else _arg(v))
    return ", ".join(out)


def _step_file(cell: str) -> str | None:
    """The step file a ``%%step`` cell holds (the lines after ``%%step [--quiet]``), or None."""
    first, _, rest = cell.lstrip().partition("\n")
    return rest if first.split()[:1] == ["%%step"] else None


class UnawaitedReads:
    """What ``%load_ext motia_nb`` installs in shell ``ip`` for unawaited reads (see the module doc)."""

    def __init__(self, ip: Any) -> None:
        self.ip = ip
        self._cell = ""
        self._unders: tuple[Any, Any, Any] | None = None
        self._formatter: Any = None
        self._before: Any = None  # (whether the formatter had a coroutine printer, that printer)
        self.writes = UnawaitedWrites(ip)  # (a write's future: :mod:`.unawaited_writes`)
        self._prior_hook: Any = None  # warnings._warn_unawaited_coroutine before ours
        self._cell_thread: int | None = None  # the thread running the cell (None between cells)
        self._inline: list[tuple[str, str, str]] | None = None  # the cell's unawaited read calls (read once)
        self._owed: list[str] = []  # reads whose "never awaited" the cell's line says instead

    # ------------------------------------------------------------------ install
    def install(self) -> None:
        formatter = self.ip.display_formatter.formatters["text/plain"]
        printers = formatter.type_printers
        self._formatter, self._before = formatter, (CoroutineType in printers, printers.get(CoroutineType))
        formatter.for_type(CoroutineType, self._pretty)
        self.ip.events.register("pre_run_cell", self.pre_run_cell)
        self.ip.events.register("post_run_cell", self.post_run_cell)
        self.writes.install()
        hook = getattr(warnings, "_warn_unawaited_coroutine", None)
        if callable(hook):  # (CPython's hook for a coroutine that goes unawaited; absent: Python's warning stays)
            self._prior_hook = hook
            warnings._warn_unawaited_coroutine = self._unawaited  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        self.writes.uninstall()
        if getattr(warnings, "_warn_unawaited_coroutine", None) == self._unawaited:
            warnings._warn_unawaited_coroutine = self._prior_hook  # type: ignore[attr-defined]
        self._prior_hook = None
        for event, fn in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            if fn in self.ip.events.callbacks[event]:
                self.ip.events.unregister(event, fn)
        formatter, self._formatter = self._formatter, None
        if formatter is not None and formatter.type_printers.get(CoroutineType) == self._pretty:
            had, printer = self._before
            if had:
                formatter.type_printers[CoroutineType] = printer
            else:
                del formatter.type_printers[CoroutineType]

    # ------------------------------------------------------------------ the words
    def _manager_name(self, manager: Any) -> str:
        """The name the cell calls ``manager`` by: one of the notebook's names for it that the cell
        writes before a call, else ``state_manager`` when that is it, else any name of it."""
        ns = self.ip.user_ns
        names = [n for n, v in list(ns.items()) if v is manager and not n.startswith("_")]
        for n in names:
            if re.search(rf"(?<![\w.]){re.escape(n)}\s*\.", self._cell):
                return n
        return "state_manager" if "state_manager" in names or not names else names[0]

    def _call(self, coro: CoroutineType, name: str) -> tuple[str, str, str]:
        """(the manager's name, the call as written with its arguments, the .sync call or "")."""
        given = dict(coro.cr_frame.f_locals) if coro.cr_frame is not None else {}
        who = self._manager_name(given.get("self"))
        args = _args(name, given)
        sync = f"{who}.sync.{name}({args})" if callable(getattr(SyncStateManager, name, None)) else ""
        return who, f"{who}.{name}({args})", sync

    def said(self, coro: CoroutineType, name: str) -> str:
        """The line for ``coro`` (a read of ``name``) shown as a cell's result."""
        who, call, sync = self._call(coro, name)
        line = f"{who}.{name}(...) was not awaited, so nothing was read: write await {call}"
        return line + (f" (or {sync})" if sync else "")

    def _pretty(self, obj: Any, p: Any, cycle: bool) -> None:
        name = read_of(obj)
        if name is not None:
            try:
                line = self.said(obj, name)
            except Exception:  # noqa: BLE001 - never a formatter error in place of the cell's result
                line = ""
            if line:
                p.text(f"<{line}>")
                return
        had, printer = self._before
        if had and printer is not None:
            printer(obj, p, cycle)
        else:  # as IPython's pretty printer shows a coroutine: its repr
            p.text(repr(obj))

    # ------------------------------------------------------------------ the cell run
    def pre_run_cell(self, info: Any) -> None:
        self._cell = getattr(info, "raw_cell", "") or ""
        self._cell_thread, self._inline, self._owed = threading.get_ident(), None, []
        dh = self.ip.displayhook
        self._unders = (getattr(dh, "_", None), getattr(dh, "__", None), getattr(dh, "___", None))

    def post_run_cell(self, result: Any) -> None:
        unders, self._unders = self._unders, None
        value = getattr(result, "result", None)
        if read_of(value) is not None:
            value.close()  # nothing awaits it now; Python's "never awaited" would follow
            self._forget(result, value, unders)
        elif isinstance(value, WriteFuture):  # kept, a failure would never be said (:mod:`.unawaited_writes`)
            self.writes.watch(value)
            self._forget(result, value, unders)
        error = getattr(result, "error_in_exec", None)
        said: set[str] = set()
        if isinstance(error, (TypeError, AttributeError)) and "coroutine" in str(error) and not self._hint_used(self._cell):
            said.update(self._hint_inline(self._cell))
        for name in dict.fromkeys(self._owed):  # Python's warning was not said for these: ours is
            if name not in said:
                said.update(self._hint_inline(self._cell, name))
        self._cell, self._cell_thread, self._inline, self._owed = "", None, None, []

    def _unawaited(self, coro: Any) -> None:
        """``warnings._warn_unawaited_coroutine`` while loaded (Python calls it as an unstarted
        coroutine goes): a read the running cell calls without ``await`` is said after the cell
        (:meth:`post_run_cell`); anything else gets Python's warning (see the module doc)."""
        try:
            name = READS.get(coro.cr_code) if type(coro) is CoroutineType else None
            if name is not None and self._cell_thread == threading.get_ident():
                if self._inline is None:
                    self._inline = self._inline_calls(self._cell)
                if any(attr == name for _, attr, _ in self._inline):
                    self._owed.append(name)
                    return
        except Exception:  # noqa: BLE001, S110 - never lose the warning over the look
            pass
        prior = self._prior_hook
        if prior is not None and getattr(prior, "__module__", None) != "warnings":
            prior(coro)  # another hook's (its location is one frame off: ours)
            return
        # Python's warning as its hook says it, located where the coroutine went (stacklevel=2: our caller)
        text = f"coroutine '{coro.__qualname__}' was never awaited"
        origin = getattr(coro, "cr_origin", None)
        if origin is not None:
            frames = [(f, n, fn, "") for f, n, fn in reversed(origin)]
            text += "\nCoroutine created at (most recent call last)\n" + "".join(traceback.format_list(frames)).rstrip("\n")
        warnings.warn(text, category=RuntimeWarning, stacklevel=2, source=coro)

    def _forget(self, result: Any, value: Any, unders: tuple[Any, Any, Any] | None) -> None:
        """Take ``value`` (the cell's result) out of IPython's output cache, as if not shown."""
        ns, dh, n = self.ip.user_ns, self.ip.displayhook, getattr(result, "execution_count", None)
        out = ns.get("_oh")
        if isinstance(out, dict) and out.get(n) is value:
            del out[n]
        if ns.get(f"_{n}") is value:
            del ns[f"_{n}"]
            self.ip.user_ns_hidden.pop(f"_{n}", None)
        if unders is not None and getattr(dh, "_", None) is value:
            pushed = ns.get("_") is value  # (the user's own _ is never touched, as IPython does)
            for name, before in zip(("_", "__", "___"), unders):
                setattr(dh, name, before)
            if pushed:
                self.ip.push(dict(zip(("_", "__", "___"), unders)), interactive=False)
        result.result = None

    def _hint_used(self, cell: str) -> bool:
        """One line for each name ``cell`` uses that holds an unstarted read (closed then); any said?"""
        said = False
        for var, value in list(self.ip.user_ns.items()):
            name = read_of(value)
            if name is None or var.startswith("_") or not re.search(rf"(?<![\w.]){re.escape(var)}\b", cell):
                continue
            who, call, sync = self._call(value, name)
            value.close()
            line = f"{var} is {who}.{name}(...) not awaited, so nothing was read: write {var} = await {call}"
            print("✖ " + line + (f" (or {var} = {sync})" if sync else ""), file=sys.stderr)
            said = True
        return said

    def _inline_calls(self, cell: str) -> list[tuple[str, str, str]]:
        """The calls ``NAME.read(...)`` on a state manager of the notebook that ``cell`` makes not
        under ``await``, as ``(NAME, read, the call's text)``, in :func:`ast.walk` order. In a
        ``%%step`` cell, its step file's (whose ``from motia_nb import state_manager`` / ``from
        motia import state_manager``, under any name, binds one)."""
        step_file = _step_file(cell)
        source = self.ip.transform_cell(cell) if step_file is None else step_file
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return []
        awaited = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Await)}
        names = set(READS.values())
        imported = set() if step_file is None else {
            a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module in ("motia_nb", "motia")
            for a in n.names if a.name == "state_manager"
        }  # fmt: skip
        calls = []
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and id(node) not in awaited and isinstance(node.func, ast.Attribute)
                    and node.func.attr in names and isinstance(node.func.value, ast.Name)):  # fmt: skip
                continue
            who = node.func.value.id
            if who not in imported and not isinstance(self.ip.user_ns.get(who), StateManager):
                continue
            calls.append((who, node.func.attr, ast.get_source_segment(source, node) or f"{who}.{node.func.attr}(...)"))
        return calls

    def _hint_inline(self, cell: str, read: str | None = None) -> set[str]:
        """One line for a read the cell calls without ``await`` inside an expression
        (``len(state_manager.list("g"))``: the coroutine is gone, only the code tells): the first
        such call (of ``read`` when given); returns the read named (empty: none)."""
        for who, attr, call in self._inline_calls(cell):
            if read is not None and attr != read:
                continue
            has_sync = callable(getattr(SyncStateManager, attr, None))
            sync = f" (or {call.replace(f'{who}.', f'{who}.sync.', 1)})" if has_sync else ""
            if _step_file(cell) is not None:  # a step file's module code cannot await: its handler can
                here = f"write {call.replace(f'{who}.', f'{who}.sync.', 1)} here (or " if has_sync else "("
                print(f"✖ {who}.{attr}(...) is not awaited in this %%step cell, so nothing was read: a step file awaits "
                      f"only in its handler; {here}await {call} in the handler)", file=sys.stderr)  # fmt: skip
                return {attr}
            print(f"✖ {who}.{attr}(...) is not awaited in this cell, so nothing was read: write (await {call}){sync}",
                  file=sys.stderr)  # fmt: skip
            return {attr}
        return set()
