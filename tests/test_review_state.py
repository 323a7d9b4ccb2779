"""Review of the state changes (retention floor, URL typo refusals, the dotted-key regex)."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.history import Point


@pytest.fixture(params=["sqlite", "redis"])
def url(request: Any, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("redis_url")


@pytest.mark.parametrize("looser", ["all", "80"])
def test_history_cut_since_follows_the_floor_a_loosened_retention_keeps(url: str, looser: str) -> None:
    """history_keep '50' -> 'all' (or '80'): reads still start at the first change '50' kept (the
    floor), so ``%state history --since 3`` starts there; history_cut_since said 0 (nothing cut,
    'all' does not prune) or the looser horizon's seq, and the cell was told nothing."""
    m = StateManager(url, history_keep="50")
    try:
        for i in range(100):
            m.sync.set("orders", f"o{i}", i)
        first = m.sync.history("orders", limit=1000)[0]["seq"]
        m.history_keep = looser
        shown = m.sync.history("orders", since=3, limit=1000)
        assert shown[0]["seq"] == first  # the floor: what '50' hid stays hidden
        assert m.backend.history_cut_since("orders", Point(seq=3)) == first
        assert m.backend.history_cut_since("orders", Point(seq=first - 1)) == 0  # from the first shown
    finally:
        m.close()


@pytest.mark.parametrize("typed", ["redis:a\nb:6379", "sqlite:a\nb.db", "file:a\nb.db", "a\nb/", "x\t/"])
def test_a_url_typo_refusal_is_one_line(typed: str, tmp_path: Any) -> None:
    """The refusals of a URL typed as a path echoed the path raw in their suggestions ('write
    redis://a' newline 'b:6379'): a line break in the text broke the error over lines."""
    from motia_nb.state.backends import open_backend
    from motia_nb.state.errors import StateError

    with pytest.raises(StateError) as info:
        open_backend(typed)
    assert "\n" not in str(info.value) and "\t" not in str(info.value)


def test_a_url_typo_refused_as_a_folder_masks_its_password() -> None:
    """'redis//:secret@host:6379/' (a colon lost) was refused as a folder with the password in
    the line, twice; the other typo refusals mask it."""
    from motia_nb.state.backends import open_backend
    from motia_nb.state.errors import StateError

    with pytest.raises(StateError) as info:
        open_backend("redis//user:secret@host:6379/")
    assert "secret" not in str(info.value) and "user:***@host" in str(info.value)


def test_value_size_is_the_stored_texts_length(url: str) -> None:
    """Backend.value_size (what Tab at set's VALUE asks before reading an item out)."""
    m = StateManager(url)
    try:
        m.sync.set("g", "k", {"a": "é" * 10})
        m.sync.set("g", "n", None)
        assert 17 <= m.backend.value_size("g", "k") <= 40  # (characters on SQLite, UTF-8 bytes on Redis)
        assert m.backend.value_size("g", "n") == 4  # null: stored, not missing
        assert m.backend.value_size("g", "missing") is None and m.backend.value_size("other", "k") is None
    finally:
        m.close()


def test_a_history_keep_count_of_thousands_of_digits_is_the_largest_count() -> None:
    """A count past int()'s 4,300 digits raised ValueError ('Exceeds the limit (4300 digits) for
    integer string conversion ... use sys.set_int_max_str_digits()'), where 2**63 is 2**63-1."""
    from motia_nb.state.errors import InvalidInputError
    from motia_nb.state.history import MAX_SEQ, Retention

    assert Retention.parse("9" * 5000).max_count == MAX_SEQ
    assert Retention.parse("0" * 5000 + "7,1d").max_count == 7  # leading zeros: the number they lead
    assert Retention.parse("٠" * 5000 + "٧").max_count == 7  # any script's digits, as int() reads them
    with pytest.raises(InvalidInputError, match="at least 1"):
        Retention.parse("0" * 5000)


@pytest.mark.parametrize("value", [[1, 2], {"a": 1, "b": 2}])
def test_a_group_shown_as_json_is_not_cut_to_zero_more_entries(value: Any) -> None:
    """MotiaNB.display_max_rows = 1: a cut view still shows a first and a last entry, so a group
    of 2 was shown whole with a line '… 0 more items (2 in all…)' between them."""
    from IPython.lib.pretty import pretty

    from motia_nb.notebook.display import as_json_result

    text = pretty(as_json_result(value, 2, cut=True, max_rows=1))
    assert "more" not in text and json.loads(text) == value
    cut = pretty(as_json_result(list(range(3)), 2, cut=True, max_rows=1))
    assert "1 more items (3 in all" in cut


