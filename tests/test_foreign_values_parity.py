"""Values another tool wrote into the store as text that is not JSON (or JSON motia_nb never
writes: ``NaN``, ``-Infinity``, ``1e400``), SQLite against Redis: the same sequence of calls
on both must give the same answers.

What Redis does (the reference): a read refuses such a value (:class:`StoredValueError` naming
the item); ``set``, ``delete`` and ``clear`` over it succeed and hand the old value back as its
text (results, local and cross-process events, ``history()``); ``update`` over it (its ops need
the current value) is refused and writes nothing; ``get(at=...)`` of a past value that was such
a text is refused naming the change. Every run here is a differential: the scenario runs on a
fresh SQLite file and on an emptied private redis-server, and both transcripts must be equal
(and equal to what is written out for the cases that matter, so a shared mistake fails too).
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from motia_nb.state import StateManager
from motia_nb.state.errors import StateError, StoredValueError

pytestmark = pytest.mark.redis

#: key -> the text another tool stored (every one of them is refused by a read)
FOREIGN = {
    "text": "hello there",
    "pair": "1,2",  # two values if it were joined with its neighbours into one parse
    "open": '{"n": 2',
    "nan": "NaN",
    "ninf": "-Infinity",
    "huge": "1e400",  # json.loads: inf
    "deep": '{"x": [1e400]}',
    "tricky": 'a,]"é€😀 [x',  # a separator, a closer, a quote and multi-byte characters
    "quoted": '"x],[',  # an unclosed string starting a bracket pair
    "bigint": "1" + "0" * 5000,  # over Python's int digit limit
    "unclosed": "[" * 5000,  # too deep for json.loads: the deep-safe decoder's error
}


class Store:
    """One backend under test: its manager, and how another tool writes and reads its items."""

    def __init__(self, kind: str, url: str, put: Callable[[str, str, str], None], raw: Callable[[str, str], Any]):
        self.kind, self.url, self.put, self.raw = kind, url, put, raw
        self.managers: list[StateManager] = []

    def manager(self) -> StateManager:
        m = StateManager(self.url)
        self.managers.append(m)
        return m

    def close(self) -> None:
        for m in self.managers:
            m.close()


def _sqlite_store(path: str) -> Store:
    def put(g: str, k: str, text: str | bytes) -> None:
        """``text`` as TEXT; bytes as TEXT too (UTF-8 or not, as C code binding text can store)."""
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute(
                "INSERT INTO items (grp, key, value) VALUES (?, ?, CAST(? AS TEXT)) "
                "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value",
                (g, k, text),
            )
        finally:
            con.close()

    def raw(g: str, k: str) -> Any:
        con = sqlite3.connect(path)
        con.text_factory = lambda b: b.decode("utf-8", "surrogateescape")  # (text that is not UTF-8 too)
        try:
            row = con.execute("SELECT value FROM items WHERE grp = ? AND key = ?", (g, k)).fetchone()
        finally:
            con.close()
        return None if row is None else row[0]

    return Store("sqlite", path, put, raw)


def _redis_store(url: str, client: Any) -> Store:
    return Store("redis", url, lambda g, k, text: client.hset(f"state:{g}", k, text), lambda g, k: client.hget(f"state:{g}", k))


@pytest.fixture
def stores(tmp_path: Any, redis_url: str, redis_client: Any) -> Iterator[tuple[Store, Store]]:
    s, r = _sqlite_store(str(tmp_path / "state.db")), _redis_store(redis_url, redis_client)
    yield s, r
    s.close()
    r.close()


def _err(exc: BaseException) -> tuple[Any, ...]:
    """An error as both backends must give it: its class, item, and why the value cannot be read
    (the text between "cannot be read: " and "; it starts"), the change's number left out."""
    why = re.search(r"cannot be read: (.*?); it starts", str(exc))
    where = re.search(r"the value of ('.*?'/'.*?')( (before|after) change \d+)?", str(exc))
    assert "\n" not in str(exc), str(exc)
    return (
        type(exc).__name__, getattr(exc, "group_id", None), getattr(exc, "key", None),
        why and why.group(1), where and where.group(1), where and where.group(3),
        str(exc).endswith("Overwrite it with set() or delete it"),
    )  # fmt: skip


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return ("ok", fn())
    except StateError as exc:
        return ("error", _err(exc))


def _events(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.event_type, e.group_id, e.key, e.old_value, e.new_value) for e in events]


def _changes(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["event_type"], c["key"], c["old_value"], c["new_value"]) for c in rows]


