/**
 * Testing your own business logic with rxpg/testing: the logic is written against `PgListener`, so the
 * same function runs on `createPgListener(...)` in production and on a virtual listener here, in virtual
 * time, with the notifications drawn as marble diagrams and what it sends checked as a diagram too.
 */
import { Observable, distinct, filter, map, tap } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { catchUpAfterGaps, ConnectionRejectedError, createPgListener, decodeValid, ignoreOwnEcho, type ListenerState, type PgListener } from '../lib/index.js'
import { VIRTUAL_LISTENER_PROCESS_ID, notification, runMarbles, virtualSource } from '../lib/testing/index.js'

// ---- The business logic (in an application this lives in its own module) ----

const OrderEvent = z.object({ id: z.number(), status: z.enum(['placed', 'paid', 'cancelled']) })

/**
 * Listens to order events on 'orders' and announces each paid order, once, on 'order-shipped'. Its own
 * echoes are ignored (this service also publishes on 'orders' elsewhere), and payloads that are not order
 * events are skipped and counted in the listener's metrics. Emits the ids it announced.
 */
export function shipPaidOrders(db: PgListener): Observable<number> {
  return db.channel('orders').pipe(
    ignoreOwnEcho(db),
    decodeValid(OrderEvent, { metrics: db.metrics }),
    filter((event) => event.status === 'paid'),
    distinct((event) => event.id),
    map((event) => event.id),
    tap((id) => db.notify$.next({ channel: 'order-shipped', payload: JSON.stringify({ id }) })),
  )
}

// ---- Its tests ----

const placed = '{"id":1,"status":"placed"}'
const paid = '{"id":1,"status":"paid"}'
const paid2 = '{"id":2,"status":"paid"}'
const shipped = (id: number) => ({ channel: 'order-shipped', payload: JSON.stringify({ id }) })

describe('shipPaidOrders', () => {
  it('announces a paid order on order-shipped', () =>
    runMarbles(({ virtualListener, expectObservable }) => {
      const db = virtualListener({ channels: { orders: '-a--p-' }, values: { a: placed, p: paid } })
      expectObservable(shipPaidOrders(db), '^-----!').toBe('----1-', { 1: 1 })
      expectObservable(db.sent$).toBe('                   ----s-', { s: shipped(1) })
    }))

  it('announces each order once, however often it is paid', () =>
    runMarbles(({ virtualListener, expectObservable }) => {
      const db = virtualListener({ channels: { orders: '-p-p-q-p' }, values: { p: paid, q: paid2 } })
      shipPaidOrders(db).subscribe()
      expectObservable(db.sent$).toBe('                    -a---b--', { a: shipped(1), b: shipped(2) })
    }))

  it('ignores its own echo', () =>
    runMarbles(({ virtualListener, expectObservable }) => {
      const mine = notification('orders', paid, { processId: VIRTUAL_LISTENER_PROCESS_ID })
      const db = virtualListener({ channels: { orders: '-m--p-' }, values: { m: mine, p: paid2 } })
      shipPaidOrders(db).subscribe()
      expectObservable(db.sent$).toBe('                    ----s-', { s: shipped(2) })
    }))

  it('skips a payload that is not an order event', () =>
    runMarbles(({ virtualListener, expectObservable }) => {
      const db = virtualListener({ channels: { orders: '-x-p-' }, values: { x: 'not json', p: paid } })
      shipPaidOrders(db).subscribe()
      expectObservable(db.sent$).toBe('                   ---s-', { s: shipped(1) })
    }))

  it('counts the payloads it skipped in the listener\'s metrics', () => {
    const db = runMarbles(({ virtualListener }) => {
      const listener = virtualListener({ channels: { orders: '-x-y-' }, values: { x: 'not json', y: '{"id":"one"}' } })
      shipPaidOrders(listener).subscribe()
      return listener
    })
    expect(db.metrics.snapshot().decodeFailures).toBe(2)
  })

  it('lets go of the channel when its subscriber unsubscribes', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions, virtualListener }) => {
      const orders = hot('-p----', { p: paid })
      const db = virtualListener({ channels: { orders } })
      expectObservable(shipPaidOrders(db), '^--!').toBe('-1', { 1: 1 })
      expectSubscriptions(orders.subscriptions).toBe('^--!')
    }))

  it('fails with the listener when the server refuses the connection for good', () =>
    runMarbles(({ hot, virtualListener, expectObservable }) => {
      const refused = new ConnectionRejectedError({ reason: 'authentication-failed', sqlState: '28P01', detail: 'password authentication failed' })
      const states: Record<string, ListenerState> = { c: { status: 'connected', processId: 7 }, f: { status: 'failed', error: refused } }
      const db = virtualListener({ channels: { orders: '-p---' }, values: { p: paid }, state: hot('c--f', states) })
      expectObservable(shipPaidOrders(db)).toBe('-1-#', { 1: 1 }, refused)
    }))
})

// ---- Logic that reacts to the connection's life, on the real listener in virtual time ----

/** Order ids, with what a reconnect missed (from `missed`, e.g. a query after a cursor) caught up before new ones. */
export function orderIds(db: PgListener, missed: () => Observable<number>): Observable<number> {
  return db.channel('orders').pipe(
    map((n) => Number(n.payload)),
    catchUpAfterGaps(db.state$, missed),
  )
}

describe('orderIds, on the real listener and a drawn server (virtualSource)', () => {
  it('catches up after a reconnect before it passes new notifications on', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
      // Connection 101 opens at 1, delivers order 1 at 3 and is lost at 6; connection 102 opens at 7 (at once),
      // and delivers order 3 at 10.
      const first = cold('--a--#', { a: { channel: 'orders', payload: '1', processId: 7 } }, reset)
      const second = cold('---b', { b: { channel: 'orders', payload: '3', processId: 7 } })
      const source = virtualSource([cold('-s', { s: { notifications: first } }), cold('-s', { s: { notifications: second } })])
      const db = createPgListener('postgres://app@virtual/app', { source, transport: source.transport, scheduler })

      // The catch-up (order 2, found 2 ms after the reconnect) comes before order 3.
      expectObservable(orderIds(db, () => cold('--(x|)', { x: 2 })), '^ 30ms !').toBe('---1-----23', { 1: 1, 2: 2, 3: 3 })
      scheduler.schedule(() => void db.close(), 40)
    }))
})
