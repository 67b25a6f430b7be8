// The outbox: a business write and its message commit or roll back together, in the caller's transaction.
import pg from 'pg'
import { firstValueFrom, Subject } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDurableLog, DurableQueryFailedError } from '../../lib/durable/index.js'
import { adminQuery, eventually } from '../support/database.js'
import { collect } from '../support/listener.js'
import { durableFixture, fetchAll, horizonPassed, type DurableFixture } from '../support/durable.js'

let fixture: DurableFixture
let orders: string

beforeAll(async () => {
  fixture = await durableFixture('durable_outbox')
  orders = `"${fixture.schema}".orders`
  await adminQuery(`CREATE TABLE ${orders} (id int PRIMARY KEY, status text NOT NULL)`, [], fixture.url)
})
afterAll(async () => {
  await fixture.close()
})

const ordersInTable = async () => (await adminQuery<{ id: number }>(`SELECT id FROM ${orders} ORDER BY id`, [], fixture.url)).map((row) => row.id)

describe('log.transaction', () => {
  it('commits the business write and the message together, then wakes readers', async () => {
    const { log } = fixture
    const reader = firstValueFrom(log.read('order-events', { from: 'now' }))
    const result = await log.transaction(async (client) => {
      await client.query(`INSERT INTO ${orders} (id, status) VALUES (1, 'placed')`)
      await log.append('order-events', { id: 1, status: 'placed' }, { client, key: 'order-1' })
      return 'done'
    })
    expect(result).toBe('done')
    expect(await ordersInTable()).toContain(1)
    expect(await reader).toMatchObject({ key: 'order-1', value: { id: 1, status: 'placed' } })
  })

  it('rolls both back when the work throws, and rethrows', async () => {
    const { log } = fixture
    const failure = new Error('business rule broken')
    await expect(
      log.transaction(async (client) => {
        await client.query(`INSERT INTO ${orders} (id, status) VALUES (2, 'placed')`)
        await log.append('order-events', { id: 2 }, { client })
        throw failure
      }),
    ).rejects.toBe(failure)
    expect(await ordersInTable()).not.toContain(2)
    expect((await fetchAll(log, 'order-events')).map((m) => m.value)).toEqual([{ id: 1, status: 'placed' }])
  })

  it('rolls both back when the business write fails in the database', async () => {
    const { log } = fixture
    await expect(
      log.transaction(async (client) => {
        await log.append('order-events', { id: 1, status: 'again' }, { client })
        await client.query(`INSERT INTO ${orders} (id, status) VALUES (1, 'duplicate key')`)
      }),
    ).rejects.toMatchObject({ code: '23505' })
    expect((await fetchAll(log, 'order-events')).map((m) => m.value)).toEqual([{ id: 1, status: 'placed' }])
  })

  it('fails with the typed error, the driver error as its cause, when the COMMIT fails (a deferred constraint), and rolls both back', async () => {
    const { log } = fixture
    const deferred = `"${fixture.schema}".deferred_orders`
    await adminQuery(`CREATE TABLE ${deferred} (id int, CONSTRAINT deferred_orders_id UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)`, [], fixture.url)
    const failure = await log
      .transaction(async (client) => {
        await client.query(`INSERT INTO ${deferred} (id) VALUES (1), (1)`)
        await log.append('order-events', { id: 9 }, { client })
      })
      .catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(DurableQueryFailedError)
    expect(failure).toMatchObject({ code: 'DURABLE_QUERY_FAILED', info: { operation: 'transaction commit', sqlState: '23505' } })
    expect((failure as DurableQueryFailedError).cause).toMatchObject({ code: '23505' })
    expect((failure as Error).message).toMatch(/^Durable log transaction commit failed: duplicate key/)
    expect((await fetchAll(log, 'order-events')).map((m) => m.value)).toEqual([{ id: 1, status: 'placed' }])
    // The client went back to the pool healthy: the next transaction works.
    await expect(log.transaction(async (client) => (await client.query('SELECT 1 AS one')).rows[0])).resolves.toEqual({ one: 1 })
  })

  it('says why the server ended the session when that failed the COMMIT (idle_in_transaction_session_timeout: 25P03), not only that the client is broken', async () => {
    const { log } = fixture
    const failure = await log
      .transaction(async (client) => {
        await client.query(`SET LOCAL idle_in_transaction_session_timeout = '100ms'`)
        await log.append('timed-out', { id: 1 }, { client })
        await new Promise((resolve) => setTimeout(resolve, 600))
      })
      .catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(DurableQueryFailedError)
    expect((failure as DurableQueryFailedError).info).toMatchObject({ operation: 'transaction commit', sqlState: '25P03' })
    expect(await fetchAll(log, 'timed-out')).toEqual([])
  })

  it('refuses to run after close(), with the log closed error, on a pool of your own too', async () => {
    const log = fixture.openLog()
    await log.close()
    let ran = false
    await expect(log.transaction(async () => void (ran = true))).rejects.toMatchObject({ code: 'DURABLE_LOG_CLOSED' })
    expect(ran).toBe(false)
  })
})