def _scenario(store: Store) -> list[Any]:
    """The calls a user makes over values another tool wrote; a transcript of the answers."""
    m = store.manager()
    out: list[Any] = []
    m.sync.set("g", "ok", {"n": 1})
    for k, text in FOREIGN.items():
        store.put("g", k, text)
    events: list[Any] = []
    m.subscribe(events.append)
    for k in FOREIGN:  # every read refuses, naming the item
        out.append(("get", k, _try(lambda k=k: m.sync.get("g", k))))
    out.append(("items", _try(lambda: m.sync.items("g"))[0]))
    # an update needs the current value: refused, nothing written, nothing recorded
    for k, text in FOREIGN.items():
        out.append(("update", k, _try(lambda k=k: m.sync.update("g", k, [{"type": "set", "path": "y", "value": 1}]))))
        out.append(("raw after update", k, store.raw("g", k) == text))
    out.append(("history after updates", _changes(m.sync.history("g"))))
    # a set over it: the old value is its text
    out.append(("set", _try(lambda: m.sync.set("g", "text", 1))))
    out.append(("delete", _try(lambda: m.sync.delete("g", "huge"))))
    out.append(("set nan", _try(lambda: m.sync.set("g", "nan", [1]))))

    async def gather() -> list[Any]:  # one batch: sets, a delete and an update over such values
        return await asyncio.gather(
            m.set("g", "pair", 2), m.set("g", "tricky", {"t": "ok"}), m.delete("g", "quoted"),
            m.update("g", "open", [{"type": "set", "path": "y", "value": 1}]), m.set("g", "fresh", 3),
            m.set("g", "ninf", None), return_exceptions=True,
        )  # fmt: skip

    out.append(("gather", [("error", _err(r)) if isinstance(r, BaseException) else r for r in asyncio.run(gather())]))
    out.append(("events", _events(events)))
    history = m.sync.history("g")
    out.append(("history", _changes(history)))
    for k in ("text", "pair", "tricky", "quoted", "nan"):
        out.append(("item history", k, _changes(m.sync.history("g", k))))
    out.append(("async history", _changes(asyncio.run(m.history("g", "tricky")))))
    # the value as it was before a change over it is read as strictly as get() reads one now
    for c in history[1:]:
        out.append(("at before", c["key"], _try(lambda c=c: m.sync.get("g", c["key"], at=c["seq"] - 1))))
        out.append(("at", c["key"], _try(lambda c=c: m.sync.get("g", c["key"], at=c["seq"]))))
    events.clear()
    out.append(("clear", _try(lambda: m.sync.clear("g"))))
    out.append(("clear events", sorted(_events(events), key=repr)))
    out.append(("history after clear", sorted(_changes(m.sync.history("g"))[len(history) :], key=repr)))
    return out


def test_the_same_calls_give_the_same_answers_on_sqlite_and_redis(stores: tuple[Store, Store]) -> None:
    sqlite_out, redis_out = (_scenario(s) for s in stores)
    for a, b in zip(sqlite_out, redis_out):
        assert a == b, f"sqlite: {a}\nredis:  {b}"
    assert len(sqlite_out) == len(redis_out)
    got = {(o[0], o[1]) if len(o) == 3 else o[0]: o[-1] for o in redis_out}
    # pinned, so a mistake both backends share fails too
    assert got[("get", "nan")] == ("error", ("StoredValueError", "g", "nan", "NaN is not JSON", "'g'/'nan'", None, True))
    assert got[("get", "huge")][1][3].startswith("the number 1e400 is too large for a float")
    assert got[("get", "pair")][1][3].startswith("it is not JSON (Extra data")
    assert all(got[("raw after update", k)] for k in FOREIGN)
    assert got[("update", "text")][0] == "error" and got[("update", "text")][1][:3] == ("StoredValueError", "g", "text")
    assert got["history after updates"] == [("state:created", "ok", None, {"n": 1})]
    assert got["set"] == ("ok", {"new_value": 1, "old_value": "hello there"})
    assert got["delete"] == ("ok", "1e400")
    assert got["set nan"] == ("ok", {"new_value": [1], "old_value": "NaN"})
    assert got["gather"][:3] == [
        {"new_value": 2, "old_value": "1,2"}, {"new_value": {"t": "ok"}, "old_value": FOREIGN["tricky"]}, FOREIGN["quoted"],
    ]  # fmt: skip
    assert got["gather"][3][1][:3] == ("StoredValueError", "g", "open")
    assert got["gather"][4:] == [{"new_value": 3, "old_value": None}, {"new_value": None, "old_value": "-Infinity"}]
    assert got[("item history", "tricky")] == [("state:updated", "tricky", FOREIGN["tricky"], {"t": "ok"})]
    assert got[("item history", "quoted")] == [("state:deleted", "quoted", FOREIGN["quoted"], None)]
    assert got[("at before", "tricky")][0] == "error" and got[("at before", "tricky")][1][5:] == ("before", False)
    assert got[("at", "tricky")] == ("ok", {"t": "ok"})
    assert got["clear"] == ("ok", 11)  # every item but huge and quoted (deleted); open, deep, bigint, unclosed foreign
    cleared = {e[2]: e[3] for e in got["clear events"]}
    assert [cleared[k] for k in ("open", "bigint", "unclosed")] == [FOREIGN["open"], FOREIGN["bigint"], FOREIGN["unclosed"]]


