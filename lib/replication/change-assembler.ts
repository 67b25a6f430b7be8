import type { Attempt } from '../operators/decoder.js'
import { isPromiseLike } from '../operators/decoder.js'
import { ChangeDecodeError } from './errors.js'
import { formatLsn, lsnDistance, lsnHex, maxLsn, ZERO_LSN, type Lsn } from './lsn.js'
import type { BeginMessage, ChangeMessage, CommitMessage } from './ports.js'
import { changeToken, checkpointToken, tokenStem, type Position } from './position.js'
import { parseTableName, type TableName } from './table-names.js'
import type { RowDecoder, TableSelection } from './table-selection.js'
import type { Change, Checkpoint, Row, Transaction } from './types.js'

/** A delivered item's place in the stream: its position and token (what the acknowledgement ledger keeps). */
export interface DeliveredPosition extends Position {
  readonly token: string
}

/** A refused change to pass to `onInvalid`, with its position (which counts as passed once it is). */
export interface PassedRefusal {
  readonly error: ChangeDecodeError
  readonly position: DeliveredPosition
}

/**
 * Hands an item to the stream's subscribers, or a refused change (its `ChangeDecodeError`) to `onInvalid`, in
 * stream order; false when the stream stopped meanwhile (nothing was taken). `before`: refused changes that go
 * to `onInvalid` right before the item, with it (a transaction's, in transaction mode: never without it).
 */
export type ItemSink = (
  item: Change<unknown> | Transaction<Change<unknown>> | Checkpoint | ChangeDecodeError,
  position: DeliveredPosition,
  before?: readonly PassedRefusal[],
) => boolean

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
  /**
   * Refused changes (with `onInvalid`) not passed on yet, in order. Change mode: those after `held` (or, with
   * nothing held, after what was released), passed on right after it is released (or at the commit); so they
   * keep their place in the stream, and `held` stays the last change delivered when only refusals follow it.
   * Transaction mode: all of them, passed on at the commit with the transaction, right before it.
   */
  refused: Refused[]
  /** Transaction mode: the changes released so far. */
  readonly collected: Change<unknown>[] | undefined
}

interface Held {
  readonly message: ChangeMessage
  readonly row: unknown
  readonly index: number
}

/** A change its table's decoder refused, and why. */
interface Refused {
  readonly message: ChangeMessage
  readonly index: number
  readonly messages: readonly string[]
  readonly cause: unknown
}

