"""Change events of the state API: ``subscribe`` (this process's commits, and other processes'
with ``remote=True``) and ``run_remote_triggers``, mixed into
:class:`~motia_nb.state.manager.StateManager`."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .backends.base import Backend
from .events import StateEvent
from .lifetime import WeakCall
from .remote import InOrigin, RemoteChanges, check_subscriber, fan_out, origin_context, remote_refusal

__all__ = ["Subscribing"]


class Subscribing:
    """The manager's subscribers and its following of other processes' changes; the manager
    provides its lock, its store and the listener it attached to it."""

    _lock: threading.RLock
    _backend: Backend | None
    backend: Backend
    _remote: RemoteChanges
    _subscribers: list[Callable[[StateEvent], None]]
    _user_remote: list[Any]
    _attached: dict[int, tuple[WeakCall, Any]]

    def subscribe(self, fn: Callable[[StateEvent], None], *, remote: bool = False) -> Callable[[], None]:
        """Call ``fn(event)`` after every commit made by this process, in commit order.

        With ``remote=True``, ``fn`` also receives the changes other processes
        commit, where the backend publishes them (Redis; SQLite with history on, whose
        follower sees them within about 200 ms); elsewhere, watch
        :meth:`change_token` for those instead. A store no other process can write
        (``:memory:``) refuses ``remote=True`` (:class:`RemoteUnsupportedError`), as
        :meth:`run_remote_triggers` does. ``fn`` runs on a backend thread (for
        another process's change, in a copy of this call's context: in a kernel, what it
        prints lands in this cell): it must be quick and must not block.
        Returns a function that unsubscribes.
        """
        if remote:
            check_subscriber(fn)
            with self._lock:
                backend = self.backend  # opens: a store that cannot open keeps nothing
                if backend.private:
                    raise remote_refusal(backend)
        return self._subscribe(fn, remote=remote, user=True)

    def _subscribe(self, fn: Callable[[StateEvent], None], *, remote: bool = True, user: bool = False) -> Callable[[], None]:
        """:meth:`subscribe`, but ``remote=True`` is kept on any store (the viewer's: the
        subscription outlives ``use()``, so it hears other processes wherever the next store
        publishes them). ``user``: a :meth:`subscribe` call's (a switch to a store that cannot
        hear other processes warns of it, not of the viewer's)."""
        check_subscriber(fn)
        # a remote change's fn runs in this call's context: in a kernel, its prints land in this cell
        entries = [(self._subscribers, fn)] + ([(self._remote.subscribers, InOrigin(fn))] if remote else [])
        if remote and user:
            entries.append((self._user_remote, entries[-1][1]))
        for lst, entry in entries:
            lst.append(entry)
        self._listen_locally()
        if remote:
            try:
                self._follow_remote()  # opens the store: a store that cannot open keeps nothing
            except BaseException:
                for lst, entry in entries:
                    lst.remove(entry)
                raise

        def unsubscribe() -> None:
            for lst, entry in entries:
                try:
                    lst.remove(entry)
                except ValueError:
                    pass
            self._listen_locally()
            if remote:
                self._follow_remote()

        return unsubscribe

    def run_remote_triggers(self, enabled: bool = True) -> None:
        """Opt in (or out) to firing this kernel's state triggers for changes that
        *other* processes commit (Redis; SQLite with history on). Off by default: each
        change's triggers normally run once, in the process that made it. The steps run
        under the trace id the change was written with (a change without one: a trace of
        their own); their output goes to the cell that turned them on."""
        with self._lock:
            backend = self.backend if enabled else self._backend  # opening: follow from now on
            if enabled and backend is not None and not backend.publishes_remote:
                raise remote_refusal(backend)
            before = self._remote.triggers, self._remote.origin
            self._remote.triggers = bool(enabled)
            # the steps' output goes to the cell that turned them on (see RemoteChanges.origin)
            self._remote.origin = origin_context() if enabled else None
            try:
                self._follow_remote()
            except BaseException:  # not switched on (or off) half-way
                self._remote.triggers, self._remote.origin = before
                raise

    def _on_commit(self, events: Sequence[StateEvent]) -> None:
        fan_out(self._subscribers, events)

    def _follow_remote(self) -> None:
        """Listen for other processes' changes exactly while someone wants them (on SQLite that
        runs a follower thread); wanting them opens the store (changes from now on arrive)."""
        with self._lock:
            backend = self._backend
            if backend is None and self._remote.wanted:
                backend = self.backend  # opens; _attach listens
            self._remote.follow(backend)

    def _listen_locally(self) -> None:
        """Keep this manager's local listener registered exactly while it has subscribers."""
        with self._lock:
            b = self._backend
            entry = None if b is None else self._attached.get(id(b))
            if b is None or entry is None:
                return
            local = entry[0]
            b.remove_listener(local)
            if self._subscribers:
                b.add_listener(local)

    def _say_remote_deaf(self, backend: Backend) -> None:
        """Warn (one line) that the remote triggers / remote subscribers turned on before a switch
        to ``backend`` hear nothing there (``:memory:``; SQLite with history off): on such a store
        turning them on refuses. Kept on (they hear again after a switch to one that publishes),
        as the viewer's own subscription, which is never warned of."""
        if backend.publishes_remote:
            return
        n = len(self._user_remote)
        who = " and ".join(filter(None, (
            "remote triggers" if self._remote.triggers else "",
            f"{n} remote subscriber{'' if n == 1 else 's'}" if n else "",
        )))  # fmt: skip
        if not who:
            return
        calls = ", ".join(filter(None, ("run_remote_triggers" if self._remote.triggers else "",
                                        "subscribe(..., remote=True)" if n else "")))  # fmt: skip
        # located in no file, as motia_nb's other setting warnings (where it was raised means nothing)
        warnings.warn_explicit(
            f"{remote_refusal(backend)}, so this kernel's {who} ({calls}) hear no other process's change until "
            "you use one that does",
            UserWarning, "motia_nb", 0, module="motia_nb", registry={},
        )  # fmt: skip