def _hot_key_history(store: Store, file: bool) -> list[Any]:
    """A key written 40 times after another tool's text: a filing pass packs its changes in pages
    (SQLite), whose texts are joined without bounds; its history before and after filing."""
    m = store.manager()
    m.sync.set("g", "neighbour", "before")
    m.sync.set("g", "hot", 0)
    store.put("g", "hot", FOREIGN["tricky"])
    assert m.sync.set("g", "hot", 1)["old_value"] == FOREIGN["tricky"]
    store.put("g", "hot", FOREIGN["quoted"])
    assert m.sync.delete("g", "hot") == FOREIGN["quoted"]
    store.put("g", "hot", FOREIGN["pair"])
    for i in range(2, 40):
        m.sync.set("g", "hot", {"i": i, "s": "é,]\""})
    m.sync.set("g", "neighbour", "after")
    out = []
    for _ in range(2 if file else 1):
        whole = m.sync.history("g", "hot", limit=1000)
        out.append(_changes(whole))
        out.append(_changes(m.sync.history("g", "hot", limit=3)))
        out.append(_changes(m.sync.history("g", "hot", since=whole[1]["seq"], limit=3)))
        out.append(_changes(m.sync.history("g", "hot", since=datetime.fromisoformat(whole[0]["at"]), limit=5)))
        out.append(_changes(m.sync.history("g")))
        out.append(_changes(m.sync.history("g", "neighbour")))
        if file:
            store.managers[-1].backend.file_history()  # type: ignore[attr-defined]
    return out


def test_a_hot_keys_history_over_foreign_texts_reads_the_same_before_and_after_filing(stores: tuple[Store, Store]) -> None:
    sqlite_store, redis_store = stores
    got = _hot_key_history(sqlite_store, file=True)
    con = sqlite3.connect(sqlite_store.url)
    try:  # the filing pass paged the hot key's changes
        assert con.execute("SELECT count(*) FROM changes_pages WHERE grp = 'g' AND key = 'hot'").fetchone()[0] >= 1
    finally:
        con.close()
    want = _hot_key_history(redis_store, file=False)
    assert got[:6] == want and got[6:] == want  # unfiled, then from the pages: both as Redis reads them
    whole = want[0]
    assert whole[:4] == [
        ("state:created", "hot", None, 0),
        ("state:updated", "hot", FOREIGN["tricky"], 1),
        ("state:deleted", "hot", FOREIGN["quoted"], None),
        ("state:updated", "hot", FOREIGN["pair"], {"i": 2, "s": 'é,]"'}),
    ]
    assert [c[3] for c in whole[4:]] == [{"i": i, "s": 'é,]"'} for i in range(3, 40)]


def test_another_processs_change_over_a_foreign_value_arrives_as_its_text(stores: tuple[Store, Store]) -> None:
    """The cross-process path: SQLite's follower turns changelog rows into events, Redis's
    subscriber the published message; both hand the old value over as its text."""
    got = []
    for store in stores:
        watcher, writer = store.manager(), store.manager()
        writer.sync.set("g", "a", 0)
        received: list[Any] = []
        done = threading.Event()

        def on(ev: Any, received: list[Any] = received, done: threading.Event = done) -> None:
            received.append(ev)
            if ev.key == "last":
                done.set()

        watcher.subscribe(on, remote=True)
        watcher.sync.get("g", "a")
        store.put("g", "a", FOREIGN["tricky"])
        store.put("g", "b", "NaN")

        async def batch(writer: StateManager = writer) -> None:
            await asyncio.gather(writer.set("g", "a", 1), writer.delete("g", "b"))

        asyncio.run(batch())
        writer.sync.set("g", "last", 1)
        assert done.wait(10), received
        got.append(sorted(_events(received), key=repr))
    assert got[0] == got[1]
    assert ("state:updated", "g", "a", FOREIGN["tricky"], 1) in got[1] and ("state:deleted", "g", "b", "NaN", None) in got[1]


def _reads_of(store: Store, text: str) -> list[Any]:
    m = store.manager()
    m.sync.set("g", "a", 1)
    store.put("g", "b", text)
    reads = [lambda: m.sync.get("g", "b"), lambda: m.sync.items("g"), lambda: m.sync.list("g"), lambda: m.sync.frame("g"),
             lambda: asyncio.run(m.get("g", "b")), lambda: asyncio.run(m.items("g"))]  # fmt: skip
    return [_try(read) for read in reads]


@pytest.mark.parametrize("text", ["NaN", "1e400", "-Infinity", '[1, 2e999]'])
def test_reads_refuse_what_json_loads_would_read_as_nan_or_inf_on_both(stores: tuple[Store, Store], text: str) -> None:
    answers = [_reads_of(store, text) for store in stores]
    assert answers[0] == answers[1]
    assert all(a[0] == "error" and a[1][:3] == ("StoredValueError", "g", "b") for a in answers[0])


