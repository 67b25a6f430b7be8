/**
 * A TCP proxy on the loopback interface that breaks connections the way networks do, so specs can prove
 * what the listener does about it (after pg-boss's test/halfOpenProxy.ts):
 *
 * - `blackhole()`: nothing passes in either direction, yet every socket stays open: no FIN, no RST. To both
 *   ends the peer simply goes silent, as behind a dead NAT entry or a pulled cable. New connections are
 *   accepted and stay silent too. Bytes sent meanwhile wait in the kernel, as TCP would retransmit them.
 * - `resume()`: forwarding starts again; what waited is delivered (the partition heals).
 * - `freezeExisting()`: the connections open now go silent for good (as after a NAT or load-balancer entry
 *   expired), while new connections pass normally.
 * - `dropAll()`: destroys every connection at once (both sockets), as a restarting middlebox would.
 * - `refuse()` / `accept()`: stops / starts listening, so new connections are refused (ECONNREFUSED).
 * - `close()`: all of the above, for good.
 *
 * Bounded: at most `maxConnections` live pairs (more are destroyed at once), and only loopback addresses.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface HalfOpenProxyOptions {
  /** The server to forward to, on 127.0.0.1. */
  readonly targetPort: number
  /** Live connection pairs allowed at once; further ones are destroyed on arrival. Default 100. */
  readonly maxConnections?: number
}

interface Pair {
  readonly client: Socket
  readonly upstream: Socket
  /** One side closed while blackholed: the other learns of it only when the partition heals. */
  brokenWhileHeld: boolean
}

export interface HalfOpenProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string
  /** Connection pairs currently open. */
  readonly connections: number
  /** Whether traffic is being held right now. */
  readonly blackholed: boolean
  blackhole(): void
  resume(): void
  freezeExisting(): void
  dropAll(): void
  refuse(): void
  accept(): Promise<void>
  close(): Promise<void>
}

const LOOPBACK = '127.0.0.1'

export async function startHalfOpenProxy(options: HalfOpenProxyOptions): Promise<HalfOpenProxy> {
  const maxConnections = options.maxConnections ?? 100
  const pairs = new Set<Pair>()
  /** Connections frozen for good by `freezeExisting()`: destroyed only by `close()`. */
  const frozen = new Set<Pair>()
  let blackholed = false
  let closed = false

  const forward = (pair: Pair) => {
    pair.client.pipe(pair.upstream)
    pair.upstream.pipe(pair.client)
  }
  const hold = (pair: Pair) => {
    pair.client.unpipe(pair.upstream)
    pair.upstream.unpipe(pair.client)
    // Paused sockets read nothing more: data (and a FIN) waits in the kernel until `resume()`.
    pair.client.pause()
    pair.upstream.pause()
  }
  const destroy = (pair: Pair) => {
    pairs.delete(pair)
    pair.client.destroy()
    pair.upstream.destroy()
  }
  /** One side is gone: the other side is ended gracefully (what was forwarded is flushed first). */
  const onSideClosed = (pair: Pair) => {
    // A frozen connection tells neither side anything, like a NAT entry that expired.
    if (frozen.has(pair)) return
    if (blackholed) {
      pair.brokenWhileHeld = true
      return
    }
    pairs.delete(pair)
    pair.client.end()
    pair.upstream.end()
  }

  const onConnection = (client: Socket) => {
    if (closed || pairs.size >= maxConnections) {
      client.destroy()
      return
    }
    const upstream = connect({ host: LOOPBACK, port: options.targetPort })
    upstream.pause()
    const pair: Pair = { client, upstream, brokenWhileHeld: false }
    pairs.add(pair)
    // Errors end the socket ('close' follows); the pair is handled there.
    client.on('error', () => undefined)
    upstream.on('error', () => undefined)
    client.once('close', () => onSideClosed(pair))
    upstream.once('close', () => onSideClosed(pair))
    if (!blackholed) forward(pair)
  }

  let server: Server | undefined
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const listening = createServer({ pauseOnConnect: true }, onConnection)
      listening.once('error', reject)
      listening.listen(port, LOOPBACK, () => {
        listening.off('error', reject)
        server = listening
        resolve()
      })
    })
  // Closing the listening socket leaves accepted connections alone (they are tracked in `pairs`).
  const stopListening = () => {
    server?.close()
    server = undefined
  }

  await listen(0)
  const address = server?.address()
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no address')
  const port = address.port

  return {
    port,
    url(url) {
      const parsed = new URL(url)
      parsed.hostname = LOOPBACK
      parsed.port = String(port)
      return parsed.toString()
    },
    get connections() {
      return pairs.size
    },
    get blackholed() {
      return blackholed
    },
    blackhole() {
      if (blackholed) return
      blackholed = true
      for (const pair of pairs) hold(pair)
    },
    freezeExisting() {
      // Held and forgotten: they stay open and silent until close().
      for (const pair of [...pairs]) {
        hold(pair)
        frozen.add(pair)
        pairs.delete(pair)
      }
    },
    resume() {
      if (!blackholed) return
      blackholed = false
      for (const pair of [...pairs]) {
        forward(pair)
        if (pair.brokenWhileHeld) onSideClosed(pair)
      }
    },
    dropAll() {
      for (const pair of [...pairs]) destroy(pair)
    },
    refuse: stopListening,
    async accept() {
      if (closed || server !== undefined) return
      await listen(port)
    },
    async close() {
      if (closed) return
      closed = true
      stopListening()
      for (const pair of [...pairs, ...frozen]) destroy(pair)
      frozen.clear()
    },
  }
}