/**
 * Turns the server's messages into what the stream delivers, with their positions:
 *
 * - indexes every change of a transaction in the order the server sends it (before the `tables` filter), so
 *   a position means the same change each time the slot decodes the transaction;
 * - filters and decodes (`tables`); a row its decoder refuses goes to `onInvalid` in its place in the stream
 *   (through the sink, as its `ChangeDecodeError`, with a position that counts as passed), or stops the stream;
 * - holds each change until the next message, so that the last one of its transaction is known
 *   (`lastInTransaction`) and its position can resume after the whole transaction (unless refused changes
 *   follow it: then the last of those resumes there);
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
  /** The watched tables by OID, as the server last named them (`follow`). */
  private watchedOids = new Map<number, TableName>()
  private lastLookup: { readonly schema: string; readonly table: string; readonly decoder: RowDecoder | false } | undefined

  constructor(
    private readonly mode: 'changes' | 'transactions',
    private readonly selection: TableSelection,
    /** `onInvalid` is given: a refused change is passed on (to it) and the stream goes on; else the stream stops at it. */
    private readonly skipInvalid: boolean,
  ) {}

  /**
   * The table's decoder (`selection.lookup`), remembered for the last table asked about: a change stream's
   * changes come table after table, with the names of their Relation message (the same strings each time).
   */
  private lookup(schema: string, table: string): RowDecoder | false {
    const last = this.lastLookup
    if (last !== undefined && last.schema === schema && last.table === table) return last.decoder
    const decoder = this.selection.lookup(schema, table)
    this.lastLookup = { schema, table, decoder }
    return decoder
  }

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

  /**
   * The OIDs of the watched tables as the server has them now (read at each start and publication check). The
   * server names a change's table as it was called when the change was written: a change of a watched OID under
   * another name was written while the table had that name (renamed since, or renamed back), and is delivered
   * under the watched name, so that no rename leaves a watched table's changes out.
   */
  follow(tableOids: Readonly<Record<string, number>> | undefined): void {
    this.watchedOids = new Map(Object.entries(tableOids ?? {}).map(([name, oid]) => [oid, parseTableName(name)]))
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
      refused: [],
      collected: this.mode === 'transactions' ? [] : undefined,
    }
  }

  /** Takes one change: returns the error that stops the stream when its row does not decode and nothing handles it. */
  change(received: ChangeMessage, sink: ItemSink): ChangeDecodeError | undefined {
    const open = this.open
    if (open === undefined) throw new Error('pgoutput: a change outside a transaction')
    const index = open.nextIndex++
    const last = this.lastDelivered
    // Delivered before a reconnect: the server sends the transaction again from its start.
    if (last !== undefined && (open.commitLsn < last.resume || (open.commitLsn === last.lsn && index <= last.index))) return undefined
    let message = received
    let decoder = this.lookup(message.schema, message.table)
    if (decoder === false) {
      // A watched table under another name (see `follow`): delivered under the watched name.
      const watched = received.relation === undefined ? undefined : this.watchedOids.get(received.relation)
      if (watched === undefined) return undefined
      message = { ...received, schema: watched.schema, table: watched.table }
      decoder = this.selection.lookup(watched.schema, watched.table)
      if (decoder === false) return undefined
    }
    if (message.undecodable !== undefined) {
      const messages = message.undecodable.map(
        (column) => `${column} holds a value of a type that no longer exists (dropped since the change was written), so it cannot be read as what it was`,
      )
      return this.refuse(open, { message, index, messages, cause: undefined }, sink)
    }
    let row: unknown = message.new
    if (decoder !== undefined && message.new !== undefined) {
      const attempt: Attempt<unknown> | Promise<Attempt<unknown>> = decoder(message.new)
      if (isPromiseLike(attempt)) {
        const messages = ['the decoder validates asynchronously, which a change stream does not support (its order and positions are synchronous): use a synchronous schema']
        return this.refuse(open, { message, index, messages, cause: undefined }, sink)
      }
      if (attempt._tag === 'Left') return this.refuse(open, { message, index, messages: attempt.left.messages, cause: attempt.left.cause }, sink)
      row = attempt.right
    }
    const held = open.held
    open.held = { message, row, index }
    // Change mode: the held change, then the refusals after it, then this one (held in turn).
    if (held !== undefined && !this.release(open, held, false, sink)) return undefined
    if (open.collected === undefined) this.passRefused(open, sink, undefined)
    return undefined
  }

  /**
   * With `onInvalid`, a refused change waits on its transaction to be passed on in its place (passRefused);
   * else what came before it is delivered and the error stops the stream at it.
   */
  private refuse(open: OpenTransaction, refusal: Refused, sink: ItemSink): ChangeDecodeError | undefined {
    if (this.skipInvalid) {
      open.refused.push(refusal)
      return undefined
    }
    const held = open.held
    open.held = undefined
    if (held !== undefined) this.release(open, held, false, sink)
    return decodeError(refusal, changeToken(open.stem, refusal.index, open.commitHex))
  }

  /**
   * Passes on the refusals waiting on `open`, in order, each with its position (which counts as passed). With
   * `endLsn` (at the commit, when nothing of the transaction comes after them), the last one resumes after the
   * transaction. False when the stream stopped meanwhile.
   */
  private passRefused(open: OpenTransaction, sink: ItemSink, endLsn: Lsn | undefined): void {
    for (const { error, position } of this.takeRefused(open, endLsn)) {
      if (!sink(error, position)) return
      this.lastDelivered = position
    }
  }

  /** The refusals waiting on `open`, with their positions (see passRefused), taken off it. */
  private takeRefused(open: OpenTransaction, endLsn: Lsn | undefined): PassedRefusal[] {
    const refused = open.refused
    open.refused = []
    return refused.map((refusal, at) => {
      const resume = endLsn !== undefined && at === refused.length - 1 ? endLsn : undefined
      const token = changeToken(open.stem, refusal.index, resume === undefined ? open.commitHex : lsnHex(resume))
      return { error: decodeError(refusal, token), position: this.positionOf(open, token, refusal.index, resume ?? open.commitLsn) }
    })
  }

  commit(message: CommitMessage, sink: ItemSink): void {
    const open = this.open
    this.open = undefined
    this.idle = maxLsn(this.idle, message.endLsn)
    if (open === undefined) return
    const changes = open.collected
    if (changes === undefined) {
      // The held change is the last delivered of the transaction; refusals after it come after it, the last of
      // them resuming after the transaction (so acknowledging the held change does not acknowledge them).
      const trailing = open.refused.length > 0
      if (open.held !== undefined && !this.release(open, open.held, true, sink, trailing ? undefined : message.endLsn)) return
      this.passRefused(open, sink, message.endLsn)
      return
    }
    if (open.held !== undefined) this.release(open, open.held, true, sink, message.endLsn)
    // With no change of it delivered, its refusals go on their own, the last of them ending it.
    if (changes.length === 0) return this.passRefused(open, sink, message.endLsn)
    // Else they go with it, right before it (so that they are never passed without it: a resume after one of
    // them would skip the changes of the transaction before it).
    const lastRefused = open.refused.at(-1)?.index ?? -1
    const refusals = this.takeRefused(open, undefined)
    const lastChange = changes[changes.length - 1] as Change<unknown>
    // Its position in the ledger is past its refusals too (they came before it): acknowledging it covers them.
    const position = this.positionOf(open, lastChange.position, Math.max((open.held as Held).index, lastRefused), message.endLsn)
    const transaction: Transaction<Change<unknown>> = {
      xid: open.xid,
      commitLsn: open.commitLsnText,
      commitTime: open.commitTime,
      position: lastChange.position,
      changes,
    }
    if (sink(transaction, position, refusals)) this.lastDelivered = position
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

  /**
   * Releases a held change to the subscribers (change mode) or to its transaction (transaction mode): `last`,
   * the last change delivered of its transaction; `endLsn`, nothing of the transaction comes after it (its
   * position resumes after the transaction).
   */
  private release(open: OpenTransaction, held: Held, last: boolean, sink: ItemSink, endLsn?: Lsn): boolean {
    const token = changeToken(open.stem, held.index, endLsn === undefined ? open.commitHex : lsnHex(endLsn))
    const change = buildChange(held.message, held.row, open, token, last)
    if (open.collected !== undefined) {
      open.collected.push(change)
      return true
    }
    const position = this.positionOf(open, token, held.index, endLsn ?? open.commitLsn)
    if (!sink(change, position)) return false
    this.lastDelivered = position
    return true
  }

  private positionOf(open: OpenTransaction, token: string, index: number, resume: Lsn): DeliveredPosition {
    return { token, lsn: open.commitLsn, index, resume }
  }
}

function decodeError(refusal: Refused, position: string): ChangeDecodeError {
  const { message, messages, cause } = refusal
  return new ChangeDecodeError(
    { schema: message.schema, table: message.table, op: message.op as ChangeDecodeError['info']['op'], position, messages },
    cause === undefined ? undefined : { cause },
  )
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
