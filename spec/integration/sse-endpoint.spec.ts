// The endpoint as clients meet it: HTTP refusals, credentials that expire, the Web Response flavour, shutdown,
// and clients that stop reading, on real sockets and a real PostgreSQL.
import { connect } from 'node:net'
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { fromServerSentEvents, SseRequestFailedError, type EventStreamState, type ServerSentEvent } from '../../lib/browser/index.js'
import { createSseEndpoint, durableSource } from '../../lib/sse/index.js'
import { eventually } from '../support/database.js'
import { durableFixture, horizonPassed, type DurableFixture } from '../support/durable.js'
import { startSseServer } from '../support/sse.js'

const channels = { items: z.object({ n: z.number() }) }
const fast = { backoff: { initialDelay: 5, maxDelay: 50, jitter: 0 } }
const values = (events: Array<ServerSentEvent<typeof channels>>) => events.flatMap((event) => (event.type === 'message' ? [event.value.n] : []))

/** What a client's stream emits and which states it goes through, recorded as they come. */
function record(stream: ReturnType<typeof fromServerSentEvents<typeof channels>>) {
  const states: EventStreamState[] = []
  stream.state$.subscribe((state) => void states.push(state))
  const received: Array<ServerSentEvent<typeof channels>> = []
  const subscription = stream.subscribe((event) => void received.push(event))
  return { states, received, subscription }
}

/**
 * Appends `{ n }` for n = 0 … count - 1 to `channel`, `pauseMs` apart, then waits until every reader may see
 * them: other spec files share this server, and one of their transactions can hold the durable horizon back
 * (named if it never passes).
 */
async function appendNumbered(channel: string, count: number, pauseMs: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    await fixture.log.append(channel, { n })
    await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
  await horizonPassed(fixture.url)
}

let fixture: DurableFixture
beforeAll(async () => {
  fixture = await durableFixture('sse_endpoint')
})
afterAll(async () => {
  await fixture?.close()
})

