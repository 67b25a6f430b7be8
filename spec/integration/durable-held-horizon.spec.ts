/**
 * A message committed while an older transaction (of anything on the server) holds the snapshot horizon below it:
 * the read its wake-up starts finds it committed but not yet readable. When the older transaction ends, nothing
 * wakes the readers (it appended nothing, or not through rxpg): they found the message at their next poll, a
 * `pollInterval` later (1 s by default), while the docs promised no latency beyond the oldest running writer. A
 * read that finds messages committed past the horizon now reads again soon, until they are readable.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DurableLog } from '../../lib/durable/index.js'
import { eventually } from '../support/database.js'
import { durableFixture, pageCountingPool, type DurableFixture, type PageCountingPool } from '../support/durable.js'
import { collect } from '../support/listener.js'

let fixture: DurableFixture
let counting: PageCountingPool
let log: DurableLog
const clients: pg.Client[] = []

beforeAll(async () => {
  // No poll within the test: only a wake-up or the read again can deliver.
  fixture = await durableFixture('durable_held', { pollInterval: 600_000 })
  counting = pageCountingPool(fixture.url)
  log = fixture.openLog({ pool: counting.pool })
})
afterAll(async () => {
  await Promise.all(clients.splice(0).map((client) => client.end()))
  await fixture.close()
  await counting.end()
})

/** A transaction that holds a transaction id (and so the horizon) until `end()`. */
async function olderTransaction(): Promise<{ end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: fixture.url })
  await client.connect()
  clients.push(client)
  await client.query('BEGIN')
  await client.query('SELECT txid_current()')
  return { end: async () => void (await client.query('COMMIT')) }
}

/**
 * Appends 'behind' to `channel` while an older transaction holds the horizon, waits until the read its wake-up
 * started has run (the message committed, above the horizon: `delivered()` still 0), then ends the older
 * transaction, which wakes nobody.
 */
async function appendBehindOlderTransaction(channel: string, delivered: () => number): Promise<void> {
  const older = await olderTransaction()
  counting.reset()
  await log.append(channel, 'behind')
  await eventually(() => counting.reads >= 1, () => 'the read after the wake-up')
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(delivered()).toBe(0)
  await older.end()
}

/** Waits (with neither a wake-up nor a poll to come) for what the older transaction held back. */
const arrives = (delivered: () => number) => eventually(() => delivered() === 1, () => `nothing came after the older transaction ended (${counting.reads} reads)`, 10_000)

describe('durable: a message committed behind an older transaction', () => {
  it('reaches a reader soon after the older transaction ends, with no wake-up and no poll', async () => {
    const reader = collect(log.read('held', { from: 'earliest' }))
    await eventually(() => counting.reads >= 1, () => 'the first read')
    await appendBehindOlderTransaction('held', () => reader.values.length)
    await arrives(() => reader.values.length)
    expect(reader.values.map((message) => message.value)).toEqual(['behind'])
    reader.stop()
  })

  it('reaches an iterator soon after the older transaction ends, with no wake-up and no poll', async () => {
    counting.reset()
    const iterator = log.iterate('held-pull', { from: 'earliest' })
    const pulled: unknown[] = []
    void iterator.next().then((result) => pulled.push(result.value?.value))
    await eventually(() => counting.reads >= 1, () => 'the first read')
    await appendBehindOlderTransaction('held-pull', () => pulled.length)
    await arrives(() => pulled.length)
    expect(pulled).toEqual(['behind'])
    await iterator.return?.()
  })

  it('reaches a consumer soon after the older transaction ends, with no wake-up and no poll', async () => {
    const handled: unknown[] = []
    counting.reset()
    // Leases renewed rarely: a renewal (every third of leaseTtl) wakes the consumer too.
    const consumer = log.consume('held-group', 'g', (messages) => void handled.push(...messages.map((message) => message.value)), { leaseTtl: 600_000 })
    await eventually(() => counting.reads >= 1, () => 'the first read')
    await appendBehindOlderTransaction('held-group', () => handled.length)
    await arrives(() => handled.length)
    expect(handled).toEqual(['behind'])
    await consumer.stop()
  })

  it('reads no more than the poll does once nothing is held back', async () => {
    const reader = collect(log.read('quiet', { from: 'earliest' }))
    await log.append('quiet', 'one')
    await eventually(() => reader.values.length === 1, () => 'the message')
    counting.reset()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(counting.reads).toBe(0)
    reader.stop()
  })
})
