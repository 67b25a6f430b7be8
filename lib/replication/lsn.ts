/**
 * Log sequence numbers: 64-bit byte positions in PostgreSQL's write-ahead log, as `bigint`s. PostgreSQL writes
 * them as two hexadecimal halves (`16/B374D848`); tokens use 16 fixed-width hex digits so that no slash ends
 * up in a URL or an SSE id.
 */

export type Lsn = bigint

/** The smallest LSN: `0/0`, which START_REPLICATION reads as "from the slot's confirmed position". */
export const ZERO_LSN: Lsn = 0n

const pgFormat = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/

/** Parses PostgreSQL's `X/Y` form (what `pg_lsn::text` gives); undefined when it is not one. */
export function parseLsn(text: string): Lsn | undefined {
  const match = pgFormat.exec(text)
  if (match === null) return undefined
  return (BigInt('0x' + match[1]) << 32n) | BigInt('0x' + match[2])
}

/** PostgreSQL's `X/Y` form, upper-case as the server prints it. */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

/** 16 hexadecimal digits, zero-padded, for tokens. */
export function lsnHex(lsn: Lsn): string {
  return lsn.toString(16).padStart(16, '0')
}

const hex16 = /^[0-9a-f]{16}$/

/** The inverse of `lsnHex`; undefined for anything else. */
export function parseLsnHex(text: string): Lsn | undefined {
  return hex16.test(text) ? BigInt('0x' + text) : undefined
}

/** Reads an LSN written as a big-endian 64-bit integer (the replication protocol's form). */
export function readLsn(buffer: Buffer, offset: number): Lsn {
  return buffer.readBigUInt64BE(offset)
}

/** Bytes from `from` to `to`, as a number (0 when `to` is not after `from`). */
export function lsnDistance(from: Lsn, to: Lsn): number {
  return to > from ? Number(to - from) : 0
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b
}
