"""The viewer's live refresh: the debouncer on a fake clock (no sleeps), and a refresh over a
slow Redis that leaves the loop free (a loop probe counts the callbacks that ran during it)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motia_nb.notebook.viewer import viewer
from motia_nb.notebook.viewer.data import LiveData, off_loop
from motia_nb.notebook.viewer.live import Debouncer
from motia_nb.notebook.viewer.model import ViewModel
from motia_nb.state import StateManager


# --------------------------------------------------------------------------- a fake clock
class FakeClock:
    """``time`` and ``call_later`` with time that moves only on ``advance``."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, fn: Callable[[], None]) -> "_Timer":
        assert delay >= 0, delay
        t = _Timer(fn)
        heapq.heappush(self._timers, (self.now + delay, next(self._seq), t))
        return t

    def run_next(self, end: float) -> bool:
        """Run the next timer due by ``end`` at its own deadline; False when there is none."""
        while self._timers and self._timers[0][0] <= end + 1e-12:
            when, _, t = heapq.heappop(self._timers)
            if t.cancelled:
                continue
            self.now = max(self.now, when)
            t.fn()
            return True
        return False


class _Timer:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Harness:
    """A debouncer whose refreshes record when they start and can be held open."""

    def __init__(self, **kw: Any) -> None:
        self.clock = FakeClock()
        self.starts: list[float] = []
        self.gate: asyncio.Event | None = None  # when set: refreshes wait for it
        self.token: Any = 0
        self.errors: list[BaseException] = []
        self.fail_next = False
        self.concurrent = 0
        self.max_concurrent = 0
        self.changes: list[float] = []  # when the test notified (see notify)
        self.covered: list[int] = []  # len(changes) when each refresh started
        kw.setdefault("debounce", 0.15)
        kw.setdefault("max_delay", 1.0)
        kw.setdefault("poll_interval", 0.5)
        self.d = Debouncer(self.refresh, clock=self.clock, spawn=asyncio.get_running_loop().create_task,
                           token=self.read_token, initial_token=self.token, on_error=self.errors.append, **kw)
        self.d.start()

    def read_token(self) -> Any:
        if isinstance(self.token, Exception):
            raise self.token
        return self.token

    def notify(self) -> None:
        self.changes.append(self.clock.now)
        self.d.notify()

    async def refresh(self) -> None:
        self.starts.append(self.clock.now)
        self.covered.append(len(self.changes))
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("store went away")
        finally:
            self.concurrent -= 1

    async def step(self, dt: float) -> None:
        """Move the fake clock forward by ``dt``; after each timer, let the loop run what it made
        ready, at that timer's time (no real time passes)."""
        end = self.clock.now + dt
        await self._settle()
        while self.clock.run_next(end):
            await self._settle()
        self.clock.now = end

    @staticmethod
    async def _settle() -> None:
        for _ in range(10):
            await asyncio.sleep(0)


def run(coro_fn: Callable[[], Any]) -> None:
    asyncio.run(coro_fn())


def test_one_change_refreshes_once_after_the_quiet_time() -> None:
    async def main() -> None:
        h = Harness(poll_interval=100)
        h.d.notify()
        assert h.d.pending
        await h.step(0.149)
        assert h.starts == []
        await h.step(0.001)
        assert h.starts == [pytest.approx(0.15)] and not h.d.pending
        await h.step(10)
        assert len(h.starts) == 1 and h.d.refreshes == 1

    run(main)


def test_a_burst_is_coalesced_and_never_waits_past_max_delay() -> None:
    async def main() -> None:
        h = Harness(debounce=0.15, max_delay=1.0, poll_interval=100)
        for _ in range(30):  # a change every 0.1 s for 3 s: never 0.15 s of quiet
            h.d.notify()
            await h.step(0.1)
        await h.step(1.0)
        # one refresh per max_delay during the burst, and one after it: 3 or 4, not 30
        assert 3 <= len(h.starts) <= 4, h.starts
        assert h.starts[0] == pytest.approx(1.0)  # the first of the burst waited exactly max_delay
        assert all(b - a <= 1.0 + 1e-6 for a, b in zip(h.starts, h.starts[1:], strict=False)), h.starts

    run(main)


