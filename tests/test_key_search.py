"""Substring key search on SQLite from the FTS5 trigram index (:mod:`motia_nb.state.backends.sqlite.key_search`).

The index holds the keys of searched groups only, is filled in the background in chunks
and kept by triggers on ``items``. Here every way of writing (sets, updates, deletes,
clears, gathered batches that run set-based, an all-or-nothing import, another
connection), after the index exists and between the chunks of its fill, is checked
twice: ``keys_containing`` against a brute-force answer, and the index's own content
(its trigram counts, through ``fts5vocab``) against the trigrams of the keys it must
hold, so a missing or stale entry fails even when the GLOB re-check would hide it.
Thresholds are lowered so small groups take every path; the real sizes are measured in
``benchmarks/viewer_big.py``, not asserted here.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator

import pytest

from motia_nb.state import StateManager
from motia_nb.state.backends.key_matches import KeySearch
from motia_nb.state.backends.sqlite import key_indexer, key_search, reads, searching
from motia_nb.state.errors import InvalidInputError
from motia_nb.state.transfer import import_jsonl

KEYS = [
    "order-0001-eu", "order-0002-us", "order-0010-eu", "order-0100-asia", "Order-0001-EU", "abc", "ab",
    "a b c", "x*y?z[1]", "quote\"d", "é-clé-été", "日本語のキー", "99999", "099999", "a\\b\\c", "eu-order",
]  # fmt: skip
NEEDLES = ["order", "0001", "-eu", "EU", "b c", "*y?", "[1]", "ote\"", "clé", "本語の", "999", "0999", "\\b\\",
           "xyz", "ab", "a", "order-0001-eu", "der-00"]  # fmt: skip


@pytest.fixture(params=["file", "memory"])
def sm(request, tmp_path, monkeypatch) -> Iterator[StateManager]:
    monkeypatch.setattr(key_search, "INDEX_THRESHOLD", 5)
    manager = StateManager(str(tmp_path / "state.db") if request.param == "file" else ":memory:")
    yield manager
    manager.close()


def contains(sm: StateManager, group: str, needle: str, limit: int) -> list[str]:
    return sm.backend.keys_containing(group, needle, limit)


def keys_of(sm: StateManager, group: str) -> list[str]:
    return sm.sync.keys_with_prefix(group, "", 10**6)


def brute(keys: list[str], needle: str, limit: int) -> list[str]:
    return sorted(k for k in keys if needle in k)[:limit]


def index_counts(sm: StateManager) -> Counter:
    """trigram -> how many indexed rows hold it, read from the index itself."""
    b = sm.backend
    conn, lock = b._pruning_connection()
    with lock:
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.key_search_terms USING fts5vocab(main, key_search, 'row')")
        return Counter(dict(conn.execute("SELECT term, doc FROM temp.key_search_terms").fetchall()))


def expected_counts(sm: StateManager, groups: list[str]) -> Counter:
    """The trigrams of the keys the index must hold: a registered group's keys up to its fill's ``upto``."""
    progress = dict((g, (upto, done)) for g, upto, done in sm.backend._query("SELECT grp, upto, done FROM search_groups", ()))
    counts: Counter = Counter()
    for g in groups:
        upto, done = progress[g]
        for k in keys_of(sm, g):
            if done or (upto is not None and k <= upto):
                counts.update({k[i:i + 3] for i in range(len(k) - 2)})
    return counts


def check(sm: StateManager, searched: list[str]) -> None:
    """Every needle on each searched group matches brute force; the index holds exactly the keys
    of the registered groups (the other groups' writes, sharing trigrams, never enter it)."""
    for g in searched:
        keys = keys_of(sm, g)
        for needle in NEEDLES:
            for limit in (1, 3, 100):
                assert contains(sm, g, needle, limit) == brute(keys, needle, limit), (g, needle, limit)
    assert index_counts(sm) == expected_counts(sm, registered(sm))


def registered(sm: StateManager) -> list[str]:
    """The groups whose index is complete, after the background builds asked for so far."""
    b = sm.backend
    assert b._indexer.wait(60), "the background build did not finish"
    assert b._indexer.failures == 0
    if not b._query(key_search.MADE_SQL, ()):
        return []
    return [r[0] for r in b._query("SELECT grp FROM search_groups WHERE done ORDER BY grp", ())]


def fill(sm: StateManager, group: str, keys: list[str]) -> None:
    for k in keys:
        sm.sync.set(group, k, {"k": k})


def test_a_search_indexes_a_big_group_and_answers_exactly_through_every_write(sm, tmp_path) -> None:
    fill(sm, "big", KEYS)
    fill(sm, "plain", KEYS)  # big enough, never searched: never indexed
    assert registered(sm) == []
    # the first search scans, and starts the build in the background
    assert contains(sm, "big", "-eu", 10) == ["order-0001-eu", "order-0010-eu"]
    assert registered(sm) == ["big"]  # built without anything more asked
    assert merging(sm) == {"automerge": 4, "crisismerge": 16}
    assert contains(sm, "big", "ab", 10) == ["ab", "abc"]  # 2 characters: the scan
    check(sm, ["big"])
    assert registered(sm) == ["big"]

    # one by one: new keys, an update (no new row), a delete, a delete of a missing key
    fill(sm, "big", ["new-order-7", "order-0002-us", "zzz-eu"])
    sm.sync.delete("big", "order-0010-eu")
    sm.sync.delete("big", "nope")
    sm.sync.update("big", "order-0001-eu", [{"type": "set", "path": "n", "value": 1}])
    fill(sm, "plain", ["plain-only-eu"])
    check(sm, ["big"])

    # gathered: one group commit, set-based statements (INSERT … SELECT json_each, DELETE … WHERE id IN)
    async def gathered() -> None:
        await asyncio.gather(*(sm.set("big", f"batch-{i:03d}-eu", i) for i in range(40)),
                             *(sm.set("plain", f"batch-{i:03d}", i) for i in range(40)))
        await asyncio.gather(*(sm.delete("big", f"batch-{i:03d}-eu") for i in range(0, 40, 3)),
                             *(sm.set("big", k, 0) for k in ("abc", "eu-order")))  # updates in the batch

    asyncio.run(gathered())
    check(sm, ["big"])

    # an import: all or nothing, one transaction (write_all)
    lines = [{"group": "big", "key": f"imported-{i}-eu", "value": i} for i in range(30)]
    lines += [{"group": "big", "key": "abc", "value": "again"}, {"group": "plain", "key": "imp-eu", "value": 1}]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    import_jsonl(sm, str(path))
    check(sm, ["big"])

    # a clear empties the group's index rows; the group stays registered and refills
    assert sm.sync.clear("big") > 0
    assert contains(sm, "big", "-eu", 10) == []
    check(sm, ["big"])
    fill(sm, "big", ["order-0001-eu", "again-eu"])
    check(sm, ["big"])

    assert registered(sm) == ["big"]  # "plain" was written all along, never searched

    # a second searched group: both indexed, neither leaks into the other
    contains(sm, "plain", "imp", 5)
    assert registered(sm) == ["big", "plain"]
    sm.sync.delete("plain", "imp-eu")
    check(sm, ["big", "plain"])
    assert registered(sm) == ["big", "plain"]


def test_small_groups_and_short_texts_are_scanned_and_make_nothing(sm) -> None:
    fill(sm, "small", KEYS[:4])
    assert contains(sm, "small", "order", 10) == sorted(KEYS[:4])
    fill(sm, "big", KEYS)
    assert contains(sm, "big", "", 100) == brute(KEYS, "", 100)  # no text: every key, nothing built
    assert registered(sm) == []
    assert contains(sm, "nogroup", "order", 5) == []
    assert registered(sm) == []
    for needle in ("a", "eu"):  # a short text scans, but starts the build for the next ones
        assert contains(sm, "big", needle, 100) == brute(KEYS, needle, 100)
    assert registered(sm) == ["big"]
    assert contains(sm, "big", "eu", 100) == brute(KEYS, "eu", 100)


def test_every_path_of_the_indexed_search_is_exact(sm, monkeypatch) -> None:
    """Few candidates (sorted), many (the first keys scanned first), too many (the plain scan)."""
    keys = [f"item-{i:04d}" for i in range(300)] + [f"late-{i}-zzz" for i in range(20)]
    fill(sm, "g", keys)
    contains(sm, "g", "item", 1)
    assert registered(sm) == ["g"]
    monkeypatch.setattr(key_search, "CANDIDATE_CAP", 10)
    monkeypatch.setattr(key_search, "WINDOW", 25)
    monkeypatch.setattr(reads, "_STEP_GRAIN", 100)
    monkeypatch.setattr(key_search, "SORT_STEPS", 1000)
    scans: list[tuple] = []
    scan = type(sm.backend)._scan_keys
    monkeypatch.setattr(type(sm.backend), "_scan_keys", lambda self, *a: scans.append(a) or scan(self, *a))
    # "item" (300 candidates): the window fills the page, or sorting them runs out of steps and the
    # scan answers; "-zzz" (20): a sort after an unfilled window; "0-z"/"item-02": few; "tem-0"
    # with the limit past the window
    for needle in ("item", "-zzz", "e-1", "item-02", "tem-0", "m-01", "nothing"):
        for limit in (1, 5, 30, 400):
            assert contains(sm, "g", needle, limit) == brute(keys, needle, limit), (needle, limit)
    assert registered(sm) == ["g"]
    scans.clear()
    assert contains(sm, "g", "-zzz", 30) == brute(keys, "-zzz", 30) and not scans  # sorted in its steps
    assert contains(sm, "g", "item", 400) == brute(keys, "item", 400) and scans  # out of steps: scanned


def test_the_search_reads_the_trigram_index_and_looks_items_up_by_id(sm) -> None:
    fill(sm, "big", KEYS)
    contains(sm, "big", "order", 5)
    assert registered(sm) == ["big"]
    for recheck, params in ((True, (key_search.fts_query("order"), "big", "*order*", 5)),
                            (False, (key_search.fts_query("ord"), "big", 5))):
        plan = " | ".join(r[3] for r in sm.backend._query("EXPLAIN QUERY PLAN " + key_search.found_sql(recheck), params))
        assert "VIRTUAL TABLE INDEX" in plan and "key_search" in plan, plan
        assert "SEARCH i USING INTEGER PRIMARY KEY" in plan, plan  # never a pass over the (grp, key) index
    count_plan = " | ".join(r[3] for r in sm.backend._query(
        "EXPLAIN QUERY PLAN " + key_search.CANDIDATES_SQL, ('"ord"', 5)))
    assert "VIRTUAL TABLE INDEX" in count_plan, count_plan


def test_writes_through_another_connection_are_indexed_and_a_reopened_file_is_fine(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(key_search, "INDEX_THRESHOLD", 5)
    path = str(tmp_path / "state.db")
    a, b = StateManager(path), StateManager(path)
    try:
        fill(a, "big", KEYS)
        assert contains(b, "big", "-eu", 10) == ["order-0001-eu", "order-0010-eu"]  # b builds
        assert registered(b) == ["big"]
        fill(a, "big", ["from-a-eu"])  # a's writer: the trigger is in the file
        a.sync.delete("big", "order-0001-eu")
        assert contains(a, "big", "-eu", 10) == ["from-a-eu", "order-0010-eu"]
        check(a, ["big"])
    finally:
        a.close(), b.close()
    c = StateManager(path)  # the migration leaves the extra objects alone
    try:
        assert contains(c, "big", "-eu", 10) == ["from-a-eu", "order-0010-eu"]
        fill(c, "big", ["c-eu"])
        check(c, ["big"])
    finally:
        c.close()


def test_a_failed_build_leaves_the_scan_answering(sm, monkeypatch, caplog) -> None:
    def broken(conn: sqlite3.Connection, group: str) -> None:
        raise sqlite3.OperationalError("no such module: fts5")

    monkeypatch.setattr(key_search, "register", broken)
    fill(sm, "big", KEYS)
    assert contains(sm, "big", "-eu", 10) == ["order-0001-eu", "order-0010-eu"]
    assert sm.backend._indexer.wait(60) and sm.backend._indexer.failures == 1
    assert "indexing the keys of 'big' for key search failed (no such module: fts5)" in caplog.text
    assert contains(sm, "big", "-eu", 10) == ["order-0001-eu", "order-0010-eu"]  # scanned again, not retried yet
    assert sm.backend._indexer.wait(60) and sm.backend._indexer.failures == 1
    monkeypatch.setattr(key_indexer, "RETRY_AFTER", 0.0)
    assert contains(sm, "big", "-eu", 10) == ["order-0001-eu", "order-0010-eu"]  # scanned, and asked again
    assert sm.backend._indexer.wait(60) and sm.backend._indexer.failures == 2
    assert not sm.backend._query(key_search.MADE_SQL, ())


def side(sm: StateManager):  # type: ignore[no-untyped-def]
    return sm.backend._pruning_connection()


def by_hand(sm: StateManager, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The test runs the fill's chunks itself: searches ask the background for nothing."""
    monkeypatch.setattr(sm.backend._indexer, "ensure", lambda group: None)


def step(sm: StateManager, group: str, chunk: int) -> bool:
    conn, lock = side(sm)
    with lock:
        return key_search.build_step(conn, group, chunk)


def merge(sm: StateManager) -> bool:
    conn, lock = side(sm)
    with lock:
        return key_search.merge_step(conn, 1)


def merging(sm: StateManager) -> dict:
    return dict(sm.backend._query("SELECT k, v FROM key_search_config WHERE k IN ('automerge', 'crisismerge')", ()))


def upto(sm: StateManager, group: str) -> tuple:
    return tuple(sm.backend._query("SELECT upto, done FROM search_groups WHERE grp = ?", (group,))[0])


def test_the_fill_in_chunks_stays_exact_through_writes_on_both_sides_of_it(sm, monkeypatch) -> None:
    """Between two chunks of the fill, every kind of write lands before, at and past the
    filled range; after each, the index holds exactly the group's keys up to ``upto``."""
    by_hand(sm, monkeypatch)
    keys = [f"k{i:03d}-{'eu' if i % 3 else 'us'}" for i in range(0, 60, 2)]
    fill(sm, "big", keys)
    fill(sm, "other", keys)
    conn, lock = side(sm)
    with lock:
        key_search.register(conn, "big")
    assert upto(sm, "big") == (None, 0)
    assert merging(sm) == {"automerge": 0, "crisismerge": 2000}  # off while the fill runs
    check_fill(sm)
    writes = iter(range(10**6))

    async def gathered(n: int) -> None:
        await asyncio.gather(*(sm.set("big", f"k{(n * 7 + i * 13) % 70:03d}-g{n}", i) for i in range(6)),
                             *(sm.delete("big", k) for k in keys_of(sm, "big")[n % 5::9][:3]),
                             sm.set("other", f"k{n:03d}-o", n))

    done, steps = False, 0
    while not done:
        done, steps = step(sm, "big", 4), steps + 1
        n = next(writes)
        present = keys_of(sm, "big")
        filled_to = upto(sm, "big")[0] or "~"
        fill(sm, "big", [f"k{n * 5 % 70:03d}-new{n}", f"{filled_to[:-1]}-{n}", f"zz-{n}", f"a-{n}"])  # before, at, past
        for k in (present[n % len(present)], present[-1], filled_to):
            sm.sync.delete("big", k)
        if n % 2:
            sm.sync.set("big", filled_to, "back")  # the last key filled, again
        sm.sync.update("big", present[0], [{"type": "set", "path": "", "value": {"n": n}}])
        asyncio.run(gathered(n))
        check_fill(sm)
    assert upto(sm, "big") == (None, 1)
    check(sm, ["big"])
    conn, lock = side(sm)
    merges = 1
    while not merge(sm):
        merges += 1
    assert merges > 1 and merging(sm) == {"automerge": 4, "crisismerge": 16}  # merged, then FTS5's defaults again
    check(sm, ["big"])
    assert sm.sync.clear("big") > 0
    fill(sm, "big", ["again-eu", "k001-eu"])
    check(sm, ["big"])
    assert steps > 5


def test_a_clear_and_an_import_between_chunks(sm, tmp_path, monkeypatch) -> None:
    by_hand(sm, monkeypatch)
    fill(sm, "big", [f"key-{i:03d}" for i in range(40)])
    conn, lock = side(sm)
    with lock:
        key_search.register(conn, "big")
    step(sm, "big", 10)
    sm.sync.clear("big")
    check_fill(sm)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"group": "big", "key": f"imp-{i:03d}", "value": i}) + "\n" for i in range(25)))
    import_jsonl(sm, str(path))
    check_fill(sm)
    while not step(sm, "big", 7):
        check_fill(sm)
    check(sm, ["big"])