def test_update_over_a_foreign_value_is_one_line_naming_the_item_and_writes_nothing(tmp_path: Any) -> None:
    store = _sqlite_store(str(tmp_path / "state.db"))
    m = store.manager()
    try:
        m.sync.set("g", "k", 1)
        store.put("g", "k", "hello")
        with pytest.raises(StoredValueError, match=r"^the value of 'g'/'k' cannot be read: it is not JSON") as info:
            m.sync.update("g", "k", [{"type": "increment", "path": "", "by": 1}])
        assert "\n" not in str(info.value) and str(info.value).endswith("Overwrite it with set() or delete it")
        assert store.raw("g", "k") == "hello" and len(m.sync.history("g", "k")) == 1
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_state_history_shows_the_text_and_restore_refuses_it_on_both(ip, fresh_db, redis_url, redis_client, kind):
    """``%state history`` shows the old value another tool wrote as its text (what history()
    gives); ``%state restore`` to before that change refuses, naming the change, and writes
    nothing: the text is never written back as a JSON string."""
    from motia_nb import state_manager
    from motia_nb.notebook.magics import StateMagicError
    from motia_nb.testing import run_cell

    if kind == "redis":
        run_cell(ip, f"%state use {redis_url}")
        store = _redis_store(redis_url, redis_client)
    else:
        store = _sqlite_store(fresh_db)
        state_manager.sync.set("g", "other", 0)  # the file and its schema
    store.put("g", "k", FOREIGN["tricky"])
    state_manager.sync.set("g", "k", {"a": 1})  # recorded: old value the text, new value {"a": 1}
    shown = ip.run_line_magic("state", "history g k")
    # the text as a string value (shown as that string, or as its JSON: however strings are shown)
    assert list(shown.old_value) in ([FOREIGN["tricky"]], [_json(FOREIGN["tricky"])]), list(shown.old_value)
    assert list(shown.new_value) in ([{"a": 1}], [_json({"a": 1})]), list(shown.new_value)
    first = int(shown.seq.iloc[0])
    with pytest.raises(StateMagicError) as info:
        ip.run_line_magic("state", "restore g k --to -1")
    message = str(info.value)
    assert message.startswith(f"%state restore: the value of 'g'/'k' before change {first} cannot be read: ")
    assert message.endswith("nothing was written") and "\n" not in message
    assert store.raw("g", "k") == _json({"a": 1})
    assert len(ip.run_line_magic("state", "history g k")) == 1


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: texts another tool wrote that balance each other when a page is joined into one parse: the
#: count stays right while values move to other keys (one JSON array for SQLite: ``[1,2,[3,4]]``;
#: each text in its own brackets for Redis: ``[["x],[y"],[1],[2]]``, ``[[[[],[]]],[1],[2]]``)
SHIFTING = {
    "array": ["1,2", "[3", "4]"],
    "string": ['"x', 'y"', "1,2"],
    "wrapped string": ['"x', 'y"', "1],[2"],
    "wrapped brackets": ["[[", "]]", "1],[2"],
}


def _page_reads(store: Store, texts: list[str]) -> list[Any]:
    m = store.manager()
    m.sync.set("g", "a", 0)
    for i, text in enumerate(texts):
        store.put("g", f"k{i}", text)
    m.sync.set("g", "z", 9)
    reads = [
        lambda: m.sync.items("g"), lambda: m.sync.list("g"), lambda: m.sync.frame("g"),
        lambda: m.sync.items("g", limit=10), lambda: m.sync.items("g", offset=1, limit=3),
        lambda: asyncio.run(m.items("g")), lambda: asyncio.run(m.list("g")), lambda: m.backend.values("g"),
    ]  # fmt: skip
    out = [_try(read) for read in reads]
    m.sync.clear("g")
    return out


@pytest.mark.parametrize("case", SHIFTING)
def test_texts_that_balance_each_other_are_refused_never_shifted_on_both(stores: tuple[Store, Store], case: str) -> None:
    """Every page read refuses such texts, naming the first of them; none hands back values
    under the wrong keys (``k2`` holding ``[3,4]``, or ``k0`` the string ``x],[y``)."""
    answers = [_page_reads(store, SHIFTING[case]) for store in stores]
    for store, got in zip(stores, answers):
        for answer in got:
            assert answer[0] == "error", (store.kind, answer)
            assert answer[1][:2] == ("StoredValueError", "g") and answer[1][2] in ("k0", None), (store.kind, answer)
    assert answers[0][:6] == answers[1][:6]  # (SQLite's reads of values alone name the group, not the key)
    assert all(a[1][2] == "k0" for a in answers[0][:6])


