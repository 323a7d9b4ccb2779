// A bare Node worker on npm's iii-sdk: `node worker.mjs URL NAME`.
// NAME::on_order: a state trigger on scope "orders" writing seen_NAME/<key>;
// NAME::relay: a queue trigger on relay.NAME that enqueues order.paid (reaching
// other workers' and the notebook's queue steps).
import { webcrypto } from 'node:crypto'
import { registerWorker } from 'iii-sdk'

// iii-sdk calls the global crypto.randomUUID(): global from Node 19, behind a flag on
// Debian bookworm's Node 18 (what .ci/run installs with apt-get)
if (!globalThis.crypto) globalThis.crypto = webcrypto

const [url, name] = process.argv.slice(2)
const iii = registerWorker(url, { workerName: name })

iii.registerFunction(`${name}::on_order`, async (event) => {
  await iii.trigger({
    function_id: 'state::set',
    payload: { scope: `seen_${name}`, key: event.key, value: { event: event.event_type, runtime: 'node' } },
  })
  return { ok: true }
})
iii.registerFunction(`${name}::relay`, async (data) => {
  await iii.trigger({ function_id: 'enqueue', payload: { topic: 'order.paid', data } })
})
iii.registerTrigger({ type: 'state', function_id: `${name}::on_order`, config: { scope: 'orders' } })
iii.registerTrigger({ type: 'queue', function_id: `${name}::relay`, config: { topic: `relay.${name}` } })
console.log('ready')
setInterval(() => {}, 1 << 30)
