/**
 * Positions in a durable log and the opaque resume tokens that carry them.
 *
 * A position is (epoch, tx, id): the log's epoch (raised when the database is found restored, so positions
 * are never reused), the id of the transaction that wrote the row (64-bit, from `txid_current()`), and the
 * row's id (a sequence, increasing within a transaction). Rows are read in this order, and only below the
 * snapshot horizon (see docs/durable.md), which makes it the commit-safe total order every reader shares.
 *
 * A token is `rxd1.<log id>.<epoch>.<tx>.<id>` (decimal numbers): a prefix with the format version, the
 * id of the log that issued it (so a token from another database or schema is recognised), and the position.
 * Only rxpg parses it; users store and pass it back as an opaque string.
 */
import { InvalidTokenError } from './errors.js'

export interface Position {
  readonly epoch: number
  readonly tx: bigint
  readonly id: bigint
}

export const TOKEN_PREFIX = 'rxd1'
/** A non-negative decimal that fits a PostgreSQL bigint (at most 19 digits, no leading zeros). */
const NUMBER = /^(0|[1-9][0-9]{0,18})$/

/** The position before every row of epoch 0: where a brand-new reader from 'earliest' starts. */
export const START: Position = { epoch: 0, tx: 0n, id: 0n }

export function encodeToken(logId: string, position: Position): string {
  return tokenOf(logId, position.epoch, position.tx.toString(), position.id.toString())
}

/** A token from a row's columns as pg returns them (decimal text): no conversion on the hot path. */
export function tokenOf(logId: string, epoch: number, tx: string, id: string): string {
  return `${TOKEN_PREFIX}.${logId}.${epoch}.${tx}.${id}`
}

/** Parses a token issued by the log `logId`; throws `InvalidTokenError` (malformed or other-log) otherwise. */
export function decodeToken(token: unknown, logId: string): Position {
  const { issuer, position } = parseToken(token)
  if (issuer !== logId) {
    throw new InvalidTokenError({ token: String(token), reason: 'other-log', detail: `it was issued by log ${issuer}, this is log ${logId} (another database or schema)` })
  }
  return position
}

/**
 * The issuer and position of a well-formed token, whatever log issued it; throws `InvalidTokenError`
 * (`malformed`) otherwise. Needs no database: the command line refuses a malformed token before connecting.
 */
export function parseToken(token: unknown): { readonly issuer: string; readonly position: Position } {
  const text = typeof token === 'string' ? token : String(token)
  const malformed = (detail: string) => new InvalidTokenError({ token: text, reason: 'malformed', detail })
  if (typeof token !== 'string') throw malformed(`expected a string, got ${token === null ? 'null' : typeof token}`)
  const parts = token.split('.')
  if (parts.length !== 5 || parts[0] !== TOKEN_PREFIX) throw malformed(`not an rxpg durable token (expected "${TOKEN_PREFIX}.…" with 5 parts)`)
  const [, issuer, epoch, tx, id] = parts as [string, string, string, string, string]
  if (![epoch, tx, id].every((part) => NUMBER.test(part))) {
    // Digits alone, only too many of them: say so, rather than that they are not numbers.
    throw malformed([epoch, tx, id].every((part) => /^[1-9][0-9]*$|^0$/.test(part)) ? 'a number is out of range' : 'its position is not made of decimal numbers')
  }
  const position = { epoch: Number(epoch), tx: BigInt(tx), id: BigInt(id) }
  // The top of bigint is no row's (the next read starts after it, at + 1): out of range too.
  if (position.epoch > 2 ** 31 - 1 || position.tx >= 2n ** 63n - 1n || position.id >= 2n ** 63n - 1n) throw malformed('a number is out of range')
  return { issuer, position }
}

/** Compares two non-negative decimal strings without converting them. */
export function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

export function comparePositions(a: Position, b: Position): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1
  if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1
  if (a.id !== b.id) return a.id < b.id ? -1 : 1
  return 0
}

export function maxPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b
}

/** The position as query parameters ($epoch, $tx, $id): bigints as decimal strings. */
export function positionParams(position: Position): [number, string, string] {
  return [position.epoch, position.tx.toString(), position.id.toString()]
}

/** A position from a row's (epoch, tx, id) columns (pg returns bigint as a string). */
export function positionOf(row: { readonly epoch: number | string; readonly tx: string; readonly id: string }): Position {
  return { epoch: Number(row.epoch), tx: BigInt(row.tx), id: BigInt(row.id) }
}
