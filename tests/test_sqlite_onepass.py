"""``frame()`` on SQLite decodes its texts with ONE parse of them joined, only when SQLite's
``json_valid`` (asked beside each text) said every text is one JSON value
(:func:`motia_nb.state.jsontext.decode_checked`); the other reads of many values stay text by
text (the check costs them what the one parse saves), and are held to the same answers here.

The one parse is sound only if ``json_valid`` is at least as strict as one JSON value: the
table below holds the SQLite Python links to that over the forms where SQLite and Python could
disagree, and the property tests check that the result is always the text-by-text decode's
(the same values, or the same StoredValueError naming the same item).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia_nb.state import StateManager, jsontext
from motia_nb.state.backends.sqlite.reads import JSON_VALID
from motia_nb.state.errors import StoredValueError
from motia_nb.state.jsontext import decode_all, decode_checked, encode_trusted

_CONN = sqlite3.connect(":memory:")


def json_valid(text: Any) -> Any:
    return _CONN.execute("SELECT json_valid(?)", (text,)).fetchone()[0]


#: (case, text): forms where SQLite's json_valid and Python's decoder might disagree. The comment
#: is what SQLite 3.40.1's json_valid says (the tests below hold for any answer that is sound)
EDGE = [
    ("raw newline in a string", '"a\nb"'),  # 0
    ("raw tab in a string", '"a\tb"'),  # 0
    ("raw control char in a string", '"a\x01b"'),  # 0
    ("raw DEL in a string", '"a\x7fb"'),  # 1 (DEL is not a control character to JSON)
    ("raw U+2028 in a string", '"\u2028"'),  # 1
    ("unterminated string", '"abc'),  # 0
    ("escaped closing quote", '"abc\\"'),  # 0
    ("trailing backslash", '"ab\\'),  # 0
    ("lone high surrogate escape", '"\\ud800"'),  # 1 (Python reads it too)
    ("lone low surrogate escape", '"\\udc00x"'),  # 1
    ("short unicode escape", '"\\u12"'),  # 0
    ("unknown escape", '"\\a"'),  # 0
    ("hex escape", '"\\x41"'),  # 0
    ("escaped NUL", '"\\u0000"'),  # 1
    ("raw NUL after a value", "1\x002"),  # 1: SQLite judges the text up to its NUL
    ("raw NUL after a string", '"a"\x00,"b"'),  # 1
    ("raw NUL in a string", '"a\x00b"'),  # 0
    ("raw NUL opening a bracket", "[1\x00,2]"),  # 0
    ("leading zero", "01"),  # 0
    ("negative leading zero", "-01"),  # 0
    ("minus alone", "-"),  # 0
    ("minus zero", "-0"),  # 1
    ("trailing dot", "1."),  # 0
    ("leading dot", ".5"),  # 0
    ("plus sign", "+1"),  # 0
    ("hex number", "0x10"),  # 0
    ("exponent without digits", "1e"),  # 0
    ("exponent sign without digits", "1e+"),  # 0
    ("dot before exponent", "0.e1"),  # 0
    ("trailing comma in an array", "[1,]"),  # 0
    ("trailing comma in an object", '{"a":1,}'),  # 0
    ("leading comma", "[,1]"),  # 0
    ("double comma", "[1,,2]"),  # 0
    ("line comment", "1 // c"),  # 0
    ("block comment", "/*c*/1"),  # 0
    ("single quotes", "'a'"),  # 0
    ("unquoted key", "{a:1}"),  # 0
    ("NaN", "NaN"),  # 0
    ("Infinity", "Infinity"),  # 0
    ("-Infinity", "-Infinity"),  # 0
    ("NaN in an array", "[NaN]"),  # 0
    ("too large for a float", "1e400"),  # 1: the strict hook refuses it in the one parse too
    ("too large in an object", '{"x":-1e400}'),  # 1
    ("tiny float", "1.5e-400"),  # 1 (0.0 both ways)
    ("huge int", "9" * 5000),  # 1: over Python's int digit limit, refused in the one parse too
    ("30-digit int", "1" * 30),  # 1
    ("surrounding spaces", " 1 "),  # 1
    ("surrounding tab and newline", "\t[1]\n"),  # 1
    ("form feed", "\f1"),  # 0
    ("vertical tab", "1\v"),  # 0
    ("no-break space", "\xa01"),  # 0
    ("byte order mark", "\ufeff1"),  # 0
    ("empty text", ""),  # 0
    ("spaces only", "   "),  # 0
    ("bare word", "hello"),  # 0
    ("true", "true"),  # 1
    ("truncated literal", "tru"),  # 0
    ("literal and more", "nullx"),  # 0
    ("two values", "1 2"),  # 0
    ("two values with a comma", "1,2"),  # 0
    ("open bracket", "[3"),  # 0
    ("close bracket", "4]"),  # 0
    ("value then close", "[1]]"),  # 0
    ("close and open", "1],[2"),  # 0
    ("duplicate keys", '{"a":1,"a":2}'),  # 1 (the last wins both ways)
    ("JSON5 hex", "0xFF"),  # 0
    ("JSON5 trailing decimal", "5."),  # 0
    ("JSON5 Infinity", "+Infinity"),  # 0
    ("JSON5 unquoted key and single quotes", "{a:'b'}"),  # 0
    ("JSON5 escaped newline", '"a\\\nb"'),  # 0
    ("nested 1000 deep", "[" * 1000 + "]" * 1000),  # 1: deeper than Python recurses; falls back
    ("nested 3000 deep", "[" * 3000 + "]" * 3000),  # 0: over SQLite's depth limit
]

#: values motia_nb writes: the neighbours of the edge cases on a page
GOOD = ['{"n":1}', '"s"', "[1,2]", "0", '{"a":{"b":[true,null]}}']
KEYS = [f"k{i}" for i in range(len(GOOD) + 1)]


def outcome(fn: Any) -> Any:
    try:
        return ("ok", encode_trusted(fn()))  # JSON text: 1 and 1.0, -0.0 and 0.0, key order all count; deep too
    except StoredValueError as exc:
        return ("error", str(exc), exc.group_id, exc.key)


def both(texts: list[Any], keys: list[str] | None = None) -> tuple[Any, Any]:
    """(the one-parse decode given SQLite's own json_valid of each text, the text-by-text decode)"""
    valid = all(json_valid(t) == 1 for t in texts)
    new = outcome(lambda: decode_checked(texts, "g", keys, all_valid=valid))
    return new, outcome(lambda: decode_all(texts, "g", keys))


def rfc_one_value(text: str) -> bool | None:
    """Whether ``text`` is one RFC 8259 value (with JSON whitespace around it), by Python's
    grammar with its extensions (NaN, Infinity) refused and no number converted (1e400 and
    5,000 digits are JSON text); None: too deep for Python to say."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        json.loads(text, parse_constant=refuse, parse_int=len, parse_float=len)
    except ValueError:
        return False
    except RecursionError:
        return None
    return True


def test_json_valid_is_there_and_the_reads_ask_it() -> None:
    assert JSON_VALID == "json_valid(value)"  # this SQLite has JSON: the one parse is in use here


@pytest.mark.parametrize("text", [t for _, t in EDGE], ids=[c for c, _ in EDGE])
def test_json_valid_says_1_only_for_one_json_value(text: str) -> None:
    """The strictness the one parse relies on: json_valid says 1 only for one RFC 8259 value,
    judged up to the first NUL (a NUL is then refused by the one parse itself)."""
    if json_valid(text) == 1:
        judged = text.split("\x00", 1)[0]
        assert rfc_one_value(judged) in (True, None), judged
        if "\x00" not in text:
            assert rfc_one_value(text) in (True, None)


@pytest.mark.parametrize("text", [t for _, t in EDGE], ids=[c for c, _ in EDGE])
def test_each_edge_case_reads_as_text_by_text_on_a_page(text: str) -> None:
    """Alone, between values motia_nb wrote, and in pairs with the attacks' other halves."""
    for texts in ([text], [GOOD[0], text, GOOD[1]], [*GOOD, text], [text, *GOOD]):
        keys = [f"k{i}" for i in range(len(texts))]
        new, old = both(texts, keys)
        assert new == old, texts
        assert both(texts, None)[0] == both(texts, None)[1]
    for other in ("1,2", "[3", "4]", '"x', 'y"', "1],[2", "[[", "]]", '"a"\x00,"b"'):
        for texts in ([text, other], [other, text], [other, text, other]):
            new, old = both(texts, [f"k{i}" for i in range(len(texts))])
            assert new == old, texts


def test_a_valid_page_is_one_parse_and_a_foreign_text_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = jsontext.decode_all
    monkeypatch.setattr(jsontext, "decode_all", lambda texts, *a: calls.append(len(texts)) or real(texts, *a))
    assert decode_checked(GOOD, "g", KEYS[:-1], all_valid=True) == [json.loads(t) for t in GOOD]
    assert calls == []  # one parse: no text on its own
    with pytest.raises(StoredValueError, match="'g'/'k1'.*too large for a float"):
        decode_checked(['{"n":1}', "1e400"], "g", KEYS[:2], all_valid=True)  # the hook, then named
    assert calls == [2]
    with pytest.raises(StoredValueError, match="'g'/'k1'.*Unterminated"):
        decode_checked(["1", '"x', 'y"'], "g", KEYS[:3], all_valid=False)  # one value joined: '"x,y"'
    assert calls == [2, 3]
    assert json_valid(b"1") == 1
    with pytest.raises(StoredValueError, match="'g'/'k0'"):
        decode_checked([b"1", "2"], "g", KEYS[:2], all_valid=True)  # a BLOB json_valid calls valid
    assert calls == [2, 3, 2]


def test_frame_on_sqlite_is_one_parse_when_every_text_is_valid(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """frame() (sync and async) asks json_valid beside each text: a group motia_nb wrote is one
    parse; once another tool wrote a text that is not JSON, text by text, naming it."""
    import asyncio

    calls: list[int] = []
    real = jsontext.decode_all
    monkeypatch.setattr(jsontext, "decode_all", lambda texts, *a: calls.append(len(texts)) or real(texts, *a))
    path = str(tmp_path / "state.db")
    sm = StateManager(path)
    try:
        for i in range(5):
            sm.sync.set("g", f"k{i}", {"n": i, "s": "x"})
        rows = sm.backend.frame_rows("g")
        assert [(k, t) for k, t, _ in rows] == sm.backend.rows_json("g") and rows.all_valid
        assert list(sm.sync.frame("g")["n"]) == list(asyncio.run(sm.frame("g"))["n"]) == [0, 1, 2, 3, 4]
        assert calls == []
        _store_texts(path, "g", [*['{"n":0}'] * 2, "1,2", "[3", "4]"])
        assert not sm.backend.frame_rows("g").all_valid
        with pytest.raises(StoredValueError, match="'g'/'k2'"):
            sm.sync.frame("g")
        with pytest.raises(StoredValueError, match="'g'/'k2'"):
            asyncio.run(sm.frame("g"))
        assert calls == [5, 5]
    finally:
        sm.close()


def _store_texts(path: str, group: str, texts: list[Any]) -> None:
    con = sqlite3.connect(path)
    con.executemany("UPDATE items SET value = ? WHERE grp = ? AND key = ?",
                    [(t, group, f"k{i}") for i, t in enumerate(texts)])  # fmt: skip
    con.commit()
    con.close()


def _frame_cells(df: Any) -> Any:
    """A DataFrame as plain data: its columns, their dtypes and every cell (a missing one "<NA>")."""
    cells = df.astype(object).where(df.notna(), "<NA>").values.tolist()
    return [list(df.columns), [str(d) for d in df.dtypes], cells]


def _reads(sm: StateManager, group: str) -> list[Any]:
    import asyncio

    def frame() -> Any:
        return _frame_cells(sm.sync.frame(group))

    return [
        outcome(lambda: sm.sync.items(group)), outcome(lambda: sm.sync.list(group)),
        outcome(lambda: sm.sync.items(group, offset=1, limit=3)), outcome(lambda: sm.backend.items_after(group, "k0", 2)),
        outcome(lambda: asyncio.run(sm.list(group))), outcome(lambda: asyncio.run(sm.items(group))),
        outcome(frame), outcome(lambda: _frame_cells(asyncio.run(sm.frame(group)))),
    ]  # fmt: skip


def _expected(texts: list[Any], group: str) -> list[Any]:
    """The reads' answers from the text-by-text decode of the stored texts."""
    import pandas as pd

    from motia_nb.state.sync import to_frame

    keys = [f"k{i}" for i in range(len(texts))]

    def values() -> list[Any]:
        return decode_all(texts, group, keys)

    def frame() -> Any:
        df = to_frame(list(zip(keys, texts)), flatten=True, group_id=group)  # a plain list: text by text
        assert isinstance(df, pd.DataFrame)
        return _frame_cells(df)

    def named(fn: Any) -> Any:
        return outcome(fn)

    def values_unnamed() -> list[Any]:
        return decode_all(texts, group)

    return [
        named(lambda: list(zip(keys, values()))), named(values),
        named(lambda: list(zip(keys[1:4], decode_all(texts[1:4], group, keys[1:4])))),
        named(lambda: list(zip(keys[1:3], decode_all(texts[1:3], group, keys[1:3])))),
        named(values_unnamed), named(lambda: list(zip(keys, values()))), named(frame), named(frame),
    ]  # fmt: skip


def test_the_sqlite_reads_of_each_edge_case_are_the_text_by_text_reads(tmp_path: Any) -> None:
    """items(), list(), pages, items_after(), frame() over a real file whose k1 another tool set
    to each edge case: the answers of the text-by-text decode of what is stored."""
    path = str(tmp_path / "state.db")
    sm = StateManager(path)
    try:
        for n, (case, text) in enumerate(EDGE):
            group = f"g{n}"
            texts = [GOOD[0], text, GOOD[2], GOOD[4]]
            for i in range(len(texts)):
                sm.sync.set(group, f"k{i}", 0)
            _store_texts(path, group, texts)
            assert _reads(sm, group) == _expected(texts, group), case
    finally:
        sm.close()


# ------------------------------------------------------------------ property: random pages

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


@st.composite
def _valid_text(draw: Any) -> str:
    value = draw(_json)
    style = draw(st.sampled_from(["compact", "spaced", "indented", "ascii"]))
    if style == "compact":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if style == "spaced":
        return " " + json.dumps(value, ensure_ascii=False) + "\n"
    return json.dumps(value, indent=1 if style == "indented" else None, ensure_ascii=style == "ascii")


@st.composite
def _fragment(draw: Any) -> str:
    """A valid text split at a random point: its head or its tail."""
    text = draw(_valid_text())
    cut = draw(st.integers(0, len(text)))
    return text[:cut] if draw(st.booleans()) else text[cut:]


ATTACKS = ["1,2", "[3", "4]", '"x', 'y"', "1],[2", "[[", "]]", '"a"\x00,"b"', "1\x002", "NaN", "1e400", "9" * 5000,
           "[1,]", "'a'", "", " ", "01", "-", "1.", ".5", "+1", '"\\ud800"', "[" * 1000 + "]" * 1000, '"', ",", '","']  # fmt: skip

_text = st.one_of(_valid_text(), _valid_text(), _fragment(), st.sampled_from(ATTACKS))


@st.composite
def _regrouped(draw: Any) -> list[str]:
    """The attack in general: valid texts joined by commas, cut again at as many commas chosen
    anywhere (inside strings too), so that the pieces joined are the same valid array with the
    same count while most pieces are not one JSON value (``1,2`` ``[3`` ``4]``)."""
    values = draw(st.lists(_json | st.just("a,b") | st.just([1, [2, 3]]) | st.just({"k": "x,y"}), min_size=2, max_size=6))
    body = ",".join(json.dumps(v, separators=(",", ":")) for v in values)
    commas = [i for i, ch in enumerate(body) if ch == ","]
    cuts = sorted(draw(st.lists(st.sampled_from(commas), min_size=len(values) - 1, max_size=len(values) - 1, unique=True)))
    pieces, start = [], 0
    for c in cuts:
        pieces.append(body[start:c])
        start = c + 1
    return [*pieces, body[start:]]


#: pages another tool's texts balance (tests/test_foreign_values_parity.py's SHIFTING and more)
SHIFTING = [["1,2", "[3", "4]"], ['"x', 'y"', "1,2"], ['{"a":1', '"b":2}', "3,4"], ["[1", "2]", "3,4"],
            ['{"k":"a', 'b"}', "1,2"]]  # fmt: skip


@pytest.mark.parametrize("texts", SHIFTING, ids=[" ".join(t) for t in SHIFTING])
def test_texts_that_balance_each_other_fall_back_and_are_named(texts: list[str]) -> None:
    joined = json.loads("[" + ",".join(texts) + "]")
    assert len(joined) == len(texts)  # the count check alone would take it
    new, old = both(texts, [f"k{i}" for i in range(len(texts))])
    assert new == old and new[0] == "error"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=st.lists(_regrouped(), min_size=1, max_size=3), extra=st.lists(_text, max_size=3))
def test_a_regrouped_page_reads_as_text_by_text(pages: list[list[str]], extra: list[str]) -> None:
    texts = [t for page in pages for t in page] + extra
    new, old = both(texts, [f"k{i}" for i in range(len(texts))])
    assert new == old


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_text, max_size=8))
def test_a_random_page_reads_as_text_by_text(texts: list[str]) -> None:
    keys = [f"k{i}" for i in range(len(texts))]
    new, old = both(texts, keys)
    assert new == old


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.one_of(st.lists(_text, min_size=1, max_size=6), _regrouped()))
def test_a_random_stored_page_reads_as_text_by_text(shared_store: Any, texts: list[str]) -> None:
    sm, path, counter = shared_store
    counter[0] += 1
    group = f"p{counter[0]}"
    for i in range(len(texts)):
        sm.sync.set(group, f"k{i}", 0)
    _store_texts(path, group, texts)
    assert _reads(sm, group) == _expected(texts, group)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: Any) -> Any:
    path = str(tmp_path_factory.mktemp("onepass") / "state.db")
    sm = StateManager(path)
    yield sm, path, [0]
    sm.close()
