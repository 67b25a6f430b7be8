import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { ConnectionRejectedError, createPgListener, type PgListener } from '../../lib/index.js'
import { adminQuery, databaseUrl, eventually, uniqueName } from '../support/database.js'
import { collect, stateOf } from '../support/listener.js'

const open: PgListener[] = []
const pools: pg.Pool[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()))
  await Promise.all(pools.splice(0).map((pool) => pool.end()))
})

async function backendsOf(applicationName: string): Promise<number[]> {
  const rows = await adminQuery<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid', [applicationName])
  return rows.map((row) => row.pid)
}

describe('connections', () => {
  it('holds exactly one listening connection for any number of channels and subscribers', async () => {
    const application_name = uniqueName('one-conn')
    const db = createPgListener({ connectionString: databaseUrl(), application_name })
    open.push(db)
    const subscriptions = []
    for (let channel = 0; channel < 50; channel++) {
      for (let subscriber = 0; subscriber < 3; subscriber++) subscriptions.push(db.channel(`c${channel}`).subscribe())
    }
    const connected = await stateOf(db, 'connected')
    // Two backends in all: the one listening connection, and the sending one (opened for the self-probe).
    const backends = await backendsOf(application_name)
    expect(backends).toHaveLength(2)
    expect(backends).toContain(connected.processId)
    const listening = await adminQuery<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
      [application_name],
    )
    expect(listening.map((row) => row.pid)).toEqual([connected.processId])
    for (const subscription of subscriptions) subscription.unsubscribe()
  })

  it('nothing connects until a channel is subscribed or a notification sent', async () => {
    const application_name = uniqueName('lazy')
    const db = createPgListener({ connectionString: databaseUrl(), application_name })
    open.push(db)
    expect(await backendsOf(application_name)).toEqual([])
  })

  it('sends on a connection of its own, opened lazily, never the listening one', async () => {
    const application_name = uniqueName('sender')
    const db = createPgListener({ connectionString: databaseUrl(), application_name }, { selfProbe: false })
    open.push(db)
    const received = collect(db.channel('own-sender'))
    const listening = await stateOf(db, 'connected')
    // Without the self-probe nothing is sent yet, so the sending connection is not open yet.
    expect(await backendsOf(application_name)).toEqual([listening.processId])

    await db.notify('own-sender', 'hello')
    await eventually(() => received.values.length === 1, () => 'the notification did not arrive')
    const sender = received.values[0]!.processId
    expect(sender).not.toBe(listening.processId)
    expect(await backendsOf(application_name)).toEqual([listening.processId, sender].sort((a, b) => a - b))
    expect(db.isOwnNotification(received.values[0]!)).toBe(true)
  })

  it('sends through a pg.Pool the user passes, and leaves the pool open on close', async () => {
    const poolName = uniqueName('pool')
    const pool = new pg.Pool({ connectionString: databaseUrl(), application_name: poolName, max: 2 })
    pools.push(pool)
    const db = createPgListener(databaseUrl(), { notify: { pool } })
    open.push(db)
    const received = collect(db.channel('through-pool'))
    await stateOf(db, 'connected')
    await db.notify('through-pool', 'via pool')
    await eventually(() => received.values.length === 1, () => 'the notification did not arrive')
    expect(await backendsOf(poolName)).toContain(received.values[0]!.processId)
    await db.close()
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1)
  })

  // An application's shutdown that ends its pool before the listener: the pool can never be used again.
  it('fails for good, saying so, when the pool it sends through was ended (not reconnecting for ever)', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 })
    await pool.end()
    const db = createPgListener(databaseUrl(), { notify: { pool, timeout: 60_000 } })
    open.push(db)
    db.channel('after-pool-end').subscribe({ error: () => undefined })
    const failed = await stateOf(db, 'failed')
    expect(failed.error).toBeInstanceOf(ConnectionRejectedError)
    expect(failed.error.message).toMatch(/after calling end on the pool/)
    // A send fails at once with the same cause, rather than after notify.timeout.
    const sent: unknown = await db.notify('after-pool-end', 'x').then(() => undefined, (error: unknown) => error)
    expect(String((sent as Error).message)).toMatch(/after calling end on the pool|closed|failed/)
  })

  it('fails a send at once, saying why, when the pool it sends through was ended while it was connected', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 })
    const db = createPgListener(databaseUrl(), { notify: { pool, timeout: 60_000 } })
    open.push(db)
    db.channel('pool-ended-later').subscribe({ error: () => undefined })
    await stateOf(db, 'connected')
    await pool.end()
    const sent: unknown = await db.notify('other-channel', 'x').then(() => undefined, (error: unknown) => error)
    expect(sent).toBeInstanceOf(ConnectionRejectedError)
    expect((sent as Error).message).toMatch(/^Cannot connect to PostgreSQL \(configuration\): Cannot use a pool after calling end on the pool \(the pg.Pool given as notify.pool was ended while the listener still used it: close the listener first\)/)
  })

  it('tells its own notifications from other processes', async () => {
    const db = createPgListener(databaseUrl())
    open.push(db)
    const received = collect(db.channel('echo'))
    await stateOf(db, 'connected')
    await db.notify('echo', 'mine')
    await adminQuery(`SELECT pg_notify('echo', 'theirs')`)
    await eventually(() => received.values.length === 2, () => `received ${received.values.length}`)
    expect(received.values.map((n) => [n.payload, db.isOwnNotification(n)])).toEqual([
      ['mine', true],
      ['theirs', false],
    ])
  })
})

describe('self-probe', () => {
  it('stays connected after the probe time-out has passed (the probe timer ends when the probe arrives)', async () => {
    const db = createPgListener(databaseUrl(), { selfProbe: { timeout: 100 } })
    open.push(db)
    const states = collect(db.state$)
    const received = collect(db.channel('after-probe'))
    await stateOf(db, 'connected')
    await new Promise((resolve) => setTimeout(resolve, 300))
    await db.notify('after-probe', 'still here')
    await eventually(() => received.values.length === 1, () => 'not received')
    expect(states.values.map((s) => s.status)).toEqual(['idle', 'connecting', 'connected'])
  })
})
