/**
 * Behind a real PgBouncer. In session mode a client keeps one server connection, so LISTEN works as if direct.
 * In transaction mode each transaction may run on another server connection and notifications are not
 * forwarded to a client between its transactions: the listener must find that out by itself (its delivery
 * self-probe) and stop with `DeliveryBrokenError` ('probe-not-delivered') instead of waiting forever.
 *
 * Skipped, with a message, where the `pgbouncer` binary is absent (.ci/run installs it).
 */
import pg from 'pg'
import { filter, firstValueFrom, take, timeout, toArray } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { createPgListener, DeliveryBrokenError, type ListenerState, type PgListener, type PgNotification } from '../../lib/index.js'
import { createDurableLog } from '../../lib/durable/index.js'
import { changeStream, ReplicationSetupError } from '../../lib/replication/index.js'
import { adminQuery, databaseUrl, eventually, uniqueName } from '../support/database.js'
import { pgbouncerBinary, startPgBouncer } from '../support/pgbouncer.js'

const installed = pgbouncerBinary() !== undefined
if (!installed) console.warn('[pgbouncer] skipped: no pgbouncer binary on PATH or in /usr/sbin (apt-get install pgbouncer; .ci/run does)')

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A bound on waiting for a state, not a timing assertion. */
const STATE_LIMIT_MS = 15_000

/**
 * A transaction-mode PgBouncer with two server connections, and a pool of four clients through it: pg's named
 * statements land on server connections that do not have them (or already do), which PgBouncer before 1.21
 * does not handle. Both end after the test.
 */
async function poolThroughBouncer() {
  const bouncer = await startPgBouncer(databaseUrl(), 'transaction', 2)
  cleanups.push(() => bouncer.stop())
  const pool = new pg.Pool({ connectionString: bouncer.url, max: 4 })
  pool.on('error', () => undefined)
  cleanups.push(() => pool.end())
  return { bouncer, pool }
}

function watch(db: PgListener, channel: string) {
  const states: ListenerState[] = []
  db.state$.subscribe((state) => states.push(state))
  const received: PgNotification[] = []
  const channelErrors: unknown[] = []
  db.channel(channel).subscribe({ next: (n) => received.push(n), error: (error: unknown) => channelErrors.push(error) })
  const describe = () => states.map((s) => (s.status === 'reconnecting' ? `reconnecting(${s.lastError.message})` : s.status)).join(' -> ')
  return { states, received, channelErrors, describe }
}

