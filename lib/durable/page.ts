/**
 * @internal One page of a channel after a position, read in one statement (one snapshot): the rows below the
 * horizon in (epoch, tx, id) order, the horizon itself, and the channel's expiry. Shared by `read`, `fetch` and
 * consumers, which differ only in where they start and what they do with the page.
 */
import { from, lastValueFrom, toArray } from 'rxjs'
import type { DecodeError, Either, PgNotification, TypedChannel } from '../index.js'
import { CursorExpiredError, InvalidTokenError } from './errors.js'
import type { LogContext, LogMeta } from './log-context.js'
import { compareDecimal, comparePositions, decodeToken, encodeToken, maxPosition, positionParams, START, tokenOf, type Position } from './position.js'
import type { DurableMessage, StartPosition } from './types.js'

export interface PageRow {
  readonly epoch: number
  /** The writing transaction's id and the row's id, as pg returns them (decimal text). */
  readonly tx: string
  readonly id: string
  readonly partition: number
  readonly key: string | null
  /** The value's JSON text, as stored. */
  readonly text: string
  /** When it was appended, ms since the epoch. */
  readonly appendedMs: number
}

export function positionOfRow(row: PageRow): Position {
  return { epoch: row.epoch, tx: BigInt(row.tx), id: BigInt(row.id) }
}

function compareRows(a: PageRow, b: PageRow): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : compareDecimal(a.tx, b.tx) || compareDecimal(a.id, b.id)
}

export interface Page {
  readonly rows: PageRow[]
  /**
   * Every transaction below it was final at this snapshot, in the current epoch: (current epoch, xmin, 0). Never
   * a cursor: transaction ids below it that wrote nothing durable are handed out again after a crash.
   */
  readonly horizon: Position
  readonly xmax: bigint
  /**
   * The channel has rows committed at or past the horizon: unread, and readable once the older transactions that
   * hold the horizon end (which may wake no reader: they may have appended nothing).
   */
  readonly pending: boolean
  /** The newest position dropped by retention on this channel, if any. */
  readonly expiredThrough: Position | undefined
  /**
   * A consumer's read only: the channel's newest row below the horizon, or retention's newest dropped position
   * when later. No row of the channel at or before it can appear any more, and it is durable.
   */
  readonly settledThrough: Position | undefined
}

/**
 * The page query's columns, in order (see queries.ts), as the server's text: the header row fills the first ten,
 * each of the page's rows the last seven.
 */
type RawPageRow = [
  xmin: string | null,
  xmax: string | null,
  currentEpoch: string | null,
  expiredEpoch: string | null,
  expiredTx: string | null,
  expiredId: string | null,
  newestEpoch: string | null,
  newestTx: string | null,
  newestId: string | null,
  pending: string | null,
  epoch: string | null,
  tx: string | null,
  id: string | null,
  part: string | null,
  key: string | null,
  value: string | null,
  appendedMs: string | null,
]

/** Reads up to `limit` rows of `channel` after `after`; with `owned`, only rows of those partitions after their own cursors. */
export async function readPage(
  context: LogContext,
  operation: string,
  channel: string,
  after: Position,
  limit: number,
  owned?: { readonly epochs: Array<number | null>; readonly txs: Array<string | null>; readonly ids: Array<string | null> },
): Promise<Page> {
  const values: unknown[] = [channel, ...positionParams(after), limit]
  if (owned) values.push(owned.epochs, owned.txs, owned.ids)
  const raw = (await context.queryTexts(operation, owned ? context.queries.readOwned : context.queries.read, values)) as RawPageRow[]
  let header: RawPageRow | undefined
  const rows: PageRow[] = []
  let sorted = true
  for (const row of raw) {
    const [, , , , , , , , , , epoch, tx, id, part, key, value, appendedMs] = row
    // The header is told apart by its columns, not by coming first.
    if (epoch === null || tx === null || id === null) {
      header = row
      continue
    }
    const pageRow: PageRow = { epoch: Number(epoch), tx, id, partition: Number(part), key, text: value ?? 'null', appendedMs: Number(appendedMs) }
    if (sorted && rows.length > 0 && compareRows(rows[rows.length - 1] as PageRow, pageRow) > 0) sorted = false
    rows.push(pageRow)
  }
  const [xmin, xmax, currentEpoch, expiredEpoch, expiredTx, expiredId, newestEpoch, newestTx, newestId, pending] = header ?? []
  if (xmin == null || xmax == null || currentEpoch == null) throw new Error('rxpg: the page query returned no horizon')
  if (!sorted) rows.sort(compareRows)
  const expiredThrough = positionOrUndefined(expiredEpoch, expiredTx, expiredId)
  return {
    rows,
    horizon: { epoch: Number(currentEpoch), tx: BigInt(xmin), id: 0n },
    xmax: BigInt(xmax),
    pending: pending === 't',
    expiredThrough,
    settledThrough: owned ? laterOf(positionOrUndefined(newestEpoch, newestTx, newestId), expiredThrough) : undefined,
  }
}

