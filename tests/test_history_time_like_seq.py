"""A seq that reads as a unix time and is past every change is refused, on every backend.

A newcomer writes ``history("orders", since=int(time.time()) - 3600)`` for "the last hour": an
int is a seq, and one past the newest change read as "after every change", so the answer was
``[]``, and ``get(at=int(time.time()))`` silently the value now. Such a seq (seconds,
milliseconds or microseconds since 2001) is now refused in one line saying to pass a datetime;
any other seq past the newest still reads as after every change (``sys.maxsize`` is no limit)."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timezone

import pytest

from motia_nb.state import InvalidInputError
from motia_nb.state.backends.retained import time_like


def test_what_reads_as_a_unix_time():
    now = time.time()
    assert time_like(int(now)) == ("seconds", 1)
    assert time_like(int(now * 1000)) == ("milliseconds", 1000)
    assert time_like(int(now * 1e6)) == ("microseconds", 10**6)
    for seq in (0, 1, 42, 10**9 - 1, 10**10, 10**12 - 1, sys.maxsize, 2**63, 10**30):
        assert time_like(seq) is None, seq


@pytest.mark.parametrize("scale", [1, 1000, 10**6])
def test_a_unix_time_as_a_seq_is_refused_in_one_line(sm, scale):
    s = sm.sync
    s.set("orders", "o1", {"status": "new"})
    s.set("orders", "o1", {"status": "paid"})
    newest = s.history("orders")[-1]["seq"]
    hour_ago = int((time.time() - 3600) * scale)
    for call, name in [
        (lambda: s.history("orders", since=hour_ago), "since"),
        (lambda: s.history("orders", "o1", since=hour_ago), "since"),
        (lambda: s.get("orders", "o1", at=hour_ago), "at"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            call()
        msg = str(info.value)
        assert "\n" not in msg
        assert msg.startswith(f"{name}={hour_ago} is no change's seq (the newest is {newest})")
        when = re.search(r"the ISO text '([^']+)'", msg).group(1)
        assert datetime.fromisoformat(when) == datetime.fromtimestamp(hour_ago / scale, timezone.utc)
    # what the message says to write answers
    assert [c["new_value"] for c in s.history("orders", since=when)] == [{"status": "new"}, {"status": "paid"}]


def test_other_seqs_past_the_newest_still_read_as_after_every_change(sm):
    s = sm.sync
    s.set("g", "k", 1)
    for seq in (5, 10**9 - 1, sys.maxsize, 10**30):
        assert s.history("g", since=seq) == []
        assert s.get("g", "k", at=seq) == 1


def test_a_seq_in_a_time_range_the_store_has_given_is_a_seq():
    """Only a seq past the newest is refused: the store's own seqs are answered, whatever they are."""
    from motia_nb.state.backends.retained import RetainedHistory
    from motia_nb.state.history import Point

    class Store(RetainedHistory):
        def _newest_seq(self) -> int:
            return 2 * 10**9

    Store()._check_seq(Point(seq=10**9 + 5), "since")  # given: a seq like any other
    with pytest.raises(InvalidInputError, match="newest is 2000000000"):
        Store()._check_seq(Point(seq=2 * 10**9 + 1), "since")
