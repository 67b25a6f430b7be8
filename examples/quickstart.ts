/**
 * Quickstart: `npm start`. Starts an embedded PostgreSQL (or uses DATABASE_URL), subscribes to a channel,
 * sends a few notifications with notify$, prints what arrives, closes and exits on its own.
 */
import { firstValueFrom, take, toArray } from 'rxjs'
import { createPgListener } from '../lib/index.js'
import { startEmbeddedServer } from '../support/embedded-server.js'

const server = process.env.DATABASE_URL ? undefined : await startEmbeddedServer()
const url = process.env.DATABASE_URL ?? server!.url

// One listener per process: a single LISTEN connection serves every channel.
const db = createPgListener(url)
db.state$.subscribe((state) => console.log(`state: ${state.status}`))

// A channel is a hot Observable: LISTEN happens on the first subscriber, UNLISTEN after the last.
const orders = db.channel('orders')
const received = firstValueFrom(orders.pipe(take(3), toArray()))
orders.subscribe((n) => console.log(`received on ${n.channel}: ${n.payload} (from backend ${n.processId})`))

// notify$ is a sink: calls close together are sent in one round trip, in order, each exactly once.
db.notify$.next({ channel: 'orders', payload: JSON.stringify({ id: 1, status: 'placed' }) })
db.notify$.next({ channel: 'orders', payload: JSON.stringify({ id: 2, status: 'placed' }) })
// notify() resolves once the notification is committed.
await db.notify('orders', JSON.stringify({ id: 1, status: 'shipped' }))

const all = await received
console.log(`got ${all.length} notifications; status of order 1: ${JSON.parse(all[2]!.payload).status}`)

// Bad input is refused with a typed error before anything is sent.
await db.notify('orders', 'x'.repeat(8000)).catch((error: Error) => console.log(`refused: ${error.name}: ${error.message}`))

await db.close()
await server?.destroy()
console.log('closed; the process exits on its own')
