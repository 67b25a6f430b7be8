// A durable channel over SSE, end to end on a real PostgreSQL and real sockets, with the rxpg/browser client
// in Node: resume after any disconnection with nothing lost and nothing repeated, catch-ups that join the
// shared reader while appends go on, resets for positions that cannot be resumed, per-event authorization on
// replayed events.
import { filter, firstValueFrom, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { fromServerSentEvents, type ServerSentEvent } from '../../lib/browser/index.js'
import { durableSource } from '../../lib/sse/index.js'
import { eventually } from '../support/database.js'
import { durableFixture, horizonPassed, type DurableFixture } from '../support/durable.js'
import { startSseServer } from '../support/sse.js'

const Item = z.object({ n: z.number() })
const channels = { items: Item }
type ItemEvent = ServerSentEvent<typeof channels>
const fast = { backoff: { initialDelay: 5, maxDelay: 50, jitter: 0 } }

let fixture: DurableFixture
let expiring: DurableFixture
beforeAll(async () => {
  ;[fixture, expiring] = await Promise.all([
    durableFixture('sse_durable'),
    // One-second partitions and a size limit that drops every ended partition: tokens expire within seconds.
    durableFixture('sse_expiring', { retention: { partitionSpan: 1000, maxAge: null, maxBytes: 1, premake: 2 }, maintenanceInterval: false }),
  ])
})
afterAll(async () => {
  await fixture?.close()
  await expiring?.close()
})

const values = (events: ItemEvent[]) => events.flatMap((event) => (event.type === 'message' ? [event.value.n] : []))

describe('SSE on a durable channel', () => {
  it('delivers every message exactly once across 50 connections cut by the server while appends go on', async () => {
    const channel = `cut-${Date.now()}`
    const server = await startSseServer({ channels: { items: durableSource(fixture.log, channel, { from: 'earliest' }) } })
    const events = fromServerSentEvents(server.url, { channels, ...fast })
    const received: ItemEvent[] = []
    const subscription = events.subscribe((event) => void received.push(event))
    const total = 600
    let cuts = 0
    try {
      for (let n = 0; n < total; n++) {
        await fixture.log.append(channel, { n })
        // Cut every open connection from the server side now and then, mid-stream.
        if (n % 12 === 5) {
          for (const socket of server.sockets) socket.destroy()
          cuts++
        }
      }
      await eventually(() => values(received).length >= total, () => `${values(received).length} of ${total} received`, 30_000)
      expect(values(received)).toEqual(Array.from({ length: total }, (_, n) => n))
      expect(cuts).toBe(50)
      expect(server.endpoint.stats().opened).toBeGreaterThan(1)
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })

  it('carries several channels in one connection, each resuming exactly after its own position across cuts', async () => {
    const suffix = Date.now()
    const server = await startSseServer({
      channels: { items: durableSource(fixture.log, `multi-items-${suffix}`, { from: 'earliest' }), audit: durableSource(fixture.log, `multi-audit-${suffix}`, { from: 'earliest' }) },
    })
    const both = { items: Item, audit: Item }
    const events = fromServerSentEvents(server.url, { channels: both, ...fast })
    const received: Array<ServerSentEvent<typeof both>> = []
    const subscription = events.subscribe((event) => void received.push(event))
    const of = (channel: 'items' | 'audit') => received.flatMap((event) => (event.type === 'message' && event.channel === channel ? [event.value.n] : []))
    const total = 200
    let cuts = 0
    try {
      for (let n = 0; n < total; n++) {
        // The channels advance unevenly (audit at half the pace), so their positions differ at every cut.
        await fixture.log.append(`multi-items-${suffix}`, { n })
        if (n % 2 === 0) await fixture.log.append(`multi-audit-${suffix}`, { n: n / 2 })
        if (n % 20 === 7) {
          cuts += server.sockets.size
          for (const socket of server.sockets) socket.destroy()
        }
      }
      await eventually(() => of('items').length >= total && of('audit').length >= total / 2, () => `${of('items').length} items, ${of('audit').length} audit`, 30_000)
      expect(of('items')).toEqual(Array.from({ length: total }, (_, n) => n))
      expect(of('audit')).toEqual(Array.from({ length: total / 2 }, (_, n) => n))
      expect(received.filter((event) => event.type !== 'message')).toEqual([])
      // One connection carried both: the id holds each channel's position.
      expect(events.lastEventId).toMatch(/^(items=rxd1\.[^&]+&audit=rxd1\.[^&]+|audit=rxd1\.[^&]+&items=rxd1\.[^&]+)$/)
      expect(server.endpoint.stats().open).toBe(1)
      // A cut while the client was still reconnecting finds no socket: how many land depends on the machine's pace.
      expect(cuts).toBeGreaterThan(1)
      expect(server.endpoint.stats().opened).toBeGreaterThan(1)
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })

  it('lets clients resume from every kind of position while appends go on, each getting exactly the messages after it', async () => {
    const channel = `join-${Date.now()}`
    const server = await startSseServer({ channels: { items: durableSource(fixture.log, channel, { pageSize: 7, maxHeldWhileCatchingUp: 5 }) } })
    const tokens: string[] = []
    const appending = (async () => {
      for (let n = 0; n < 300; n++) tokens.push(await fixture.log.append(channel, { n }))
    })()
    // Clients arrive while the appends go on, each resuming after a token taken at a different moment (small
    // pages and a small hold force long catch-ups, and catch-ups that fall too far behind and join later).
    const clients: Array<{ after: number; received: ItemEvent[]; stop: () => void }> = []
    for (let round = 0; round < 12; round++) {
      await eventually(() => tokens.length > round * 20 + 1, () => 'appends are too slow')
      const after = Math.floor(tokens.length / 2)
      const received: ItemEvent[] = []
      const stream = fromServerSentEvents(server.url, { channels, lastEventId: tokens[after], ...fast })
      const subscription = stream.subscribe((event) => void received.push(event))
      clients.push({ after, received, stop: () => subscription.unsubscribe() })
    }
    await appending
    try {
      for (const client of clients) {
        const expected = Array.from({ length: 300 - client.after - 1 }, (_, index) => client.after + 1 + index)
        await eventually(
          () => values(client.received).length >= expected.length,
          () => `after ${client.after}: ${values(client.received).length} of ${expected.length}, missing ${JSON.stringify(expected.filter((n) => !values(client.received).includes(n)))}`,
        )
        expect(values(client.received)).toEqual(expected)
      }
    } finally {
      for (const client of clients) client.stop()
      await server.close()
    }
  })

  it('gives a reset, never a silent restart, for a token older than the retention or issued by another log, and goes on from a fresh start', { timeout: 60_000 }, async () => {
    const { log } = expiring
    const channel = `expiry-${Date.now()}`
    const server = await startSseServer({ channels: { items: durableSource(log, channel) } })
    try {
      // A position before a message that retention then drops: a client there missed it. Maintenance first makes
      // the one-second partitions of the coming seconds (the fixture's were made when it started), so the message
      // lands in one that ends, and is dropped, within seconds.
      const old = (await log.fetch(channel, { after: 'earliest' })).next
      await log.maintain()
      await log.append(channel, { n: -1 })
      // Readable first (another spec's transaction may hold the horizon), so "no message" below means dropped.
      await horizonPassed(expiring.url)
      await eventually(
        async () => (await log.maintain(), (await log.fetch(channel, { after: 'earliest' })).messages.length === 0),
        () => 'not dropped',
        30_000,
      )
      const foreign = await fixture.log.append('elsewhere', { n: 0 })
      for (const [token, reason] of [[old, 'expired'], [foreign, 'invalid'], ['garbage', 'invalid']] as const) {
        const stream = fromServerSentEvents(server.url, { channels, lastEventId: token, ...fast })
        const firstTwo = firstValueFrom(stream.pipe(take(2), toArray()))
        // The reset comes first; what is appended afterwards follows it.
        await firstValueFrom(stream.pipe(filter((event) => event.type === 'reset')))
          .then(() => log.append(channel, { n: 1 }))
          .catch(() => undefined)
        const [reset, next] = await firstTwo
        expect(reset).toMatchObject({ type: 'reset', channel: 'items', reason })
        expect(next).toMatchObject({ type: 'message', value: { n: 1 } })
      }
    } finally {
      await server.close()
    }
  })

  it('checks every event, replayed ones included, against the connection user', async () => {
    const channel = `owners-${Date.now()}`
    for (let n = 0; n < 20; n++) await fixture.log.append(channel, { n, owner: n % 2 === 0 ? 'ann' : 'bob' })
    await horizonPassed(fixture.url)
    const server = await startSseServer({
      channels: { items: durableSource(fixture.log, channel, { from: 'earliest' }) },
      authorize: (request) => ({ user: request.header('x-user') ?? '' }),
      canSee: (event, user) => (event.value.value as { owner: string }).owner === user,
    })
    try {
      const stream = fromServerSentEvents(server.url, { channels, headers: { 'x-user': 'ann' }, ...fast })
      const seen = await firstValueFrom(stream.pipe(take(10), toArray()))
      expect(values(seen)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18])
    } finally {
      await server.close()
    }
  })
})
