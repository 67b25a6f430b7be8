import { ReplaySubject, type Observable, type SchedulerLike } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { CursorExpiredError } from '../lib/durable/index.js'
import { ConnectionLostError, type ListenerState } from '../lib/index.js'
import { liveSource, resumableSource, type SourceItem, type SseSource } from '../lib/sse/index.js'
import { FrameCache } from '../lib/sse/frame-cache.js'
import { StreamSession, type SessionOptions, type StreamSummary } from '../lib/sse/stream-session.js'
import { runMarbles } from '../lib/testing/index.js'
import { MAX_TIMER_MS } from '../lib/timer-limit.js'
import { MemoryTransport } from '../spec/support/memory-transport.js'

// One client's stream in virtual time: what is written when, on a transport that holds what it is given. Frames
// are drawn by name (see describeFrames): r retry, k ready, h heartbeat, x reset, z end, letters for events.

interface Started {
  readonly transport: MemoryTransport
  readonly ends: StreamSummary[]
  readonly session: StreamSession
}

function startStream(
  scheduler: SchedulerLike,
  channels: Record<string, SseSource<unknown>>,
  options: Partial<SessionOptions> & { readonly capacity?: number } = {},
): Started {
  const transport = new MemoryTransport(options.capacity)
  const ends: StreamSummary[] = []
  const session = new StreamSession(transport.factory, {
    channels: Object.entries(channels).map(([name, source]) => ({ name, source, frames: new FrameCache(name, source) })),
    lastEventId: undefined,
    canSee: undefined,
    heartbeat: false,
    retry: 1000,
    maxLifetime: false,
    expiresAt: undefined,
    revoked: undefined,
    maxBufferedBytes: 64 * 1024,
    drainTimeout: 1000,
    scheduler,
    onError: () => undefined,
    onEnd: (summary) => void ends.push(summary),
    ...options,
  })
  session.start()
  return { transport, ends, session }
}

/** A resumable source drawn per position: `draw(from)` is what `open(from)` gives. */
function drawnResumable(draw: (from: string | undefined) => Observable<SourceItem<string>>): SseSource<string> {
  return { resumable: true, open: draw, data: (value) => value, isReset: resumableSource({ open: () => draw(undefined) as never, token: String }).isReset! }
}

const ready = (id: string, channels = '"orders"') => `rxpg-ready:{"channels":[${channels}]}@${id}`

