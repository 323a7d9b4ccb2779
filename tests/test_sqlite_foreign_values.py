"""A SQLite state file whose values another tool overwrote with text that is not JSON.

motia_nb never stores such text, but the file is plain SQLite: ``sqlite3`` in a terminal, a
DB browser or a script can. Every read then names the item that cannot be read
(:class:`StoredValueError`, as Redis does for its hashes), never a bare ``JSONDecodeError``,
and a page of values is never shifted: ``1,2`` parsed inside a joined page would have
become two values and moved every later value to the wrong key.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from motia_nb.state import StateManager
from motia_nb.state.errors import StoredValueError


def _spoil(path: str, key: str, text: str) -> None:
    con = sqlite3.connect(path)
    con.execute("UPDATE items SET value = ? WHERE grp = 'g' AND key = ?", (text, key))
    con.commit()
    con.close()


@pytest.fixture
def spoiled(tmp_path):
    """A store of g/a, g/b, g/c whose b holds ``text``; yields (manager, make)."""
    path = str(tmp_path / "state.db")
    managers = []

    def make(text: str) -> StateManager:
        sm = StateManager(path)
        managers.append(sm)
        for k, v in (("a", {"n": 1}), ("b", {"n": 2}), ("c", {"n": 3})):
            sm.sync.set("g", k, v)
        _spoil(path, "b", text)
        return sm

    yield make
    for sm in managers:
        sm.close()


@pytest.mark.parametrize("text", ["hello there", "1,2", '{"n": 2'])
def test_get_names_the_item_that_is_not_json(spoiled, text):
    sm = spoiled(text)
    with pytest.raises(StoredValueError, match=r"^the value of 'g'/'b' cannot be read: it is not JSON .*; it starts "
                                               + repr(text).replace("{", r"\{").replace("(", r"\(")) as err:  # fmt: skip
        sm.sync.get("g", "b")
    assert (err.value.group_id, err.value.key) == ("g", "b")
    assert sm.sync.get("g", "c") == {"n": 3}  # the others read as before
    with pytest.raises(StoredValueError, match="'g'/'b'"):
        asyncio.run(sm.get("g", "b"))


@pytest.mark.parametrize("text", ["hello there", "1,2"])
def test_a_whole_group_read_refuses_instead_of_shifting_values(spoiled, text):
    # "1,2" joined into one page parsed as two values: list() gave [{n:1}, 1, 2, {n:3}] (4 values
    # for 3 items) and items() paired b with 1 and c with 2, silently
    sm = spoiled(text)
    for read in (lambda: sm.sync.list("g"), lambda: sm.sync.items("g"), lambda: sm.sync.frame("g"),
                 lambda: asyncio.run(sm.items("g")), lambda: asyncio.run(sm.frame("g"))):  # fmt: skip
        with pytest.raises(StoredValueError, match=r"^the value of 'g'/'b' cannot be read: it is not JSON") as err:
            read()
        assert err.value.key == "b"
    # the async list reads values only (no keys): it names the group, and where to find the key
    with pytest.raises(StoredValueError, match=r"^a value of group 'g' cannot be read: .*; items\(\) names its key"):
        asyncio.run(sm.list("g"))
    assert sm.sync.items("g", limit=1) == [("a", {"n": 1})]  # a page without it reads as before
