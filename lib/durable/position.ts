/**
 * Positions in a durable log and the opaque resume tokens that carry them.
 *
 * A position is (epoch, tx, id): the log's epoch (raised when the database is found restored, so positions
 * are never reused), the id of the transaction that wrote the row (64-bit, from `txid_current()`), and the
 * row's id (a sequence, increasing within a transaction). Rows are read in this order, and only below the
 * snapshot horizon (see docs/durable.md), which makes it the commit-safe total order every reader shares.
 *
 * A token is `rxd1.<log id>.<epoch>.<tx>.<id>` (numbers in base 36): a prefix with the format version, the
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
const NUMBER = /^[0-9a-z]{1,14}$/

/** The position before every row of epoch 0: where a brand-new reader from 'earliest' starts. */
export const START: Position = { epoch: 0, tx: 0n, id: 0n }

export function encodeToken(logId: string, position: Position): string {
  return `${TOKEN_PREFIX}.${logId}.${position.epoch.toString(36)}.${position.tx.toString(36)}.${position.id.toString(36)}`
}

/** Parses a token issued by the log `logId`; throws `InvalidTokenError` (malformed or other-log) otherwise. */
export function decodeToken(token: unknown, logId: string): Position {
  const text = typeof token === 'string' ? token : String(token)
  const malformed = (detail: string) => new InvalidTokenError({ token: text, reason: 'malformed', detail })
  if (typeof token !== 'string') throw malformed(`expected a string, got ${typeof token}`)
  const parts = token.split('.')
  if (parts.length !== 5 || parts[0] !== TOKEN_PREFIX) throw malformed(`not an rxpg durable token (expected "${TOKEN_PREFIX}.…" with 5 parts)`)
  const [, issuer, epoch, tx, id] = parts as [string, string, string, string, string]
  if (![epoch, tx, id].every((part) => NUMBER.test(part))) throw malformed('its position is not made of base-36 numbers')
  if (issuer !== logId) {
    throw new InvalidTokenError({ token, reason: 'other-log', detail: `it was issued by log ${issuer}, this is log ${logId} (another database or schema)` })
  }
  return { epoch: Number.parseInt(epoch, 36), tx: parseBase36(tx), id: parseBase36(id) }
}

function parseBase36(text: string): bigint {
  let value = 0n
  for (const char of text) value = value * 36n + BigInt(Number.parseInt(char, 36))
  return value
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
