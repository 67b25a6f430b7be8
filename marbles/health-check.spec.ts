/**
 * The health check, drawn: while connected, every `interval` the listener asks the connection which channels
 * it listens to (`pg_listening_channels()`); no answer within `timeout`, or an answer that differs from the
 * subscribed channels, and it reconnects (and LISTENs again). Here `interval` is 10 frames and `timeout` 4
 * (defaults: 30 s and 5 s); one frame is 1 ms. A connection that fails its check is replaced at once: the
 * new one takes 4 frames to open here, so that the states of the reconnect read apart.
 *
 * States as letters: i idle, c connecting, k connected, r reconnecting, z closed.
 */
import { NEVER, map } from 'rxjs'
import { describe, it } from 'vitest'
import { ConnectionLostError } from '../lib/index.js'
import type { ListenerState } from '../lib/index.js'
import { runMarbles, virtualSource } from '../lib/testing/index.js'
import { closeAt, statusLetters, virtualPgListener } from './support/lifecycle.js'

const healthCheck = { interval: 10, timeout: 4 }
const statusOf = map((state: ListenerState) => state.status)
const resetByPeer = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })

describe('health check', () => {
  it('asks the connection for its LISTEN set every interval while connected', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { processId: 101 } })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('35ms |')
      closeAt(db, scheduler, 35)
      // connected at 2
      expectObservable(source.healthChecks$).toBe('12ms a 9ms a 9ms a', { a: 101 })
    }))

  it('takes an interval given as undefined for the default, 30 s (as if left out)', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { processId: 101 } })])
      const db = virtualPgListener(source, scheduler, { healthCheck: { interval: undefined, timeout: undefined } })
      expectObservable(db.channel('orders'), '-^').toBe('60005ms |')
      closeAt(db, scheduler, 60_005)
      // connected at 2
      expectObservable(source.healthChecks$).toBe('30002ms a 29999ms a', { a: 101 })
    }))

  it('reconnects when a check gets no answer within the time-out', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { listeningChannels: () => NEVER } }), cold('----s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('120ms |')
      closeAt(db, scheduler, 120)
      // the check asked at 12 has no answer by 16: reconnecting and connecting at once, connected at 20
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 13ms (rc)k 99ms (z|)', statusLetters)
      expectObservable(source.listens$.pipe(map((batch) => batch.add))).toBe('--a 17ms a', { a: ['orders'] })
    }))

  it('reconnects when a check ends without an answer', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // A source whose query completed without a row: not an answer. It used to pass every check.
      const silent = { listeningChannels: () => cold<readonly string[]>('--|') }
      const source = virtualSource([cold('-s', { s: silent }), cold('----s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('120ms |')
      closeAt(db, scheduler, 120)
      // the check asked at 12 ends at 14 without an answer: reconnecting and connecting at once, connected at 18
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 11ms (rc)k 101ms (z|)', statusLetters)
    }))

  it('reconnects when the server does not listen to a subscribed channel', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const forgot = { listeningChannels: () => cold('(a|)', { a: [] }) }
      const source = virtualSource([cold('-s', { s: forgot }), cold('----s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('120ms |')
      closeAt(db, scheduler, 120)
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 9ms (rc)k 103ms (z|)', statusLetters)
    }))

  it('reconnects when the server listens to a channel nobody subscribed', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const extra = { listeningChannels: (listened: readonly string[]) => cold('(a|)', { a: [...listened, 'stale'] }) }
      const source = virtualSource([cold('-s', { s: extra }), cold('----s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('120ms |')
      closeAt(db, scheduler, 120)
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 9ms (rc)k 103ms (z|)', statusLetters)
    }))

  it('accepts an answer that comes late but within the time-out', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const slow = { listeningChannels: (listened: readonly string[]) => cold('---(a|)', { a: listened }) }
      const source = virtualSource([cold('-s', { s: slow })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('40ms |')
      closeAt(db, scheduler, 40)
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 37ms (z|)', statusLetters)
    }))

  // A backend with tens of thousands of channels, delivering a burst to all of them, answered the check after
  // the time-out while its notifications kept coming: the working connection was dropped (and what was sent
  // while it LISTENed again was lost). Data arriving is a sign of life: the time-out runs from the last of it.
  const busy = (n: number) => ({ channel: 'elsewhere', payload: String(n), processId: 7 })
  it('waits for a late answer while notifications keep arriving', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const late = { listeningChannels: (listened: readonly string[]) => cold('---------(a|)', { a: listened }) }
      const flowing = cold('-n-n-n-n-n-n-n-n-n-n-n-n-n-n-n-n-n-n-n-n', { n: busy(1) })
      const source = virtualSource([cold('-s', { s: { ...late, notifications: flowing } })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('40ms |')
      closeAt(db, scheduler, 40)
      // asked at 12 and 22, answered at 21 and 31, notifications every 2 frames meanwhile: no reconnect
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 37ms (z|)', statusLetters)
    }))

  it('gives up a check the time-out after the last notification that arrived while it waited', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const stopped = { listeningChannels: () => NEVER, notifications: cold('-n-n-n-n-n-n-n', { n: busy(2) }) }
      const source = virtualSource([cold('-s', { s: stopped }), cold('----s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('120ms |')
      closeAt(db, scheduler, 120)
      // asked at 12; the last notification arrives at 15: reconnecting at 19 (not 16), connected at 23
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 16ms (rc)k 96ms (z|)', statusLetters)
    }))

  it('does not judge an answer that a LISTEN batch overtook', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // The check asked at 12 answers at 15 with what was listened at 12; refunds was LISTENed at 13.
      const slow = { listeningChannels: (listened: readonly string[]) => cold('---(a|)', { a: listened }) }
      const source = virtualSource([cold('-s', { s: slow })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('40ms |')
      expectObservable(db.channel('refunds'), '13ms ^').toBe('40ms |')
      closeAt(db, scheduler, 40)
      expectObservable(db.state$.pipe(statusOf)).toBe('ick 37ms (z|)', statusLetters)
    }))

  it('checks only while connected, and again on the new connection', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { notifications: cold('----#', undefined, resetByPeer) } }), cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('20ms |')
      closeAt(db, scheduler, 20)
      // lost at 6, before the first check; connection 102 is connected at 7
      expectObservable(source.healthChecks$).toBe('17ms b', { b: 102 })
    }))

  it('says why on state$: a time-out is ETIMEDOUT', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { listeningChannels: () => NEVER } }), cold('----s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { healthCheck })
      expectObservable(db.channel('orders'), '-^').toBe('120ms |')
      closeAt(db, scheduler, 120)
      const errors = db.state$.pipe(map((state) => (state.status === 'reconnecting' ? state.lastError : undefined)))
      expectObservable(errors).toBe('uuu 13ms (eu)u 99ms (u|)', {
        u: undefined,
        e: new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: 'health check got no answer within 4 ms' }),
      })
    }))
})
