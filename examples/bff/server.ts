/**
 * A small frontend-for-backend on plain node:http: a typed durable channel of orders, an endpoint that
 * writes one, a snapshot endpoint, the SSE stream (rxpg/sse), and the page (bundled at start with esbuild).
 *
 *   GET  /               the page            GET  /api/orders   the snapshot: every order and its position
 *   GET  /app.js         the page's code     POST /api/orders   { "item": "…" } places an order
 *   GET  /events         the live stream (Authorization: Bearer <user>; no header: 401; user "mallory": 403)
 */
import { build } from 'esbuild'
import { readFile } from 'node:fs/promises'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { createPgListener, defineChannel } from '../../lib/index.js'
import { createDurableLog, type DurableLog } from '../../lib/durable/index.js'
import { createSseEndpoint, durableSource, refuse, type SseEndpoint, type SseEndpointOptions } from '../../lib/sse/index.js'
import { ORDERS, Order, type OrdersSnapshot } from './order.js'

/** The typed channel: appends are validated with the same schema the page decodes with. */
export const Orders = defineChannel(ORDERS, Order)

export interface BffOptions {
  readonly databaseUrl: string
  readonly port?: number
  /** The durable log's schema (default 'rxpg'). */
  readonly schema?: string
  /** Passed to the SSE endpoint (tests shorten time-outs with it). */
  readonly sse?: Partial<Pick<SseEndpointOptions<unknown, string>, 'heartbeat' | 'maxLifetime' | 'maxBufferedBytes' | 'drainTimeout' | 'shutdownSpread'>>
}

export interface Bff {
  readonly url: string
  readonly endpoint: SseEndpoint
  readonly log: DurableLog
  close(): Promise<void>
}

/** Places an order: a new id from a sequence, appended to the durable channel in one transaction. */
export async function placeOrder(log: DurableLog, item: string): Promise<Order> {
  return log.transaction(async (client) => {
    const { rows } = await client.query<{ id: string }>("SELECT nextval('bff_order_ids') AS id")
    const order: Order = { id: Number(rows[0]!.id), item, placedAt: new Date().toISOString() }
    await log.append(Orders, order, { client })
    return order
  })
}

/** Every order, and the position the stream continues from (fetched page by page from the log). */
export async function ordersSnapshot(log: DurableLog): Promise<OrdersSnapshot> {
  const orders: Order[] = []
  for (let after = 'earliest'; ; ) {
    const page = await log.fetch(Orders, { after, limit: 500 })
    for (const message of page.messages) if (message.value._tag === 'Right') orders.push(message.value.right)
    if (page.messages.length === 0) return { orders, token: page.next }
    after = page.next
  }
}

/** Creates the log's tables and the order-id sequence (development; use migrations in production). */
export async function installSchema(log: DurableLog, pool: pg.Pool): Promise<void> {
  await log.ensureSchema()
  await pool.query('CREATE SEQUENCE IF NOT EXISTS bff_order_ids')
}

export async function startBff(options: BffOptions): Promise<Bff> {
  const db = createPgListener(options.databaseUrl)
  const pool = new pg.Pool({ connectionString: options.databaseUrl })
  // An idle client whose server restarted must not crash the process; pg asks for this handler.
  pool.on('error', () => undefined)
  const log = createDurableLog({ listener: db, pool, ...(options.schema ? { schema: options.schema } : {}) })
  await installSchema(log, pool)

  const endpoint = createSseEndpoint({
    channels: { orders: durableSource(log, Orders) },
    authorize: (request) => {
      const user = /^Bearer (.+)$/.exec(request.header('authorization') ?? '')?.[1]
      if (user === undefined) return refuse(401, 'Sign in first.', { 'www-authenticate': 'Bearer' })
      if (user === 'mallory') return refuse(403, 'This user may not read orders.')
      return { user }
    },
    ...options.sse,
  })
  const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))
  const page = await readFile(here('./index.html'), 'utf8')
  const bundle = await build({ entryPoints: [here('./page.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent' })
  const script = bundle.outputFiles[0]!.text

  const route = async (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://bff').pathname
    if (path === '/events') return endpoint.handle(request, response)
    if (path === '/' && request.method === 'GET') return send(response, 200, 'text/html; charset=utf-8', page)
    if (path === '/app.js') return send(response, 200, 'text/javascript; charset=utf-8', script)
    if (path === '/api/orders' && request.method === 'GET') return send(response, 200, 'application/json', JSON.stringify(await ordersSnapshot(log)))
    if (path === '/api/orders' && request.method === 'POST') {
      const body = JSON.parse((await readBody(request)) || '{}') as { item?: unknown }
      if (typeof body.item !== 'string' || body.item === '') return send(response, 400, 'text/plain', 'An order needs an item.')
      return send(response, 201, 'application/json', JSON.stringify(await placeOrder(log, body.item)))
    }
    send(response, 404, 'text/plain', 'Not found.')
  }
  const server = http.createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, 'text/plain', error instanceof Error ? error.message : String(error))
      else response.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    endpoint,
    log,
    async close() {
      // Streams first, so browsers reconnect (elsewhere) instead of waiting on a server that stops.
      await endpoint.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await log.close()
      await db.close()
      await pool.end()
    },
  }
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
}

async function readBody(request: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of request) {
    body += String(chunk)
    if (body.length > 10_000) throw new Error('The body is too large.')
  }
  return body
}
