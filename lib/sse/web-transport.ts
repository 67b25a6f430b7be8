import { STREAM_HEADERS } from './response-headers.js'
import type { SseTransport, TransportEvents, TransportFactory } from './transport.js'

/** How much a Web stream queues before `write()` says to wait (bytes). */
const HIGH_WATER_MARK = 16 * 1024

/**
 * A stream as a Web `Response` (Hono, Next.js route handlers, Deno, Bun, workers): a `ReadableStream` of
 * UTF-8 bytes whose queue is counted in bytes. `desiredSize` falling to zero is the back-pressure signal,
 * `pull` the drain, and `cancel` (or the request's abort signal) the client going away.
 *
 * `begin` receives the transport factory and starts the session on it before the response is returned.
 */
export function webStreamResponse(signal: AbortSignal | undefined, begin: (transport: TransportFactory) => void): Response {
  const encoder = new TextEncoder()
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined
  let events: TransportEvents | undefined
  let done = false
  const stop = () => {
    done = true
    signal?.removeEventListener('abort', gone)
  }
  const gone = () => {
    if (done) return
    stop()
    events?.closed()
  }
  const body = new ReadableStream<Uint8Array>(
    {
      start: (streamController) => {
        controller = streamController
      },
      pull: () => events?.drained(),
      cancel: gone,
    },
    { highWaterMark: HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
  )
  signal?.addEventListener('abort', gone, { once: true })
  const held = () => (controller === undefined ? 0 : Math.max(0, HIGH_WATER_MARK - (controller.desiredSize ?? 0)))
  begin((transportEvents): SseTransport => {
    events = transportEvents
    return {
      write(chunk) {
        if (done || controller === undefined) return true
        // A shared chunk is copied: a byte stream's reader may take over the buffers it is given.
        controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk.slice())
        return (controller.desiredSize ?? 0) > 0
      },
      get bufferedBytes() {
        return held()
      },
      end() {
        if (done) return
        stop()
        controller?.close()
      },
      destroy() {
        if (done) return
        stop()
        controller?.error(new Error('rxpg: the stream was cut off: the client did not read'))
      },
    }
  })
  return new Response(body, { status: 200, headers: STREAM_HEADERS })
}
