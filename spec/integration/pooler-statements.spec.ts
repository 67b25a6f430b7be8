/**
 * Named prepared statements behind a transaction-mode pooler (PgBouncer before 1.21): each statement may run on
 * another server connection than the one pg prepared it on, so the server says "prepared statement … does not
 * exist" (26000) or "… already exists" (42P05). Reproduced here on a real server by putting pg's idea of what a
 * connection has prepared out of step with the server's (DEALLOCATE ALL, or a PREPARE in SQL, behind its back).
 * A statement refused that way never ran: rxpg sends it again unnamed, and sends unnamed from then on.
 */
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { createDurableLog, type DurableLog } from '../../lib/durable/index.js'
import { durableDatabaseUrl, horizonPassed, uniqueSchema } from '../support/durable.js'
import { adminQuery, databaseUrl, eventually } from '../support/database.js'

const closing: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
})

function onePool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  pool.on('error', () => undefined)
  closing.push(() => pool.end())
  return pool
}

describe('behind a transaction-mode pooler (statements prepared on another server connection)', () => {
  it('notify() sends its batch unnamed when the server says its named statement already exists, and the listener stays connected', async () => {
    const pool = onePool(databaseUrl())
    // The server connection has the statement, pg's client does not know: pg sends Parse with the name, 42P05.
    await pool.query(`PREPARE rxpg_notify_one AS SELECT pg_notify($1::text, $2::text)`)
    await pool.query(`PREPARE rxpg_notify_many AS SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)`)
    const db: PgListener = createPgListener(databaseUrl(), { notify: { pool } })
    closing.push(() => db.close())
    const channel = `pooler_${process.pid}`
    const received: string[] = []
    db.channel(channel).subscribe((notification) => received.push(notification.payload))
    await db.notify(channel, 'one')
    await Promise.all([db.notify(channel, 'two'), db.notify(channel, 'three')])
    // pg's client now believes it prepared them; the server forgets (another server connection): 26000.
    await pool.query('DEALLOCATE ALL')
    await db.notify(channel, 'four')
    await eventually(() => received.length >= 4, () => `received ${JSON.stringify(received)}`)
    expect(received).toEqual(['one', 'two', 'three', 'four'])
    expect((await firstState(db)).status).toBe('connected')
  })

  it('a durable log reads and appends again unnamed when the server no longer has its named statement', async () => {
    const url = durableDatabaseUrl()
    const pool = onePool(url)
    const listener = createPgListener(url)
    closing.push(() => listener.close())
    const schema = uniqueSchema('pooler')
    const log: DurableLog = createDurableLog({ listener, pool, schema })
    closing.push(() => adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, [], url))
    closing.push(() => log.close())
    await log.ensureSchema()
    const first = await log.append('pooled', 1)
    // Other specs' transactions on the shared server hold every reader's horizon back for a moment.
    await horizonPassed(url)
    expect((await log.fetch('pooled', { after: 'earliest' })).messages.map((m) => m.value)).toEqual([1])
    await pool.query('DEALLOCATE ALL')
    await log.append('pooled', 2)
    await horizonPassed(url)
    expect((await log.fetch('pooled', { after: first })).messages.map((m) => m.value)).toEqual([2])
  })
})

async function firstState(db: PgListener) {
  return new Promise<{ status: string }>((resolve) => {
    const subscription = db.state$.subscribe((state) => {
      resolve(state)
      queueMicrotask(() => subscription.unsubscribe())
    })
  })
}