describe('SSE stream', () => {
  it('starts with retry and ready, heartbeats while quiet, and writes events as they come', () =>
    runMarbles(({ hot, expectObservable, scheduler }) => {
      const prices = hot('- 14ms a', { a: { channel: 'prices', payload: '{"p":1}', processId: 1, receivedAt: 0 } })
      const { transport } = startStream(scheduler, { prices: liveSource(prices) }, { heartbeat: 10 })
      scheduler.schedule(() => transport.close(), 30)
      expectObservable(transport.frames$).toBe('(rk) 6ms h 4ms a 9ms h 4ms |', {
        r: 'retry:1000',
        k: ready('prices=', '"prices"'),
        h: 'heartbeat',
        a: 'prices:{"p":1}@prices=',
      })
    }))

  it('ends with an end event at the maximum lifetime, and when the credential expires', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions, scheduler }) => {
      const lifetime = cold('-')
      const first = startStream(scheduler, { prices: liveSource(lifetime) }, { maxLifetime: 10 })
      expectObservable(first.transport.frames$).toBe('(rk) 6ms (z|)', { r: 'retry:1000', k: ready('prices=', '"prices"'), z: 'rxpg-end:{"reason":"lifetime"}@prices=' })
      expectSubscriptions(lifetime.subscriptions).toBe('^ 9ms !')

      const credential = cold('-')
      const second = startStream(scheduler, { prices: liveSource(credential) }, { expiresAt: 4, maxLifetime: 10 })
      expectObservable(second.transport.frames$).toBe('(rk)(z|)', { r: 'retry:1000', k: ready('prices=', '"prices"'), z: 'rxpg-end:{"reason":"credential-expired"}@prices=' })
      expectSubscriptions(credential.subscriptions).toBe('^---!')
    }))

  it('waits for a credential valid for 30 days in steps a timer can wait, and ends at the millisecond it expires', () => {
    const days = 24 * 60 * 60 * 1000
    const expiresAt = 30 * days
    let longest = 0
    runMarbles(
      ({ cold, expectObservable, scheduler }) => {
        // Every delay the session asks for, recorded: Node would run one above MAX_TIMER_MS after 1 ms.
        const timers: SchedulerLike = {
          now: () => scheduler.now(),
          schedule: (work, delay, state) => {
            longest = Math.max(longest, delay ?? 0)
            return scheduler.schedule(work as never, delay, state)
          },
        }
        const { transport } = startStream(timers, { prices: liveSource(cold('-')) }, { expiresAt })
        expectObservable(transport.frames$).toBe(`(rk) ${expiresAt - 4}ms (z|)`, { r: 'retry:1000', k: ready('prices=', '"prices"'), z: 'rxpg-end:{"reason":"credential-expired"}@prices=' })
      },
      { maxVirtualTime: 31 * days },
    )
    expect(longest).toBeLessThanOrEqual(MAX_TIMER_MS)
  })

  it('ends at once when the access is revoked', () =>
    runMarbles(({ cold, hot, expectObservable, scheduler }) => {
      const { transport } = startStream(scheduler, { prices: liveSource(cold('-')) }, { revoked: hot('----x') })
      expectObservable(transport.frames$).toBe('(rk)(z|)', { r: 'retry:1000', k: ready('prices=', '"prices"'), z: 'rxpg-end:{"reason":"revoked"}@prices=' })
    }))

  it('resumes a resumable channel from the id, and resets it (never a silent restart) when the id is too old', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = drawnResumable((from) =>
        from === 'old'
          ? cold('#', {}, new CursorExpiredError({ channel: 'orders', token: 'old' }))
          : cold('p 5ms a', { p: { position: 't0' }, a: { value: 'A', token: 't1' } }),
      )
      const { transport } = startStream(scheduler, { orders: source }, { lastEventId: 'old' })
      // The source fails when it is first read (after the ready event, which still says where the client asked to start).
      expectObservable(transport.frames$).toBe('(rkx) 1ms a', {
        r: 'retry:1000',
        k: ready('old'),
        x: 'rxpg-reset:{"channel":"orders","reason":"expired"}@t0',
        a: 'orders:A@t1',
      })
    }))

  it('tells a reconnecting client what a live-only channel may have missed', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const orders = drawnResumable((from) => cold('- 4ms a', { a: { value: 'A', token: `${from}+1` } }))
      const { transport } = startStream(scheduler, { orders, prices: liveSource(cold('-')) }, { lastEventId: 'orders=t5&prices=' })
      expectObservable(transport.frames$).toBe('(rkx)a', {
        r: 'retry:1000',
        k: ready('orders=t5&prices=', '"orders","prices"'),
        x: 'rxpg-reset:{"channel":"prices","reason":"live-only"}@orders=t5&prices=',
        a: 'orders:A@orders=t5%2B1&prices=',
      })
    }))

  it("tells every open stream when the listener a live-only channel comes from loses its connection, before anything from after it (not for a gap of before)", () =>
    runMarbles(({ hot, expectObservable, scheduler, virtualListener }) => {
      const before: ListenerState = { status: 'connected', processId: 1, gap: { since: 0, duration: 5 } }
      const state = hot<ListenerState>('c 9ms r 4ms g 9ms G', {
        c: before,
        r: { status: 'reconnecting', attempt: 1, delay: 0, lastError: new ConnectionLostError({ systemCode: 'ECONNRESET', detail: 'lost' }) },
        g: { status: 'connected', processId: 2, gap: { since: 10, duration: 5 } },
        G: { status: 'connected', processId: 3, gap: { since: 20, duration: 5 } },
      })
      // b arrives at 13, once the new connection LISTENs and before the listener reports it connected (at 15,
      // after its self-probe): the reset must come before it, so it is sent when the connection is lost.
      const db = virtualListener({ state, channels: { prices: hot('- 12ms b 16ms a', { a: '{"p":1}', b: '{"p":0}' }) } })
      const reset = 'rxpg-reset:{"channel":"prices","reason":"live-only"}@prices='
      const values = { r: 'retry:1000', k: ready('prices=', '"prices"'), x: reset, a: 'prices:{"p":1}@prices=', b: 'prices:{"p":0}@prices=' }
      // Opened at 5, once the listener stands at a connection that followed a gap: that one is no news to it.
      const frames = new ReplaySubject<string>()
      scheduler.schedule(() => {
        const { transport } = startStream(scheduler, { prices: liveSource(db.channel('prices'), { listener: db }) })
        transport.frames$.subscribe(frames)
        scheduler.schedule(() => transport.close(), 35)
      }, 5)
      expectObservable(frames).toBe('5ms (rk) 1ms x 2ms b 11ms x 4ms a 9ms |', values)
    }))

  it('tells a stream opened while the listener reconnects when the listener reports the gap', () =>
    runMarbles(({ hot, expectObservable, scheduler, virtualListener }) => {
      const state = hot<ListenerState>('c 9ms r 9ms g', {
        c: { status: 'connected', processId: 1 },
        r: { status: 'reconnecting', attempt: 1, delay: 0, lastError: new ConnectionLostError({ systemCode: 'ECONNRESET', detail: 'lost' }) },
        g: { status: 'connected', processId: 2, gap: { since: 10, duration: 10 } },
      })
      const db = virtualListener({ state, channels: { prices: hot('- 24ms a', { a: '{"p":1}' }) } })
      const reset = 'rxpg-reset:{"channel":"prices","reason":"live-only"}@prices='
      // Opened at 11: what was sent between then and the reconnection at 20 is lost to it.
      const frames = new ReplaySubject<string>()
      scheduler.schedule(() => {
        const { transport } = startStream(scheduler, { prices: liveSource(db.channel('prices'), { listener: db }) })
        transport.frames$.subscribe(frames)
        scheduler.schedule(() => transport.close(), 19)
      }, 11)
      expectObservable(frames).toBe('11ms (rk) 5ms x 4ms a 4ms |', { r: 'retry:1000', k: ready('prices=', '"prices"'), x: reset, a: 'prices:{"p":1}@prices=' })
    }))

  it("writes the ready event's id as the position before the first event, for a channel that starts with one (a fresh start from the earliest)", () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const orders = drawnResumable(() => cold('a----b', { a: { value: 'A', token: 't1' }, b: { value: 'B', token: 't2' } }))
      const { transport } = startStream(scheduler, { orders })
      scheduler.schedule(() => transport.close(), 8)
      // A client cut off right after the ready event resumes with its id: it must not be t1, or A is skipped.
      expectObservable(transport.frames$).toBe('(rka) b--|', { r: 'retry:1000', k: ready(''), a: 'orders:A@t1', b: 'orders:B@t2' })
    }))

  // A trial served a table change feed from 'now' through resumableSource: on a quiet table no ready event ever
  // came (no position before the first change), the client never opened, and a reconnection started afresh,
  // missing what changed meanwhile.
  it('starts a fresh stream of a resumableSource with start at that position: ready at once, and read after it', () => {
    const opened: Array<string | undefined> = []
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const orders = resumableSource({
        open: (from) => {
          opened.push(from)
          return cold('----a', { a: 'A' })
        },
        token: (value: string) => `after-${value}`,
        start: () => 't0',
      })
      const { transport } = startStream(scheduler, { orders })
      scheduler.schedule(() => transport.close(), 8)
      expectObservable(transport.frames$).toBe('(rk) a---|', { r: 'retry:1000', k: ready('t0'), a: 'orders:A@after-A' })
    })
    expect(opened).toEqual(['t0'])
  })

  it('skips what the user may not see, and the next id covers it', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const orders = drawnResumable(() => cold('----abc', { a: { value: 'mine', token: 't1' }, b: { value: 'theirs', token: 't2' }, c: { value: 'mine', token: 't3' } }))
      const { transport } = startStream(scheduler, { orders }, { lastEventId: 't0', canSee: (_channel, value) => value === 'mine' })
      expectObservable(transport.frames$).toBe('(rk)a-c', { r: 'retry:1000', k: ready('t0'), a: 'orders:mine@t1', c: 'orders:mine@t3' })
    }))

  it('keeps back an event whose canSee throws (fail closed), reports it to onError, and goes on', () => {
    const reported: unknown[] = []
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const orders = drawnResumable(() => cold('----abc', { a: { value: 'mine', token: 't1' }, b: { value: 'null', token: 't2' }, c: { value: 'mine', token: 't3' } }))
      const canSee = (_channel: string, value: unknown) => {
        if (value === 'null') throw new TypeError("Cannot read properties of null (reading 'tenant')")
        return true
      }
      const { transport } = startStream(scheduler, { orders }, { lastEventId: 't0', canSee, onError: (error) => void reported.push(error) })
      expectObservable(transport.frames$).toBe('(rk)a-c', { r: 'retry:1000', k: ready('t0'), a: 'orders:mine@t1', c: 'orders:mine@t3' })
    })
    expect(reported).toEqual([new TypeError("Cannot read properties of null (reading 'tenant')")])
  })

  it("resets a live-only channel given an id that is not its stream's (a token, another stream's id): it may have missed events", () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const { transport } = startStream(scheduler, { prices: liveSource(cold('------a', { a: 'P' })) }, { lastEventId: 'rxd1.c4075c36cc.1.3761.1634' })
      expectObservable(transport.frames$).toBe('(rkx)-a', {
        r: 'retry:1000',
        k: ready('prices=', '"prices"'),
        x: 'rxpg-reset:{"channel":"prices","reason":"invalid"}@prices=',
        a: 'prices:P@prices=',
      })
    }))

  it('takes a Last-Event-ID with CR, LF or NUL for no position of this stream: an invalid reset, and nothing of it written', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const orders = drawnResumable(() => cold('p-----a', { p: { position: 't0' }, a: { value: 'A', token: 't1' } }))
      const forged = 'rxd1.0\n\nid: x\nevent: orders\ndata: forged\n\n'
      const { transport } = startStream(scheduler, { orders }, { lastEventId: forged })
      const reset = 'rxpg-reset:{"channel":"orders","reason":"invalid"}@t0'
      expectObservable(transport.frames$).toBe('(rkx)-a', { r: 'retry:1000', k: ready('t0'), x: reset, a: 'orders:A@t1' })
    }))

  it("ends the stream with an error, reported to onError, when a source's token could not be an id (CR, LF or NUL)", () => {
    const reported: unknown[] = []
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const orders = drawnResumable(() => cold('p---a', { p: { position: 't0' }, a: { value: 'A', token: 't1\nevent: x' } }))
      const { transport } = startStream(scheduler, { orders }, { onError: (error) => void reported.push(error) })
      expectObservable(transport.frames$).toBe('(rk)(e|)', { r: 'retry:1000', k: ready('t0'), e: 'rxpg-end:{"reason":"error"}@t0' })
    })
    expect(reported).toEqual([new TypeError('rxpg/sse: channel orders gave the token "t1\\nevent: x", which cannot be an SSE id: a token holds no CR, LF or NUL')])
  })

  it('pauses a resumable channel for a client that does not read, and opens it again from its position once drained', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions, scheduler }) => {
      const fresh = cold('p----abc', { p: { position: 't0' }, a: { value: 'A', token: 't1' }, b: { value: 'B', token: 't2' }, c: { value: 'C', token: 't3' } })
      const resumed = cold('-----c', { c: { value: 'C', token: 't3' } })
      const orders = drawnResumable((from) => (from === undefined ? fresh : resumed))
      // The transport says to wait once it holds 100 bytes (after B); the bound is 250, so B also passes half of it.
      const { transport } = startStream(scheduler, { orders }, { capacity: 100, maxBufferedBytes: 250 })
      scheduler.schedule(() => transport.drain(), 10)
      scheduler.schedule(() => transport.close(), 20)
      expectObservable(transport.frames$).toBe('(rk)-ab 8ms c 4ms |', { r: 'retry:1000', k: ready('t0'), a: 'orders:A@t1', b: 'orders:B@t2', c: 'orders:C@t3' })
      expectSubscriptions(fresh.subscriptions).toBe('^-----!')
      expectSubscriptions(resumed.subscriptions).toBe('10ms ^---------!')
    }))

  it('cuts off a client whose live-only channel fills the bound, and one that takes nothing for drainTimeout', () => {
    const ends = runMarbles(({ hot, cold, expectObservable, expectSubscriptions, scheduler }) => {
      const prices = hot('--abcdefgh', Object.fromEntries([...'abcdefgh'].map((letter) => [letter, 'x'.repeat(40)])))
      const live = startStream(scheduler, { prices: liveSource(prices) }, { capacity: 1, maxBufferedBytes: 200 })
      // retry (13 bytes) fills the transport; ready (63) and each event (74) wait: B takes the queue past 200,
      // and C, arriving while it is past, cuts the client off (C is not queued: the bound plus one event).
      expectObservable(live.transport.frames$).toBe('r---#', { r: 'retry:1000' }, new Error('destroyed'))
      expectSubscriptions(prices.subscriptions).toBe('^---!')

      const quiet = cold('-')
      const stuck = startStream(scheduler, { prices: liveSource(quiet) }, { capacity: 1, drainTimeout: 10 })
      expectObservable(stuck.transport.frames$).toBe('r 9ms #', { r: 'retry:1000' }, new Error('destroyed'))
      expectSubscriptions(quiet.subscriptions).toBe('^ 9ms !')
      return [live.ends, stuck.ends]
    })
    expect(ends.flat().map((end) => end.reason)).toEqual(['slow', 'slow'])
    expect(ends[0]![0]!.maxHeldBytes).toBeLessThanOrEqual(200 + 74)
  })

  it('writes a live event larger than the bound whole to a client that reads it, and cuts off one that is still held when the next comes', () => {
    const big = 'x'.repeat(1000)
    const ends = runMarbles(({ hot, expectObservable, scheduler }) => {
      const prices = hot('-----a--b', { a: big, b: 'small' })
      const reading = startStream(scheduler, { prices: liveSource(prices) }, { capacity: 100, maxBufferedBytes: 200 })
      scheduler.schedule(() => reading.transport.drain(), 6)
      scheduler.schedule(() => reading.transport.close(), 12)
      expectObservable(reading.transport.frames$).toBe('(rk)-a--b---|', { r: 'retry:1000', k: ready('prices=', '"prices"'), a: `prices:${big}@prices=`, b: 'prices:small@prices=' })

      const others = hot('-----a--b', { a: big, b: 'small' })
      const stuck = startStream(scheduler, { prices: liveSource(others) }, { capacity: 100, maxBufferedBytes: 200 })
      expectObservable(stuck.transport.frames$).toBe('(rk)-a--#', { r: 'retry:1000', k: ready('prices=', '"prices"'), a: `prices:${big}@prices=` }, new Error('destroyed'))
      return [reading.ends, stuck.ends]
    })
    expect(ends.map((each) => each.map((end) => end.reason))).toEqual([['client-closed'], ['slow']])
  })

  it('ends every subscription at once when the client goes away', () =>
    runMarbles(({ cold, expectSubscriptions, scheduler }) => {
      const orders = cold('-')
      const prices = cold('-')
      const { transport } = startStream(scheduler, { orders: drawnResumable(() => orders as never), prices: liveSource(prices) })
      scheduler.schedule(() => transport.close(), 3)
      expectSubscriptions(orders.subscriptions).toBe('^--!')
      expectSubscriptions(prices.subscriptions).toBe('^--!')
    }))
})
