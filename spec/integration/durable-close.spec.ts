// close() and a consumer's stop() against a server that stopped answering (a TCP proxy that holds every byte,
// as a black-holed host does): they wait for work in flight for `closeTimeout`, then give up on it, settling
// every append, instead of waiting for ever.
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { AppendFailedError, createDurableLog, type DurableLog } from '../../lib/durable/index.js'
import { eventually } from '../support/database.js'
import { durableFixture, lockLog, lockWaitedFor, type DurableFixture } from '../support/durable.js'
import { startHalfOpenProxy, type HalfOpenProxy } from '../support/half-open-proxy.js'
import { startSilentServer } from '../support/silent-server.js'

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
    // Queued behind it once its batch is sent (appended in the same tick, they would join that batch).
    await new Promise((resolve) => setTimeout(resolve, 100))
    for (let index = 0; index < 3; index++) log.append$.next({ channel: 'frozen', value: index })
    await log.close()
    const failure = await settledInFlight
    expect(failure).toBeInstanceOf(AppendFailedError)
    expect((failure as AppendFailedError).info.outcome).toBe('unknown')
    // Queued before close(): never sent, and said so as an append that failed, not as a use after close().
    expect(lost).toHaveLength(3)
    for (const error of lost) expect(error).toMatchObject({ code: 'DURABLE_APPEND_FAILED', info: { outcome: 'not-sent' } })
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

  it('stops a consumer whose handler never returns after closeTimeout: done resolves, events complete, your pool can end', async () => {
    const pool = new pg.Pool({ connectionString: fixture.url, max: 4 })
    pool.on('error', () => undefined)
    const log = createDurableLog({ listener, pool, schema: fixture.schema, closeTimeout: 300, maintenanceInterval: false })
    cleanups.push(() => log.close())
    await log.append('stuck', 1)
    let started!: () => void
    const handling = new Promise<void>((resolve) => (started = resolve))
    const consumer = log.consume('stuck', 'group', async () => {
      started()
      await new Promise(() => undefined)
    }, { from: 'earliest', leaseTtl: 600 })
    let completed = false
    consumer.events$.subscribe({ complete: () => (completed = true) })
    await handling
    await consumer.stop()
    await expect(consumer.done).resolves.toBeUndefined()
    expect(completed).toBe(true)
    await log.close()
    // The batch's client was given back (broken) when stop() gave up: the pool ends though the handler holds it.
    await pool.end()
  })

  it('closes a log with a pool of its own after closeTimeout though a page read waits behind a lock', async () => {
    const log = createDurableLog({ listener, pool: fixture.url, schema: fixture.schema, closeTimeout: 300, maintenanceInterval: false })
    cleanups.push(() => log.close())
    await log.append('locked', 1)
    const release = await lockLog(fixture.url, fixture.schema)
    try {
      const reading = log.read('locked', { from: 'earliest' }).subscribe({ error: () => undefined })
      cleanups.push(async () => reading.unsubscribe())
      await lockWaitedFor(fixture.url)
      // Resolves while the lock is still held: the pool's end is waited for at most closeTimeout too.
      await log.close()
    } finally {
      await release()
    }
  })

  it('reports every append$ value lost when close() gives up on errors$, as AppendFailedError, batches waiting for room included', async () => {
    const log = createDurableLog({ listener, pool: fixture.url, schema: fixture.schema, closeTimeout: 300, maintenanceInterval: false, appendBatch: { maxBatchSize: 10 } })
    cleanups.push(() => log.close())
    await log.append('held', 'first')
    // INSERTs wait behind it: batches are sent and do not commit.
    const release = await lockLog(fixture.url, fixture.schema, 'SHARE')
    const warnings: Error[] = []
    const onWarning = (warning: Error) => void warnings.push(warning)
    process.on('warning', onWarning)
    try {
      const lost: unknown[] = []
      log.errors$.subscribe((error) => lost.push(error))
      for (let index = 0; index < 50; index++) log.append$.next({ channel: 'held', value: index })
      await new Promise((resolve) => setTimeout(resolve, 200))
      await log.close()
      await new Promise((resolve) => setImmediate(resolve))
      expect(lost).toHaveLength(50)
      for (const error of lost) expect(error).toBeInstanceOf(AppendFailedError)
      expect(warnings.filter((warning) => /durable/i.test(warning.message))).toEqual([])
    } finally {
      process.off('warning', onWarning)
      await release()
    }
  })

  // `rxpg tail` stopped while its reader was still connecting (a server that accepts and never answers) waited
  // for the connection attempt: close() had given up on the connections it had, not on those being opened.
  it('gives up on a connection its pool is still opening: close() ends it', async () => {
    const silent = await startSilentServer()
    cleanups.push(() => silent.close())
    const { url, connections } = silent
    const log = createDurableLog({ listener, pool: url, schema: fixture.schema, closeTimeout: 0, maintenanceInterval: false })
    const reading = log.read('opening', { from: 'earliest' }).subscribe({ error: () => undefined })
    await eventually(async () => (await connections()) > 0, () => 'a connection being opened')
    reading.unsubscribe()
    await log.close()
    await eventually(async () => (await connections()) === 0, () => 'the connection ended')
  })
})

describe('closing a durable log on your pool', () => {
  it('waits for a transaction() in flight, as for its other work, and then closes (it used to resolve at once)', async () => {
    const pool = new pg.Pool({ connectionString: fixture.url, max: 3 })
    cleanups.push(() => pool.end())
    const log = createDurableLog({ listener, pool, schema: fixture.schema, maintenanceInterval: false })
    let finish = () => undefined as void
    const gate = new Promise<void>((resolve) => (finish = resolve))
    const committed = log.transaction(async (client) => {
      await log.append('closing-tx', 'inside', { client })
      await gate
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    let closed = false
    const closing = log.close().then(() => (closed = true))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const closedEarly = closed
    finish()
    expect(closedEarly).toBe(false)
    await committed
    await closing
    expect(closed).toBe(true)
  })
})
