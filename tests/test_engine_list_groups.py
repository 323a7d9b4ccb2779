"""An emptied group is not listed, on every backend and through the engine's functions.

The engine's in-memory store (``engine/src/builtins/kv.rs``, ``BuiltinKvStore``) keeps a group's
map after its last item is deleted (``delete`` → ``shift_remove``) and ``list_groups`` returns
every map's name, so it lists an emptied group until the engine restarts; its Redis store
(``workers/state/adapters/redis_adapter.rs``: ``SCAN state:*``) does not, as Redis drops an
empty hash. motia_nb follows the Redis store and SPEC §2 (groups holding at least one item).
"""

from __future__ import annotations

import asyncio

from motia_nb.engine.functions import EngineFunctions


def test_a_group_whose_last_item_goes_is_no_longer_listed(sm):
    fns = EngineFunctions(sm)

    def groups():  # the state groups (the notebook's list shows stream groups too, as <stream>::<group>)
        listed = [g for g in sm.sync.list_groups() if "::" not in g]
        assert asyncio.run(fns.call("state::list_groups", {})) == {"groups": listed}
        return listed

    sm.sync.set("a", "k1", 1)
    sm.sync.set("a", "k2", 2)
    sm.sync.set("b", "k", 3)
    asyncio.run(fns.call("stream::set", {"stream_name": "s", "group_id": "room", "item_id": "i", "data": 1}))
    assert groups() == ["a", "b"]
    sm.sync.delete("a", "k1")
    assert groups() == ["a", "b"]
    sm.sync.delete("a", "k2")  # the last item: the group goes (the engine's memory store keeps it)
    assert groups() == ["b"]
    asyncio.run(fns.call("state::delete", {"scope": "b", "key": "k"}))
    assert groups() == []
    sm.sync.set("c", "k", 1)
    sm.sync.clear("c")
    assert groups() == []
    asyncio.run(fns.call("stream::delete", {"stream_name": "s", "group_id": "room", "item_id": "i"}))
    assert asyncio.run(fns.call("stream::list_groups", {"stream_name": "s"})) == []
    assert asyncio.run(fns.call("stream::list_all", {})) == {"stream": [], "count": 0}
