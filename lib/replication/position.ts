/**
 * Positions in a change stream and the opaque tokens that carry them.
 *
 * A position is one event inside a transaction: the transaction's commit LSN and the event's index in it (an
 * LSN alone is ambiguous: a COPY or a multi-row INSERT puts many changes on one LSN). Indexes count every change
 * the server sends for the transaction, in order, so they are the same each time the slot decodes it again.
 * A checkpoint (a position between transactions, see `Checkpoint`) has index -1 and its own LSN.
 *
 * Each position also says where a stream resumed after it must start reading the slot (`resume`): the commit
 * LSN while more of the transaction may follow, the transaction's end LSN once it is the last change delivered
 * of it, the checkpoint's LSN for a checkpoint. That is also the flush position acknowledging it confirms.
 *
 * A token is `rxr1.<tag>.<lsn>.<index>.<resume>`: a prefix with the format version, a tag of the slot and
 * server that issued it (so a token of another slot or server is recognised), two LSNs as 16 hex digits and
 * the index (`c` for a checkpoint). Only rxpg parses it; users store it and pass it back as an opaque string.
 */
import { createHash } from 'node:crypto'
import { InvalidReplicationTokenError } from './errors.js'
import { lsnHex, parseLsnHex, type Lsn } from './lsn.js'

export interface Position {
  /** The transaction's commit LSN, or the checkpoint's LSN. */
  readonly lsn: Lsn
  /** The change's index in its transaction; -1 for a checkpoint. */
  readonly index: number
  /** Where a stream resumed after this position starts reading. */
  readonly resume: Lsn
}

export const TOKEN_PREFIX = 'rxr1'
const CHECKPOINT_INDEX = 'c'
const INDEX = /^(0|[1-9][0-9]{0,9})$/
const TAG = /^[0-9a-f]{8}$/

/** The tag of a slot on one server: a short hash of the server's system identifier, the database and the slot. */
export function slotTag(systemId: string, database: string, slot: string): string {
  return createHash('sha256').update(`${systemId}\0${database}\0${slot}`).digest('hex').slice(0, 8)
}

/** Everything of a change's token up to its index: built once per transaction. */
export function tokenStem(tag: string, lsn: Lsn): string {
  return `${TOKEN_PREFIX}.${tag}.${lsnHex(lsn)}.`
}

/** A change's token from its transaction's stem: `resumeHex` is the commit LSN's hex, or the end LSN's for the last change. */
export function changeToken(stem: string, index: number, resumeHex: string): string {
  return stem + index + '.' + resumeHex
}

export function checkpointToken(tag: string, lsn: Lsn): string {
  const hex = lsnHex(lsn)
  return `${TOKEN_PREFIX}.${tag}.${hex}.${CHECKPOINT_INDEX}.${hex}`
}

export interface DecodedToken {
  readonly tag: string
  readonly position: Position
}

/** Parses a token; throws `InvalidReplicationTokenError` (`malformed`) for anything that is not one. */
export function decodeToken(token: unknown): DecodedToken {
  const text = typeof token === 'string' ? token : String(token)
  const malformed = (detail: string) => new InvalidReplicationTokenError({ token: text, reason: 'malformed', detail })
  if (typeof token !== 'string') throw malformed(`expected a string, got ${typeof token}`)
  const parts = token.split('.')
  if (parts.length !== 5 || parts[0] !== TOKEN_PREFIX) throw malformed(`not an rxpg replication token (expected "${TOKEN_PREFIX}.…" with 5 parts)`)
  const [, tag, lsnText, indexText, resumeText] = parts as [string, string, string, string, string]
  const lsn = parseLsnHex(lsnText)
  const resume = parseLsnHex(resumeText)
  if (!TAG.test(tag) || lsn === undefined || resume === undefined) throw malformed('its tag or LSNs are not hexadecimal of the right length')
  if (indexText === CHECKPOINT_INDEX) {
    if (resume !== lsn) throw malformed('a checkpoint resumes at its own LSN')
    return { tag, position: { lsn, index: -1, resume } }
  }
  if (!INDEX.test(indexText)) throw malformed('its index is not a decimal number')
  if (resume < lsn) throw malformed('it resumes before its own transaction')
  return { tag, position: { lsn, index: Number(indexText), resume } }
}

/** Stream order: by LSN, then by index (a checkpoint comes before a transaction committed at its LSN). */
export function comparePositions(a: Position, b: Position): number {
  if (a.lsn !== b.lsn) return a.lsn < b.lsn ? -1 : 1
  return a.index - b.index
}

/** The token of a position (for errors and for positions rebuilt from tokens). */
export function encodeToken(tag: string, position: Position): string {
  if (position.index < 0) return checkpointToken(tag, position.lsn)
  return changeToken(tokenStem(tag, position.lsn), position.index, lsnHex(position.resume))
}
