"""The SQLite backend: state in one file (or ``:memory:``).

- :mod:`.schema`: the table, its migration, how connections are made;
- :mod:`.apply`: a batch of writes as a plan in Python plus a short list of statements;
- :mod:`.executors`: running those statements (caller's thread or aiosqlite), the gate;
- :mod:`.writer`: the write path (a lone write inline, batches on aiosqlite); :mod:`.delivery`;
- :mod:`.reads`: the reads, one statement each (point reads on the caller's thread);
- :mod:`.searching`: substring key search (a scan in chunks, with a time budget if asked, or
  :mod:`.key_search`: the trigram index of searched big groups, filled in the background by
  :mod:`.key_indexer`);
- :mod:`.backend`: :class:`SQLiteBackend`, tying them to the backend contract.
"""

from __future__ import annotations

from .backend import SQLiteBackend
from .schema import SCHEMA, SCHEMA_VERSION

__all__ = ["SQLiteBackend", "SCHEMA", "SCHEMA_VERSION"]
