"""A bare iii-sdk 0.25 worker that disconnects mid-invocation: ``python iii_dies.py URL NAME``.

Registers ``NAME::die``: invoked, the process exits at once, never answering (as a worker
that crashes or is killed while handling a call). Prints ``ready`` once registered.
"""

import os
import sys
import threading

from iii import InitOptions, register_worker

url, name = sys.argv[1], sys.argv[2]
iii = register_worker(url, InitOptions(worker_name=name))


async def die(data):
    os._exit(3)


iii.register_function(f"{name}::die", die, description="exits at once, never answering")
print("ready", flush=True)
threading.Event().wait()
