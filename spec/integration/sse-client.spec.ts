// rxpg/browser's connection loop against small real HTTP servers that misbehave: a server that keeps
// answering 503, one that answers 200 with a page that is not an event stream, and one that goes silent.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { filter, firstValueFrom, take, toArray, type Observable } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { fromServerSentEvents, SseRequestFailedError, type EventStreamState } from '../../lib/browser/index.js'
import { eventually } from '../support/database.js'

async function serve(handler: http.RequestListener): Promise<{ url: string; requests: http.IncomingMessage[]; close(): Promise<void> }> {
  const requests: http.IncomingMessage[] = []
  const server = http.createServer((request, response) => {
    requests.push(request)
    handler(request, response)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    requests,
    close: () => (server.closeAllConnections(), new Promise((resolve) => server.close(() => resolve(undefined)))),
  }
}

const channels = { ticks: (input: unknown) => ({ _tag: 'Right' as const, right: input }) }

/** The first `count` reconnecting states of a stream (subscribe to the stream after calling this). */
function firstReconnections(events: { readonly state$: Observable<EventStreamState> }, count: number) {
  return firstValueFrom(
    events.state$.pipe(
      filter((state): state is Extract<EventStreamState, { status: 'reconnecting' }> => state.status === 'reconnecting'),
      take(count),
      toArray(),
    ),
  )
}

describe('rxpg/browser connection loop', () => {
  it('retries a server that answers 503 with a growing back-off, and says why on state$', async () => {
    const server = await serve((_request, response) => response.writeHead(503).end('busy'))
    const events = fromServerSentEvents(server.url, { channels, backoff: { initialDelay: 10, factor: 2, maxDelay: 1000, jitter: 0 } })
    const reconnecting = firstReconnections(events, 4)
    const subscription = events.subscribe()
    try {
      const states = await reconnecting
      expect(states.map((state) => [state.attempt, state.delay])).toEqual([
        [1, 10],
        [2, 20],
        [3, 40],
        [4, 80],
      ])
      expect(states[0]!.cause.info).toMatchObject({ reason: 'server-error', status: 503, detail: 'busy' })
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })

  it('grows the back-off while streams end in an error, a reset or a ready event without delivering anything (a source that cannot open)', async () => {
    // What an endpoint whose database is down writes: the stream opens, then ends at once with an error.
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.end(
        'retry: 1000\n\nevent: rxpg-ready\ndata: {"channels":["ticks"]}\n\nevent: rxpg-reset\ndata: {"channel":"ticks","reason":"live-only"}\n\n' +
          'event: rxpg-end\ndata: {"reason":"error"}\n\n',
      )
    })
    const events = fromServerSentEvents(server.url, { channels, backoff: { initialDelay: 10, factor: 2, maxDelay: 1000, jitter: 0 } })
    const reconnecting = firstReconnections(events, 4)
    const subscription = events.subscribe()
    try {
      expect((await reconnecting).map((state) => [state.attempt, state.delay])).toEqual([
        [1, 10],
        [2, 20],
        [3, 40],
        [4, 80],
      ])
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })

  it('starts the back-off again after a stream that delivered an event or a heartbeat', async () => {
    let request = 0
    const server = await serve((_request, response) => {
      request += 1
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      // Odd requests deliver (an event, then a heartbeat), even ones end at once with an error.
      const body = request % 4 === 1 ? 'event: ticks\ndata: 1\n\n' : request % 4 === 3 ? ':\n\n' : ''
      response.end(body + 'event: rxpg-end\ndata: {"reason":"error"}\n\n')
    })
    const events = fromServerSentEvents(server.url, { channels, backoff: { initialDelay: 10, factor: 2, maxDelay: 1000, jitter: 0 } })
    const reconnecting = firstReconnections(events, 4)
    const subscription = events.subscribe()
    try {
      expect((await reconnecting).map((state) => state.attempt)).toEqual([1, 2, 1, 2])
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })

  it('stops with a typed error on a 200 that is not an event stream (a login page), instead of looping', async () => {
    const server = await serve((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<form>sign in</form>'))
    try {
      const error = await firstValueFrom(fromServerSentEvents(server.url, { channels })).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(SseRequestFailedError)
      expect((error as SseRequestFailedError).info).toMatchObject({ reason: 'not-event-stream', status: 200 })
      expect(server.requests).toHaveLength(1)
    } finally {
      await server.close()
    }
  })

  it('replaces a stream that goes silent (a buffering proxy), and a request never answered, resuming with the last id', async () => {
    let request = 0
    const server = await serve((_request, response) => {
      request++
      if (request === 2) return // never answered
      response.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders()
      if (request === 1) response.write('id: 7\nevent: ticks\ndata: 1\n\n') // then nothing, not even a heartbeat
    })
    const events = fromServerSentEvents(server.url, { channels, silenceTimeout: 200, backoff: { initialDelay: 10, jitter: 0 } })
    const silence = firstValueFrom(events.state$.pipe(filter((state) => state.status === 'reconnecting')))
    const subscription = events.subscribe()
    try {
      expect(await silence).toMatchObject({ cause: { info: { reason: 'silence' } } })
      // state$ replays the first silence; the second is the request never answered.
      const silences = firstValueFrom(events.state$.pipe(filter((state) => state.status === 'reconnecting'), take(2), toArray()))
      expect((await silences).map((state) => state.status === 'reconnecting' && state.cause.info.reason)).toEqual(['silence', 'silence'])
      // The third request is answered with headers and nothing else: not open (no rxpg-ready), but asked.
      await eventually(() => server.requests.length >= 3, () => `${server.requests.length} requests`)
      expect(server.requests.map((each) => each.headers['last-event-id'])).toEqual([undefined, '7', '7'])
    } finally {
      subscription.unsubscribe()
      await server.close()
    }
  })
})
