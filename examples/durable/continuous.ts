/**
 * `npm run example:durable-continuous`: CouchDB's `feed=continuous&heartbeat=`. One stream: the backlog, then
 * every new message as it commits, with a heartbeat while the channel is quiet (what an SSE or websocket
 * endpoint sends to keep the connection open).
 */
import { take } from 'rxjs'
import { heartbeat, isHeartbeat } from '../../lib/index.js'
import { exampleSetup } from './setup.js'

const { log, close } = await exampleSetup('example_continuous')

await log.append('prices', { symbol: 'RXPG', price: 100 })
await log.append('prices', { symbol: 'RXPG', price: 101 })

const done = new Promise<void>((resolve) =>
  log
    .read('prices', { from: 'earliest' })
    .pipe(heartbeat(250), take(7))
    .subscribe({
      next: (event) => console.log(isHeartbeat(event) ? `♥ quiet since ${new Date(event.silentSince).toISOString()}` : `${JSON.stringify(event.value)} @ ${event.token}`),
      complete: resolve,
    }),
)

// Live messages, with pauses long enough for heartbeats in between.
for (const price of [102, 103, 99]) {
  await new Promise((resolve) => setTimeout(resolve, 400))
  await log.append('prices', { symbol: 'RXPG', price })
}
await done
await close()
