// A handler that keeps its batch's transaction idle past the pool's idle_in_transaction_session_timeout (an HTTP
// call slower than the timeout docs/durable.md advises for frozen members): the server ends the session and rolls
// the batch back. That is the handler's failure, reported as `handler-failed` (its error says 25P03), retried after
// `retryDelay`, and set aside with `deadLetter` like any other. It was taken for a broken connection: retried for
// ever as `retrying`, its leases dropped each time, with no dead letter possible, and every message behind it in
// its partitions held back.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DurableQueryFailedError, type ConsumerEvent, type DurableLog } from '../../lib/durable/index.js'
import { eventually } from '../support/database.js'
import { durableFixture, horizonPassed, type DurableFixture } from '../support/durable.js'
import { collect } from '../support/listener.js'

let fixture: DurableFixture
let pool: pg.Pool
let log: DurableLog

beforeAll(async () => {
  fixture = await durableFixture('durable_idle_timeout', { pollInterval: 200 })
  pool = new pg.Pool({ connectionString: fixture.url, idle_in_transaction_session_timeout: 300 })
  // The sessions the server ends would otherwise crash the run; pg asks for this handler.
  pool.on('error', () => undefined)
  log = fixture.openLog({ pool })
  await pool.query(`CREATE TABLE "${fixture.schema}".handled (value text NOT NULL)`)
})
afterAll(async () => {
  await fixture.close()
  await pool.end()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('a handler that outlasts idle_in_transaction_session_timeout', () => {
  // The slow call before a statement of the handler (which meets the ended session), or last (the ack meets it:
  // a trial found that taken for a broken connection still, its "not queryable" error classified before the
  // connection's own error was looked at).
  it.each([
    ['before a statement of its own', 'idle', false],
    ['as the last thing it does', 'idlelast', true],
  ])('fails as a handler with the slow call %s: retried after retryDelay, then set aside, and the messages behind it go on', async (_case, channel, slowLast) => {
    await pool.query(`TRUNCATE "${fixture.schema}".handled`)
    for (const value of ['a', 'slow', 'b']) await log.append(channel, value, { key: 'one' })
    /** What the batches that committed handled, in order. */
    const handled = async () => (await pool.query<{ value: string }>(`SELECT value FROM "${fixture.schema}".handled`)).rows.map((row) => row.value)
    const consumer = log.consume(
      channel,
      'g',
      async (messages, client) => {
        for (const message of messages) {
          // Idle in the batch's transaction past the timeout: the server ends the session.
          if (message.value === 'slow' && !slowLast) await sleep(600)
          await client.query(`INSERT INTO "${fixture.schema}".handled VALUES ($1)`, [message.value])
          if (message.value === 'slow' && slowLast) await sleep(600)
        }
      },
      { retryDelay: 10, deadLetter: { channel: `${channel}.dead`, maxAttempts: 2 } },
    )
    const events = collect(consumer.events$)
    await eventually(() => consumer.stats.deadLettered === 1, () => `events: ${events.values.map((event) => event.kind).join(', ')}`, 15_000)
    await eventually(async () => (await handled()).includes('b'), () => 'b never committed')
    await consumer.stop()
    const kinds = events.values.map((event) => event.kind)
    expect(kinds).not.toContain('retrying')
    const failures = events.values.filter((event): event is Extract<ConsumerEvent, { kind: 'handler-failed' }> => event.kind === 'handler-failed')
    expect(failures.length).toBeGreaterThanOrEqual(2)
    for (const failure of failures) {
      expect(failure.error).toBeInstanceOf(DurableQueryFailedError)
      expect((failure.error as DurableQueryFailedError).info.sqlState).toBe('25P03')
    }
    // Each committed once, in order; 'slow' set aside, never committed.
    expect(await handled()).toEqual(['a', 'b'])
    // Read once the horizon passed it: another spec's transaction on the shared server may hold it back.
    await horizonPassed(fixture.url)
    const [dead] = (await log.fetch(`${channel}.dead`, { after: 'earliest' })).messages
    expect(dead?.value).toMatchObject({ value: 'slow', attempts: 2, error: { sqlState: '25P03' } })
  })

  // The trial's second finding, of the same cause: the leases were dropped as if lost, so stop() had none to give
  // back, and the next member waited a whole leaseTtl for them.
  it('gives its partitions back when stopped while such a handler runs', async () => {
    await log.append('idle-stop', 'slow', { key: 'one' })
    let called = false
    const consumer = log.consume(
      'idle-stop',
      'g',
      async (_messages, client) => {
        called = true
        await client.query('SELECT 1')
        await sleep(600)
      },
      { retryDelay: 10 },
    )
    await eventually(() => called, () => 'the handler was never called')
    await consumer.stop()
    const owned = await pool.query(`SELECT part FROM "${fixture.schema}".durable_cursors WHERE channel = 'idle-stop' AND owner IS NOT NULL`)
    expect(owned.rows).toEqual([])
  })

  // The same path for a session ended otherwise while the handler waits: a broken connection, retried, and its
  // `retrying` event says why (the ack's "not queryable" said only that the client broke).
  it('names the SQLSTATE of a batch session ended by pg_terminate_backend in its retrying event, and commits the batch on a new one', async () => {
    await pool.query(`TRUNCATE "${fixture.schema}".handled`)
    await log.append('terminated', 'once', { key: 'one' })
    let calls = 0
    const consumer = log.consume(
      'terminated',
      'g',
      async (messages, client) => {
        calls += 1
        const [row] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows
        await client.query(`INSERT INTO "${fixture.schema}".handled VALUES ($1)`, [messages[0]?.value])
        if (calls !== 1) return
        await pool.query('SELECT pg_terminate_backend($1)', [row?.pid])
        // Until the client has heard of it: the ack then meets a client that is not queryable any more.
        await sleep(300)
      },
      { retryDelay: 10 },
    )
    const events = collect(consumer.events$)
    await eventually(async () => (await pool.query(`SELECT 1 FROM "${fixture.schema}".handled`)).rows.length === 1 && consumer.stats.batches === 1, () => `events: ${events.values.map((event) => event.kind).join(', ')}`)
    await consumer.stop()
    const retried = events.values.flatMap((event) => (event.kind === 'retrying' ? [event.error] : []))
    expect(retried.map((error) => (error as DurableQueryFailedError).info.sqlState)).toEqual(['57P01'])
    expect(events.values.map((event) => event.kind)).not.toContain('handler-failed')
    expect(calls).toBe(2)
  })
})