def check_fill(sm: StateManager) -> None:
    """The index holds exactly the keys the fill's state says; searches (which scan until the
    group is done) match brute force."""
    assert index_counts(sm) == expected_counts(sm, ["big"])
    keys = keys_of(sm, "big")
    for needle in ("-eu", "k0", "new", "zz", "-1", "imp-01"):
        assert contains(sm, "big", needle, 100) == brute(keys, needle, 100), needle


def test_a_budget_answers_in_part_and_after_resumes(sm, monkeypatch) -> None:
    """A scan out of time answers every match up to ``through`` (a prefix of the full answer);
    ``after=through`` goes on; the pieces make the full answer."""
    monkeypatch.setattr(searching, "SCAN_CHUNK", 7)
    monkeypatch.setattr(key_search, "INDEX_THRESHOLD", 10**9)  # never indexed: the scan answers
    keys = [f"item-{i:03d}" for i in range(100)] + ["x*y", "x?y", "x[y]"]
    fill(sm, "g", keys)
    for needle, limit in (("5", 100), ("5", 4), ("item-09", 100), ("nothing", 10), ("*", 5), ("[", 5), ("", 30)):
        want = brute(keys, needle, limit)
        got: list[str] = []
        answer = sm.backend.search_keys("g", needle, limit, budget=0)
        pieces = 1
        while not answer.complete:
            assert len(got) + len(answer.keys) < limit
            assert answer.keys == [k for k in want if k <= answer.through][len(got):], (needle, answer)
            got += answer.keys
            answer = sm.backend.search_keys("g", needle, limit - len(got), after=answer.through, budget=0)
            pieces += 1
        assert got + answer.keys == want, needle
        assert pieces > 1 or len(want) == limit and want[-1] <= keys_of(sm, "g")[6], needle
    assert sm.backend.search_keys("g", "5", 100) == KeySearch(brute(keys, "5", 100))  # no budget: whole
    assert sm.backend.search_keys("g", "5", 100, after="item-050").keys == brute([k for k in keys if k > "item-050"], "5", 100)

    async def facade() -> KeySearch:
        return await sm.search_keys("g", "item-09", 3, budget=0.0)

    assert asyncio.run(facade()).keys == []  # the first 7 keys hold none
    for bad in ({"after": 3}, {"budget": -1}, {"budget": "1"}, {"budget": True}):
        with pytest.raises(InvalidInputError):
            asyncio.run(sm.search_keys("g", "x", 3, **bad))