def test_changes_during_a_refresh_give_exactly_one_more() -> None:
    async def main() -> None:
        h = Harness(debounce=0.1, poll_interval=100)
        h.gate = asyncio.Event()
        h.d.notify()
        await h.step(0.1)
        assert len(h.starts) == 1 and h.d.running
        for _ in range(5):  # five changes while the refresh is held open
            h.d.notify()
            await h.step(0.2)
        assert len(h.starts) == 1  # never two at once
        h.gate.set()
        await h.step(0)
        assert len(h.starts) == 2  # the five became one
        await h.step(5)
        assert len(h.starts) == 2 and h.max_concurrent == 1 and not h.d.running

    run(main)


def test_the_change_token_is_polled_and_only_a_change_refreshes() -> None:
    async def main() -> None:
        h = Harness(poll_interval=0.5)
        await h.step(2.0)
        assert h.starts == []  # token unchanged: polls cost nothing
        h.token = 1  # another process committed
        await h.step(0.49)
        assert h.starts == []
        await h.step(0.01)
        assert h.starts == [pytest.approx(2.5)]
        await h.step(3.0)
        assert len(h.starts) == 1
        h.token = RuntimeError("closed")  # a failing token read is "no token", not a crash
        await h.step(0.5)
        assert len(h.starts) == 2 and h.errors == []
        await h.step(2.0)
        assert len(h.starts) == 2

    run(main)


def test_a_local_change_and_a_token_change_make_one_refresh() -> None:
    async def main() -> None:
        h = Harness(debounce=0.15, poll_interval=0.5)
        await h.step(0.4)
        h.token = 7  # our own commit moves the token too
        h.d.notify()
        await h.step(0.1)  # the poll at 0.5 sees the token: refresh now, the pending notice included
        assert h.starts == [pytest.approx(0.5)]
        await h.step(3.0)
        assert len(h.starts) == 1

    run(main)


def test_a_failing_refresh_is_reported_and_the_next_change_retries() -> None:
    async def main() -> None:
        h = Harness(debounce=0.1, poll_interval=100)
        h.fail_next = True
        h.d.notify()
        await h.step(0.1)
        assert [str(e) for e in h.errors] == ["store went away"] and not h.d.running
        h.d.notify()
        await h.step(0.1)
        assert len(h.starts) == 2 and len(h.errors) == 1

    run(main)


def test_close_stops_timers_polls_and_a_running_refresh() -> None:
    async def main() -> None:
        h = Harness(debounce=0.1, poll_interval=0.5)
        h.gate = asyncio.Event()
        h.d.notify()
        await h.step(0.1)
        assert h.d.running
        h.d.notify()
        h.d.close()
        await h.step(0)
        assert not h.d.running and not h.d.pending and not h.d.active
        h.token = 99
        h.d.notify()
        await h.step(10)
        assert len(h.starts) == 1

    run(main)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=25),
       st.floats(min_value=0.01, max_value=0.5), st.floats(min_value=0.0, max_value=1.5))
def test_every_change_is_shown_within_max_delay_and_refreshes_never_outnumber_changes(
    gaps: list[float], debounce: float, extra: float
) -> None:
    """Instant refreshes, changes at arbitrary times: each change is followed by a refresh
    no later than ``max_delay`` after it; a refresh starts only once its burst has been quiet
    for ``debounce`` or has waited ``max_delay``; never more refreshes than changes."""
    max_delay = debounce + extra
    eps = 1e-9

    async def main() -> None:
        h = Harness(debounce=debounce, max_delay=max_delay, poll_interval=1e9)
        for gap in gaps:
            await h.step(gap)
            h.notify()
        changes, seen_at_refresh = h.changes, h.covered
        await h.step(max_delay + 1)
        assert 1 <= len(h.starts) <= len(changes)
        assert seen_at_refresh[-1] == len(changes)  # the last change was shown
        for i, t in enumerate(changes):
            first_showing = next(s for s, n in zip(h.starts, seen_at_refresh, strict=True) if n > i)
            assert t <= first_showing <= t + max_delay + eps, (t, h.starts)
        previous = 0
        for s, n in zip(h.starts, seen_at_refresh, strict=True):
            burst = changes[previous:n]
            assert burst, "a refresh with no change"
            assert s - burst[-1] >= debounce - eps or s - burst[0] >= max_delay - eps, (s, burst)
            previous = n

    run(main)


