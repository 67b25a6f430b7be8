/**
 * Behind a real PgBouncer. In session mode a client keeps one server connection, so LISTEN works as if direct.
 * In transaction mode each transaction may run on another server connection and notifications are not
 * forwarded to a client between its transactions: the listener must find that out by itself (its delivery
 * self-probe) and stop with `DeliveryBrokenError` ('probe-not-delivered') instead of waiting forever.
 *
 * Skipped, with a message, where the `pgbouncer` binary is absent (.ci/run installs it).
 */
import { filter, firstValueFrom, timeout } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { createPgListener, DeliveryBrokenError, type ListenerState, type PgListener, type PgNotification } from '../../lib/index.js'
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
})
