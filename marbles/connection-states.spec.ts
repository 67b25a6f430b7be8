/**
 * The listening connection's life as `state$` shows it, drawn. One frame is 1 ms; a retry waits 100 ms
 * (no jitter).
 *
 * Letters: i idle, c connecting, k/K connected, 1 reconnecting (attempt 1), f failed, z closed.
 */
import { map } from 'rxjs'
import { describe, it } from 'vitest'
import { ConnectionLostError, ConnectionRejectedError } from '../lib/index.js'
import type { ListenerState } from '../lib/index.js'
import { runMarbles, virtualSource, type VirtualSessionScript } from '../lib/testing/index.js'
import { closeAt, closed, connected, connecting, failed, idle, reconnecting, statusLetters, virtualPgListener, wrongPassword } from './support/lifecycle.js'

const resetByPeer = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
const lostByReset = new ConnectionLostError({ systemCode: 'ECONNRESET', detail: 'read ECONNRESET' })
const badPassword = new ConnectionRejectedError({
  reason: 'authentication-failed',
  sqlState: '28P01',
  host: 'virtual',
  port: 5432,
  database: 'app',
  user: 'app',
  detail: 'password authentication failed for user "app"',
})
const statusOf = map((state: ListenerState) => state.status)

describe('connection states', () => {
  it('stays idle, without connecting, until the first channel is subscribed', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.state$).toBe('      i', { i: idle })
      expectObservable(source.connects$).toBe('-')
    }))

  it('goes idle, connecting, connected, and after a loss reconnecting and connecting at once, connected with the gap', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const lostAfter2: VirtualSessionScript = { processId: 101, notifications: cold('--#', undefined, resetByPeer) }
      const source = virtualSource([cold('-s', { s: lostAfter2 }), cold('----s', { s: { processId: 102 } })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), '-^').toBe('-')
      // Connection 101 last heard from the server at 2 (its LISTEN answer), and is lost at 4; the first
      // attempt after losing a working connection does not wait (reconnecting and connecting in one frame,
      // drawn as a group); it opens at 8.
      expectObservable(db.state$).toBe('        ick-(1c)K', {
        i: idle,
        c: connecting(1),
        k: connected(101),
        1: reconnecting(1, 0, lostByReset),
        K: connected(102, { since: 2, duration: 6 }),
      })
    }))

  it('takes a connect() that completes without a session for a lost connection, and retries it', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // A custom source (or a drawn connect) that ends without a session: the connection closed before it was
      // ready. Before, the listener stayed connecting for ever: connectTimeout's timer stops when its source
      // completes.
      const source = virtualSource([cold<VirtualSessionScript>('-|'), cold('-s', { s: { processId: 102 } })])
      const db = virtualPgListener(source, scheduler, { connectTimeout: 50 })
      expectObservable(db.channel('orders'), '-^').toBe('-')
      expectObservable(db.state$).toBe('ic1 99ms dk', {
        i: idle,
        c: connecting(1),
        1: reconnecting(1, 100, new ConnectionLostError({ detail: 'the connection ended before it was ready (connect() completed without a session)' })),
        d: connecting(1),
        k: connected(102),
      })
    }))

  it('is connected only once every subscribed channel is LISTENed', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { changeListens: () => cold('---(a|)') } })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), '-^').toBe('-')
      expectObservable(source.listens$.pipe(map((batch) => batch.add))).toBe('--a', { a: ['orders'] })
      expectObservable(db.state$.pipe(statusOf)).toBe('                   ic---k', statusLetters)
    }))

  it('fails, without retrying, when the server refuses the connection for good', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold<VirtualSessionScript>('-#', undefined, wrongPassword()), cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), '-^').toBe('--#', undefined, badPassword)
      expectObservable(db.state$).toBe('            icf', { i: idle, c: connecting(1), f: failed(badPassword) })
      expectObservable(source.connects$).toBe('    -a', { a: 1 })
    }))

  it('errors every channel with the ConnectionRejectedError when it fails', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold<VirtualSessionScript>('-#', undefined, wrongPassword())])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('--#', undefined, badPassword)
      expectObservable(db.channel('refunds'), '-^').toBe('--#', undefined, badPassword)
    }))

  it('errors a channel subscribed after the failure at once', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold<VirtualSessionScript>('-#', undefined, wrongPassword())])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('--#', undefined, badPassword)
      expectObservable(db.channel('refunds'), '----^').toBe('----#', undefined, badPassword)
    }))

  it('completes every channel at the frame close() is called', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      closeAt(db, scheduler, 5)
      expectObservable(db.channel('orders'), ' -^').toBe('-----|')
      expectObservable(db.channel('refunds'), '---^').toBe('-----|')
      expectObservable(source.ends$).toBe('-----e', { e: 101 })
    }))

  it('emits closed and completes at the frame close() is called', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      closeAt(db, scheduler, 5)
      expectObservable(db.channel('orders'), '-^').toBe('-----|')
      expectObservable(db.state$, '^-----!').toBe('ick--(z|)', { i: idle, c: connecting(1), k: connected(101), z: closed })
    }))

  it('replays closed, then completes, to a subscriber that comes after close()', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      closeAt(db, scheduler, 5)
      expectObservable(db.channel('orders'), '-^').toBe('-----|')
      // The current state is replayed to every subscriber, also once it is the last one.
      expectObservable(db.state$, '-------^').toBe('-------(z|)', { z: closed })
    }))
})
