/**
 * The page's state, as a plain store: a reducer over the stream's events, written against Observables only,
 * so the same logic runs in the page, in Node, and in marble specs (`orders-store.spec.ts`).
 *
 * - A `message` is upserted by order id (so an order that is both in a reloaded snapshot and on the stream is
 *   there once), and its `id` is kept: it is the position to resume from after a reload.
 * - A `reset` (the position could not be resumed: too old, or another database) reloads the snapshot and
 *   replaces the list; events that arrive while it loads are applied after it, in order.
 * - An `invalid` event (it did not decode) is counted and shown, and the list goes on.
 */
import { concatMap, map, of, scan, startWith, type Observable } from 'rxjs'
import type { ServerSentEvent } from '../../lib/browser/index.js'
import type { Order } from './order.js'

/** The events of the page's stream: one channel, `orders`, decoded with the `Order` schema. */
export type OrderEvent = ServerSentEvent<{ orders: typeof Order }>

export interface OrdersState {
  readonly orders: readonly Order[]
  /** The position after the last event applied: pass it as `lastEventId` to resume there. */
  readonly lastEventId: string | undefined
  readonly problems: number
  readonly resets: number
}

type Change = { readonly kind: 'event'; readonly event: OrderEvent } | { readonly kind: 'snapshot'; readonly orders: readonly Order[]; readonly id: string | undefined }

/** The state after each event, starting with `initial` (a snapshot, or what the page saved before a reload). */
export function ordersState(events: Observable<OrderEvent>, reloadSnapshot: () => Observable<readonly Order[]>, initial: OrdersState): Observable<OrdersState> {
  return events.pipe(
    concatMap((event): Observable<Change> =>
      event.type === 'reset' ? reloadSnapshot().pipe(map((orders): Change => ({ kind: 'snapshot', orders, id: event.id }))) : of({ kind: 'event', event }),
    ),
    scan(apply, initial),
    startWith(initial),
  )
}

export function apply(state: OrdersState, change: Change): OrdersState {
  if (change.kind === 'snapshot') return { ...state, orders: change.orders, lastEventId: change.id, resets: state.resets + 1 }
  const { event } = change
  switch (event.type) {
    case 'message':
      return { ...state, orders: upsert(state.orders, event.value), lastEventId: event.id }
    case 'invalid':
      return { ...state, problems: state.problems + 1, lastEventId: event.id }
    case 'reset':
      return state
  }
}

function upsert(orders: readonly Order[], order: Order): readonly Order[] {
  const index = orders.findIndex((each) => each.id === order.id)
  if (index === -1) return [...orders, order]
  const next = [...orders]
  next[index] = order
  return next
}

/**
 * A plain store around a state Observable: `getState()` and `subscribe(listener)`, the shape React's
 * `useSyncExternalStore`, Zustand's vanilla stores and Redux's `store.subscribe` all speak.
 */
export function createStore<S>(states: Observable<S>, initial: S): { getState(): S; subscribe(listener: (state: S) => void): () => void; stop(): void } {
  let current = initial
  const listeners = new Set<(state: S) => void>()
  const subscription = states.subscribe((state) => {
    current = state
    for (const listener of listeners) listener(state)
  })
  return {
    getState: () => current,
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    stop: () => subscription.unsubscribe(),
  }
}
