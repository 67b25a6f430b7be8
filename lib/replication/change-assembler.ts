import type { Attempt } from '../operators/decoder.js'
import { isPromiseLike } from '../operators/decoder.js'
import { ChangeDecodeError } from './errors.js'
import { formatLsn, lsnDistance, lsnHex, maxLsn, ZERO_LSN, type Lsn } from './lsn.js'
import type { BeginMessage, ChangeMessage, CommitMessage } from './ports.js'
import { changeToken, checkpointToken, tokenStem, type Position } from './position.js'
import type { TableSelection } from './table-selection.js'
import type { Change, Checkpoint, Row, Transaction } from './types.js'

/** A delivered item's place in the stream: its position and token (what the acknowledgement ledger keeps). */
export interface DeliveredPosition extends Position {
  readonly token: string
}

/** Hands an item to the stream's subscribers; false when the stream stopped meanwhile (nothing was taken). */
export type ItemSink = (item: Change<unknown> | Transaction<Change<unknown>> | Checkpoint, position: DeliveredPosition) => boolean

interface OpenTransaction {
  readonly commitLsn: Lsn
  readonly commitLsnText: string
  readonly commitHex: string
  readonly stem: string
  readonly commitTime: Date
  readonly xid: number
  /** Index of the next change the server sends in this transaction. */
  nextIndex: number
  /** The last change taken, held until the next one (or the commit) says whether it is the last. */
  held: Held | undefined
  /** Transaction mode: the changes released so far. */
  readonly collected: Change<unknown>[] | undefined
}

interface Held {
  readonly message: ChangeMessage
  readonly row: unknown
  readonly index: number
}

/**
 * Turns the server's messages into what the stream delivers, with their positions:
 *
 * - indexes every change of a transaction in the order the server sends it (before the `tables` filter), so
 *   a position means the same change each time the slot decodes the transaction;
 * - filters and decodes (`tables`); a row its decoder refuses goes to `onInvalid`, or stops the stream;
 * - holds each change until the next message, so that the last one of its transaction is known
 *   (`lastInTransaction`) and its position can resume after the whole transaction;
 * - after a reconnect, skips what it already delivered (the server sends the current transaction again);
 * - between transactions, knows how far the server has gone (`idle`): a checkpoint can be delivered there;
 * - in transaction mode, delivers each transaction whole at its commit.
 */
export class ChangeAssembler {
  private tag = ''
  /** The last item taken by subscribers (or the position the stream was started after). */
  private lastDelivered: Position | undefined
  /** Where the current session started, when nothing was delivered yet: a checkpoint must be past it. */
  private baseline: Lsn = ZERO_LSN
  private open: OpenTransaction | undefined
  /** A position between transactions up to which everything the server sent has been handled. */
  private idle: Lsn = ZERO_LSN

  constructor(
    private readonly mode: 'changes' | 'transactions',
    private readonly selection: TableSelection,
    private readonly onInvalid: ((error: ChangeDecodeError) => void) | undefined,
  ) {}

  /** Where the next session must resume: after the last item delivered, or after the stream's start position. */
  get resumePosition(): Position | undefined {
    return this.lastDelivered
  }

  /** True while the server is inside a transaction (between its BEGIN and COMMIT). */
  get inTransaction(): boolean {
    return this.open !== undefined
  }

  /** The stream starts after `position` (a resume token): what is at or before it is never delivered. */
  startAfter(position: Position): void {
    this.lastDelivered = position
  }

  /** Items the sink took were not delivered after all (the session ended first): resume after `position`. */
  rewindTo(position: Position | undefined): void {
    this.lastDelivered = position
  }

  /** A new session streams from `floor` (the resume point, or the slot's confirmed position). */
  beginSession(tag: string, floor: Lsn): void {
    this.tag = tag
    this.open = undefined
    this.baseline = floor
    this.idle = floor
  }

  begin(message: BeginMessage): void {
    const commitHex = lsnHex(message.commitLsn)
    this.open = {
      commitLsn: message.commitLsn,
      commitLsnText: formatLsn(message.commitLsn),
      commitHex,
      stem: tokenStem(this.tag, message.commitLsn),
      commitTime: new Date(message.commitTime),
      xid: message.xid,
      nextIndex: 0,
      held: undefined,
      collected: this.mode === 'transactions' ? [] : undefined,
    }
  }

  /** Takes one change: returns the error that stops the stream when its row does not decode and nothing handles it. */
  change(message: ChangeMessage, sink: ItemSink): ChangeDecodeError | undefined {
    const open = this.open
    if (open === undefined) throw new Error('pgoutput: a change outside a transaction')
    const index = open.nextIndex++
    const last = this.lastDelivered
    // Delivered before a reconnect: the server sends the transaction again from its start.
    if (last !== undefined && (open.commitLsn < last.resume || (open.commitLsn === last.lsn && index <= last.index))) return undefined
    const decoder = this.selection.lookup(message.schema, message.table)
    if (decoder === false) return undefined
    const refuse = (messages: readonly string[], cause?: unknown) =>
      this.refuse(
        open,
        new ChangeDecodeError(
          { schema: message.schema, table: message.table, op: message.op as ChangeDecodeError['info']['op'], position: changeToken(open.stem, index, open.commitHex), messages },
          cause === undefined ? undefined : { cause },
        ),
        sink,
      )
    if (message.undecodable !== undefined) {
      return refuse(
        message.undecodable.map(
          (column) => `${column} holds a value of a type that no longer exists (dropped since the change was written), so it cannot be read as what it was`,
        ),
      )
    }
    let row: unknown = message.new
    if (decoder !== undefined && message.new !== undefined) {
      const attempt: Attempt<unknown> | Promise<Attempt<unknown>> = decoder(message.new)
      if (isPromiseLike(attempt)) {
        return refuse(['the decoder validates asynchronously, which a change stream does not support (its order and positions are synchronous): use a synchronous schema'])
      }
      if (attempt._tag === 'Left') return refuse(attempt.left.messages, attempt.left.cause)
      row = attempt.right
    }
    const held = open.held
    open.held = { message, row, index }
    if (held !== undefined) this.release(open, held, false, sink)
    return undefined
  }