function positionOrUndefined(epoch: string | number | null | undefined, tx: string | null | undefined, id: string | null | undefined): Position | undefined {
  return epoch == null || tx == null || id == null ? undefined : { epoch: Number(epoch), tx: BigInt(tx), id: BigInt(id) }
}

export function laterOf(a: Position | undefined, b: Position | undefined): Position | undefined {
  return a === undefined ? b : b === undefined ? a : maxPosition(a, b)
}

/** Where a read starts, and the expiry floor: with 'earliest', what was dropped before the start does not count. */
export interface Start {
  readonly position: Position
  readonly fromEarliest: boolean
}

/**
 * Resolves `from` (a token is parsed and checked against this log). 'now' is the channel's newest row that is
 * final, or retention's newest dropped position when later, or the start of a channel with neither: whatever
 * commits afterwards comes after it, and it stays true after a crash (see `Page.horizon`).
 */
export async function startOf(context: LogContext, meta: LogMeta, channel: string, from: StartPosition, operation: string): Promise<Start> {
  if (from === 'earliest') return { position: START, fromEarliest: true }
  if (from === 'now') {
    const { newest, expired } = await channelEnds(context, channel, operation)
    return { position: laterOf(newest, expired) ?? START, fromEarliest: false }
  }
  const position = decodeToken(from, meta.logId)
  if (position.epoch < meta.epoch && comparePositions(position, START) > 0) await assertKnown(context, meta, channel, position, from, operation)
  return { position, fromEarliest: false }
}

/** What `channelEnds` tells of a channel, from one snapshot. */
export interface ChannelEnds {
  /** The channel's newest row below the horizon, if any. */
  readonly newest?: Position | undefined
  /** Retention's newest dropped position on the channel, if any. */
  readonly expired?: Position | undefined
  /** The log's current epoch, and the first transaction id not yet handed out (nothing written is past it). */
  readonly epoch: number
  readonly xmax: bigint
}

export async function channelEnds(context: LogContext, channel: string, operation: string): Promise<ChannelEnds> {
  type EndsRow = Record<'xmax' | 'newest_tx' | 'newest_id' | 'expired_tx' | 'expired_id', string | null> & { current_epoch: number | string; newest_epoch: number | null; expired_epoch: number | null }
  const [row] = await context.query<EndsRow>(operation, context.queries.now, [channel])
  if (row === undefined || row.xmax === null) throw new Error('rxpg: the position query returned no row')
  return {
    newest: positionOrUndefined(row.newest_epoch, row.newest_tx, row.newest_id),
    expired: positionOrUndefined(row.expired_epoch, row.expired_tx, row.expired_id),
    epoch: Number(row.current_epoch),
    xmax: BigInt(row.xmax),
  }
}

/**
 * The error for a position past every transaction this database has run (epoch `epoch`, next transaction id
 * `xmax`), or undefined: a token of a database restored from an older backup, a row lost with
 * synchronous_commit off, or a token mistyped.
 */
