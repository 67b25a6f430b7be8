/**
 * A UI state store fed by PostgreSQL: `npm run example:ui-store`.
 *
 * A typed channel carries order events; the store is a reducer over the decoded stream (`scan`), so the UI
 * state is always "everything that happened, folded", and a bad payload becomes a visible problem count
 * instead of a crash. Each new state is printed as a UI would render it. Starts an embedded PostgreSQL
 * (or uses DATABASE_URL), closes everything and exits on its own.
 */
import { distinctUntilChanged, filter, firstValueFrom, scan, shareReplay, startWith } from 'rxjs'
import { z } from 'zod'
import { createPgListener, defineChannel, type DecodeError, type Either } from '../lib/index.js'
import { startEmbeddedServer } from '../support/embedded-server.js'

// Declared once, imported by whoever sends and whoever listens.
const OrderEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('placed'), id: z.number(), item: z.string(), total: z.number() }),
  z.object({ type: z.literal('shipped'), id: z.number() }),
  z.object({ type: z.literal('cancelled'), id: z.number(), reason: z.string() }),
])
type OrderEvent = z.infer<typeof OrderEvent>
const OrderEvents = defineChannel('order-events', OrderEvent)

// The store: state, and a pure reducer from (state, event) to the next state.
interface OrderRow {
  readonly item: string
  readonly total: number
  readonly status: 'placed' | 'shipped' | 'cancelled'
}
interface BoardState {
  readonly orders: ReadonlyMap<number, OrderRow>
  readonly revenue: number
  /** Payloads that did not decode: a UI shows a warning badge, the board keeps working. */
  readonly problems: readonly string[]
  readonly version: number
}
const initial: BoardState = { orders: new Map(), revenue: 0, problems: [], version: 0 }

function reduce(state: BoardState, event: Either<DecodeError, OrderEvent>): BoardState {
  const version = state.version + 1
  if (event._tag === 'Left') return { ...state, problems: [...state.problems, event.left.info.messages.join('; ')], version }
  const change = event.right
  const orders = new Map(state.orders)
  const row = orders.get(change.id)
  switch (change.type) {
    case 'placed':
      orders.set(change.id, { item: change.item, total: change.total, status: 'placed' })
      return { ...state, orders, revenue: state.revenue + change.total, version }
    case 'shipped':
      if (row) orders.set(change.id, { ...row, status: 'shipped' })
      return { ...state, orders, version }
    case 'cancelled':
      if (row) orders.set(change.id, { ...row, status: 'cancelled' })
      return { ...state, orders, revenue: state.revenue - (row?.total ?? 0), version }
  }
}

function render(state: BoardState): string {
  const rows = [...state.orders].map(([id, row]) => `    #${id} ${row.item.padEnd(8)} ${row.total.toFixed(2).padStart(7)}  ${row.status}`)
  const problems = state.problems.length === 0 ? '' : `\n    ⚠ ${state.problems.length} bad event(s): ${state.problems.at(-1)}`
  return `[v${state.version}] revenue ${state.revenue.toFixed(2)}\n${rows.join('\n') || '    (no orders)'}${problems}`
}

const server = process.env.DATABASE_URL ? undefined : await startEmbeddedServer()
const db = createPgListener(process.env.DATABASE_URL ?? server!.url)

// The store's state$: a hot, replayed stream of states, as a UI framework would subscribe to it.
const state$ = OrderEvents.listen(db).pipe(
  scan(reduce, initial),
  startWith(initial),
  distinctUntilChanged(),
  shareReplay({ bufferSize: 1, refCount: true }),
)
const rendering = state$.subscribe((state) => console.log(render(state)))

// Elsewhere in the system, events happen.
await OrderEvents.send(db, { type: 'placed', id: 1, item: 'teapot', total: 35 })
await OrderEvents.send(db, { type: 'placed', id: 2, item: 'kettle', total: 49.9 })
await OrderEvents.send(db, { type: 'shipped', id: 1 })
// A typed send refuses what a receiver could not read; nothing is sent.
await OrderEvents.send(db, { type: 'shipped' } as never).catch((error: DecodeError) => console.log(`refused before sending: ${error.message}`))
// Someone bypasses the typed channel: the store shows the problem and keeps going.
await db.notify(OrderEvents.name, '{"type":"refunded","id":2}')
await OrderEvents.send(db, { type: 'cancelled', id: 2, reason: 'out of stock' })

// 5 events reached the store (the refused one never left): wait for the state that folds them all.
await firstValueFrom(state$.pipe(filter((state) => state.version === 5)))
rendering.unsubscribe()
await db.close()
await server?.destroy()
console.log('closed; the process exits on its own')
