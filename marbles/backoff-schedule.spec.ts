/**
 * The reconnect schedule, drawn. One frame is one millisecond. Jitter is off (`random: () => 0` makes every
 * delay its nominal value) except where a diagram is about jitter.
 *
 * Defaults: 100 ms before the first retry, doubling, capped at 2000 ms, for as long as it takes.
 *
 * Letters: i idle, c/d/e/… connecting (attempt 1/2/3/…), k/K connected, digits 1/2/3/… reconnecting (attempt).
 */
import { filter, map } from 'rxjs'
import { describe, it } from 'vitest'
import { ConnectionLostError } from '../lib/index.js'
import { runMarbles, virtualSource, type VirtualSessionScript } from '../lib/testing/index.js'
import { connected, connecting, idle, reconnecting, refusedByNetwork, virtualPgListener } from './support/lifecycle.js'

const resetByPeer = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
const lostByReset = new ConnectionLostError({ errorCode: 'ECONNRESET', detail: 'read ECONNRESET' })

describe('backoff schedule', () => {
  it('after a lost connection, waits 100, 200, 400, 800 and 1600 ms, then 2000 ms for every later attempt', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // Connection 1 is lost 3 frames after it opens; the next six attempts are refused; the eighth connects.
      const lostAfter3: VirtualSessionScript = { processId: 101, notifications: cold('---#', undefined, resetByPeer) }
      const refused = cold<VirtualSessionScript>('-#', undefined, refusedByNetwork())
      const back = cold('-s', { s: { processId: 108 } })
      const source = virtualSource([cold('-s', { s: lostAfter3 }), refused, refused, refused, refused, refused, refused, back])
      const db = virtualPgListener(source, scheduler)

      expectObservable(db.channel('orders'), '-^').toBe('--')
      expectObservable(db.state$).toBe('ick--1 99ms c2 199ms d3 399ms e4 799ms f5 1599ms g6 1999ms h7 1999ms jK', {
        i: idle,
        c: connecting(1),
        k: connected(101),
        1: reconnecting(1, 100, lostByReset),
        2: reconnecting(2, 200),
        d: connecting(2),
        3: reconnecting(3, 400),
        e: connecting(3),
        4: reconnecting(4, 800),
        f: connecting(4),
        5: reconnecting(5, 1600),
        g: connecting(5),
        6: reconnecting(6, 2000),
        h: connecting(6),
        7: reconnecting(7, 2000),
        j: connecting(7),
        K: connected(108, { since: 5, duration: 7107 }),
      })
      expectObservable(source.connects$).toBe('-1 103ms 2 200ms 3 400ms 4 800ms 5 1600ms 6 2000ms 7 2000ms 8', {
        1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8,
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

      // Lost at frame 3; 303 refused connects later (the last ones 2001 ms apart), connect number 305 succeeds.
      const outcomes = db.state$.pipe(filter((state) => state.status === 'connected' || state.status === 'failed'))
      expectObservable(outcomes).toBe('-k 601405ms K', {
        k: connected(101),
        K: connected(405, { since: 3, duration: 601404 }),
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
      expectObservable(delays).toBe('---a 50ms b 100ms c', { a: 50, b: 100, c: 200 })
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
      expectObservable(retries).toBe('---a 100ms b 202ms c', { a: 'attempt 1 after 100 ms', b: 'attempt 2 after 200 ms', c: 'attempt 1 after 100 ms' })
    }))

  it('abandons a connection attempt that hangs after connectTimeout, and retries', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions, scheduler }) => {
      const hangs = cold<VirtualSessionScript>('-')
      const source = virtualSource([cold('-s', { s: { notifications: cold('--#', undefined, resetByPeer) } }), hangs, cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { connectTimeout: 10_000 })
      expectObservable(db.channel('orders'), '-^').toBe('-')

      // Lost at 4; the retry at 104 hangs and is given up at 10104; the next one, 200 ms later, connects.
      expectSubscriptions(hangs.subscriptions).toBe('104ms ^ 9999ms !')
      expectObservable(source.connects$).toBe('-a 102ms b 10199ms c', { a: 1, b: 2, c: 3 })
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
