/**
 * The page: a live list of orders through rxpg/browser. Bundled for the browser by the server at start
 * (esbuild): it imports rxpg/browser, rxjs and zod, never Node.
 *
 * The state (orders and the position after them) is saved in sessionStorage after every change, so a reload
 * resumes the stream where the page was: what was written meanwhile arrives once, nothing twice. A first visit
 * loads the snapshot (`GET /api/orders`: the orders and the position they stand at) and streams from there.
 */
import { from, map } from 'rxjs'
import { fromServerSentEvents, type EventStreamState } from '../../lib/browser/index.js'
import { Order, type OrdersSnapshot } from './order.js'
import { createStore, ordersState, type OrdersState } from './orders-store.js'

const SAVED = 'rxpg-bff-orders'
// ?user=ann reads as ann; ?user= (empty) sends no credential (a 401); ?user=mallory is refused (a 403).
const user = new URLSearchParams(location.search).get('user') ?? 'demo'

async function loadSnapshot(): Promise<OrdersSnapshot> {
  const response = await fetch('/api/orders')
  if (!response.ok) throw new Error(`snapshot: ${response.status}`)
  return (await response.json()) as OrdersSnapshot
}

function saved(): OrdersState | undefined {
  const text = sessionStorage.getItem(SAVED)
  return text === null ? undefined : (JSON.parse(text) as OrdersState)
}

const element = (id: string) => document.getElementById(id)!

function render(state: OrdersState): void {
  const list = element('orders')
  list.replaceChildren(
    ...state.orders.map((order) => {
      const item = document.createElement('li')
      item.dataset.id = String(order.id)
      item.textContent = `#${order.id} ${order.item}`
      return item
    }),
  )
  element('count').textContent = String(state.orders.length)
  element('position').textContent = state.lastEventId ?? ''
}

function renderConnection(state: EventStreamState): void {
  const status = element('status')
  status.dataset.status = state.status
  status.textContent =
    state.status === 'reconnecting'
      ? `reconnecting (attempt ${state.attempt}, ${state.cause.info.reason})`
      : state.status === 'closed' && state.error
        ? `refused: ${state.error.info.status} ${state.error.info.detail}`
        : state.status
}

async function main(): Promise<void> {
  const initial: OrdersState = saved() ?? (await loadSnapshot().then((snapshot) => ({ orders: snapshot.orders, lastEventId: snapshot.token, problems: 0, resets: 0 })))
  const events = fromServerSentEvents('/events', {
    channels: { orders: Order },
    lastEventId: initial.lastEventId,
    // A function: called before each (re)connection, so a refreshed credential would be used.
    headers: (): Record<string, string> => (user === '' ? {} : { authorization: `Bearer ${user}` }),
    backoff: { initialDelay: 200, maxDelay: 2000 },
  })
  events.state$.subscribe(renderConnection)
  const store = createStore(
    ordersState(events, () => from(loadSnapshot()).pipe(map((snapshot) => snapshot.orders)), initial),
    initial,
  )
  store.subscribe((state) => {
    sessionStorage.setItem(SAVED, JSON.stringify(state))
    render(state)
  })
  render(initial)
  element('add').addEventListener('submit', (event) => {
    event.preventDefault()
    const input = element('item') as HTMLInputElement
    void fetch('/api/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: input.value }) })
    input.value = ''
  })
}

void main()
