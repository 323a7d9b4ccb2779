"""Events from other processes: a subscriber task on the backend's channel.

Every write script publishes its events on ``motia_nb:events:<db>`` from inside
the script that commits them, so messages arrive in commit order. Messages whose
``origin`` is this backend are skipped (local listeners already had them); the
others become :class:`~motia_nb.state.events.StateEvent` objects handed to
``on_events`` as :class:`~motia_nb.state.events.WriteEvents`, a trace id's run at a time (a
message carries its write's trace id, ``r``: remote triggers run under it). Writes made by Motia itself or by hand do not publish on this
channel and are only seen on the next read. After a lost connection the task
reconnects with backoff (:data:`RETRY_FIRST` doubling up to :data:`RETRY_MAX`: a restarted
server is heard again within about a second of answering) and calls ``on_gap()`` (changes may
have been missed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import NoPermissionError

from ...events import StateEvent, by_trace
from .codec import event_from_wire, text
from .layout import RedisBackendError

__all__ = ["Subscriber", "ChangeCounts", "RETRY_FIRST", "RETRY_MAX"]

log = logging.getLogger("motia_nb")

#: seconds before the first try to subscribe again after the subscription was lost, doubled at
#: each failed try up to RETRY_MAX (a try is one connect: against a server that is down, one
#: refused connection a second costs nothing; the changes published meanwhile are missed)
RETRY_FIRST = 0.05
RETRY_MAX = 1.0


class ChangeCounts:
    """A backend's change counters: ``token`` moves with every local commit and every change
    another process published (:meth:`bump`), and with every gap in the events
    (:meth:`gap`: the subscription was lost and is back, a write was interrupted mid round
    trip), which also moves ``missed``."""

    def __init__(self) -> None:
        self.token = 0
        self.missed = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.token += 1

    def gap(self) -> None:
        with self._lock:
            self.missed += 1
            self.token += 1


class Subscriber:
    """Listens on ``channel`` and turns foreign messages into events."""

    def __init__(
        self,
        channel: str,
        origin: str,
        *,
        where: str,
        on_events: Callable[[Sequence[StateEvent]], None],
        on_gap: Callable[[], None],
    ) -> None:
        self.channel = channel
        self.origin = origin
        self._where = where  # the URL without password, for messages
        self._on_events = on_events
        self._on_gap = on_gap
        # how our own messages name us: JSON-escaped text inside them cannot contain
        # this unescaped (a quote in a value, group or key is sent as \"), so a plain
        # substring test recognises our echo without parsing it
        self._mine = f'"origin":"{origin}"'.encode()
        #: our own messages skipped unparsed (a test observable)
        self.echoes = 0
        #: True while our subscription is acknowledged and its connection up
        self.live = False

    def channel_arg(self) -> str:
        """The channel as the write scripts take it: ``<channel>|<1 if we are subscribed, else 0>``
        (a script publishes only when somebody else listens; see ``lua/helpers.lua``)."""
        return f"{self.channel}|{1 if self.live else 0}"

    async def run(self, client: Any, subscribed: "asyncio.Future[None]") -> None:
        """The subscriber task; ``subscribed`` resolves once the first SUBSCRIBE is
        acknowledged (or fails with a clear error, ending the task)."""
        backoff = RETRY_FIRST
        lost = False  # said once per loss: a try that fails again is logged at debug level only
        while True:
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if not subscribed.done():
                    subscribed.set_result(None)
                else:  # reconnected: changes may have been missed while we were away
                    self._on_gap()
                    log.warning(
                        "motia_nb: the Redis event subscription on %s is back; changes other processes "
                        "committed while it was lost reached no remote subscriber or remote trigger here",
                        self._where,
                    )
                backoff, lost = RETRY_FIRST, False
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    if msg.get("type") == "message":
                        self.on_message(msg["data"])
                    elif msg.get("type") == "subscribe":  # the server counts us from now on
                        self.live = True
            except asyncio.CancelledError:
                self.live = False
                raise
            except Exception as exc:
                self.live = False
                if not subscribed.done():
                    subscribed.set_exception(
                        RedisBackendError(f"cannot subscribe to {self.channel} on {self._where}: {exc}")
                    )
                    return
                if isinstance(exc, NoPermissionError):  # an ACL without the channel: no retry mends that
                    log.warning(
                        "motia_nb: the Redis user of %s may not use the channel %s (%s), so this kernel hears no "
                        "change another process commits and they hear none of its (remote subscribers, remote "
                        "triggers, other kernels' viewers); its writes are not affected. Grant it with "
                        "ACL SETUSER <user> &motia_nb:events:*",
                        self._where, self.channel, exc,
                    )  # fmt: skip
                    return
                if lost:
                    log.debug("motia_nb: the Redis event subscription is still lost (%s); retrying", exc)
                else:
                    log.warning("motia_nb: lost the Redis event subscription (%s); reconnecting", exc)
                    lost = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX)
            finally:
                self.live = False
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    def on_message(self, data: bytes | str) -> None:
        """One published message: foreign events go to ``on_events``; ours are skipped."""
        raw = data if isinstance(data, bytes) else data.encode()
        if self._mine in raw:
            self.echoes += 1
            return  # our own commit: local listeners already had it
        try:
            msg = json.loads(text(data))
            if msg.get("origin") == self.origin:
                return
            wire = msg.get("events") or []
            events = [event_from_wire(ev) for ev in wire]
            top = msg.get("r")  # the call's trace id; an event of a set_many of several traces has its own
            traces = [ev.get("r", top) for ev in wire]
        except Exception:
            log.warning("motia_nb: ignoring a malformed message on %s: %.200r", self.channel, data)
            return
        for run in by_trace(events, traces):  # one trace at a time, in commit order
            self._on_events(run)
