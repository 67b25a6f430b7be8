import pg from 'pg'
import pgListen from 'pg-listen'
import { lastValueFrom, type Subscription } from 'rxjs'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import { pgSource } from '../../lib/pg/pg-source.js'
import { pgTransport } from '../../lib/pg/pg-transport.js'
import { pgListenSource } from '../../lib/pg-listen/index.js'
import type { ListenSession } from '../../lib/ports/notification-source.js'
import { databaseUrl, uniqueName } from '../support/database.js'
import { collect, payloads, stateOf } from '../support/listener.js'

const createSubscriber = pgListen.default

/**
 * pg queues a query issued while another runs on the same client, but that queue is deprecated and goes in
 * pg@9 ("Calling client.query() when the client is already executing a query"). rxpg must never rely on it:
 * every pg.Client it owns runs one query at a time. The real Client.query is wrapped (and still runs) to count
 * how many queries each client has in flight at once.
 */
let mostAtOnce = 0
beforeEach(() => {
  mostAtOnce = 0
  const inFlight = new WeakMap<object, number>()
  const realQuery = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown
  vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
    const now = (inFlight.get(this) ?? 0) + 1
    inFlight.set(this, now)
    mostAtOnce = Math.max(mostAtOnce, now)
    const done = () => inFlight.set(this, (inFlight.get(this) ?? 1) - 1)
    const result = realQuery.apply(this, args)
    if (result instanceof Promise) void result.then(done, done)
    return result as never
  } as never)
})
afterEach(() => {
  vi.restoreAllMocks()
})

describe('one query at a time on every pg client rxpg owns', () => {
  it('the listening session queues LISTEN changes and the channel check itself', async () => {
    // The session lives as long as the subscription to connect(): keep it until the end.
    let connection: Subscription | undefined
    const session = await new Promise<ListenSession>((resolve, reject) => {
      connection = pgSource(databaseUrl()).connect(Date.now).subscribe({ next: resolve, error: reject })
    })
    try {
      const channel = uniqueName('serial')
      const listened = lastValueFrom(session.changeListens([channel], []))
      const channels = lastValueFrom(session.listeningChannels())
      const more = lastValueFrom(session.changeListens([`${channel}-2`], []))
      await Promise.all([listened, more])
      // Issued after the LISTEN, so it sees it: the queue keeps call order.
      expect(await channels).toEqual([channel])
      expect(mostAtOnce).toBe(1)
    } finally {
      await session.end()
      connection?.unsubscribe()
    }
  })

  it('the sending connection queues batches that overlap', async () => {
    const transport = pgTransport(databaseUrl())
    try {
      const channel = uniqueName('serial-send')
      const sends = Array.from({ length: 5 }, (_, index) => lastValueFrom(transport.send([{ channel, payload: `p${index}` }]), { defaultValue: undefined }))
      await Promise.all(sends)
      expect(mostAtOnce).toBe(1)
    } finally {
      await transport.end()
    }
  })

  it('the pg-listen adapter sends its own LISTENs and probes one at a time on pg-listen\'s connection', async () => {
    const subscriber = createSubscriber({ connectionString: databaseUrl() }, { parse: (text) => text })
    await subscriber.connect()
    try {
      await using db = createPgListener(databaseUrl(), { source: pgListenSource(subscriber) })
      const name = uniqueName('serial-pg-listen')
      const values = Array.from({ length: 5 }, (_, index) => collect(db.channel(`${name}-${index}`)))
      await stateOf(db, 'connected')
      await db.notify(`${name}-4`, 'arrived')
      await vi.waitFor(() => expect(payloads(values[4]?.values ?? [])).toEqual(['arrived']))
      expect(mostAtOnce).toBe(1)
    } finally {
      await subscriber.close()
    }
  })

  it('a listener whose self-probe and first sends overlap still delivers everything in order', async () => {
    await using db = createPgListener(databaseUrl())
    const channel = uniqueName('serial-listener')
    const values = collect(db.channel(channel))
    for (let index = 0; index < 20; index++) void db.notify(channel, `n${index}`)
    await stateOf(db, 'connected')
    await db.notify(channel, 'last')
    await vi.waitFor(() => expect(values.values.length).toBe(21))
    expect(payloads(values.values)).toEqual([...Array.from({ length: 20 }, (_, index) => `n${index}`), 'last'])
    expect(mostAtOnce).toBe(1)
  })
})
