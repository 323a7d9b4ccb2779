"""A bare iii-sdk 0.25 client: ``python iii_calls.py URL`` reads JSON lines ``[function_id, payload]``
on stdin and prints, per call, one JSON line ``{"ok": result}`` or ``{"error": "Type: message"}``."""

import asyncio
import json
import os
import sys

from iii import InitOptions, register_worker

iii = register_worker(sys.argv[1], InitOptions(worker_name="calls"))


async def main() -> None:
    for line in sys.stdin:
        function_id, payload = json.loads(line)
        try:
            out = {"ok": await iii.trigger_async({"function_id": function_id, "payload": payload})}
        except Exception as e:  # noqa: BLE001 - every refusal is reported back to the test
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


asyncio.run(main())
os._exit(0)  # the SDK's connection thread would keep the process alive