#: bytes another tool stored that are not UTF-8 text (Redis holds bytes; SQLite TEXT can too)
NOT_UTF8 = {"quoted": b'"caf\xe9"', "raw": b"\xff\xfe\x00", "json": b'{"a": "\xc3"}'}


def _not_utf8_scenario(store: Store) -> list[Any]:
    """Reads refuse such a value naming the item ("its bytes are not UTF-8 text"); set, delete
    and clear over it succeed, its old value its bytes read leniently (U+FFFD for a bad
    sequence), on the lone path, a batch (point and set-based) and a clear; get(at=) before
    such a change refuses it as get() did."""
    m = store.manager()
    out: list[Any] = []
    m.sync.set("g", "ok", 1)
    for k, raw in NOT_UTF8.items():
        store.put("g", k, raw)  # type: ignore[arg-type]
    reads = {
        "get": lambda: m.sync.get("g", "quoted"), "items": lambda: m.sync.items("g"), "list": lambda: m.sync.list("g"),
        "frame": lambda: m.sync.frame("g"), "async get": lambda: asyncio.run(m.get("g", "raw")),
        "async items": lambda: asyncio.run(m.items("g")), "page": lambda: m.sync.items("g", offset=1, limit=2),
        "update": lambda: m.sync.update("g", "json", [{"type": "set", "path": "y", "value": 1}]),
    }  # fmt: skip
    for name, read in reads.items():
        out.append((name, _try(read)))
    out.append(("raw after update", m.sync.exists("g", "json") and m.sync.history("g", "json") == []))
    out.append(("set", _try(lambda: m.sync.set("g", "quoted", 1))))
    out.append(("delete", _try(lambda: m.sync.delete("g", "raw"))))

    async def gather(n: int) -> list[Any]:  # a batch over such a value: point (n small) or set-based
        store.put("g", "json", NOT_UTF8["json"])  # type: ignore[arg-type]
        return await asyncio.gather(m.set("g", "json", n), *(m.set("g", f"f{i}", i) for i in range(n)), return_exceptions=True)

    out.append(("gather point", asyncio.run(gather(1))))
    out.append(("gather set-based", asyncio.run(gather(8))))
    async def general() -> list[Any]:  # the overlay's fetch (json_each) over such a value
        store.put("g", "json", NOT_UTF8["json"])  # type: ignore[arg-type]
        return await asyncio.gather(
            m.delete("g", "json"), m.set("g", "f0", 0), m.update("g", "f1", [{"type": "increment", "path": "", "by": 1}]),
            m.set("g", "f2", 0), m.set("g", "f3", 0), m.set("g", "f4", 0), return_exceptions=True,
        )  # fmt: skip

    out.append(("gather mixed", asyncio.run(general())))
    history = m.sync.history("g")
    out.append(("history", _changes(history)))
    for c in history:
        if c["key"] in NOT_UTF8 and c["event_type"] != "state:created":
            out.append(("at before", c["key"], _try(lambda c=c: m.sync.get("g", c["key"], at=c["seq"] - 1))))
    for k, raw in NOT_UTF8.items():
        store.put("g", k, raw)  # type: ignore[arg-type]
    events: list[Any] = []
    m.subscribe(events.append)
    out.append(("clear", _try(lambda: m.sync.clear("g"))))
    out.append(("clear events", sorted(_events(events), key=repr)))
    return out


def test_bytes_that_are_not_utf8_read_and_write_the_same_on_sqlite_and_redis(stores: tuple[Store, Store]) -> None:
    sqlite_out, redis_out = (_not_utf8_scenario(s) for s in stores)
    for a, b in zip(sqlite_out, redis_out):
        assert a == b, f"sqlite: {a}\nredis:  {b}"
    assert len(sqlite_out) == len(redis_out)
    got = {o[0] if len(o) == 2 else (o[0], o[1]): o[-1] for o in redis_out}
    refused = ("StoredValueError", "g", "quoted", "its bytes are not UTF-8 text", "'g'/'quoted'", None, True)
    assert got["get"] == ("error", refused) and got["items"] == ("error", refused) and got["frame"] == ("error", refused)
    assert got["async get"][1][2:4] == ("raw", "its bytes are not UTF-8 text")
    assert got["update"][1][2:4] == ("json", "its bytes are not UTF-8 text") and got["raw after update"]
    assert got["set"] == ("ok", {"new_value": 1, "old_value": "caf\ufffd"})
    assert got["delete"] == ("ok", "\ufffd\ufffd\x00")
    assert got["gather point"][0] == {"new_value": 1, "old_value": {"a": "\ufffd"}}
    assert got["gather set-based"][0] == {"new_value": 8, "old_value": {"a": "\ufffd"}}
    assert got["gather mixed"][0] == {"a": "\ufffd"}
    at_before = [(o[1], o[2]) for o in redis_out if o[0] == "at before"]
    # before each change over such bytes the item held them: refused, naming the change; the
    # later changes of "json" went over them too, but another tool wrote them after the change
    # before, which the history has no record of: the value that change left (1, then 8)
    assert [k for k, _ in at_before] == ["quoted", "raw", "json", "json", "json"]
    assert at_before[3][1] == ("ok", 1) and at_before[4][1] == ("ok", 8)
    assert all(a[0] == "error" and a[1][3] == "its bytes are not UTF-8 text" and a[1][5] == "before" for _, a in at_before[:3])
    assert got["clear"][0] == "ok"
    assert {e[2]: e[3] for e in got["clear events"]}["raw"] == "\ufffd\ufffd\x00"


