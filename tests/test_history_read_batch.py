"""SQLite's history() decodes a page of changes with one JSON parse: the same dicts as one by one."""

from __future__ import annotations

from motia_nb.state import StateManager
from motia_nb.state.backends.sqlite.schema import event_type
from motia_nb.state.history import change_dict

VALUES = [None, 0, -1, 2**64 - 1, -(2**63), 1.5, 1e300, "", "é ☃ \U0001f600", [], {}, {"a": [1, {"b": None}]}, True, False, "null"]


def test_a_long_history_reads_back_exactly_as_change_dict_makes_each_row(db_path: str) -> None:
    sm = StateManager(db_path)
    try:
        for round_ in range(3):
            for v in VALUES:
                sm.sync.set("g", "k", v)
            sm.sync.delete("g", "k")
        got = sm.sync.history("g", "k", limit=1000)
        assert len(got) == 3 * (len(VALUES) + 1)
        rows = sm.backend._query(
            "SELECT seq, at_us, grp, key, old_value, new_value, trace_id, cause, pid FROM changes "
            "WHERE grp = 'g' AND key = 'k' ORDER BY seq", [])  # fmt: skip
        assert got == [change_dict(r[0], r[1] / 1e6, event_type(r[4], r[5]), *r[2:]) for r in rows]
        assert sm.sync.history("g", limit=1000) == got  # a group's page: the same dicts
        assert [c["new_value"] for c in got[: len(VALUES)]] == VALUES
        assert got[len(VALUES)]["event_type"] == "state:deleted" and got[len(VALUES)]["new_value"] is None
    finally:
        sm.close()
