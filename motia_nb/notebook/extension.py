"""Life cycle of the IPython extension (``%load_ext`` / ``%unload_ext`` / ``%reload_ext motia_nb``).

``load(ip)`` adds, exactly once per shell:

* the ``MotiaNB`` configurable to ``ip.configurables`` (so ``%config MotiaNB`` works),
  configured from the shell's config (``c.MotiaNB.*`` in ``ipython_config.py``);
* the ``%state`` / ``%%state`` magics and the steps magics (``%%step``, ``%motia``);
* the ``%state`` completion matcher;
* the input transformer that makes ``%state history?`` show that subcommand's help
  (:mod:`~motia_nb.notebook.help_suffix`);
* the cell-run callbacks that let a re-run cell drop the steps it no longer defines
  (:mod:`~motia_nb.notebook.cell_steps`);
* the cell-run callbacks that give each cell run a trace id of its own, which its writes
  and the steps they trigger share (:mod:`~motia_nb.notebook.cell_trace`);
* the coroutine formatter and cell-run callbacks that say a state read nobody awaited in one
  line and keep it out of the output cache (:mod:`~motia_nb.notebook.unawaited`).

``unload(ip)`` removes each of them and closes the state manager (its writer thread
and connections; the manager reopens lazily if used again). ``load`` after ``load``
is a no-op and ``unload`` after ``unload`` is harmless, so ``%reload_ext`` always
leaves exactly one of everything.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from IPython.core.magic import Magics

from .._interrupts import wake_on_signals
from .._threads import stop_loop_thread
from ..engine import stop_all as stop_engine_endpoints
from ..motia import ensure_motia
from ..session import default_session
from .cell_steps import CellSteps
from .cell_trace import CellTraces
from .completion import make_state_matcher
from .config import MotiaNB
from .help_suffix import subcommand_help
from .magics import StateMagics
from .step_magics import StepMagics
from .unawaited import UnawaitedReads
from .viewer import close_all_viewers

__all__ = ["load", "unload", "is_loaded", "load_ipython_extension", "unload_ipython_extension"]

log = logging.getLogger("motia_nb")

_ATTR = "_motia_nb_extension"


@dataclass
class _Loaded:
    """What ``load`` added to one shell, so ``unload`` can remove exactly that."""

    settings: MotiaNB
    magics: list[Magics] = field(default_factory=list)
    matcher: Any = None
    undo_wake: Any = None  # undoes wake_on_signals
    cell_steps: CellSteps | None = None
    cell_traces: CellTraces | None = None
    unawaited: UnawaitedReads | None = None


def is_loaded(ip: Any) -> bool:
    """True when motia_nb's extension is loaded in shell ``ip``."""
    return getattr(ip, _ATTR, None) is not None


def _wake_kernel_loop_on_interrupt() -> Any:
    """In a kernel (a loop runs in this thread), let Kernel › Interrupt reach a sleeping loop at once."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return wake_on_signals(loop)


def load(ip: Any) -> None:
    """Register motia_nb's magics, completion and configuration in shell ``ip``."""
    if ip is None or is_loaded(ip):
        return
    settings = MotiaNB.for_shell(ip)  # c.MotiaNB.* and earlier %config values, each checked
    loaded = _Loaded(settings=settings)
    setattr(ip, _ATTR, loaded)
    try:
        ip.configurables.append(settings)
        for magics in (StateMagics(ip, settings), StepMagics(shell=ip)):
            ip.register_magics(magics)
            loaded.magics.append(magics)
        ensure_motia()  # `import motia` works in every cell: the real package bound in-process, or the stand-in
        completer = getattr(ip, "Completer", None)
        if completer is not None:
            loaded.matcher = make_state_matcher(settings)
            completer.custom_matchers.append(loaded.matcher)
        cleanup = getattr(ip, "input_transformers_cleanup", None)
        if cleanup is not None and subcommand_help not in cleanup:
            cleanup.append(subcommand_help)
        loaded.undo_wake = _wake_kernel_loop_on_interrupt()
        loaded.cell_steps = CellSteps()
        ip.events.register("pre_run_cell", loaded.cell_steps.pre_run_cell)
        ip.events.register("post_run_cell", loaded.cell_steps.post_run_cell)
        loaded.cell_traces = CellTraces()
        ip.events.register("pre_run_cell", loaded.cell_traces.pre_run_cell)
        ip.events.register("post_run_cell", loaded.cell_traces.post_run_cell)
        loaded.cell_traces.begin_if_in_a_cell(ip)
        loaded.unawaited = UnawaitedReads(ip)
        loaded.unawaited.install()
    except Exception:
        unload(ip)
        raise


def _unregister_magics(ip: Any, magics: Magics) -> None:
    """Remove the magics that ``magics`` provides (only while they are still ours)."""
    table = ip.magics_manager.magics
    for kind, names in magics.magics.items():
        for name, func in names.items():
            current = table[kind].get(name)
            # bound methods compare equal when they wrap the same function on the same object
            if current is not None and current == func:
                del table[kind][name]
    registry = ip.magics_manager.registry
    if registry.get(type(magics).__name__) is magics:
        del registry[type(magics).__name__]


def unload(ip: Any) -> None:
    """Remove everything ``load`` added to ``ip`` and release threads and connections."""
    loaded: _Loaded | None = getattr(ip, _ATTR, None)
    if loaded is None:
        return
    setattr(ip, _ATTR, None)
    if loaded.undo_wake is not None:
        loaded.undo_wake()
    for hooks in (loaded.cell_steps, loaded.cell_traces):
        if hooks is None:
            continue
        for event, fn in (("pre_run_cell", hooks.pre_run_cell), ("post_run_cell", hooks.post_run_cell)):
            if fn in ip.events.callbacks[event]:
                ip.events.unregister(event, fn)
    if loaded.cell_traces is not None:
        loaded.cell_traces.close()
    if loaded.cell_steps is not None:
        loaded.cell_steps.close()
    if loaded.unawaited is not None:
        loaded.unawaited.uninstall()
    completer = getattr(ip, "Completer", None)
    if completer is not None and loaded.matcher is not None:
        completer.custom_matchers[:] = [m for m in completer.custom_matchers if m is not loaded.matcher]
    cleanup = getattr(ip, "input_transformers_cleanup", None)
    if cleanup is not None:
        cleanup[:] = [t for t in cleanup if t is not subcommand_help]
    for magics in loaded.magics:
        _unregister_magics(ip, magics)
    ip.configurables[:] = [c for c in ip.configurables if c is not loaded.settings]
    try:  # open viewers refresh from the state manager: stop them first
        close_all_viewers()
    except Exception:
        log.exception("motia_nb: closing the state viewers failed")
    session = default_session()
    for what, release in (
        ("closing the engine endpoints (%motia serve)", stop_engine_endpoints),
        ("stopping the cron scheduler", lambda: session.scheduler.stop(cancel_running=True)),
        ("closing the state manager", session.manager.close),
        ("stopping motia_nb's loop thread", stop_loop_thread),
    ):
        try:
            release()
        except Exception:  # releasing must not make %unload_ext fail
            log.exception("motia_nb: %s failed", what)


# ``%load_ext motia_nb.notebook.extension`` works too.
load_ipython_extension = load
unload_ipython_extension = unload