def test_a_build_stopped_by_close_resumes_at_the_next_search(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(key_search, "INDEX_THRESHOLD", 5)
    path = str(tmp_path / "state.db")
    a = StateManager(path)
    keys = [f"key-{i:04d}" for i in range(300)]
    try:
        fill(a, "big", keys)
        conn, lock = side(a)
        with lock:
            key_search.register(conn, "big")
        step(a, "big", 50)  # as a build that close() stopped after a chunk
    finally:
        a.close()
    b = StateManager(path)
    try:
        assert upto(b, "big") == ("key-0049", 0)
        fill(b, "big", ["key-0001x", "key-0999"])
        assert contains(b, "big", "99", 10) == brute(keys_of(b, "big"), "99", 10)  # scans; resumes the build
        assert registered(b) == ["big"]
        check(b, ["big"])
    finally:
        b.close()


def test_a_file_indexed_by_the_first_version_is_brought_up_to_date(tmp_path, monkeypatch) -> None:
    """The first version filled a group whole and kept it with triggers on every key of it."""
    monkeypatch.setattr(key_search, "INDEX_THRESHOLD", 5)
    path = str(tmp_path / "state.db")
    a = StateManager(path)
    try:
        fill(a, "big", KEYS)
        conn, lock = side(a)
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE search_groups (grp TEXT PRIMARY KEY) WITHOUT ROWID")
            conn.execute("CREATE VIRTUAL TABLE key_search USING fts5(key, tokenize = 'trigram case_sensitive 1', "
                         "content = '', columnsize = 0, detail = none)")
            for event, row, body in (("INSERT", "new", "(rowid, key) VALUES (new.id, new.key)"),
                                     ("DELETE", "old", "(key_search, rowid, key) VALUES ('delete', old.id, old.key)")):
                conn.execute(f"CREATE TRIGGER key_search_{event.lower()} AFTER {event} ON items WHEN EXISTS "
                             f"(SELECT 1 FROM search_groups WHERE grp = {row}.grp) BEGIN INSERT INTO key_search {body}; END")
            conn.execute("INSERT INTO search_groups VALUES ('big')")
            conn.execute("INSERT INTO key_search (rowid, key) SELECT id, key FROM items WHERE grp = 'big'")
            conn.execute("COMMIT")
        fill(a, "big", ["old-trigger-eu"])  # the first version's triggers keep it until the upgrade
        # its first search here scans (the objects are not this version's) and brings them up to date
        assert contains(a, "big", "-eu", 10) == brute(keys_of(a, "big"), "-eu", 10)
        assert registered(a) == ["big"]
        assert upto(a, "big") == (None, 1)
        triggers = [r[0] for r in a.backend._query(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'key_search%' ORDER BY name", ())]
        assert triggers == ["key_search_del", "key_search_ins"]  # (the changelog's own triggers aside: schema 4)
        fill(a, "big", ["new-eu"])
        a.sync.delete("big", "order-0001-eu")
        check(a, ["big"])
    finally:
        a.close()