describe('append with a client of your own', () => {
  it('never needs a pool connection of its own: as many concurrent transactions as the pool has connections all complete', async () => {
    const pool = new pg.Pool({ connectionString: fixture.url, max: 2 })
    const fresh = createDurableLog({ listener: fixture.listener, pool, schema: fixture.schema }) // nothing asked yet
    try {
      const clients = await Promise.all([pool.connect(), pool.connect()]) // every connection of the pool is taken
      await Promise.all(
        clients.map(async (client, index) => {
          await client.query('BEGIN')
          await fresh.append('full-pool', index, { client })
          await client.query('COMMIT')
          client.release()
        }),
      )
      expect((await fetchAll(fresh, 'full-pool')).map((m) => m.value).sort()).toEqual([0, 1])
    } finally {
      await fresh.close()
      await pool.end()
    }
  })

  it('is part of your transaction: visible only after your COMMIT, gone after your ROLLBACK', async () => {
    const { log } = fixture
    const client = new pg.Client({ connectionString: fixture.url })
    await client.connect()
    try {
      await client.query('BEGIN')
      await client.query(`INSERT INTO ${orders} (id, status) VALUES (3, 'placed')`)
      const token = await log.append('own-client', { id: 3 }, { client })
      expect((await log.fetch('own-client', { after: 'earliest' })).messages).toEqual([]) // our transaction is open: not yet
      await client.query('COMMIT')
      log.wake('own-client')
      expect(await fetchAll(log, 'own-client')).toEqual([{ token, value: { id: 3 } }])

      await client.query('BEGIN')
      await client.query(`INSERT INTO ${orders} (id, status) VALUES (4, 'placed')`)
      await log.append('own-client', { id: 4 }, { client })
      await client.query('ROLLBACK')
      expect((await fetchAll(log, 'own-client')).map((m) => m.value)).toEqual([{ id: 3 }])
      expect(await ordersInTable()).not.toContain(4)
    } finally {
      await client.end()
    }
  })

  it('reaches a live reader through the poll back-stop when nobody wakes it', async () => {
    const quiet = fixture.openLog({ pollInterval: 50 })
    const reader = collect(quiet.read('unwoken', { from: 'now' }))
    const client = new pg.Client({ connectionString: fixture.url })
    await client.connect()
    const appendUnwoken = async (value: string) => {
      await client.query('BEGIN')
      await quiet.append('unwoken', value, { client })
      await client.query('COMMIT') // and no wake(): appends in your own transaction are invisible to rxpg
    }
    try {
      // Once the reader has seen a probe it is past its first read: what follows can only come from polling.
      await eventually(async () => {
        await appendUnwoken('probe')
        return reader.values.length > 0
      }, () => 'the reader never started')
      await appendUnwoken('found by polling')
      await eventually(() => reader.values.some((m) => m.value === 'found by polling'), () => 'not found')
    } finally {
      reader.stop()
      await client.end()
    }
  })

  it("reads when the reader's own wakeUps emit: commits rxpg cannot see, with the poll too slow to matter", async () => {
    const quiet = fixture.openLog({ pollInterval: 600_000 })
    const wakeUps = new Subject<void>()
    const reader = collect(quiet.read('woken-by-caller', { from: 'now', wakeUps }))
    const client = new pg.Client({ connectionString: fixture.url })
    await client.connect()
    const appendUnwoken = async (value: string) => {
      await client.query('BEGIN')
      await quiet.append('woken-by-caller', value, { client })
      await client.query('COMMIT')
    }
    try {
      await eventually(async () => {
        await appendUnwoken('probe')
        wakeUps.next()
        return reader.values.length > 0
      }, () => 'the reader never started')
      await appendUnwoken('found through wakeUps')
      // Readable once the transactions older than it have ended (other spec files' hold the horizon by design):
      // a wake-up before that reads nothing, and no poll comes to read again.
      await horizonPassed(fixture.url)
      wakeUps.next()
      await eventually(() => reader.values.some((m) => m.value === 'found through wakeUps'), () => 'not found')
    } finally {
      reader.stop()
      await client.end()
    }
  })
})
