/**
 * A process of SSE clients for the benchmark: many connections over raw node:http (no agent, one socket
 * each), parsed with eventsource-parser (the parser rxpg/browser uses). A following client checks that the
 * sequence numbers it gets are exactly 0, 1, 2, ... (nothing lost, nothing twice, across every reconnection,
 * which resumes with `Last-Event-ID`) and records each event's latency from the moment the writer called
 * append; a slow client reads the first bytes of its stream and then nothing.
 */
import http from 'node:http'
import { createParser } from 'eventsource-parser'
import { serveWorker } from '../support/worker.js'
import { LatencyHistogram } from './latency-histogram.js'

const now = () => performance.timeOrigin + performance.now()
const latencies = new LatencyHistogram()
let received = 0

class Client {
  lastEventId: string | undefined
  next = 0
  lost = 0
  duplicated = 0
  ready = false
  reconnects = 0
  private request: http.ClientRequest | undefined
  private closed = false

  constructor(
    private readonly url: URL,
    private readonly slow: boolean,
  ) {}

  connect(): void {
    if (this.closed) return
    this.ready = false
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId
    const request = http.get({ host: this.url.hostname, port: this.url.port, path: this.url.pathname, headers, agent: false }, (response) => {
      if (this.slow) {
        response.once('data', () => {
          this.ready = true
          response.pause()
        })
        return
      }
      const parser = createParser({
        onEvent: (event) => {
          if (event.id !== undefined) this.lastEventId = event.id
          if (event.event === 'rxpg-ready') this.ready = true
          if (event.event !== 'bench') return
          const { seq, t } = JSON.parse(event.data) as { seq: number; t: number }
          latencies.record(now() - t)
          received++
          if (seq < this.next) this.duplicated++
          else {
            this.lost += seq - this.next
            this.next = seq + 1
          }
        },
      })
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => parser.feed(chunk))
      response.on('close', () => this.reconnect())
    })
    request.on('error', () => this.reconnect())
    this.request = request
  }

  private reconnect(): void {
    if (this.closed || this.slow) return
    this.reconnects++
    setTimeout(() => this.connect(), 5 + Math.random() * 20)
  }

  /** A forced disconnection: the socket is destroyed at whatever point of the stream it is. */
  cut(): void {
    this.request?.destroy()
  }

  close(): void {
    this.closed = true
    this.request?.destroy()
  }
}

let clients: Client[] = []

serveWorker(
  {
    open: ({ url, count, slow }: { url: string; count: number; slow: boolean }) => {
      const target = new URL(url)
      for (let index = 0; index < count; index++) {
        const client = new Client(target, slow)
        clients.push(client)
        client.connect()
      }
      return clients.length
    },
    ready: () => clients.filter((client) => client.ready).length,
    received: () => received,
    cpu: () => {
      const { user, system } = process.cpuUsage()
      return user + system
    },
    cut: ({ count }: { count: number }) => {
      for (let index = 0; index < count; index++) clients[Math.floor(Math.random() * clients.length)]!.cut()
      return count
    },
    tally: ({ expected }: { expected: number }) => ({
      received,
      complete: clients.filter((client) => client.next === expected && client.lost === 0).length,
      lost: clients.reduce((sum, client) => sum + client.lost + (expected - client.next), 0),
      duplicated: clients.reduce((sum, client) => sum + client.duplicated, 0),
      reconnects: clients.reduce((sum, client) => sum + client.reconnects, 0),
      latencies: latencies.entries(),
    }),
    /** Starts a new measurement window (sequence checks go on across windows). */
    resetWindow: () => {
      latencies.clear()
      received = 0
      return true
    },
    closeAll: () => {
      for (const client of clients) client.close()
      clients = []
      return true
    },
  },
  async () => {
    for (const client of clients) client.close()
  },
)
