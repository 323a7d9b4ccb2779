// A bare Node client on npm's iii-sdk: `node calls.mjs URL` reads JSON lines
// [function_id, payload] on stdin and prints, per call, one JSON line {"ok": result}
// or {"error": "message"} (used by tests/test_new_user_engine.py).
import { webcrypto } from 'node:crypto'
import { createInterface } from 'node:readline'
import { registerWorker } from 'iii-sdk'

if (!globalThis.crypto) globalThis.crypto = webcrypto

const iii = registerWorker(process.argv[2], { workerName: 'calls' })
const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const [functionId, payload] = JSON.parse(line)
  try {
    const result = await iii.trigger({ function_id: functionId, payload })
    console.log(JSON.stringify({ ok: result === undefined ? null : result }))
  } catch (e) {
    console.log(JSON.stringify({ error: `${e?.code ?? ''} ${e?.message ?? e}` }))
  }
}
process.exit(0)