# --------------------------------------------------------------------------- a slow, remote-looking Redis
class SlowProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk for ``delay`` seconds each way."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="test-slow-proxy", daemon=True)

    def __enter__(self) -> "SlowProxy":
        self.thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()
            # the pipes still open end here, in the loop (left to garbage collection after
            # close(), their ``finally`` met a closed loop: an unraisable warning in the run)
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    await asyncio.sleep(self.delay)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))


def _loopback_alias() -> str:
    """A host name for 127.0.0.1 that is not spelled as a loopback address, so the backend treats
    the store as remote (reads off the loop), as it would a Redis on another machine."""
    for name in (socket.gethostname(), "localhost.localdomain", "ip6-localhost"):
        try:
            addrs = {a[4][0] for a in socket.getaddrinfo(name, None, socket.AF_INET)}
        except OSError:
            continue
        if name != "localhost" and addrs and all(a.startswith("127.") for a in addrs):
            return name
    pytest.skip("no host name resolves to 127.0.0.1 here (needed to reach the proxy as a 'remote' host)")


class ObservedManager(StateManager):
    """A real StateManager that counts the reads the viewer is awaiting (``in_flight``)."""

    in_flight = 0

    async def _observed(self, read: Any) -> Any:
        self.in_flight += 1
        try:
            return await read
        finally:
            self.in_flight -= 1

    def group_counts(self) -> Any:
        return self._observed(super().group_counts())

    def count(self, group_id: str) -> Any:
        return self._observed(super().count(group_id))

    def items(self, group_id: str, offset: int = 0, limit: int | None = None, *, order: str = "insertion") -> Any:
        return self._observed(super().items(group_id, offset, limit, order=order))

    def items_after(self, group_id: str, *args: Any, **kw: Any) -> Any:
        return self._observed(super().items_after(group_id, *args, **kw))


