/**
 * A send waits for this process's own LISTEN of its channel, so that `subscribe` then `notify` in one process is
 * received, and for nothing else: a channel nobody in this process listens to is sent at once, also while the
 * listener (re)connects, and calls keep their order (one that must wait holds back those after it). Here the
 * listening connection takes 10 frames to open, and its LISTEN is in effect in that frame; one frame is 1 ms.
 */
import { map } from 'rxjs'
import { describe, it } from 'vitest'
import { runMarbles, virtualSource, virtualTransport } from '../lib/testing/index.js'
import { virtualPgListener } from './support/lifecycle.js'

const orders = { channel: 'orders', payload: 'o' }
const refunds = { channel: 'refunds', payload: 'r' }

describe('sends and the listener', () => {
  it('sends to a channel this process does not listen to at once, while the listener connects', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      const source = virtualSource([cold('----------s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { transport })
      expectObservable(db.channel('orders'), '^').toBe('-')
      cold('-a').subscribe(() => db.notify$.next(refunds))
      expectObservable(transport.batches$).toBe('-x', { x: [refunds] })
    }))

  it('holds a send to a channel it listens to until the LISTEN is in effect', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      const source = virtualSource([cold('----------s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { transport })
      expectObservable(db.channel('orders'), '^').toBe('-')
      cold('-a').subscribe(() => db.notify$.next(orders))
      expectObservable(source.listens$).toBe('10ms x', { x: { processId: 101, add: ['orders'], remove: [] } })
      expectObservable(transport.batches$).toBe('10ms x', { x: [orders] })
    }))

  it('keeps call order: a send that waits holds back the sends after it, and one before it goes at once', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      const source = virtualSource([cold('----------s', { s: {} })])
      const db = virtualPgListener(source, scheduler, { transport })
      expectObservable(db.channel('orders'), '^').toBe('-')
      cold('-a').subscribe(() => {
        db.notify$.next(refunds)
        db.notify$.next(orders)
        db.notify$.next({ channel: 'refunds', payload: 'after' })
      })
      expectObservable(transport.batches$).toBe('-x 8ms y', { x: [refunds], y: [orders, { channel: 'refunds', payload: 'after' }] })
    }))

  it('holds a send to a channel subscribed again while its UNLISTEN is in flight, until it is LISTENed again', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      // Connected at 1; an UNLISTEN takes 4 frames to be answered, a LISTEN none.
      const slowUnlisten = { changeListens: (_add: readonly string[], remove: readonly string[]) => (remove.length > 0 ? cold('---a|') : cold('(a|)')) }
      const source = virtualSource([cold('-s', { s: slowUnlisten })])
      const db = virtualPgListener(source, scheduler, { transport })
      const first = db.channel('orders').subscribe()
      scheduler.schedule(() => first.unsubscribe(), 3)
      scheduler.schedule(() => {
        db.channel('orders').subscribe()
        db.notify$.next(orders)
      }, 4)
      // UNLISTEN at 3, answered at 7; LISTEN again at 7, in effect at once: the send goes then, not at 4 (when the
      // server may already have run the UNLISTEN, and the notification would be lost to this process).
      expectObservable(source.listens$.pipe(map((batch) => [batch.add, batch.remove]))).toBe('-a-b---c', { a: [['orders'], []], b: [[], ['orders']], c: [['orders'], []] })
      expectObservable(transport.batches$).toBe('-------x', { x: [orders] })
    }))

  it('says the LISTEN is no longer in effect (listening) once its UNLISTEN is on its way, and again in effect once LISTENed again', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const slowUnlisten = { changeListens: (_add: readonly string[], remove: readonly string[]) => (remove.length > 0 ? cold('---a|') : cold('(a|)')) }
      const source = virtualSource([cold('-s', { s: slowUnlisten })])
      const db = virtualPgListener(source, scheduler)
      const first = db.channel('orders').subscribe()
      scheduler.schedule(() => first.unsubscribe(), 3)
      scheduler.schedule(() => db.channel('orders').subscribe(), 4)
      // In effect at 1; the UNLISTEN goes at 3 (answered at 7), when it may run on the server at any moment; the
      // channel, wanted again at 4, is LISTENed again at 7.
      expectObservable(db.listening('orders')).toBe('ft-f---t', { f: false, t: true })
    }))
})

