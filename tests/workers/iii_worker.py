"""A bare Python worker on PyPI's iii-sdk 0.25 (no Motia): ``python iii_worker.py URL NAME``.

Registers, under the prefix NAME:
- ``NAME::on_order``, a state trigger restricted to scope ``orders`` (engine config),
  writing ``seen_<NAME>/<key>`` back through ``state::set``;
- ``NAME::on_ping``, a queue trigger on ``ping.<NAME>``, writing ``pongs/<id>`` and
  enqueueing ``pinged`` (notebook steps listen);
- ``NAME::echo``, a plain function other workers may call.
"""

import sys
import threading

from iii import InitOptions, register_worker

url, name = sys.argv[1], sys.argv[2]
iii = register_worker(url, InitOptions(worker_name=name))


async def on_order(event):
    await iii.trigger_async(
        {
            "function_id": "state::set",
            "payload": {"scope": f"seen_{name}", "key": event["key"], "value": {"event": event["event_type"]}},
        }
    )
    return {"ok": True}


async def on_ping(data):
    await iii.trigger_async({"function_id": "state::set", "payload": {"scope": "pongs", "key": data["id"], "value": {"by": name}}})
    await iii.trigger_async({"function_id": "enqueue", "payload": {"topic": "pinged", "data": {"id": data["id"], "by": name}}})


async def echo(data):
    return {"echo": data, "by": name}


iii.register_function(f"{name}::on_order", on_order)
iii.register_function(f"{name}::on_ping", on_ping)
iii.register_function(f"{name}::echo", echo)
iii.register_trigger({"type": "state", "function_id": f"{name}::on_order", "config": {"scope": "orders"}})
iii.register_trigger({"type": "queue", "function_id": f"{name}::on_ping", "config": {"topic": f"ping.{name}"}})
print("ready", flush=True)
threading.Event().wait()