class LoopProbe:
    """Ticks every 5 ms on the running loop, noting whether the viewer was waiting for a read."""

    def __init__(self, running: Callable[[], bool]) -> None:
        self.running = running
        self.ticks_during_refresh = 0
        self.ticks = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._tick()

    def _tick(self) -> None:
        self.ticks += 1
        if self.running():
            self.ticks_during_refresh += 1
        self._handle = asyncio.get_running_loop().call_later(0.005, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


@pytest.fixture
def slow_remote_url(redis_url: str) -> Iterator[str]:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with SlowProxy(port, delay=0.05) as proxy:
        yield f"redis://{_loopback_alias()}:{proxy.port}/0"


@pytest.mark.redis
def test_a_live_refresh_over_a_slow_remote_redis_leaves_the_loop_free(redis_url: str, slow_remote_url: str) -> None:
    """The loop that owns the viewer (a kernel's, here an asyncio.run) keeps running other
    callbacks while a live refresh waits for a slow Redis: the refresh's reads are awaited."""
    slow = ObservedManager(slow_remote_url)
    writer = StateManager(redis_url)  # another client, straight to the server
    assert not slow.backend.direct_reads  # the store looks remote: reads must not run on the loop
    for i in range(60):
        writer.sync.set("orders", f"o{i:02d}", {"n": i})

    async def main() -> tuple[int, int, list[tuple[str, str]]]:
        v = viewer("orders", manager=slow, page_size=25, debounce=0.02, poll_interval=0.05)
        try:
            assert v.live is not None
            probe = LoopProbe(lambda: slow.in_flight > 0)
            probe.start()
            writer.sync.set("orders", "from-elsewhere", {"n": 99})  # seen through pub/sub, via the proxy
            while not (("orders  (61)", "orders") in v.groups.options and not v.live.running):
                await asyncio.sleep(0.01)
            probe.stop()
            return probe.ticks_during_refresh, v.live.refreshes, list(v.groups.options)
        finally:
            v.close()

    try:
        ticks, refreshes, groups = asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        slow.close()
        writer.close()
    assert refreshes >= 1 and groups == [("orders  (61)", "orders")]
    # each read waits ≥ 0.1 s in the proxy: other callbacks ran meanwhile
    assert ticks >= 3, f"the loop did not run during a live refresh ({ticks} probe ticks)"


class _BlockingReads:
    """A manager whose async reads block the loop (what the viewer must not be given over the
    network): the probe sees no tick during its refresh, which shows the probe can fail."""

    url = "blocking://"
    is_open = True

    def __init__(self) -> None:
        self.token = 0
        self.in_flight = 0

    def subscribe(self, fn: Any, *, remote: bool = False) -> Callable[[], None]:
        return lambda: None

    def change_token(self) -> int:
        return self.token

    async def group_counts(self) -> dict[str, int]:
        import time

        self.in_flight += 1
        time.sleep(0.1)  # blocks the loop, as a synchronous network read would
        self.in_flight -= 1
        return {"g": 1}

    async def count(self, group: str) -> int:
        return 1

    async def items(self, group: str, offset: int, limit: int, *, order: str) -> list[tuple[str, Any]]:
        return [("k", 1)]

    async def items_after(self, group: str, after: Any, limit: int, *, order: str, inclusive: bool = False) -> Any:
        return [("k", 1)]


def test_the_probe_sees_no_tick_when_a_refresh_blocks_the_loop() -> None:
    m = _BlockingReads()

    async def main() -> int:
        v = viewer("g", manager=m, debounce=0.01, poll_interval=0.02)  # type: ignore[arg-type]
        try:
            assert v.live is not None
            probe = LoopProbe(lambda: m.in_flight > 0)
            probe.start()
            n = v.live.refreshes
            m.token += 1
            while v.live.refreshes == n:
                await asyncio.sleep(0.005)
            probe.stop()
            return probe.ticks_during_refresh
        finally:
            v.close()

    assert asyncio.run(asyncio.wait_for(main(), 30)) == 0


def test_load_reads_one_page_and_the_selected_value_off_the_page(db_path: str) -> None:
    m = StateManager(db_path)
    try:
        for i in range(30):
            m.sync.set("g", f"k{i:02d}", i)
        data, model = LiveData(), ViewModel(group="g", page_size=10)
        model.page, model.key = 7, "k05"  # past the end, and a key that is not on the last page
        snap = asyncio.run(data.load(m, model, off_loop(m)))
        assert (snap.total, snap.page, [k for k, _ in snap.rows]) == (30, 2, [f"k{i}" for i in range(20, 30)])
        assert snap.selected == (True, 5) and snap.counts == {"g": 30} and snap.generation == model.generation
        model.key = "gone"
        assert asyncio.run(data.load(m, model, off_loop(m))).selected == (False, None)
        assert data.rescans == 1  # the counts were read whole once; then kept from events
    finally:
        m.close()


class _BrowserMessage:
    """Stands for ipykernel while it handles a widget message from the browser (a ``comm_msg``)."""

    def get_parent(self) -> dict[str, Any]:
        return {"header": {"msg_type": "comm_msg", "msg_id": "from-the-browser"}}


@pytest.mark.redis
def test_clicks_from_the_browser_over_a_slow_remote_redis_are_queued_and_leave_the_loop_free(
    redis_url: str, slow_remote_url: str
) -> None:
    """A click the kernel receives from the browser returns at once; its reads run as a task
    on the kernel's loop (other callbacks keep running), and two clicks apply in order."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    slow = StateManager(slow_remote_url)
    writer = StateManager(redis_url)
    for i in range(80):
        writer.sync.set("orders", f"o{i:02d}", {"n": i})

    def first_key(v: Any) -> str | None:
        return v.items.options[0][1] if v.items.options else None

    async def main() -> tuple[int, str | None, str | None]:
        v = viewer("orders", manager=slow, page_size=25, live=False)
        shell.kernel = _BrowserMessage()
        try:
            probe = LoopProbe(lambda: first_key(v) != "o50")
            probe.start()
            v.next_button.click()
            v.next_button.click()
            shown_when_the_clicks_returned = first_key(v)
            while first_key(v) != "o50":
                await asyncio.sleep(0.01)
            probe.stop()
            return probe.ticks_during_refresh, shown_when_the_clicks_returned, first_key(v)
        finally:
            del shell.kernel
            v.close()

    try:
        ticks, at_return, final = asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        slow.close()
        writer.close()
    assert at_return == "o00"  # the clicks were queued, not run while the browser waited
    assert final == "o50"  # page 1, then page 2: in the order they came
    assert ticks >= 3, f"the loop did not run while the clicks read the store ({ticks} probe ticks)"