describe('SSE endpoint', () => {
  it('refuses with 401, 403 and 404, and the client errors with what the server said', async () => {
    const server = await startSseServer({
      channels: { items: durableSource(fixture.log, 'refusals'), audit: durableSource(fixture.log, 'audit') },
      authorize: (request) => {
        const user = request.header('authorization')
        if (user === undefined) return { refuse: 401, message: 'Sign in first.', headers: { 'www-authenticate': 'Bearer' } }
        return { user, channels: ['items'] }
      },
    })
    try {
      const anonymous = await fetch(server.url)
      expect([anonymous.status, anonymous.headers.get('www-authenticate'), await anonymous.text()]).toEqual([401, 'Bearer', 'Sign in first.'])
      const forbidden = await fetch(`${server.url}?channel=audit`, { headers: { authorization: 'ann' } })
      expect([forbidden.status, await forbidden.text()]).toEqual([403, 'Not allowed to read: audit.'])
      const unknown = await fetch(`${server.url}?channel=nope`, { headers: { authorization: 'ann' } })
      // A 404 names what was asked for, not the channels the user may not read.
      expect([unknown.status, await unknown.text()]).toEqual([404, 'Unknown channel(s): nope.'])
      // Who is asking comes first: without a credential, an unknown channel is a 401 too, so channel names cannot be probed.
      const probing = await fetch(`${server.url}?channel=nope`)
      expect(probing.status).toBe(401)

      const stream = fromServerSentEvents(server.url, { channels, ...fast })
      const states: EventStreamState[] = []
      stream.state$.subscribe((state) => void states.push(state))
      const error = await firstValueFrom(stream).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(SseRequestFailedError)
      expect((error as SseRequestFailedError).info).toMatchObject({ reason: 'unauthorized', status: 401, detail: 'Sign in first.' })
      expect(states.map((state) => state.status)).toEqual(['closed', 'connecting', 'closed'])
      expect(states.at(-1)).toMatchObject({ status: 'closed', error: { code: 'SSE_REQUEST_FAILED' } })
      expect(server.endpoint.stats().refused).toBe(5)
    } finally {
      await server.close()
    }
  })

  it('ends a stream when its credential expires; the client reconnects at once with a fresh one and misses nothing', async () => {
    const channel = `expiry-${Date.now()}`
    let issued = 0
    const server = await startSseServer({
      channels: { items: durableSource(fixture.log, channel) },
      // A credential is `token-<expiry in ms since the epoch>`; each one lives 300 ms.
      authorize: (request) => {
        const expiresAt = Number(request.header('authorization')?.replace('token-', ''))
        return Number.isFinite(expiresAt) ? { user: 'ann', expiresAt } : { refuse: 401 }
      },
    })
    const stream = fromServerSentEvents(server.url, {
      channels,
      headers: () => ((issued += 1), { authorization: `token-${Date.now() + 300}` }),
      ...fast,
    })
    const { states, received, subscription } = record(stream)
    try {
      await eventually(() => states.some((state) => state.status === 'open'), () => 'never open')
      await appendNumbered(channel, 40, 25)
      await eventually(() => values(received).length >= 40, () => `${values(received).length} of 40`)
      expect(values(received)).toEqual(Array.from({ length: 40 }, (_, n) => n))
      const expiries = () => states.filter((state) => state.status === 'reconnecting' && state.cause.info.end === 'credential-expired')
      expect(expiries().length).toBeGreaterThan(0)
      expect(expiries().every((state) => state.status === 'reconnecting' && state.delay === 0)).toBe(true)
      // Every expiry was followed by a connection with a freshly issued credential, and the server counted each.
      // Credentials keep expiring meanwhile: wait for a moment between an expiry and the next (the reconnection
      // after one is immediate, so that is most moments).
      const counts = () => ({ issued, expiries: expiries().length, ended: server.endpoint.stats().ended['credential-expired'] })
      await eventually(
        () => ((now) => now.issued === now.expiries + 1 && now.ended === now.expiries)(counts()),
        () => JSON.stringify(counts()),
      )
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })

  it('ends streams cleanly at their maximum lifetime; the client comes back at once and misses nothing', async () => {
    const channel = `lifetime-${Date.now()}`
    const server = await startSseServer({ channels: { items: durableSource(fixture.log, channel) }, maxLifetime: 150 })
    const stream = fromServerSentEvents(server.url, { channels, ...fast })
    const { states, received, subscription } = record(stream)
    try {
      await eventually(() => states.some((state) => state.status === 'open'), () => 'never open')
      await appendNumbered(channel, 40, 20)
      await eventually(() => values(received).length >= 40 && server.endpoint.stats().ended.lifetime >= 2, () => `${values(received).length} of 40; ${JSON.stringify(server.endpoint.stats())}`)
      expect(values(received)).toEqual(Array.from({ length: 40 }, (_, n) => n))
      const ends = states.filter((state) => state.status === 'reconnecting' && state.cause.info.end === 'lifetime')
      expect(ends.length).toBeGreaterThan(0)
      expect(ends.every((state) => state.status === 'reconnecting' && state.delay === 0)).toBe(true)
      expect(received.filter((event) => event.type !== 'message')).toEqual([])
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })

  it('serves Web Responses (Hono, Next.js) with the same stream, resuming from the lastEventId parameter, and notices a cancelled body', async () => {
    const channel = `web-${Date.now()}`
    const first = await fixture.log.append(channel, { n: 1 })
    await fixture.log.append(channel, { n: 2 })
    await horizonPassed(fixture.url)
    const endpoint = createSseEndpoint({ channels: { items: durableSource(fixture.log, channel) } })
    const response = await endpoint.fetch(new Request(`http://bff.test/events?channel=items&lastEventId=${encodeURIComponent(first)}`))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(response.headers.get('x-accel-buffering')).toBe('no')
    const reader = response.body!.getReader()
    let text = ''
    while (!text.includes('"n":2')) text += new TextDecoder().decode((await reader.read()).value)
    expect(text).toMatch(/^retry: 1000\n\nid: rxd1\.[^\n]+\nevent: rxpg-ready\ndata: \{"channels":\["items"\]\}\n\nid: rxd1\.[^\n]+\nevent: items\ndata: \{"n":2\}\n\n/)
    expect(text).not.toContain('"n":1')
    await reader.cancel()
    expect(endpoint.stats()).toMatchObject({ open: 0, ended: { 'client-closed': 1 } })
    await endpoint.close()
    expect((await endpoint.fetch(new Request('http://bff.test/events'))).status).toBe(503)
  })

  it("reports the client open only once the stream knows where it starts: what is appended after 'open' arrives", async () => {
    const channel = `open-${Date.now()}`
    // The log, with its 'now' answered late (a busy server): the stream starts from whatever is newest then.
    const slowNow = {
      read: fixture.log.read.bind(fixture.log),
      fetch: ((name: string, options: { readonly after: string; readonly limit?: number }) =>
        options.after === 'now'
          ? new Promise((resolve) => setTimeout(resolve, 300)).then(() => fixture.log.fetch(name, options))
          : fixture.log.fetch(name, options)) as typeof fixture.log.fetch,
    }
    const server = await startSseServer({ channels: { items: durableSource(slowNow, channel) } })
    const events = fromServerSentEvents(server.url, { channels: { items: z.object({ n: z.number() }) }, backoff: { jitter: 0 } })
    const first = firstValueFrom(events.pipe(filter((event) => event.type === 'message')))
    try {
      await firstValueFrom(events.state$.pipe(filter((state: EventStreamState) => state.status === 'open')))
      await fixture.log.append(channel, { n: 1 })
      const arrived = await Promise.race([first, new Promise((resolve) => setTimeout(() => resolve('never arrived'), 5000))])
      expect(arrived).toMatchObject({ type: 'message', value: { n: 1 } })
    } finally {
      await server.close()
    }
  })

  it('answers a HEAD request (a health probe) with the stream headers and no stream, on Node and Web alike, after the same checks', async () => {
    const channel = `head-${Date.now()}`
    const channels = { items: durableSource(fixture.log, channel) }
    const server = await startSseServer({ channels })
    try {
      const node = await fetch(server.url, { method: 'HEAD' })
      expect(node.status).toBe(200)
      expect(node.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      expect((await fetch(`${server.url}?channel=nope`, { method: 'HEAD' })).status).toBe(404)
      expect(server.endpoint.stats()).toMatchObject({ open: 0, opened: 0 })
    } finally {
      await server.close()
    }
    // A Web framework (Hono) drops a HEAD response's body without cancelling it: a stream there was never ended.
    const endpoint = createSseEndpoint({ channels })
    const web = await endpoint.fetch(new Request('http://bff.test/events', { method: 'HEAD' }))
    expect(web.status).toBe(200)
    expect(web.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(web.body).toBeNull()
    expect(endpoint.stats()).toMatchObject({ open: 0, opened: 0 })
    await endpoint.close()
  })

  it('ends every stream on close() with a shutdown event whose retry spreads the reconnections', async () => {
    const server = await startSseServer({ channels: { items: durableSource(fixture.log, 'shutdown') }, shutdownSpread: 3000 })
    const streams = Array.from({ length: 5 }, () => fromServerSentEvents(server.url, { channels, ...fast }))
    const reconnecting = streams.map((stream) =>
      firstValueFrom(stream.state$.pipe(filter((state): state is Extract<EventStreamState, { status: 'reconnecting' }> => state.status === 'reconnecting'))),
    )
    const subscriptions = streams.map((stream) => stream.subscribe())
    try {
      await eventually(() => server.endpoint.stats().open === 5, () => `${server.endpoint.stats().open} open`)
      await server.close()
      const states = await Promise.all(reconnecting)
      for (const state of states) {
        expect(state.cause.info).toMatchObject({ reason: 'ended', end: 'shutdown' })
        expect(state.delay).toBeGreaterThanOrEqual(0)
        expect(state.delay).toBeLessThanOrEqual(3000)
      }
      expect(new Set(states.map((state) => state.delay)).size).toBeGreaterThan(1)
      expect(server.endpoint.stats().ended.shutdown).toBe(5)
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe()
    }
  })

  it('pauses a durable channel for a client that stops reading, then cuts it off, holding no more than the bound', async () => {
    const channel = `slow-${Date.now()}`
    // 200 values of 64 KiB: 13 MB, far more than the socket buffers take.
    await fixture.log.transaction(async (client) => {
      for (let n = 0; n < 200; n++) await fixture.log.append(channel, { n, pad: 'x'.repeat(64 * 1024) }, { client })
    })
    await horizonPassed(fixture.url)
    const bound = 256 * 1024
    const server = await startSseServer({ channels: { items: durableSource(fixture.log, channel, { from: 'earliest', pageSize: 50 }) }, maxBufferedBytes: bound, drainTimeout: 500 })
    try {
      const received = await rawClientThatStopsReading(server.url, 64 * 1024)
      await eventually(() => server.endpoint.stats().ended.slow === 1, () => JSON.stringify(server.endpoint.stats()))
      expect(received).toBeGreaterThanOrEqual(64 * 1024)
      // What one client held: at most the bound plus the frame that crossed it.
      expect(server.endpoint.stats().maxHeldBytes).toBeLessThanOrEqual(bound + 70 * 1024)
    } finally {
      await server.close()
    }
  })

  it('cuts off a client that stops reading a live-only channel once the bound is passed', async () => {
    const bound = 128 * 1024
    const server = await startSseServer({ channels: { flood: fixture.listener.channel(`flood-${process.pid}`) }, maxBufferedBytes: bound, drainTimeout: 60_000 })
    try {
      const reading = rawClientThatStopsReading(server.url, 1024)
      await eventually(() => server.endpoint.stats().open === 1, () => 'not open')
      const payload = 'y'.repeat(7000)
      for (let round = 0; round < 40 && server.endpoint.stats().ended.slow === 0; round++) {
        await Promise.all(Array.from({ length: 100 }, (_, index) => fixture.listener.notify(`flood-${process.pid}`, `${round}-${index}-${payload}`)))
      }
      await eventually(() => server.endpoint.stats().ended.slow === 1, () => JSON.stringify(server.endpoint.stats()))
      await reading
      expect(server.endpoint.stats().maxHeldBytes).toBeLessThanOrEqual(bound + 8 * 1024)
    } finally {
      await server.close()
    }
  })
})

/** Opens a stream over a raw socket, reads `bytes` of it, then stops reading (as a frozen tab does). Resolves with what it read. */
function rawClientThatStopsReading(url: string, bytes: number): Promise<number> {
  const { hostname, port, pathname } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n\r\n`))
    socket.setNoDelay(true)
    let read = 0
    socket.on('data', (chunk: Buffer) => {
      read += chunk.length
      if (read >= bytes) {
        socket.pause()
        resolve(read)
      }
    })
    socket.on('error', () => resolve(read))
    socket.on('close', () => resolve(read))
    setTimeout(() => reject(new Error('the raw client read nothing')), 30_000).unref()
  })
}
