"""A bare iii-sdk 0.25 worker implementing a custom stream: ``python iii_custom_stream.py URL STREAM``.

``iii.helpers.create_stream`` registers ``stream::get(STREAM)``, ``stream::set(STREAM)``,
``stream::delete(STREAM)``, ``stream::list(STREAM)`` and ``stream::list_groups(STREAM)``; the
engine's ``stream::*`` then delegate to them for that stream (``workers/stream/stream.rs``).
Items live in this process's memory; every stored value is wrapped as ``{"kept_by": STREAM,
"data": ...}`` so a test can tell the worker's answer from the notebook store's. Prints ``ready``.
"""

import sys
import threading
import warnings

from iii import InitOptions, register_worker
from iii.helpers import create_stream
from iii.stream import IStream
from iii_helpers.stream import StreamDeleteResult, StreamSetResult

url, name = sys.argv[1], sys.argv[2]
iii = register_worker(url, InitOptions(worker_name=f"custom-{name}"))
items: dict[tuple[str, str], object] = {}

warnings.simplefilter("ignore", FutureWarning)  # create_stream is deprecated, still served by the engine


class Memory(IStream):
    async def get(self, input):
        return items.get((input.group_id, input.item_id))

    async def set(self, input):
        old = items.get((input.group_id, input.item_id))
        new = {"kept_by": name, "data": input.data}
        items[(input.group_id, input.item_id)] = new
        return StreamSetResult(old_value=old, new_value=new)

    async def delete(self, input):
        return StreamDeleteResult(old_value=items.pop((input.group_id, input.item_id), None))

    async def list(self, input):
        return [v for (g, _), v in items.items() if g == input.group_id]

    async def list_groups(self, input):
        return sorted({g for g, _ in items})

    async def update(self, input):  # not registered by create_stream: the engine's own update runs
        raise NotImplementedError


create_stream(iii, name, Memory())
print("ready", flush=True)
threading.Event().wait()
