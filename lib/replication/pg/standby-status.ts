import type { StatusUpdate } from '../ports.js'

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01), as the protocol counts time. */
const POSTGRES_EPOCH_US = 946_684_800_000_000n

/**
 * A Standby Status Update ('r') wrapped in its CopyData frame ('d'), ready for the socket: written, flushed
 * and applied positions (applied = flushed: what the consumer processed), the client's clock, and whether the
 * server should answer at once.
 */
export function standbyStatusFrame(update: StatusUpdate, nowMs: number): Buffer {
  const frame = Buffer.allocUnsafe(1 + 4 + 34)
  frame[0] = 0x64 // 'd'
  frame.writeUInt32BE(4 + 34, 1)
  frame[5] = 0x72 // 'r'
  frame.writeBigUInt64BE(update.written, 6)
  frame.writeBigUInt64BE(update.flushed, 14)
  frame.writeBigUInt64BE(update.flushed, 22)
  frame.writeBigInt64BE(BigInt(Math.round(nowMs * 1000)) - POSTGRES_EPOCH_US, 30)
  frame[38] = update.replyRequested ? 1 : 0
  return frame
}