export function aheadOfDatabase(position: Position, epoch: number, xmax: bigint, token: string): InvalidTokenError | undefined {
  if (position.epoch < epoch || (position.epoch === epoch && position.tx <= xmax)) return undefined
  return new InvalidTokenError({
    token,
    reason: 'ahead-of-database',
    detail:
      `it points past every transaction this database has run (epoch ${epoch}, next transaction ${xmax}): the database was ` +
      'probably restored from a backup older than the token, the row it names was written with synchronous_commit off and lost in a crash, or the token was mistyped',
  })
}

/**
 * A token of an older epoch than the log's (the database was restored) must name a message this database has, or
 * one retention dropped: one written after the backup was taken is gone with the old database, and reading on
 * from it would skip what the restored database wrote in its place without a word. Checked once per read or
 * fetch, only for such tokens (a token names a message of its channel: see `Page.horizon`).
 */
async function assertKnown(context: LogContext, meta: LogMeta, channel: string, position: Position, token: string, operation: string): Promise<void> {
  const [row] = await context.query<{ known: boolean }>(operation, context.queries.knownPosition, [channel, ...positionParams(position)])
  if (row?.known === true) return
  throw new InvalidTokenError({
    token,
    reason: 'ahead-of-database',
    detail: `it names a message of epoch ${position.epoch} that this database (now in epoch ${meta.epoch}) does not have: it was restored from a backup taken before that message was written, which is gone with the database it was written to`,
  })
}

/**
 * Checks a page against its cursor: a token ahead of this database (restored from an older backup) or behind
 * the retention is an error, never a silent skip. `floor`: expiry seen when an 'earliest' read began.
 */
export function checkPage(page: Page, cursor: Position, meta: LogMeta, channel: string, floor: Position | undefined, group?: string): void {
  const ahead = aheadOfDatabase(cursor, page.horizon.epoch, page.xmax, encodeToken(meta.logId, cursor))
  if (ahead !== undefined) throw ahead
  const expired = page.expiredThrough
  if (expired !== undefined && comparePositions(expired, floor === undefined ? cursor : maxPosition(cursor, floor)) > 0) {
    throw new CursorExpiredError({ channel, token: encodeToken(meta.logId, cursor), ...(group === undefined ? {} : { group }) })
  }
}

/**
 * The cursor after a page of a whole channel: the last row's position, and, when the page was not full (it held
 * every row of the channel up to the horizon), at least retention's newest dropped position, which it passed
 * (checkPage): a later read from there is not expired. Never the horizon (see `Page.horizon`).
 */
export function cursorAfter(page: Page, cursor: Position, full: boolean): Position {
  const lastRow = page.rows.at(-1)
  const last = lastRow === undefined ? cursor : positionOfRow(lastRow)
  return full || page.expiredThrough === undefined ? last : maxPosition(last, page.expiredThrough)
}

/** The page's rows as messages with their JSON values parsed. */
export function plainMessages(meta: LogMeta, channel: string, rows: readonly PageRow[]): Array<DurableMessage<unknown>> {
  return rows.map((row) => messageOf(meta, channel, row, JSON.parse(row.text) as unknown))
}

/** The page's rows decoded by a typed channel's codec (the same decoding as `listen`), failures as `Left`s. */
export async function typedMessages<T>(
  meta: LogMeta,
  typed: TypedChannel<T>,
  rows: readonly PageRow[],
): Promise<Array<DurableMessage<Either<DecodeError, T>>>> {
  if (rows.length === 0) return []
  const notifications = rows.map((row): PgNotification => ({ channel: typed.name, payload: row.text, processId: 0, receivedAt: row.appendedMs }))
  const results = await lastValueFrom(typed.listen({ channel: () => from(notifications) }).pipe(toArray()))
  return rows.map((row, index) => messageOf(meta, typed.name, row, results[index] as Either<DecodeError, T>))
}

function messageOf<T>(meta: LogMeta, channel: string, row: PageRow, value: T): DurableMessage<T> {
  const token = tokenOf(meta.logId, row.epoch, row.tx, row.id)
  const appendedAt = new Date(row.appendedMs)
  // Two literals rather than a spread of one into the other: a message per row, and the copy showed in profiles.
  return row.key === null ? { token, channel, value, partition: row.partition, appendedAt } : { token, channel, value, partition: row.partition, appendedAt, key: row.key }
}
