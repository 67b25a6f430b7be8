/**
 * LISTEN/UNLISTEN, drawn: which batches the listening connection is asked to run (`listens$`, one value per
 * batch: the connection's process id, the channels added and removed), and when. One frame is 1 ms; a lost
 * connection that was working is replaced at once (an attempt that failed before it was connected is retried
 * after 100 ms).
 *
 * Subscriptions are drawn too: `'-^'` subscribes at frame 1, `'-^ 48ms !'` unsubscribes at frame 50.
 */
import { map } from 'rxjs'
import { describe, it } from 'vitest'
import type { PgNotification } from '../lib/index.js'
import type { RawNotification } from '../lib/ports/index.js'
import { runMarbles, virtualSource, type ListenBatch } from '../lib/testing/index.js'
import { virtualPgListener } from './support/lifecycle.js'

const resetByPeer = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
const raw = (channel: string, payload: string): RawNotification => ({ channel, payload, processId: 7 })
const payloadOf = map((n: PgNotification) => n.payload)
const batch = (processId: number, add: string[], remove: string[] = []): ListenBatch => ({ processId, add, remove })

describe('LISTEN again after a reconnect', () => {
  it('LISTENs every channel that still has subscribers, in one batch', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { notifications: cold('---#', undefined, resetByPeer) } }), cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('-')
      expectObservable(db.channel('refunds'), '-^').toBe('-')
      // connection 101 is lost at 5; connection 102 opens at 6
      expectObservable(source.listens$).toBe('--a---b', {
        a: batch(101, ['orders', 'refunds']),
        b: batch(102, ['orders', 'refunds']),
      })
    }))

  it('does not LISTEN again to a channel whose last subscriber left during the reconnect', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // connection 101 is lost at 5; connection 102 takes 100 ms to open
      const source = virtualSource([cold('-s', { s: { notifications: cold('---#', undefined, resetByPeer) } }), cold('100ms s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('-')
      expectObservable(db.channel('refunds'), '-^ 48ms !').toBe('-')
      expectObservable(source.listens$).toBe('  --a 102ms b', {
        a: batch(101, ['orders', 'refunds']),
        b: batch(102, ['orders']),
      })
    }))

  it('LISTENs a channel first subscribed during the reconnect in the same batch as the others', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { notifications: cold('---#', undefined, resetByPeer) } }), cold('100ms s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('-')
      expectObservable(db.channel('refunds'), '50ms ^').toBe('-')
      expectObservable(source.listens$).toBe('--a 102ms b', {
        a: batch(101, ['orders']),
        b: batch(102, ['orders', 'refunds']),
      })
    }))

  it('keeps delivering to the same subscribers across a reconnect, without completing or erroring', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const first = cold('-a-#', { a: raw('orders', '1') }, resetByPeer)
      const second = cold('--b', { b: raw('orders', '2') })
      const source = virtualSource([cold('-s', { s: { notifications: first } }), cold('-s', { s: { notifications: second } })])
      const db = virtualPgListener(source, scheduler)
      // 1 arrives at 3 on connection 101, lost at 5; 2 at 8 on connection 102, opened at 6
      expectObservable(db.channel('orders').pipe(payloadOf), '-^').toBe('---a----b', { a: '1', b: '2' })
    }))

  it('LISTENs everything wanted on the new connection when the old one is lost with a batch in flight', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const slowThenLost = { changeListens: () => cold('---(a|)'), notifications: cold('--#', undefined, resetByPeer) }
      const source = virtualSource([cold('-s', { s: slowThenLost }), cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('-')
      expectObservable(db.channel('refunds'), '---^').toBe('-')
      // The batch sent at 2 is still in flight when connection 101 is lost at 4, before it ever was connected:
      // that counts as a failed first attempt, retried after 100 ms (see backoff-schedule.spec.ts).
      expectObservable(source.listens$).toBe('--a 102ms b', {
        a: batch(101, ['orders']),
        b: batch(102, ['orders', 'refunds']),
      })
    }))
})

describe('LISTEN batches on one connection', () => {
  it('sends a channel subscribed while a batch is in flight in the next batch, once the first is confirmed', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { changeListens: () => cold('---(a|)') } })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('-')
      expectObservable(db.channel('refunds'), '---^').toBe('-')
      expectObservable(source.listens$).toBe('  --a--b', {
        a: batch(101, ['orders']),
        b: batch(101, ['refunds']),
      })
    }))

  it('UNLISTENs a channel left while its LISTEN is in flight, once the LISTEN is confirmed', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { changeListens: () => cold('---(a|)') } })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('-')
      expectObservable(db.channel('refunds'), '-^-!').toBe('-')
      expectObservable(source.listens$).toBe('  --a--b', {
        a: batch(101, ['orders', 'refunds']),
        b: batch(101, [], ['refunds']),
      })
    }))

  it('sends nothing for a channel subscribed and left while another batch is in flight', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { changeListens: () => cold('---(a|)') } })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), ' -^').toBe('-')
      expectObservable(db.channel('refunds'), '---^!').toBe('-')
      expectObservable(source.listens$).toBe('  --a', { a: batch(101, ['orders']) })
    }))

  it('UNLISTENs a channel after its last subscriber leaves, and keeps the connection', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: {} })])
      const db = virtualPgListener(source, scheduler)
      expectObservable(db.channel('orders'), '-^--!').toBe('-')
      expectObservable(db.channel('orders'), '--^---!').toBe('-')
      expectObservable(source.listens$).toBe('--a---b', { a: batch(101, ['orders']), b: batch(101, [], ['orders']) })
      expectObservable(source.ends$).toBe('-')
    }))
})
