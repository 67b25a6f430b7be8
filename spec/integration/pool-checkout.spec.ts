// A client rxpg checks out of a pool has an 'error' listener for as long as it is out: pg.Pool listens only on
// idle clients, and a pg.Client whose connection ends unexpectedly emits 'error' even while a query runs. Without
// a listener that is an uncaught exception, which ends the user's process (vitest reports it as an unhandled
// error, failing the run). Each case ends the checked-out client's backend while rxpg holds it; the consumer
// case also shows that the lost connection is retried as transient.
import type pg from 'pg'
import { firstValueFrom, timer } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminQuery } from '../support/database.js'
import { durableFixture, type DurableFixture } from '../support/durable.js'

let fixture: DurableFixture

beforeAll(async () => {
  fixture = await durableFixture('pool_checkout')
})
afterAll(async () => {
  await fixture.close()
})

const pidOf = (client: pg.ClientBase) => (client as unknown as { processID: number }).processID
const terminate = (pid: number) => adminQuery('SELECT pg_terminate_backend($1)', [pid], fixture.url)
/** Long enough for the server's goodbye and the socket's end to reach the client. */
const settle = () => firstValueFrom(timer(300))

describe('clients checked out of the pool', () => {
  it('log.transaction: a backend that dies while the work waits fails the transaction, not the process', async () => {
    const outcome = fixture.log.transaction(async (client) => {
      await client.query('SELECT 1')
      await terminate(pidOf(client))
      await settle()
      return 'committed'
    })
    await expect(outcome).rejects.toThrow()
    // The pool goes on with healthy clients.
    await fixture.log.append('after-checkout', { ok: true })
  })

  it('log.transaction: a backend that dies during a query fails the transaction, not the process', async () => {
    const outcome = fixture.log.transaction(async (client) => {
      const pid = pidOf(client)
      await Promise.all([client.query('SELECT pg_sleep(5)'), settle().then(() => terminate(pid))])
    })
    await expect(outcome).rejects.toThrow()
    await fixture.log.append('after-checkout', { ok: true })
  })

  it("consume: a backend that dies under the handler's transaction fails that batch, and the group goes on", async () => {
    await fixture.log.append('checkout-jobs', { n: 1 })
    let killed = false
    const handled: unknown[] = []
    const consumer = fixture.log.consume(
      'checkout-jobs',
      'checkout-group',
      async (messages, client) => {
        if (!killed) {
          killed = true
          await terminate(pidOf(client))
          await settle()
          return
        }
        handled.push(...messages.map((message) => message.value))
      },
      { leaseTtl: 1500, batchSize: 10 },
    )
    const retried: string[] = []
    consumer.events$.subscribe((event) => {
      if (event.kind === 'retrying') retried.push(String(event.error))
    })
    try {
      // The lost connection is transient: the batch is retried (it failed for good when its error was wrapped twice).
      await expect.poll(() => handled, { timeout: 20_000, interval: 100 }).toEqual([{ n: 1 }])
      expect(retried.length).toBeGreaterThan(0)
    } finally {
      await consumer.stop()
    }
  })
})
