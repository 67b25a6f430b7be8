import type { IncomingMessage, ServerResponse } from 'node:http'
import { STREAM_HEADERS } from './response-headers.js'
import type { SseTransport, TransportEvents, TransportFactory } from './transport.js'

/**
 * A stream on a Node `ServerResponse` (node:http, Express, Fastify's `reply.raw`, Koa's `ctx.res`).
 *
 * `write()` returning false is passed on as is, and `drain` reports when to go on. The response's `close` is
 * the client going away, noticed at once.
 */
export function nodeTransport(request: IncomingMessage, response: ServerResponse): TransportFactory {
  return (events: TransportEvents): SseTransport => {
    const closed = () => events.closed()
    const drained = () => events.drained()
    response.on('close', closed)
    response.on('drain', drained)
    // A response error (a reset connection) is followed by 'close'; without a listener it would be thrown.
    response.on('error', () => undefined)
    request.socket.setNoDelay(true)
    // Node's default socket time-out (none since Node 13, but frameworks set one) must not end a quiet stream:
    // heartbeats keep it busy, and the session ends it when it should.
    request.socket.setTimeout(0)
    response.writeHead(200, STREAM_HEADERS)
    return {
      // Node's http corks the socket at a response's first write of a turn and uncorks it on the next tick: the
      // writes of one turn (a durable page, a burst) already leave in one packet.
      write(chunk) {
        if (response.destroyed || response.writableEnded) return true
        return response.write(chunk)
      },
      get bufferedBytes() {
        return response.writableLength
      },
      end() {
        if (!response.writableEnded) response.end()
      },
      destroy() {
        response.destroy()
      },
    }
  }
}
