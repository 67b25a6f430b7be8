/**
 * Reads the messages of one type straight off a pg client's socket, ahead of pg's protocol parser: the
 * listener's NotificationResponse messages and a replication connection's CopyData.
 *
 * Through pg, each such message costs a Buffer view of its own, a message object, two events and, for
 * CopyData, the client's look-up of its active query (for nothing: pg ignores CopyData it did not ask for);
 * read here, the handler reads each message where it lies in the socket's read. Every other message (query
 * results, errors, notices, ReadyForQuery, the CopyBoth start and end) is handed to pg's parser as it came,
 * whole and in order, so pg's client goes through its states as before and sees no difference but the
 * messages it no longer parses. Measured: CPU per change 0.81× in the replication drain (200,000 changes, 7
 * interleaved runs); for notifications, see docs/design.md.
 *
 * Taken over only while the connection is idle between statements (nothing half-read in pg's parser), and
 * only when pg's parser is the socket's one 'data' listener, as pg attaches it; otherwise the caller reads
 * from pg's events as before (`takeOverMessages` returns undefined).
 */
import type { Readable } from 'node:stream'

/** A message's body: `buffer` from `start` to `end` (the bytes after the message's type and length). */
export type MessageHandler = (buffer: Buffer, start: number, end: number) => void

/** The message type of CopyData ('d'). */
export const COPY_DATA = 0x64
/** The message type of NotificationResponse ('A'). */
export const NOTIFICATION_RESPONSE = 0x41
/** A message's type byte and its 4-byte length (which counts itself, not the type). */
const HEADER = 5

/**
 * Replaces pg's 'data' listener on `stream` with a reader that hands the bodies of messages of `type` to
 * `onMessage` and every other message to pg's listener. `onRead` is called once per read, before its messages.
 * Undefined when the stream's listeners are not pg's one (nothing is changed then).
 */
export function takeOverMessages(stream: Readable, type: number, onMessage: MessageHandler, onRead: () => void = noRead): MessageReader | undefined {
  const listeners = stream.listeners('data')
  if (listeners.length !== 1) return undefined
  const pgListener = listeners[0] as (chunk: Buffer) => void
  const reader = new MessageReader(stream, type, onMessage, onRead, pgListener)
  stream.off('data', pgListener)
  stream.on('data', reader.onData)
  return reader
}

const noRead = (): void => undefined

export class MessageReader {
  /** A message the reads so far left incomplete: its bytes (all of them once its length is known), and how many came. */
  private partial: Buffer | undefined
  private partialFilled = 0

  constructor(
    private readonly stream: Readable,
    private readonly type: number,
    private readonly onMessage: MessageHandler,
    private readonly onRead: () => void,
    private readonly pgListener: (chunk: Buffer) => void,
  ) {}

  readonly onData = (chunk: Buffer): void => {
    // A destroyed socket may still emit what it had buffered (a resume scheduled before the destroy flows it):
    // the connection is done, nothing in those reads is for anyone.
    if (this.stream.destroyed) return
    this.onRead()
    let offset = 0
    if (this.partial !== undefined) {
      offset = this.completePartial(chunk)
      if (offset < 0) return
    }
    const length = chunk.length
    // Messages for pg that lie next to each other go to it in one call.
    let forwardFrom = -1
    while (length - offset >= HEADER && !this.stream.destroyed) {
      const end = offset + 1 + chunk.readUInt32BE(offset + 1)
      if (end > length) break
      if (chunk[offset] === this.type) {
        if (forwardFrom >= 0) {
          this.pgListener(chunk.subarray(forwardFrom, offset))
          forwardFrom = -1
        }
        this.onMessage(chunk, offset + HEADER, end)
      } else if (forwardFrom < 0) {
        forwardFrom = offset
      }
      offset = end
    }
    if (forwardFrom >= 0) this.pgListener(chunk.subarray(forwardFrom, offset))
    // Stopped by a message that destroyed the stream: the rest of the read may hold whole messages, not a
    // message begun, and is not read.
    if (offset < length && !this.stream.destroyed) this.keepPartial(chunk, offset)
  }

  /** The start of a message the read ended in: kept (in a buffer of the message's size, once that is known). */
  private keepPartial(chunk: Buffer, offset: number): void {
    const available = chunk.length - offset
    const size = available >= HEADER ? 1 + chunk.readUInt32BE(offset + 1) : HEADER
    const partial = Buffer.allocUnsafe(size)
    chunk.copy(partial, 0, offset)
    this.partial = partial
    this.partialFilled = available
  }

  /**
   * Adds the read's first bytes to the message the last read left incomplete, and hands it on once complete.
   * Returns where the read's next message starts, or -1 when the whole read went into the message.
   */
  private completePartial(chunk: Buffer): number {
    let partial = this.partial as Buffer
    let taken = 0
    if (this.partialFilled < HEADER) {
      // The length was not known yet: the header's missing bytes first, then a buffer of the message's size.
      taken = Math.min(HEADER - this.partialFilled, chunk.length)
      chunk.copy(partial, this.partialFilled, 0, taken)
      this.partialFilled += taken
      if (this.partialFilled < HEADER) return -1
      const whole = Buffer.allocUnsafe(1 + partial.readUInt32BE(1))
      partial.copy(whole, 0, 0, HEADER)
      partial = whole
      this.partial = whole
    }
    const copied = chunk.copy(partial, this.partialFilled, taken, Math.min(chunk.length, taken + partial.length - this.partialFilled))
    this.partialFilled += copied
    taken += copied
    if (this.partialFilled < partial.length) return -1
    this.partial = undefined
    this.partialFilled = 0
    if (partial[0] === this.type) this.onMessage(partial, HEADER, partial.length)
    else this.pgListener(partial)
    return taken
  }
}