def _blob_put(path: str, g: str, k: str, raw: bytes) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute(
            "INSERT INTO items (grp, key, value) VALUES (?, ?, ?) ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value",
            (g, k, raw),
        )
    finally:
        con.close()


def test_a_blob_value_is_refused_by_reads_and_written_over_by_set_delete_and_clear_on_sqlite(tmp_path: Any) -> None:
    """Another tool binding bytes into ``items.value`` (a BLOB): every read is one
    StoredValueError line naming the item (never a bare TypeError, nor SQLite's "JSON cannot
    hold BLOB values" from a batch's fetch); an update is refused and writes nothing; set,
    delete and clear over it succeed, its old value its bytes read as Redis reads bytes (UTF-8,
    then JSON when they are); get(at=) before such a change refuses it as get() did."""
    path = str(tmp_path / "state.db")
    store = _sqlite_store(path)
    m = store.manager()
    try:
        m.sync.set("g", "ok", 1)
        _blob_put(path, "g", "blob", b'{"x": 1}')
        _blob_put(path, "g", "bin", b"\xff\x00")
        why = r"it is a BLOB \(8 bytes\), not JSON text; it starts '\{\"x\": 1\}' \(written by another tool\?\)"
        reads = [lambda: m.sync.get("g", "blob"), lambda: m.sync.items("g"), lambda: m.sync.list("g"), lambda: m.sync.frame("g"),
                 lambda: asyncio.run(m.get("g", "blob")), lambda: asyncio.run(m.items("g")), lambda: m.sync.items("g", limit=2),
                 lambda: m.sync.update("g", "blob", [{"type": "set", "path": "y", "value": 1}])]  # fmt: skip
        for read in reads:
            with pytest.raises(StoredValueError, match=rf"^the value of 'g'/'blob' cannot be read: {why}\. Overwrite") as info:
                read()
            assert "\n" not in str(info.value) and info.value.key == "blob"
        with pytest.raises(StoredValueError, match=r"^the value of 'g'/'bin' cannot be read: its bytes are not UTF-8 text"):
            m.sync.get("g", "bin")
        assert store.raw("g", "blob") == b'{"x": 1}'  # the update wrote nothing
        assert m.sync.set("g", "blob", 2) == {"new_value": 2, "old_value": {"x": 1}}
        assert m.sync.delete("g", "bin") == "\ufffd\x00"

        async def batches() -> list[Any]:
            _blob_put(path, "g", "blob", b"[1, 2]")
            distinct = await asyncio.gather(m.set("g", "blob", 3), *(m.set("g", f"s{i}", i) for i in range(5)))
            _blob_put(path, "g", "blob", b"hello")
            mixed = await asyncio.gather(
                m.delete("g", "blob"), m.update("g", "s0", [{"type": "increment", "path": "", "by": 1}]),
                *(m.set("g", f"s{i}", 0) for i in range(1, 5)),
            )  # fmt: skip
            return [distinct[0], mixed[0]]

        assert asyncio.run(batches()) == [{"new_value": 3, "old_value": [1, 2]}, "hello"]
        history = [(c["key"], c["old_value"], c["new_value"]) for c in m.sync.history("g", limit=1000)]
        assert [h for h in history if h[0] in ("blob", "bin")] == [
            ("blob", {"x": 1}, 2), ("bin", "\ufffd\x00", None), ("blob", [1, 2], 3), ("blob", "hello", None),
        ]
        first = m.sync.history("g", "blob")[0]  # (oldest first)
        with pytest.raises(StoredValueError, match=rf"^the value of 'g'/'blob' before change {first['seq']} cannot be read: it is a BLOB"):
            m.sync.get("g", "blob", at=first["seq"] - 1)
        m.backend.file_history()  # type: ignore[attr-defined]  # the pages hold the old values as history() reads them
        assert [(c["key"], c["old_value"], c["new_value"]) for c in m.sync.history("g", limit=1000)] == history
        _blob_put(path, "g", "blob", b"\xc3(")
        events: list[Any] = []
        m.subscribe(events.append)
        assert m.sync.clear("g") == 7  # ok, s0…s4 and blob
        assert {e.key: e.old_value for e in events}["blob"] == "\ufffd("
    finally:
        store.close()