@pytest.mark.parametrize("keep", ["off", "all"])
def test_every_redis_write_script_publishes_its_trace_id(redis_url: str, keep: str) -> None:
    """helpers.lua's publish reads the call's trace id as ARGV[#ARGV - 4], the second of
    history.lua's six trailing ARGV: right for set, cas (update), delete, clear and set_many (whose
    own per-set ids ride on the events), with the history off ('-1') as on."""
    import asyncio

    import redis

    from motia_nb.state.cause import acting_as

    m = StateManager(redis_url, history_keep=keep)
    sub = redis.Redis.from_url(redis_url, decode_responses=True).pubsub(ignore_subscribe_messages=True)
    try:
        m.sync.set("g", "warm", 0)  # opened: the channel is known
        sub.psubscribe("motia_nb:events:*")
        sub.get_message(timeout=1.0)

        def message() -> dict[str, Any]:
            got = sub.get_message(timeout=5.0)
            assert got is not None
            return json.loads(got["data"])

        with acting_as("step", "T-set"):
            m.sync.set("g", "a", {"x": 1})
        assert message()["r"] == "T-set"
        with acting_as("step", "T-cas"):
            m.sync.update("g", "a", [{"type": "set", "path": "x", "value": 2}])
        assert message()["r"] == "T-cas"
        with acting_as("step", "T-del"):
            m.sync.delete("g", "a")
        assert message()["r"] == "T-del"

        async def gather() -> None:  # one loop iteration's sets of two traces: one set_many call
            async def one(k: str, t: str) -> None:
                with acting_as("step", t):
                    await m.set("g", k, 1)
            await asyncio.gather(one("b", "T-1"), one("c", "T-2"))

        asyncio.run(gather())
        got = [message()]
        traces = {ev["k"]: ev.get("r", got[0].get("r")) for ev in got[0]["events"]}
        if len(traces) < 2:  # (two calls after all: each its own message)
            got.append(message())
            traces.update({ev["k"]: ev.get("r", got[1].get("r")) for ev in got[1]["events"]})
        assert traces == {"b": "T-1", "c": "T-2"}, got
        with acting_as("step", "T-clear"):
            m.sync.clear("g")
        assert message()["r"] == "T-clear"
    finally:
        sub.close()
        m.close()


@pytest.mark.parametrize("body", ["{\n  x\n}", "{\n  order\n}\n", "{\r\n  x\r\n}"])
def test_a_value_over_lines_is_no_variable_and_its_refusal_is_one_line(body: str) -> None:
    """``%%state set g k`` with a body of ``{``, ``order``, ``}`` (an object missing its quotes)
    was refused as IPython's {var}, the body echoed raw: three lines. A value over lines is
    no variable (IPython expands one in a line only): the JSON error (its column and caret, as
    ever), or with an expression allowed, Python's one line."""
    from motia_nb.notebook.parsing import MagicUsageError, read_value

    def evaluate(s: str) -> Any:
        raise NameError(f"name {s.strip()[1:-1].strip()!r} is not defined")

    for ev in (None, evaluate):
        with pytest.raises(MagicUsageError) as info:
            read_value(body, "VALUE", {}, ev)
        assert "reads as a variable" not in str(info.value)
        if ev is None:
            assert str(info.value).startswith("VALUE is not valid JSON: Expecting property name")
        else:
            assert "\n" not in str(info.value) and "\r" not in str(info.value)
    with pytest.raises(MagicUsageError, match="reads as a variable"):  # on a line: as before
        read_value("{x}", "VALUE", {})


def test_an_absolute_sqlite_path_typed_with_a_bare_scheme_is_suggested_absolute() -> None:
    """'sqlite:/data/state.db' was refused with 'write data/state.db': a relative path, a new
    database in the working folder, not the user's file at /data/state.db."""
    from motia_nb.state.backends import open_backend
    from motia_nb.state.errors import StateError

    with pytest.raises(StateError) as info:
        open_backend("sqlite:/data/state.db")
    assert "write /data/state.db;" in str(info.value)
    with pytest.raises(StateError, match="write state.db;"):
        open_backend("sqlite:state.db")


def test_the_dotted_key_prefilter_never_misses_a_dotted_key() -> None:
    """sync._DOTTED_KEY (possessive, linear) against the truth on random JSON texts of quotes,
    backslashes, dots and colons: it finds every key holding a dot at any depth (never a miss: a
    miss would let {"x.y": 1, "x": {"y": 2}} lose a value silently), also across escapes, which
    the former missed. A match without a dotted key (either regex has them, each its own) only
    costs the exact check after it."""
    from motia_nb.state.sync import _DOTTED_KEY

    old = re.compile(r'"[^"\\]*\.[^"\\]*"\s*:')
    alphabet = ['a', '.', '"', '\\', ' ', ':', ',', '{', '}', 'é', '\n', '/']
    rng = random.Random(7)

    def text(r: random.Random) -> str:
        return "".join(r.choice(alphabet) for _ in range(r.randint(0, 5)))

    def value(r: random.Random, depth: int) -> Any:
        c = r.random()
        if depth > 2 or c < 0.3:
            return r.choice([1, 1.5, None, True, text(r), 0.25])
        if c < 0.5:
            return [value(r, depth + 1) for _ in range(r.randint(0, 3))]
        return {text(r): value(r, depth + 1) for _ in range(r.randint(0, 3))}

    def dotted(v: Any) -> bool:
        if isinstance(v, dict):
            return any("." in k or dotted(x) for k, x in v.items())
        return isinstance(v, list) and any(dotted(x) for x in v)

    escaped_only = 0
    for _ in range(4000):
        values = [value(rng, 0) for _ in range(rng.randint(1, 3))]
        for kw in ({}, {"ensure_ascii": False}, {"separators": (",", ":")}):
            t = json.dumps(values, **kw)
            found = _DOTTED_KEY.search(t) is not None
            assert found or not dotted(values), t
            escaped_only += found and dotted(values) and old.search(t) is None
    assert escaped_only > 0  # keys the former regex missed (a backslash or quote in them)
