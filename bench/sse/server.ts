/**
 * The process under test: one Node process with one PgListener (one listening connection), a durable log and
 * an SSE endpoint (rxpg/sse, `durableSource`) on node:http. The harness drives it over IPC.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { Observable } from 'rxjs'
import { createDurableLog, type DurableLog, type DurableMessage } from '../../lib/durable/index.js'
import { createSseEndpoint, durableSource, type SseEndpoint } from '../../lib/sse/index.js'
import { serveWorker } from '../support/worker.js'
import { LatencyHistogram } from './latency-histogram.js'

let state: { listener: PgListener; pool: pg.Pool; log: DurableLog; endpoint: SseEndpoint; server: http.Server } | undefined

async function start(args: { url: string; schema: string; channel: string; maxBufferedBytes: number; drainTimeout: number }): Promise<{ port: number }> {
  const listener = createPgListener(args.url)
  const pool = new pg.Pool({ connectionString: args.url, max: 10 })
  pool.on('error', () => undefined)
  const log = createDurableLog({ listener, pool, schema: args.schema, stall: false })
  const endpoint = createSseEndpoint({ channels: { bench: durableSource(tracing ? traced(log) : log, args.channel) }, maxBufferedBytes: args.maxBufferedBytes, drainTimeout: args.drainTimeout })
  const server = http.createServer((request, response) => void endpoint.handle(request, response))
  server.maxConnections = 50_000
  server.keepAliveTimeout = 0
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 4096, resolve))
  state = { listener, pool, log, endpoint, server }
  return { port: (server.address() as AddressInfo).port }
}

/** BENCH_SSE_TRACE=1: latency from the writer's append call to three points of the server, per message. */
const tracing = process.env.BENCH_SSE_TRACE === '1'
const now = () => performance.timeOrigin + performance.now()
const stages = { 'reader emission': new LatencyHistogram(), 'fan-out done': new LatencyHistogram(), 'sockets written': new LatencyHistogram() }

/** The log with its reader timed: when it emits a message, when every stream has handed it to its response (synchronously), and the tick after (Node uncorks the sockets then). */
function traced(log: DurableLog): Pick<DurableLog, 'read' | 'fetch'> {
  return {
    fetch: log.fetch.bind(log),
    read: ((...args: Parameters<DurableLog['read']>) =>
      new Observable<DurableMessage<unknown>>((subscriber) =>
        log.read(...args).subscribe({
          next: (message) => {
            const t = (message.value as { t?: number }).t
            if (t !== undefined) stages['reader emission'].record(now() - t)
            subscriber.next(message)
            if (t === undefined) return
            stages['fan-out done'].record(now() - t)
            process.nextTick(() => stages['sockets written'].record(now() - t))
          },
          error: (error: unknown) => subscriber.error(error),
          complete: () => subscriber.complete(),
        }),
      )) as DurableLog['read'],
  }
}

function memory(): { rss: number; heapUsed: number; external: number } {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  const { rss, heapUsed, external } = process.memoryUsage()
  return { rss, heapUsed, external }
}

async function stop(): Promise<void> {
  if (!state) return
  const { endpoint, server, log, listener, pool } = state
  state = undefined
  await endpoint.close()
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await log.close()
  await listener.close()
  await pool.end()
}

serveWorker(
  {
    start: (args: Parameters<typeof start>[0]) => start(args),
    memory: () => memory(),
    stats: () => state?.endpoint.stats(),
    /** CPU time used so far (user + system, µs): per delivery, the server's cost whatever else the machine runs. */
    cpu: () => {
      const { user, system } = process.cpuUsage()
      return user + system
    },
    trace: () => Object.fromEntries(Object.entries(stages).map(([stage, histogram]) => [stage, histogram.entries()])),
    resetTrace: () => {
      for (const histogram of Object.values(stages)) histogram.clear()
      return true
    },
    stop: () => stop(),
  },
  stop,
)