def _export(store: Store, path: str) -> Any:
    from motia_nb.state.transfer import export_jsonl

    try:
        return ("ok", export_jsonl(store.managers[-1], path))
    except StateError as exc:
        return ("error", _err(exc), str(exc))


@pytest.mark.parametrize(
    "text", [FOREIGN["text"], FOREIGN["nan"], FOREIGN["huge"], FOREIGN["pair"], FOREIGN["tricky"], b'"caf\xe9"'],
    ids=["text", "nan", "huge", "pair", "tricky", "not-utf8"],
)
def test_export_refuses_a_value_that_is_not_json_naming_it_and_writes_nothing_on_both(
    stores: tuple[Store, Store], tmp_path: Any, text: str | bytes
) -> None:
    """A backup must never hold a line that cannot be imported (the stored text copied as it
    is): the export refuses, naming the item, and leaves the file as it was."""
    answers = []
    for store in stores:
        m = store.manager()
        m.sync.set("g", "a", {"n": 1})
        store.put("g", "b", text)  # type: ignore[arg-type]
        m.sync.set("g", "c", 3)
        target = tmp_path / f"{store.kind}.jsonl"
        target.write_text("the old backup\n")
        answers.append(_export(store, str(target))[:2])
        assert target.read_text() == "the old backup\n" and list(tmp_path.glob("*.part")) == []
        m.sync.clear("g")
    assert answers[0] == answers[1]
    assert answers[0][0] == "error" and answers[0][1][:3] == ("StoredValueError", "g", "b"), answers


def test_export_of_json_another_tool_wrote_over_lines_keeps_one_item_a_line_on_both(stores: tuple[Store, Store], tmp_path: Any) -> None:
    from motia_nb.state.transfer import read_jsonl

    for store in stores:
        m = store.manager()
        m.sync.set("g", "a", 0)
        store.put("g", "pretty", '{\n  "a": [1,\r\n 2]\n}\n')
        store.put("g", "spaced", ' [1, "x"] ')
        target = tmp_path / f"{store.kind}.jsonl"
        assert _export(store, str(target)) == ("ok", 3)
        lines = target.read_text().splitlines()
        assert lines[1:] == ['{"group":"g","key":"pretty","value":{"a":[1,2]}}', '{"group":"g","key":"spaced","value": [1, "x"] }']
        got = [(w.key, json.loads(w.value_json)) for w in read_jsonl(str(target))]
        assert got == [("a", 0), ("pretty", {"a": [1, 2]}), ("spaced", [1, "x"])]
        m.sync.clear("g")


def test_export_refuses_a_blob_on_sqlite(tmp_path: Any) -> None:
    path = str(tmp_path / "state.db")
    store = _sqlite_store(path)
    try:
        m = store.manager()
        m.sync.set("g", "a", 1)
        _blob_put(path, "g", "b", b"1")
        got = _export(store, str(tmp_path / "out.jsonl"))
        assert got[0] == "error" and got[1][:4] == ("StoredValueError", "g", "b", "it is a BLOB (1 bytes), not JSON text")
        assert not (tmp_path / "out.jsonl").exists()
    finally:
        store.close()


def test_old_texts_that_balance_each_other_never_shift_an_items_history_on_redis(redis_url: str, redis_client: Any) -> None:
    """Another tool's old texts ``]]`` and ``[[`` nest one change into another, and a third one
    holding a made-up change keeps the count: one item's history (newest first) read through
    the index then gives wrong seqs and values, silently."""
    m = StateManager(redis_url)
    try:
        m.sync.set("g", "hot", 0)
        olds = ["]]", "[[", '0],[0],1,1,1,"c",null,1,1,[0']
        for i, text in enumerate(olds, 1):
            redis_client.hset("state:g", "hot", text)
            m.sync.set("g", "hot", i)
        got = [(c["seq"], c["old_value"], c["new_value"]) for c in m.sync.history("g", "hot")]
        assert [g[0] for g in got] == [1, 2, 3, 4]  # (oldest first)
        assert [g[1:] for g in got] == [(None, 0), (olds[0], 1), (olds[1], 2), (olds[2], 3)]
    finally:
        m.close()


#: old texts another tool wrote that cjson (the index's builder) does not read as one JSON value:
#: three that balance each other and keep the count with a made-up change (as in the test
#: above); brackets that pair across changes, a lone surrogate escape (JSON to Python: the
#: change hands back the character), text that is not UTF-8
CRAFTED: dict[str, list[str | bytes]] = {
    "shift": ["]]", "[[", '0],[0],1,1,1,"c",null,1,1,[0'],
    "others": ["1],[2", '"\\ud800"', b"\xff]]"],
}
#: each as history() hands it back
CRAFTED_READ = {"shift": ["]]", "[[", '0],[0],1,1,1,"c",null,1,1,[0'], "others": ["1],[2", "\ud800", "\ufffd]]"]}


