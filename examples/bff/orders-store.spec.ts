// The page's store logic in marble diagrams (rxpg/testing): what each event does to the list, and how a reset
// reloads the snapshot without losing or reordering what arrives meanwhile.
import { describe, it } from 'vitest'
import { DecodeError } from '../../lib/browser/index.js'
import { runMarbles } from '../../lib/testing/index.js'
import type { Order } from './order.js'
import { ordersState, type OrderEvent, type OrdersState } from './orders-store.js'

const order = (id: number, item = `item ${id}`): Order => ({ id, item, placedAt: '2026-01-01T00:00:00Z' })
const message = (value: Order, id: string): OrderEvent => ({ type: 'message', channel: 'orders', value, id })
const empty: OrdersState = { orders: [], lastEventId: 't0', problems: 0, resets: 0 }

describe('the orders store', () => {
  it('adds each order once (an order seen again replaces itself) and keeps the position after it', () =>
    runMarbles(({ cold, expectObservable }) => {
      const invalid: OrderEvent = { type: 'invalid', channel: 'orders', error: new DecodeError({ channel: 'orders', payload: '{}', messages: ['id: Required'], direction: 'receive' }), id: 't3' }
      const events = cold('-a-b-a-x', { a: message(order(1), 't1'), b: message(order(2), 't2'), x: invalid })
      expectObservable(ordersState(events, () => cold('-'), empty)).toBe('sa-b-c-x', {
        s: empty,
        a: { ...empty, orders: [order(1)], lastEventId: 't1' },
        b: { ...empty, orders: [order(1), order(2)], lastEventId: 't2' },
        c: { ...empty, orders: [order(1), order(2)], lastEventId: 't1' },
        x: { ...empty, orders: [order(1), order(2)], lastEventId: 't3', problems: 1 },
      })
    }))

  it('reloads the snapshot on a reset, and applies what arrived while it loaded after it, in order', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const reset: OrderEvent = { type: 'reset', channel: 'orders', reason: 'expired', id: 't9' }
      const events = cold('-ar-b', { a: message(order(1), 't1'), r: reset, b: message(order(7), 't10') })
      const snapshot = cold('---(s|)', { s: [order(5), order(6), order(7)] })
      const afterReset = { ...empty, orders: [order(5), order(6), order(7)], lastEventId: 't9', resets: 1 }
      expectObservable(ordersState(events, () => snapshot, empty)).toBe('sa---(rb)', {
        s: empty,
        a: { ...empty, orders: [order(1)], lastEventId: 't1' },
        r: afterReset,
        // Order 7 was in the snapshot and on the stream: there once.
        b: { ...afterReset, lastEventId: 't10' },
      })
      expectSubscriptions(snapshot.subscriptions).toBe('--^--!')
    }))
})
