/**
 * Where a stream's text goes: a Node `ServerResponse` or a Web `ReadableStream`. The stream session only
 * needs these few operations, so the same session logic (framing, resume, back-pressure, time-outs) serves
 * both, and a test can run it on a transport of its own.
 */
import type { Chunk } from './frame-cache.js'

export interface SseTransport {
  /**
   * Hands text (or UTF-8 bytes, which other streams may write too: never modified) to the connection.
   * `false`: the transport now holds as much as it should; write nothing more until `drained()` is called (the
   * session keeps what comes meanwhile in its own bounded queue).
   */
  write(chunk: Chunk): boolean
  /** Bytes the transport holds that the network has not taken yet. */
  readonly bufferedBytes: number
  /** Ends the response once what was written is sent. */
  end(): void
  /** Drops the connection at once, discarding what is buffered (a client that stopped reading). */
  destroy(): void
}

/** What a transport reports to its session. */
export interface TransportEvents {
  /** The transport can take more text again. */
  drained(): void
  /** The connection is gone: closed by the client, or ended or destroyed by the session. */
  closed(): void
}

export type TransportFactory = (events: TransportEvents) => SseTransport
