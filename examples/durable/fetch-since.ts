/**
 * `npm run example:durable-fetch`: CouchDB's `_changes?since=` with a durable channel. A client that keeps only
 * a token asks for what changed since it, page by page; the last page's `next` is where it asks next time.
 */
import { exampleSetup } from './setup.js'

const { log, close } = await exampleSetup('example_fetch')

for (let id = 1; id <= 7; id++) await log.append('orders', { id, status: 'placed' }, { key: `order-${id}` })

// A client that never saw anything starts at 'earliest' and pages through.
let since: string | 'earliest' = 'earliest'
for (let page = 1; ; page++) {
  const { messages, next } = await log.fetch('orders', { after: since, limit: 3 })
  console.log(`page ${page}: ${messages.map((m) => JSON.stringify(m.value)).join(', ') || '(nothing new)'}`)
  since = next
  if (messages.length === 0) break
}

// Later, the same client asks again with its token and gets only what is new.
await log.append('orders', { id: 1, status: 'shipped' }, { key: 'order-1' })
const { messages } = await log.fetch('orders', { after: since })
console.log(`since my token: ${messages.map((m) => JSON.stringify(m.value)).join(', ')}`)

await close()
