"""The Lua scripts, read from the ``lua/`` folder shipped as package data.

Each write script runs atomically on the server: it reads the old value, writes,
maintains the insertion-order index, appends the call's changes to the group's history
stream as one entry (``history.lua``; the item index, ``history_index.lua``, is filed
after, by ``history_file.lua``, but for a small call's changes, which that call indexes when
the index is caught up) and publishes the change event, so the changelog and a published message are atomic with the commit; it
keeps the key index and the key text too (``key_text.lua``). ``key_text.lua``,
``helpers.lua``, ``history_index.lua``, ``history.lua`` and ``ordered.lua`` are shared
fragments prepended to the scripts that use them.
"""

from __future__ import annotations

from importlib import resources

__all__ = [
    "SET", "SET_MANY", "CAS", "DELETE", "CLEAR", "READ", "KEYS_PREFIX", "KEYS_SEARCH", "KEYS_ORDERED", "KEYS_GONE", "KEYS_FILL", "HISTORY_ITEM",
    "HISTORY_FILL", "HISTORY_FILE", "HISTORY_TRIM_AGE",
    "WRITE_SCRIPTS", "BY_NAME", "source",
]  # fmt: skip


def source(name: str) -> str:
    """The text of ``lua/<name>.lua``."""
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


_helpers = source("key_text") + source("helpers")  # the writes keep the key text (key_index.py)
_ordered = source("ordered")
_history = source("history_index") + source("history")  # every write script appends its changes to the changelog

#: set a value (returns the old text or nil)
SET = _helpers + _history + source("set")
#: a run of sets to one group in one call (returns the old texts, nil for new items), one published message
SET_MANY = _helpers + _history + source("set_many")
#: compare-and-set an update computed in Python (returns 1 written, 0 lost the race)
CAS = _helpers + _history + source("cas")
#: delete one item (returns the old text or nil)
DELETE = _helpers + _history + source("delete")
#: clear a group (returns the removed [key, value, ...] in insertion order)
CLEAR = _helpers + _ordered + _history + source("clear")
#: read a page in insertion order (either direction)
READ = _ordered + source("read")
#: the key index (:mod:`.key_index`): a prefix range, a chunk of a substring search, a chunk of its fill
KEYS_PREFIX = source("keys_ready") + source("keys_prefix")
KEYS_SEARCH = source("keys_ready") + source("key_text") + source("keys_search")
KEYS_ORDERED = source("keys_ready") + source("keys_ordered")
#: whether a key search's matches name a key the hash no longer holds (then the index is stale)
KEYS_GONE = source("keys_ready") + source("keys_gone")
KEYS_FILL = source("keys_fill")
#: one item's changes, from the changelog's item index (:mod:`.history_index`)
HISTORY_ITEM = source("history_index") + source("history_item")
#: a chunk of the changes the item index does not hold yet (a store written before it existed)
HISTORY_FILL = source("history_index") + source("history_index_fill")
#: a chunk of the changes written since the item index was last filed (the index is filed off
#: the write path: :mod:`.history_index`)
HISTORY_FILE = source("history_index") + source("history_file")
#: a group's changes older than the age dropped, as a write's trim by age drops them (the filer
#: runs it once the writes pause, so the stream follows the age when no write comes)
HISTORY_TRIM_AGE = _history + source("history_trim_age")

WRITE_SCRIPTS = (SET, SET_MANY, CAS, DELETE, CLEAR)
#: the write scripts by the names :mod:`.commands` gives its calls
BY_NAME = {"set": SET, "set_many": SET_MANY, "cas": CAS, "delete": DELETE, "clear": CLEAR}