describe.skipIf(!installed)(`PgBouncer${installed ? '' : ' (skipped: pgbouncer is not installed)'}`, () => {
  it('works normally through a session-mode pool: LISTEN holds, notifications arrive', async () => {
    const bouncer = await startPgBouncer(databaseUrl(), 'session')
    cleanups.push(() => bouncer.stop())
    const channel = uniqueName('bouncer-session')
    const db = createPgListener(bouncer.url)
    cleanups.push(() => db.close())
    const { states, received, describe } = watch(db, channel)
    await eventually(() => states.some((s) => s.status === 'connected'), () => `${describe()}\n${bouncer.logs()}`, STATE_LIMIT_MS)

    await db.notify(channel, 'through the pool')
    await adminQuery('SELECT pg_notify($1, $2)', [channel, 'from a direct connection'])
    await eventually(() => received.length === 2, () => `received ${JSON.stringify(received.map((n) => n.payload))}; ${describe()}`)
    expect(received.map((n) => n.payload)).toEqual(['through the pool', 'from a direct connection'])
    expect(states.map((s) => s.status)).toEqual(['idle', 'connecting', 'connected'])
  })

  it('stops with DeliveryBrokenError (probe-not-delivered) through a transaction-mode pool', async () => {
    const bouncer = await startPgBouncer(databaseUrl(), 'transaction')
    cleanups.push(() => bouncer.stop())
    const channel = uniqueName('bouncer-transaction')
    const db = createPgListener(bouncer.url)
    cleanups.push(() => db.close())
    const { states, describe } = watch(db, channel)

    const failed = await firstValueFrom(
      db.state$.pipe(
        filter((state) => state.status === 'failed'),
        timeout({ first: STATE_LIMIT_MS, with: () => Promise.reject(new Error(`never failed: ${describe()}`)) }),
      ),
    )
    expect(failed.error).toBeInstanceOf(DeliveryBrokenError)
    expect((failed.error as DeliveryBrokenError).info.reason).toBe('probe-not-delivered')
    // It ends there: no reconnecting after the failure.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(states.at(-1)).toBe(failed)
  })

  it('sends through a notify.pool behind a transaction-mode pool (named statements refused there) while listening directly: all arrive, in order, across a reconnect', async () => {
    const { bouncer, pool } = await poolThroughBouncer()
    const channel = uniqueName('bouncer-send')
    const db = createPgListener(databaseUrl(), { notify: { pool } })
    cleanups.push(() => db.close())
    const { states, received, channelErrors, describe } = watch(db, channel)
    await eventually(() => states.some((s) => s.status === 'connected'), () => `${describe()}\n${bouncer.logs()}`, STATE_LIMIT_MS)
    const payloads = Array.from({ length: 200 }, (_, i) => `n${i}`)
    const sends: Array<Promise<void>> = []
    for (const [i, payload] of payloads.entries()) {
      sends.push(db.notify(channel, payload))
      if (i === 100) {
        // The listener reconnects (and probes its delivery again through the pool) in the middle. Killed once
        // what was sent so far arrived, and the sends go on once it knows: what is committed between the kill
        // and the listener hearing of it is lost (at most once), and would decide the spec by a race.
        await eventually(() => received.length === i + 1, () => `received ${received.length}; ${describe()}`)
        const connected = states.findLast((s) => s.status === 'connected')
        const reconnecting = firstValueFrom(db.state$.pipe(filter((state) => state.status === 'reconnecting')))
        await adminQuery('SELECT pg_terminate_backend($1)', [connected?.status === 'connected' ? connected.processId : 0])
        await reconnecting
      }
      if (i % 10 === 0) await pool.query('SELECT 1') // the application's own traffic on the same pool
    }
    await Promise.all(sends)
    await eventually(() => received.length >= payloads.length, () => `received ${received.length}; ${describe()}`)
    expect(received.map((n) => n.payload)).toEqual(payloads)
    expect(channelErrors).toEqual([])
    expect(states.some((s) => s.status === 'failed')).toBe(false)
    // The named statement refused by the pooler was sent again unnamed on a connection it had: no outage.
    expect(db.metrics.snapshot()).toMatchObject({ sent: 200, sendFailures: 0, sendReconnects: 0 })
  })

  it('fails a replication stream pointed at PgBouncer for good, with the typed error that says to connect directly', async () => {
    const bouncer = await startPgBouncer(databaseUrl(), 'session')
    cleanups.push(() => bouncer.stop())
    const stream = changeStream(bouncer.url, { slot: 'never_made', publication: 'never_made' })
    cleanups.push(() => stream.close())
    stream.changes$.subscribe({ error: () => undefined })
    const failed = await firstValueFrom(
      stream.state$.pipe(
        filter((state) => state.status === 'failed'),
        timeout({ first: STATE_LIMIT_MS, with: () => Promise.reject(new Error('never failed: it retried a pooler that cannot pass replication connections')) }),
      ),
    )
    expect(failed.error).toBeInstanceOf(ReplicationSetupError)
    expect((failed.error as ReplicationSetupError).info.reason).toBe('pooler')
    expect(failed.error.message).toMatch(/directly/)
  })

  it('runs a durable log (prepare left on) through a transaction-mode pool: appends, reads and fetches', async () => {
    const { pool } = await poolThroughBouncer()
    const listener = createPgListener(databaseUrl())
    cleanups.push(() => listener.close())
    const schema = uniqueName('bouncer_log').replaceAll('-', '_')
    const log = createDurableLog({ listener, pool, schema })
    cleanups.push(() => adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
    cleanups.push(() => log.close())
    await log.ensureSchema()
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append('pooled', i)))
    for (let i = 50; i < 100; i++) log.append$.next({ channel: 'pooled', value: i })
    const all = await firstValueFrom(log.read('pooled', { from: 'earliest' }).pipe(take(100), toArray()))
    expect(all.map((message) => message.value).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect((await log.fetch('pooled', { after: tokens[48] as string, limit: 1 })).messages.map((m) => m.value)).toEqual([49])
  })
})