def _crafted_history(store: Store, texts: list[str | bytes], gathered: bool) -> list[Any]:
    """The crafted old texts under one key, each overwritten by a lone set (Redis: filed after)
    or by a gather of three sets (a small call: on Redis it indexes its own changes); the key's
    history with seqs, a page of it with since=, and get(at=) before each change."""
    m = store.manager()
    m.sync.set("g", "hot", 0)
    for i, text in enumerate(texts, 1):
        m.sync.history("g", "hot")  # (Redis: the index caught up, so the next small call indexes itself)
        store.put("g", "hot", text)  # type: ignore[arg-type]
        if not gathered:
            m.sync.set("g", "hot", {"i": i})
            continue

        async def gather(i: int = i) -> None:
            await asyncio.gather(m.set("g", "hot", {"i": i}), m.set("g", "a", i), m.set("g", "b", i))

        asyncio.run(gather())
    whole = m.sync.history("g", "hot", limit=100)
    page = m.sync.history("g", "hot", since=whole[2]["seq"], limit=3)
    before = [_try(lambda c=c: m.sync.get("g", "hot", at=c["seq"] - 1)) for c in whole]
    return [[(c["seq"], *t) for c, t in zip(whole, _changes(whole))], _changes(page), before]


@pytest.mark.parametrize("case", list(CRAFTED))
@pytest.mark.parametrize("gathered", [False, True], ids=["lone", "gathered"])
def test_crafted_old_texts_read_back_in_an_items_history_as_on_sqlite(stores: tuple[Store, Store], case: str, gathered: bool) -> None:
    sqlite_out, redis_out = (_crafted_history(s, CRAFTED[case], gathered) for s in stores)
    assert redis_out == sqlite_out
    whole = redis_out[0]
    assert [c[3] for c in whole] == [None, *CRAFTED_READ[case]]
    assert [c[4] for c in whole] == [0, *({"i": i} for i in range(1, 4))]
    assert [c[0] for c in whole] == sorted({c[0] for c in whole}) and len(whole) == 4


def _bad_key_scenario(store: Store, put_key: Callable[[], None]) -> list[Any]:
    """A key another tool stored whose bytes are not UTF-8 (nobody can name it with a str):
    every read that lists the group's keys refuses it in one line naming the group; count()
    and the group's other items still work."""
    m = store.manager()
    m.sync.set("g", "ok", 1)
    put_key()

    def err(fn: Callable[[], Any]) -> Any:
        try:
            return ("ok", fn())
        except StateError as exc:
            assert "\n" not in str(exc) and "is not UTF-8 text ('\\\\xffa')" in str(exc), str(exc)
            return ("error", type(exc).__name__, exc.group_id, exc.key)  # type: ignore[attr-defined]

    return [
        (name, err(read))
        for name, read in {
            "items": lambda: m.sync.items("g"), "list": lambda: m.sync.list("g"), "frame": lambda: m.sync.frame("g"),
            "page": lambda: m.sync.items("g", offset=0, limit=5), "async items": lambda: asyncio.run(m.items("g")),
            "search": lambda: asyncio.run(m.keys_containing("g", "a")), "prefix": lambda: asyncio.run(m.keys_with_prefix("g")),
            "count": lambda: m.sync.count("g"),
            "get ok": lambda: m.sync.get("g", "ok"),
        }.items()
    ]  # fmt: skip


def test_a_key_whose_bytes_are_not_utf8_is_refused_by_listing_reads_on_both(stores: tuple[Store, Store], redis_client: Any) -> None:
    sqlite, redis_store = stores

    def sqlite_put() -> None:
        con = sqlite3.connect(sqlite.url, isolation_level=None)
        con.execute("INSERT INTO items (grp, key, value) VALUES ('g', CAST(X'FF61' AS TEXT), '2')")
        con.close()

    got = _bad_key_scenario(sqlite, sqlite_put)
    assert got == _bad_key_scenario(redis_store, lambda: redis_client.hset("state:g", b"\xffa", b"2"))
    refused = ("error", "StoredValueError", "g", "\\xffa")
    assert dict(got) == {
        "items": refused, "list": refused, "frame": refused, "page": refused, "async items": refused,
        "search": refused, "prefix": refused, "count": ("ok", 2), "get ok": ("ok", 1),
    }  # fmt: skip


def test_a_blob_key_is_refused_on_sqlite_naming_it(tmp_path: Any) -> None:
    path = str(tmp_path / "state.db")
    m = StateManager(path)
    try:
        m.sync.set("g", "ok", 1)
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("INSERT INTO items (grp, key, value) VALUES ('g', X'6263', '2')")
        con.close()
        for read in (lambda: m.sync.items("g"), lambda: m.sync.frame("g"), lambda: asyncio.run(m.keys_with_prefix("g"))):
            with pytest.raises(StoredValueError, match=r"^a key of group 'g' in SQLite is a BLOB, not text \('bc'\), so motia_nb cannot name it"):
                read()
    finally:
        m.close()
