import { config, merge } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { createPgListener, InvalidChannelNameError, type PgListener, type PgNotification } from '../../lib/index.js'
import { adminQuery, databaseUrl, eventually } from '../support/database.js'
import { collect, payloads, stateOf } from '../support/listener.js'
import { observedSource } from '../support/observed-source.js'

const open: PgListener[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()))
})

function listener(): { db: PgListener; source: ReturnType<typeof observedSource> } {
  const source = observedSource(databaseUrl())
  const db = createPgListener(databaseUrl(), { source })
  open.push(db)
  return { db, source }
}

/** Waits until the listening backend's own LISTEN set equals `expected` (asked of that backend itself). */
async function serverListensSettle(source: ReturnType<typeof observedSource>, expected: string[]): Promise<void> {
  let last: string[] = []
  await eventually(
    async () => {
      last = await source.serverListens()
      return JSON.stringify(last) === JSON.stringify([...expected].sort())
    },
    () => `server listens to ${JSON.stringify(last)}, expected ${JSON.stringify([...expected].sort())}`,
  )
}

describe('channels', () => {
  it('gives the same Observable for the same name, another for another name', () => {
    const { db } = listener()
    expect(db.channel('orders')).toBe(db.channel('orders'))
    expect(db.channel('orders')).not.toBe(db.channel('Orders'))
  })

  it('refuses invalid names at once with a typed error', () => {
    const { db } = listener()
    expect(() => db.channel('')).toThrow(InvalidChannelNameError)
    expect(() => db.channel('x'.repeat(64))).toThrow(/64 bytes of UTF-8, over the limit of 63/)
    expect(() => db.channel('a\0b')).toThrow(/NUL/)
  })

  it('LISTENs on the first subscriber and UNLISTENs after the last one leaves', async () => {
    const { db, source } = listener()
    const first = db.channel('refcount').subscribe()
    const second = db.channel('refcount').subscribe()
    await stateOf(db, 'connected')
    await serverListensSettle(source, ['refcount'])
    first.unsubscribe()
    await serverListensSettle(source, ['refcount'])
    second.unsubscribe()
    await serverListensSettle(source, [])
    expect(source.changes).toEqual([
      { add: ['refcount'], remove: [] },
      { add: [], remove: ['refcount'] },
    ])
  })

  it('keeps the LISTEN set equal to the subscribed set through churn while LISTENs are in flight', async () => {
    const { db, source } = listener()
    const subscriptions = new Map<string, { unsubscribe(): void }>()
    // Synchronous churn: every change below happens while the first LISTEN batch is in flight.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) {
        const name = `churn-${i}`
        const existing = subscriptions.get(name)
        if (existing && (i + round) % 3 === 0) {
          existing.unsubscribe()
          subscriptions.delete(name)
        } else if (!existing) {
          subscriptions.set(name, db.channel(name).subscribe())
        }
      }
      await new Promise((resolve) => setTimeout(resolve, round))
    }
    await serverListensSettle(source, [...subscriptions.keys()])
    for (const subscription of subscriptions.values()) subscription.unsubscribe()
    await serverListensSettle(source, [])
  })

  it('routes by exact, case-sensitive name and sends every name quoted', async () => {
    const { db } = listener()
    const names = ['Orders', 'orders', 'order events', '"quoted"', 'ünïcødé', 'x; DROP TABLE t', 'ends with space ', "it's"]
    const received = names.map((name) => collect(db.channel(name)))
    await stateOf(db, 'connected')
    for (const name of names) await db.notify(name, `for ${name}`)
    await eventually(() => received.every((r) => r.values.length === 1), () => JSON.stringify(received.map((r) => r.values.length)))
    received.forEach((r, i) => expect(payloads(r.values)).toEqual([`for ${names[i]}`]))
    // Nothing was executed as SQL: the "table" is just a name.
    expect(await adminQuery(`SELECT to_regclass('t') AS t`)).toEqual([{ t: null }])
  })

  it('accepts a 63-byte name (multi-byte characters included) and a 7999-byte payload', async () => {
    const { db } = listener()
    const name = 'é'.repeat(31) + 'x' // 63 bytes of UTF-8
    const payload = '€'.repeat(2666) + 'x' // 7999 bytes of UTF-8
    const received = collect(db.channel(name))
    await stateOf(db, 'connected')
    await db.notify(name, payload)
    await eventually(() => received.values.length === 1, () => 'not received')
    expect(received.values[0]).toMatchObject({ channel: name, payload })
  })

  it('delivers in the order PostgreSQL delivered them, across channels, identical payloads included', async () => {
    const { db } = listener()
    const merged = collect(merge(db.channel('seq-a'), db.channel('seq-b')))
    await stateOf(db, 'connected')
    const sent: Array<[string, string]> = []
    for (let i = 0; i < 300; i++) sent.push([i % 3 === 0 ? 'seq-b' : 'seq-a', String(i % 7)])
    await Promise.all(sent.map(([channel, payload]) => db.notify(channel, payload)))
    await eventually(() => merged.values.length === sent.length, () => `received ${merged.values.length} of ${sent.length}`)
    expect(merged.values.map((n) => [n.channel, n.payload])).toEqual(sent)
  })

  it('a subscriber that throws disturbs no other subscriber, channel or the connection', async () => {
    const unhandled: unknown[] = []
    const previous = config.onUnhandledError
    config.onUnhandledError = (error) => void unhandled.push(error)
    try {
      const { db } = listener()
      db.channel('boom').subscribe(() => {
        throw new Error('subscriber bug')
      })
      const sameChannel = collect(db.channel('boom'))
      const otherChannel = collect(db.channel('calm'))
      const connected = await stateOf(db, 'connected')
      for (let i = 0; i < 3; i++) {
        await db.notify('boom', `b${i}`)
        await db.notify('calm', `c${i}`)
      }
      await eventually(() => sameChannel.values.length === 3 && otherChannel.values.length === 3, () => 'not all received')
      expect(payloads(sameChannel.values)).toEqual(['b0', 'b1', 'b2'])
      expect(payloads(otherChannel.values)).toEqual(['c0', 'c1', 'c2'])
      // RxJS reports each throw of a subscriber's callback through config.onUnhandledError; the others go on.
      await eventually(() => unhandled.length === 3, () => `${unhandled.length} unhandled errors`)
      expect(unhandled.map(String)).toEqual(Array(3).fill('Error: subscriber bug'))
      expect(sameChannel.errors).toEqual([])
      let current: unknown
      db.state$.subscribe((state) => (current = state)).unsubscribe()
      expect(current).toEqual(connected)
    } finally {
      config.onUnhandledError = previous
    }
  })

  it('stops delivering to a subscriber the moment it unsubscribes', async () => {
    const { db } = listener()
    const seen: PgNotification[] = []
    const keep = collect(db.channel('stop-now'))
    const subscription = db.channel('stop-now').subscribe((n) => {
      seen.push(n)
      subscription.unsubscribe()
    })
    await stateOf(db, 'connected')
    await Promise.all([db.notify('stop-now', '1'), db.notify('stop-now', '2'), db.notify('stop-now', '3')])
    await eventually(() => keep.values.length === 3, () => 'not received')
    expect(payloads(seen)).toEqual(['1'])
  })
})