  /** A refused change goes to onInvalid; else what came before it is delivered and the error stops the stream at it. */
  private refuse(open: OpenTransaction, error: ChangeDecodeError, sink: ItemSink): ChangeDecodeError | undefined {
    if (this.onInvalid !== undefined) {
      this.onInvalid(error)
      return undefined
    }
    const held = open.held
    open.held = undefined
    if (held !== undefined) this.release(open, held, false, sink)
    return error
  }

  commit(message: CommitMessage, sink: ItemSink): void {
    const open = this.open
    this.open = undefined
    this.idle = maxLsn(this.idle, message.endLsn)
    if (open === undefined) return
    if (open.held !== undefined && !this.release(open, open.held, true, sink, message.endLsn)) return
    const changes = open.collected
    if (changes === undefined || changes.length === 0) return
    const lastChange = changes[changes.length - 1] as Change<unknown>
    const position = this.positionOf(open, lastChange.position, (open.held as Held).index, message.endLsn)
    const transaction: Transaction<Change<unknown>> = {
      xid: open.xid,
      commitLsn: open.commitLsnText,
      commitTime: open.commitTime,
      position: lastChange.position,
      changes,
    }
    if (sink(transaction, position)) this.lastDelivered = position
  }

  /** The server has decoded up to `walEnd`: between transactions, nothing before it is left to deliver. */
  keepalive(walEnd: Lsn): void {
    if (this.open === undefined) this.idle = maxLsn(this.idle, walEnd)
  }

  /** Bytes of WAL the server has gone past the last item delivered, between transactions (0 inside one). */
  get idleAhead(): number {
    if (this.open !== undefined) return 0
    return lsnDistance(this.deliveredUpTo(), this.idle)
  }

  /** Delivers a checkpoint when the server has gone past the last item delivered between transactions. */
  checkpoint(sink: ItemSink): void {
    if (this.open !== undefined || this.idle <= this.deliveredUpTo()) return
    const token = checkpointToken(this.tag, this.idle)
    const position: DeliveredPosition = { token, lsn: this.idle, index: -1, resume: this.idle }
    if (sink({ op: 'checkpoint', position: token, lsn: formatLsn(this.idle) }, position)) this.lastDelivered = position
  }

  private deliveredUpTo(): Lsn {
    return this.lastDelivered === undefined ? this.baseline : maxLsn(this.baseline, this.lastDelivered.resume)
  }

  /** Releases a held change to the subscribers (change mode) or to its transaction (transaction mode). */
  private release(open: OpenTransaction, held: Held, last: boolean, sink: ItemSink, endLsn: Lsn = ZERO_LSN): boolean {
    const token = changeToken(open.stem, held.index, last ? lsnHex(endLsn) : open.commitHex)
    const change = buildChange(held.message, held.row, open, token, last)
    if (open.collected !== undefined) {
      open.collected.push(change)
      return true
    }
    const position = this.positionOf(open, token, held.index, last ? endLsn : open.commitLsn)
    if (!sink(change, position)) return false
    this.lastDelivered = position
    return true
  }

  private positionOf(open: OpenTransaction, token: string, index: number, resume: Lsn): DeliveredPosition {
    return { token, lsn: open.commitLsn, index, resume }
  }
}

function buildChange(message: ChangeMessage, row: unknown, open: OpenTransaction, position: string, lastInTransaction: boolean): Change<unknown> {
  const { schema, table } = message
  const { commitLsnText: commitLsn, commitTime, xid } = open
  switch (message.op) {
    case 'insert':
      return { op: 'insert', schema, table, new: row, position, commitLsn, commitTime, xid, lastInTransaction }
    case 'update':
      return message.unchangedToast === undefined
        ? message.old === undefined
          ? { op: 'update', schema, table, new: row, position, commitLsn, commitTime, xid, lastInTransaction }
          : { op: 'update', schema, table, new: row, old: message.old, position, commitLsn, commitTime, xid, lastInTransaction }
        : { op: 'update', schema, table, new: row, old: message.old, unchangedToast: message.unchangedToast, position, commitLsn, commitTime, xid, lastInTransaction }
    case 'delete':
      return { op: 'delete', schema, table, old: message.old as Row, position, commitLsn, commitTime, xid, lastInTransaction }
    case 'truncate':
      return {
        op: 'truncate',
        schema,
        table,
        cascade: message.cascade === true,
        restartIdentity: message.restartIdentity === true,
        position,
        commitLsn,
        commitTime,
        xid,
        lastInTransaction,
      }
  }
}
