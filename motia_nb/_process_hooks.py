"""What runs around a fork and at interpreter exit: the hook lists other modules register in.

Modules say what must happen in the parent just before and after a ``fork()``
(:func:`on_fork_prepare`: e.g. wait for a write transaction to end, and let go
after), in a forked child (:func:`on_fork_child`: abandon inherited connections and
threads) and at exit (:func:`on_exit`: flush and close). No threads and no
``os``/``atexit`` registration here: :mod:`motia_nb._threads` installs the single
``os.register_at_fork`` hook and the single ``atexit`` hook, forgets its own threads
in a child first, then runs these (:func:`before_fork`, :func:`after_fork`,
:func:`run_child_hooks`, :func:`run_exit_hooks`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = [
    "on_fork_child",
    "on_fork_prepare",
    "on_exit",
    "before_fork",
    "after_fork",
    "run_child_hooks",
    "run_exit_hooks",
]

log = logging.getLogger("motia_nb")

_fork_hooks: list[Callable[[], None]] = []
_fork_prepare: list[tuple[Callable[[], None], Callable[[], None]]] = []
_exit_hooks: list[Callable[[], None]] = []


def on_fork_child(fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn()`` in a forked child, after motia_nb's own threads were forgotten."""
    _fork_hooks.append(fn)
    return fn


def on_fork_prepare(before: Callable[[], None], after: Callable[[], None]) -> None:
    """Run ``before()`` in the parent just before ``fork()`` and ``after()`` just after it,
    in the parent *and* in the child (before the :func:`on_fork_child` hooks). Pairs
    registered later run their ``before`` first and their ``after`` last. Both must be
    quick, bounded and must not raise."""
    _fork_prepare.append((before, after))


def on_exit(fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn()`` at interpreter exit (hooks run newest first), before the loop thread stops."""
    _exit_hooks.append(fn)
    return fn


def before_fork() -> None:
    """The ``before`` of every prepare pair, newest first (in the parent, before ``fork()``)."""
    for before, _ in reversed(_fork_prepare):
        try:
            before()
        except Exception:  # pragma: no cover - a hook must never stop the fork
            log.exception("motia_nb fork hook %r failed", before)


def after_fork() -> None:
    """The ``after`` of every prepare pair, oldest first (in the parent and in the child)."""
    for _, after in _fork_prepare:
        try:
            after()
        except Exception:  # pragma: no cover
            log.exception("motia_nb fork hook %r failed", after)


def run_child_hooks() -> None:
    """In a forked child: the prepare pairs' ``after``, then the :func:`on_fork_child` hooks."""
    after_fork()
    for fn in _fork_hooks:
        fn()


def run_exit_hooks() -> None:
    """The :func:`on_exit` hooks, newest first; a failing one is logged."""
    for fn in reversed(_exit_hooks):
        try:
            fn()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("motia_nb exit hook %r failed", fn)
