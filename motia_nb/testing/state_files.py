"""State files made for tests: a big SQLite group written straight into the table.

:func:`big_state_file` gives a state file whose group ``big`` holds ``n`` items
``item-0000000``, ``item-0000001``, … (value ``{}``), plus ``small``/``x`` = 1: the
schema is made by motia_nb, the rows are added in one transaction with
``executemany`` (seconds for 1,000,000 rows, where a million writes would take minutes).
"""

from __future__ import annotations

import sqlite3

from ..state import StateManager

__all__ = ["BIG_ITEMS", "big_state_file"]

#: How many items the ``big`` group of :func:`big_state_file` holds by default.
BIG_ITEMS = 1_000_000


def big_state_file(path: str, n: int = BIG_ITEMS) -> str:
    """Make the state file at ``path`` (new) with ``n`` items in group ``big``; return ``path``."""
    sm = StateManager(path)
    try:
        sm.sync.set("small", "x", 1)
    finally:
        sm.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO items (grp, key, value) VALUES ('big', ?, '{}')", ((f"item-{i:07d}",) for i in range(n))
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return path
