// close() and a consumer's stop() against a server that stopped answering (a TCP proxy that holds every byte,
// as a black-holed host does): they wait for work in flight for `closeTimeout`, then give up on it, settling
// every append, instead of waiting for ever.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { AppendFailedError, createDurableLog, type DurableLog } from '../../lib/durable/index.js'
import { durableFixture, type DurableFixture } from '../support/durable.js'
import { startHalfOpenProxy, type HalfOpenProxy } from '../support/half-open-proxy.js'

let fixture: DurableFixture
let listener: PgListener
const cleanups: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  fixture = await durableFixture('durable_close')
  listener = createPgListener(fixture.url)
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(async () => {
  await listener.close()
  await fixture.close()
})

/** A log whose pool (its own) reaches the server through a proxy the spec can black-hole. */
async function logThroughProxy(): Promise<{ log: DurableLog; proxy: HalfOpenProxy }> {
  const proxy = await startHalfOpenProxy({ targetPort: Number(new URL(fixture.url).port) })
  cleanups.push(() => proxy.close())
  const log = createDurableLog({ listener, pool: proxy.url(fixture.url), schema: fixture.schema, closeTimeout: 300, maintenanceInterval: false })
  cleanups.push(() => log.close())
  await log.append('frozen', 'before')
  return { log, proxy }
}

describe('closing a durable log whose server stopped answering', () => {
  it('gives up after closeTimeout: close() resolves, the append in flight fails as unknown, the queued ones as not sent', async () => {
    const { log, proxy } = await logThroughProxy()
    const lost: unknown[] = []
    log.errors$.subscribe((error) => lost.push(error))
    proxy.blackhole()
    const inFlight = log.append('frozen', 'in flight')
    const settledInFlight = inFlight.catch((error: unknown) => error)
    // Queued behind it: a full batch is in flight, so these wait.
    for (let index = 0; index < 3; index++) log.append$.next({ channel: 'frozen', value: index })
    await log.close()
    const failure = await settledInFlight
    expect(failure).toBeInstanceOf(AppendFailedError)
    expect((failure as AppendFailedError).info.outcome).toBe('unknown')
    expect(lost).toHaveLength(3)
    for (const error of lost) expect(error).toMatchObject({ code: expect.stringMatching(/^DURABLE_(APPEND_FAILED|LOG_CLOSED)$/) })
  })

  it('stops a consumer after closeTimeout, and then closes, when the server stops answering mid-batch', async () => {
    const { log, proxy } = await logThroughProxy()
    let handled = 0
    let release!: () => void
    const handling = new Promise<void>((resolve) => (release = resolve))
    const consumer = log.consume('frozen', 'group', async (batch, client) => {
      handled += batch.length
      proxy.blackhole()
      release()
      // A statement of the handler's, on a server that no longer answers.
      await client.query('SELECT 1')
    }, { from: 'earliest' })
    await handling
    expect(handled).toBeGreaterThan(0)
    await consumer.stop()
    await log.close()
  })
})
