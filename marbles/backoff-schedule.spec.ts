/**
 * The reconnect schedule, drawn. One frame is one millisecond. Jitter is off (`random: () => 0` makes every
 * delay its nominal value) except where a diagram is about jitter.
 *
 * Defaults: after losing a working connection the first attempt is made at once; then 100 ms before the next,
 * doubling, capped at 2000 ms, for as long as it takes. When the very first connection fails, the first retry
 * waits 100 ms.
 *
 * Letters: i idle, c/d/e/… connecting (attempt 1/2/3/…), k/K connected, digits 1/2/3/… reconnecting (attempt).
 */
import { filter, map } from 'rxjs'
import { describe, it } from 'vitest'
import { ConnectionLostError } from '../lib/index.js'
import { runMarbles, virtualSource, type VirtualSessionScript } from '../lib/testing/index.js'
import { connected, connecting, reconnecting, refusedByNetwork, virtualPgListener } from './support/lifecycle.js'

const resetByPeer = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
const lostByReset = new ConnectionLostError({ systemCode: 'ECONNRESET', detail: 'read ECONNRESET' })

describe('backoff schedule', () => {
  it('after a lost connection, retries at once, then waits 100, 200, 400, 800 and 1600 ms, then 2000 ms for every later attempt', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // Connection 1 opens at 2 and is lost at 5; the next six attempts are refused; the eighth connects.
      const lostAfter3: VirtualSessionScript = { processId: 101, notifications: cold('---#', undefined, resetByPeer) }
      const refused = cold<VirtualSessionScript>('-#', undefined, refusedByNetwork())
      const back = cold('-s', { s: { processId: 108 } })
      const source = virtualSource([cold('-s', { s: lostAfter3 }), refused, refused, refused, refused, refused, refused, back])
      const db = virtualPgListener(source, scheduler)

      expectObservable(db.channel('orders'), '-^').toBe('--')
      const retriesAndConnections = db.state$.pipe(filter((state) => state.status === 'reconnecting' || state.status === 'connected'))
      expectObservable(retriesAndConnections).toBe('--k--12 100ms 3 200ms 4 400ms 5 800ms 6 1600ms 7 2000ms K', {
        k: connected(101),
        1: reconnecting(1, 0, lostByReset),
        2: reconnecting(2, 100),
        3: reconnecting(3, 200),
        4: reconnecting(4, 400),
        5: reconnecting(5, 800),
        6: reconnecting(6, 1600),
        7: reconnecting(7, 2000),
        // Connection 101 last heard from the server at 2 (its LISTEN answer).
        K: connected(108, { since: 2, duration: 5110 }),
      })
      expectObservable(source.connects$).toBe('-1---2 100ms 3 200ms 4 400ms 5 800ms 6 1600ms 7 2000ms 8', {
        1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8,
      })
    }))

  it('numbers the attempts of one outage 1, 2, 3, … and reports each as connecting', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const refusedAfter4 = cold<VirtualSessionScript>('----#', undefined, refusedByNetwork())
      const source = virtualSource([cold('-s', { s: { processId: 101, notifications: cold('--#', undefined, resetByPeer) } }), refusedAfter4, cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders')).toBe('-')
      // Lost at 3: reconnecting and connecting at once (one frame, drawn as a group); refused at 7; the next
      // attempt 100 ms later connects.
      expectObservable(db.state$, '^ 110ms !').toBe('ck-(1c)2 99ms dK', {
        c: connecting(1),
        k: connected(101),
        1: reconnecting(1, 0, lostByReset),
        2: reconnecting(2, 100),
        d: connecting(2),
        K: connected(103, { since: 1, duration: 107 }),
      })
    }))

  it('never gives up: after ten minutes of refusals it connects at the first attempt once the server is back', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const serverBack = 600_000
      const source = virtualSource((attempt) => {
        if (attempt === 1) return cold('-s', { s: { processId: 101, notifications: cold('--#', undefined, resetByPeer) } })
        if (scheduler.now() < serverBack) return cold<VirtualSessionScript>('-#', undefined, refusedByNetwork())
        return cold('-s', { s: { processId: 100 + attempt } })
      })
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders')).toBe('-')

      // Last heard from at 1, lost at 3; 304 refused connects later (the first at once, the last ones 2001 ms
      // apart), the first one made after the server is back, number 306, succeeds.
      const outcomes = db.state$.pipe(filter((state) => state.status === 'connected' || state.status === 'failed'))
      expectObservable(outcomes).toBe('-k 601406ms K', {
        k: connected(101),
        K: connected(406, { since: 1, duration: 601407 }),
      })
    }))

  it('with the most jitter, waits half of each nominal delay', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const refused = cold<VirtualSessionScript>('-#', undefined, refusedByNetwork())
      const source = virtualSource([cold('-s', { s: { notifications: cold('--#', undefined, resetByPeer) } }), refused, refused, cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { reconnect: { random: () => 0.999_999 } })
      expectObservable(db.channel('orders')).toBe('-')

      const delays = db.state$.pipe(
        filter((state) => state.status === 'reconnecting'),
        map((state) => state.delay),
      )
      // The first attempt after the loss does not wait; the next ones wait half of 100 and 200 ms.
      expectObservable(delays).toBe('---ab 50ms c', { a: 0, b: 50, c: 100 })
    }))

  it('starts the schedule again after a connection succeeds', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const lostAfter2 = cold('--#', undefined, resetByPeer)
      const source = virtualSource([
        cold('-s', { s: { notifications: lostAfter2 } }),
        cold<VirtualSessionScript>('-#', undefined, refusedByNetwork()),
        cold('-s', { s: { notifications: lostAfter2 } }),
        cold('-s', { s: {} }),
      ])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders')).toBe('-')

      const retries = db.state$.pipe(
        filter((state) => state.status === 'reconnecting'),
        map((state) => `attempt ${state.attempt} after ${state.delay} ms`),
      )
      expectObservable(retries).toBe('---ab 102ms c', { a: 'attempt 1 after 0 ms', b: 'attempt 2 after 100 ms', c: 'attempt 1 after 0 ms' })
    }))

  it('abandons a connection attempt that hangs after connectTimeout, and retries', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions, scheduler }) => {
      const hangs = cold<VirtualSessionScript>('-')
      const source = virtualSource([cold('-s', { s: { notifications: cold('--#', undefined, resetByPeer) } }), hangs, cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { connectTimeout: 10_000 })
      expectObservable(db.channel('orders'), '-^').toBe('-')

      // Lost at 4; the retry made at once hangs and is given up at 10004; the next one, 100 ms later, connects.
      expectSubscriptions(hangs.subscriptions).toBe('4ms ^ 9999ms !')
      expectObservable(source.connects$).toBe('-a--b 10099ms c', { a: 1, b: 2, c: 3 })
    }))

  it('when the first connection fails, the first retry also waits 100 ms and is attempt 1', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold<VirtualSessionScript>('-#', undefined, refusedByNetwork()), cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders')).toBe('-')

      const retries = db.state$.pipe(filter((state) => state.status === 'reconnecting'))
      expectObservable(retries).toBe('-1', { 1: reconnecting(1, 100) })
    }))
})
