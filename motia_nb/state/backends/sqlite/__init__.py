"""The SQLite backend: state in one file (or ``:memory:``).

- :mod:`.schema`: the table, its migration, how connections are made;
- :mod:`.apply`: applying a batch of writes inside a transaction (results and events);
- :mod:`.writer`: the write path (a lone write inline, batches on aiosqlite);
- :mod:`.reads`: the reads, one statement each, on the caller's thread;
- :mod:`.backend`: :class:`SQLiteBackend`, tying them to the backend contract.
"""

from __future__ import annotations

from .backend import SQLiteBackend
from .schema import SCHEMA, SCHEMA_VERSION

__all__ = ["SQLiteBackend", "SCHEMA", "SCHEMA_VERSION"]
