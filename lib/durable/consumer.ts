/**
 * @internal A member of a consumer group.
 *
 * The group's channel is split into partitions (by a hash of the message key). Each member holds leases on a
 * fair share of them (ceil(partitions / live members)); a lease has an owner, a generation (raised at every
 * takeover, kept by renewals) and an expiry, all in the partition's cursor row, renewed on a connection of the
 * consumer's own (not the pool's, which a batch may hold). A batch is read for the partitions held, the
 * handler runs in a transaction, and the same transaction advances each partition's cursor only if this
 * member still holds it in the same generation with the lease unexpired: a member that lost a lease (too slow,
 * paused, partitioned away) cannot commit, its ack is rejected and its writes rolled back. Exactly-once
 * effects follow for writes made through the handler's client; delivery is at least once.
 */
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { filter, interval, Subject, type Subscription } from 'rxjs'
import type { TypedChannel } from '../index.js'
import { namedFor } from '../pg/config.js'
import { socketOf } from '../pg/socket-of.js'
import { retryDelayAfter } from './check-options.js'
import { deadLetterText } from './dead-letter.js'
import { DurableLogClosedError, DurableQueryFailedError, HandlerEndedTransactionError, StaleAckError } from './errors.js'
import type { LogContext, LogMeta } from './log-context.js'
import { checkPage, plainMessages, positionOfRow, readPage, startOf, typedMessages, type Page, type PageRow } from './page.js'
import { failureInfo, isRefusal, isRolledBack, isTransient } from './pg-failure.js'
import { settlesWithin } from '../settles-within.js'
import { comparePositions, maxPosition, positionOf, positionParams, type Position } from './position.js'
import { heldBackRereads } from './reread-while-held.js'
import type { BatchHandler, ConsumeOptions, DurableConsumer, DurableMessage } from './types.js'

/** The log's appends in a transaction of a client: the consumer's own (dead letters), and the handler's, woken after commit. */
export interface TransactionAppends {
  /** Appends a value's JSON text to a channel in the transaction of `client`; resolves with its token. */
  append(channel: string, text: string, key: string | undefined, client: pg.ClientBase): Promise<string>
  /** Collects the channels appended to on `client` from now on (its appends with `{ client }`), until `unwatch`. */
  watch(client: pg.ClientBase): ReadonlySet<string>
  unwatch(client: pg.ClientBase): void
}

/** SQLSTATE 25P02: a statement in a transaction that an earlier error aborted. */
const IN_FAILED_TRANSACTION = '25P02'
/** The server ended a session idle in its transaction past idle_in_transaction_session_timeout. */
const IDLE_IN_TRANSACTION_TIMEOUT = '25P03'

/** What a consumer did: leases taken and given up, batches committed, acks refused, handler failures, retries. */
export type ConsumerEvent =
  | { readonly kind: 'acquired'; readonly partitions: readonly number[] }
  | { readonly kind: 'released'; readonly partitions: readonly number[]; readonly reason: 'rebalance' | 'lost' | 'stopped' }
  | { readonly kind: 'batch'; readonly messages: number; readonly partitions: readonly number[] }
  | { readonly kind: 'stale-ack'; readonly error: StaleAckError }
  | {
      readonly kind: 'handler-failed'
      readonly error: unknown
      /** The batch: how many messages, from which partitions, its first and last message's tokens. */
      readonly messages: number
      readonly partitions: readonly number[]
      readonly firstToken: string
      readonly lastToken: string
      /** 1 for a first failure, counting up while batches keep failing (a message that fails every time shows); 1 again after a batch commits. */
      readonly attempt: number
    }
  | {
      /** A message set aside into `deadLetter.channel` (its `deadLetterToken` there) after `attempts` failures; `error` the last. */
      readonly kind: 'dead-lettered'
      readonly token: string
      readonly deadLetterToken: string
      readonly attempts: number
      readonly error: unknown
    }
  | { readonly kind: 'retrying'; readonly error: unknown }

export interface ConsumerStats {
  readonly batches: number
  readonly messages: number
  readonly staleAcks: number
  readonly handlerFailures: number
  /** Messages set aside into `deadLetter.channel`. */
  readonly deadLettered: number
  /** Partitions held now. */
  readonly partitions: readonly number[]
  /**
   * When the handler of the batch in flight was called (the scheduler's clock); undefined while no handler runs.
   * A handler that is stuck shows here: its leases are renewed for as long as it runs, so nothing else tells.
   */
  readonly batchStartedAt: Date | undefined
}

interface Lease {
  readonly generation: string
  cursor: Position
}

/** A page read for the partitions held, and its messages decoded. */
interface BatchRead {
  readonly page: Page
  readonly messages: ReadonlyArray<DurableMessage<unknown>>
}

/** The partitions a read is for: each with the generation and cursor it assumed. */
type HeldCursors = ReadonlyArray<readonly [part: number, generation: string, cursor: Position]>

/**
 * Watches whether the batch's transaction ends while the handler runs, from what the server says on the
 * connection (pg's connection emits it): a ReadyForQuery outside a transaction block (status 'I'), a statement
 * completed as COMMIT (or END) or PREPARE TRANSACTION, or a BEGIN after a ROLLBACK. The last two catch a ported
 * `COMMIT; BEGIN` sent as one query string, which ends with a ReadyForQuery in a transaction again. A ROLLBACK
 * alone may be a `ROLLBACK TO SAVEPOINT` (the same tag), which leaves the transaction open: the status tells.
 * No round trip; the native client emits nothing, and is not watched.
 */
function watchTransaction(client: pg.ClientBase): { readonly ended: () => boolean; readonly firstError: () => unknown; readonly stop: () => void } {
  type Listener = (message: { status?: unknown; text?: unknown }) => void
  const connection = (client as unknown as { connection?: { on?: unknown; removeListener?: unknown } | undefined }).connection
  if (connection === undefined || typeof connection.on !== 'function' || typeof connection.removeListener !== 'function') return { ended: () => false, firstError: () => undefined, stop: () => undefined }
  const events = connection as { on(event: string, listener: Listener): unknown; removeListener(event: string, listener: Listener): unknown }
  let ended = false
  let rolledBack = false
  let firstError: unknown
  // The first statement of the handler's that failed since its last ROLLBACK TO SAVEPOINT: what aborted the transaction.
  const onError: Listener = (message) => void (firstError ??= message)
  const onReady: Listener = (message) => {
    if (message.status === 'I') ended = true
    rolledBack = false
  }
  const onComplete: Listener = (message) => {
    const tag = typeof message.text === 'string' ? message.text : ''
    if (tag === 'COMMIT' || tag === 'PREPARE TRANSACTION' || (tag === 'BEGIN' && rolledBack)) ended = true
    rolledBack = tag === 'ROLLBACK'
    // A ROLLBACK TO SAVEPOINT undid what the failure aborted: the transaction goes on, and the failure is not its end.
    if (rolledBack) firstError = undefined
  }
  events.on('readyForQuery', onReady)
  events.on('commandComplete', onComplete)
  events.on('errorMessage', onError)
  return {
    ended: () => ended,
    firstError: () => firstError,
    stop: () => {
      events.removeListener('readyForQuery', onReady)
      events.removeListener('commandComplete', onComplete)
      events.removeListener('errorMessage', onError)
    },
  }
}

const keyOf = (held: HeldCursors) => held.map(([part, generation, c]) => `${part}:${generation}:${c.epoch}.${c.tx}.${c.id}`).join(' ')

export function startConsumer<T>(
  context: LogContext,
  channel: string,
  group: string,
  typed: TypedChannel<T> | undefined,
  handler: BatchHandler<unknown>,
  options: ConsumeOptions,
  activity: { begin(): void; end(): void },
  appends: TransactionAppends,
): DurableConsumer {
  const member = options.member ?? randomUUID()
  const batchSize = options.batchSize ?? 100
  const leaseTtl = options.leaseTtl ?? 10_000
  const retryDelay = options.retryDelay ?? 1000
  const { queries, scheduler } = context
  const events$ = new Subject<ConsumerEvent>()
  const counts = { batches: 0, messages: 0, staleAcks: 0, handlerFailures: 0, deadLettered: 0 }
  /** Handler failures since the last committed batch. */
  let failuresInARow = 0
  const { deadLetter } = options
  /**
   * With `deadLetter`: after a failed batch, messages are handled one at a time up to its last one, so that a
   * failure tells which message failed (a batch of several cannot). Undefined while batches are whole.
   */
  let isolateThrough: Position | undefined
  /** With `deadLetter`: the failed batches each message was in since isolation began, by token. */
  const attempts = new Map<string, number>()
  /** When the running handler was called, if one runs. */
  let handlerSince: number | undefined
  const leases = new Map<number, Lease>()
  let partitions = 0
  let stopping = false
  let woken = false
  let wakeUp: (() => void) | undefined
  let renewal: Subscription | undefined
  let triggers: Subscription | undefined
  let rebalanceSignals: Subscription | undefined
  /** After each read: whether rows of the partitions held were committed past the horizon (then it reads again soon). */
  const heldBack = new Subject<boolean>()
  let rereads: Subscription | undefined
  /** Another member joined or gave partitions back: rebalance before the next batch, not at the next renewal. */
  let rebalanceAsked = false
  /**
   * The group's rebalance signal, a NOTIFY on the log's wake-up channel (whose readers ignore it): sent when a
   * member joins and when one gives partitions back, so the others take their share at once rather than at their
   * next renewal (a third of leaseTtl later: 12 of 16 partitions went unworked for 3 s after members joined).
   */
  const rebalancePayload = `rxpg.rebalance ${JSON.stringify([channel, group])}`
  const signalRebalance = () => void context.options.listener.notify(context.wakeChannel, rebalancePayload).catch(() => undefined)
  /** The listener's failure for good, which ends the consumer (its reads can no longer be woken). */
  let triggerFailure: { readonly error: unknown } | undefined
  const base = [channel, group]
  /**
   * The next batch's read, started while this batch's transaction runs (after a full page only: more is
   * waiting). It is used only if the leases are then exactly what it assumed (same partitions, generations
   * and cursors, i.e. the batch committed and nothing was rebalanced); otherwise it is dropped and read again.
   */
  let ahead: { readonly key: string; readonly read: Promise<BatchRead> } | undefined

  /**
   * The connection the member's lease statements run on (heartbeat, renewals, takeovers, releases): one of the
   * consumer's own, outside the pool. A batch's transaction holds a pool connection for as long as its handler
   * runs; a renewal waiting for the pool behind it (a pool of one, or one the application keeps busy) let the
   * leases of a healthy member run out, and two members took each other's partitions for ever.
   */
  let leaseConnection: { readonly client: pg.Client; readonly ready: Promise<unknown>; readonly untrack: () => void } | undefined
  const dropLeaseConnection = (connection: { readonly client: pg.Client; readonly untrack: () => void }) => {
    if (leaseConnection === connection) leaseConnection = undefined
    connection.untrack()
    return connection.client.end().catch(() => undefined)
  }
  /** The pool client of the batch in flight, if any: stop() destroys it, and gives it back, when it gives up waiting. */
  let batchClient: { readonly client: pg.ClientBase; readonly release: (error?: Error) => void } | undefined
  /** stop() gave up waiting (closeTimeout): no new connection is opened. */
  let gaveUp = false
  /**
   * Lease statements take turns on the lease connection: a renewal that comes while another statement is still
   * running (a slow server, a row lock) waits for it, rather than being queued on a busy client (which pg 8
   * warns of and pg 9 refuses).
   */
  let leaseTurn: Promise<unknown> = Promise.resolve()
  const leaseQuery = <Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<Row[]> => {
    const turn = leaseTurn.then(() => leaseStatement<Row>(text, values))
    leaseTurn = turn.catch(() => undefined)
    return turn
  }
  const leaseStatement = async <Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<Row[]> => {
    if (context.closed) throw new DurableLogClosedError({ operation: 'consume' })
    let connection = leaseConnection
    if (connection === undefined) {
      if (context.abandoned || gaveUp) throw new DurableLogClosedError({ operation: 'consume' })
      // Named apart from the batches' connections, unless the application named the pool's.
      const named = context.pool.options.application_name
      // The password by name: pg-pool keeps it as a property a spread does not copy (not enumerable).
      const client = new pg.Client({
        ...context.pool.options,
        password: context.pool.options.password,
        ...(named === undefined || named === namedFor('durable').application_name ? namedFor('durable leases') : {}),
      })
      const opened = { client, ready: client.connect(), untrack: context.track(client) }
      // A connection the server ended while it was idle: the next lease statement opens another.
      client.on('error', () => void dropLeaseConnection(opened))
      connection = leaseConnection = opened
    }
    try {
      await connection.ready
      // Statements of their own (each its own transaction) on a connection of its own, at READ COMMITTED whatever
      // the session's default_transaction_isolation: a renewal or takeover that meets an ack updating the same
      // cursor rows waits for it and checks its WHERE again (REPEATABLE READ and SERIALIZABLE would fail it with
      // 40001). Its failures say so ('consumer lease'), apart from the batches' ('consume').
      return await context.queryReadCommitted<Row>('consumer lease', text, values, connection.client)
    } catch (error) {
      const failure = context.failure('consumer lease', error)
      // A serialization failure or deadlock rolled the statement back on a connection that works: kept.
      if (!(failure instanceof DurableQueryFailedError) || (isTransient(failure.info) && !isRolledBack(failure.info))) void dropLeaseConnection(connection)
      throw failure
    }
  }

  const emit = (event: ConsumerEvent) => events$.next(event)
  const rouse = () => {
    woken = true
    wakeUp?.()
  }
  /** Waits for a trigger, `ms`, or stop; returns at once when a trigger came meanwhile. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || stopping) return resolve()
      const timer = scheduler.schedule(() => resolve(), ms)
      wakeUp = () => {
        timer.unsubscribe()
        resolve()
      }
    }).then(() => {
      wakeUp = undefined
      woken = false
    })

  /** Waits `ms` whatever the triggers say (only stop cuts it short). */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopping) return resolve()
      const timer = scheduler.schedule(() => resolve(), ms)
      wakeUp = () => {
        if (!stopping) return
        timer.unsubscribe()
        resolve()
      }
    }).then(() => {
      wakeUp = undefined
    })

  const drop = (parts: readonly number[], reason: 'rebalance' | 'lost' | 'stopped') => {
    if (parts.length === 0) return
    for (const part of parts) leases.delete(part)
    emit({ kind: 'released', partitions: parts, reason })
  }

  /** Renews the leases held (and this member's heartbeat); on its own timer, so a long batch does not let them lapse. */
  const renew = async (): Promise<number> => {
    const [row] = await leaseQuery<{ members: number }>(queries.heartbeat, [...base, member, leaseTtl])
    const held = [...leases.entries()]
    if (held.length > 0) {
      const renewed = new Set(
        (
          await leaseQuery<{ part: number }>(queries.renewLeases, [
            ...base,
            member,
            leaseTtl,
            held.map(([part]) => part),
            held.map(([, lease]) => lease.generation),
          ])
        ).map((r) => r.part),
      )
      drop(
        held.filter(([part, lease]) => !renewed.has(part) && leases.get(part) === lease).map(([part]) => part),
        'lost',
      )
    }
    return row?.members ?? 1
  }

  /** Whether this member's first heartbeat (which made it a member) was signalled to the group. */
  let joined = false
  /** Takes this member's fair share of partitions, or gives back what is over it (between batches only). */
  const rebalance = async () => {
    const members = await renew()
    // Its first heartbeat made it a member: the others may now have more than their share.
    if (!joined) {
      joined = true
      signalRebalance()
    }
    await leaseQuery(queries.forgetDeadMembers, base)
    const share = Math.ceil(partitions / Math.max(1, members))
    if (leases.size > share) {
      const extra = [...leases.keys()].sort((a, b) => b - a).slice(0, leases.size - share)
      await leaseQuery(queries.releaseLeases, [...base, member, extra, extra.map((part) => leases.get(part)?.generation)])
      drop(extra, 'rebalance')
      signalRebalance()
    } else if (leases.size < share) {
      const taken = await leaseQuery<{ part: number; generation: string; epoch: number; tx: string; id: string }>(queries.acquireLeases, [
        ...base,
        member,
        leaseTtl,
        share - leases.size,
        [...leases.keys()],
      ])
      for (const row of taken) leases.set(row.part, { generation: row.generation, cursor: positionOf(row) })
      if (taken.length > 0) emit({ kind: 'acquired', partitions: taken.map((row) => row.part) })
    }
  }

  const messagesOf = (meta: LogMeta, page: Page) => (typed ? typedMessages(meta, typed, page.rows) : Promise.resolve(plainMessages(meta, channel, page.rows)))

  /** Reads the rows of the partitions in `held`, each after its own cursor, and decodes them. */
  const readBatch = async (meta: LogMeta, held: HeldCursors, limit: number): Promise<BatchRead> => {
    const cursors = new Map(held.map(([part, , cursor]) => [part, cursor]))
    const slot = <V>(pick: (cursor: Position) => V) =>
      Array.from({ length: partitions }, (_, part) => {
        const cursor = cursors.get(part)
        return cursor === undefined ? null : pick(cursor)
      })
    const lowest = [...cursors.values()].reduce((a, b) => (comparePositions(a, b) <= 0 ? a : b))
    const page = await readPage(context, 'consume', channel, lowest, limit, {
      epochs: slot((cursor) => cursor.epoch),
      txs: slot((cursor) => cursor.tx.toString()),
      ids: slot((cursor) => cursor.id.toString()),
    })
    const messages = page.rows.length === 0 ? [] : ((await messagesOf(meta, page)) as ReadonlyArray<DurableMessage<unknown>>)
    return { page, messages }
  }

  /** Reads, handles and acks one batch; false when there was nothing to do. */
  const processBatch = async (meta: LogMeta): Promise<boolean> => {
    const held = [...leases.entries()]
    const heldCursors: HeldCursors = held.map(([part, lease]) => [part, lease.generation, lease.cursor])
    // Every message of the failed batch that isolation began for is behind every cursor: batches are whole again.
    const isolated = isolateThrough
    if (isolated !== undefined && held.every(([, lease]) => comparePositions(lease.cursor, isolated) >= 0)) {
      isolateThrough = undefined
      attempts.clear()
    }
    const limit = isolateThrough === undefined ? batchSize : 1
    const key = keyOf(heldCursors)
    const read = ahead?.key === key ? ahead.read : readBatch(meta, heldCursors, limit)
    ahead = undefined
    const { page, messages } = await read
    // Stopped while reading: no batch is in flight yet, so none is started (its messages stay for the group).
    if (stopping) return false
    for (const [, lease] of held) checkPage(page, lease.cursor, meta, channel, undefined, group)
    const full = page.rows.length >= limit
    heldBack.next(!full && page.pending)
    const batchPartitions = [...new Set(page.rows.map((row) => row.partition))]
    // Every partition held advances to the same place: the page holds every row of every held partition
    // between that partition's cursor and the page's last row (other rows are filtered out, not cut off), so
    // none is left behind it; a page that was not full ends at the channel's newest settled row (no row of a
    // held partition at or before it can appear any more; never the horizon, which a crash can move back: see
    // Page.horizon). A partition with no rows in the page therefore moves too, so retention dropping other
    // partitions' rows does not expire it, and the next page never scans again what this one covered.
    const lastRow = page.rows.at(-1)
    const end = lastRow === undefined ? undefined : positionOfRow(lastRow)
    const next = new Map<number, Position>()
    for (const [part, lease] of held) {
      const reached = end === undefined ? lease.cursor : maxPosition(lease.cursor, end)
      next.set(part, full || page.settledThrough === undefined ? reached : maxPosition(reached, page.settledThrough))
    }
    if (page.rows.length === 0) {
      for (const [part, position] of next) {
        const lease = leases.get(part)
        if (lease) lease.cursor = position
      }
      return false
    }
    // Not while messages are handled one at a time: a failure may change what the next read must be.
    if (full && isolateThrough === undefined) {
      const assumed: HeldCursors = heldCursors.map(([part, generation]) => [part, generation, next.get(part) as Position])
      ahead = { key: keyOf(assumed), read: readBatch(meta, assumed, batchSize) }
      // Dropped unused when the batch does not commit; its failure then matters to nobody.
      ahead.read.catch(() => undefined)
    }
    // Every partition with rows in the batch is acked with the generation it was read under, even if the
    // renewal found it lost meanwhile: the ack then fails, and the handler's writes roll back with it.
    const generations = new Map(held.map(([part, lease]) => [part, lease.generation]))
    const acked = [...next.entries()]
    /** Moves the cursors held in memory to where the committed batch left them (partitions still held in its generation). */
    const advance = () => {
      for (const [part, position] of acked) {
        const lease = leases.get(part)
        if (lease && lease.generation === generations.get(part)) lease.cursor = position
      }
    }
    const { client, release: giveBack, connectionError } = await context.checkOut('consume')
    const release = (error?: Error) => {
      batchClient = undefined
      giveBack(error)
    }
    batchClient = { client, release }
    // Stopped while waiting for the connection: the batch had not started, so it does not.
    if (stopping) {
      release()
      return false
    }
    // The channels the handler appends to through its client: their readers are woken once the batch commits.
    const appended = appends.watch(client)
    let broken: Error | undefined
    let handlerFailed = false
    /** The handler was called: a session ended by idle_in_transaction_session_timeout from then on is its doing. */
    let handlerCalled = false
    /** The partitions of the batch whose lease this member has lost, as the ack would find them. */
    const lostOf = (held: ReadonlyArray<{ part: number }>) => {
      const ok = new Set(held.map((row) => row.part))
      return acked.filter(([part]) => !ok.has(part)).map(([part]) => ({ partition: part, generation: generations.get(part) ?? '?' }))
    }
    const staleAck = (lost: ReturnType<typeof lostOf>, cause?: unknown) => {
      counts.staleAcks++
      emit({ kind: 'stale-ack', error: new StaleAckError({ channel, group, member, lost }, cause === undefined ? undefined : { cause }) })
      drop(
        lost.map((l) => l.partition).filter((part) => leases.get(part)?.generation === generations.get(part)),
        'lost',
      )
    }
    const firstToken = (messages[0] as DurableMessage<unknown>).token
    const lastToken = (messages.at(-1) as DurableMessage<unknown>).token
    /** Advances the cursor of every partition of the batch, if this member still holds them in the same generation. */
    const ack = (on: pg.ClientBase = client) =>
      context.query<{ part: number }>(
        'ack',
        queries.ack,
        [...base, member, acked.map(([part]) => part), acked.map(([part]) => generations.get(part)), ...transpose(acked.map(([, position]) => positionParams(position)))],
        on,
      )
    /**
     * Sets the batch's one message aside: appends its dead letter and moves the cursor past it, in one transaction,
     * so that it is set aside exactly once (a stale ack rolls both back). Then the next message, without waiting.
     */
    const setAside = async (dead: NonNullable<ConsumeOptions['deadLetter']>, error: unknown, tries: number, on: pg.ClientBase) => {
      const row = page.rows[0] as PageRow
      await on.query('BEGIN ISOLATION LEVEL READ COMMITTED')
      const deadLetterToken = await appends.append(dead.channel, deadLetterText({ channel, group, member }, firstToken, row, tries, error), row.key ?? undefined, on)
      const advanced = await ack(on)
      if (advanced.length < acked.length) {
        await on.query('ROLLBACK')
        return staleAck(lostOf(advanced))
      }
      await on.query('COMMIT')
      handlerFailed = false
      advance()
      counts.deadLettered++
      failuresInARow = 0
      context.wake(dead.channel)
      emit({ kind: 'dead-lettered', token: firstToken, deadLetterToken, attempts: tries, error })
    }
    /**
     * Rolls the batch back after its handler failed; reported as a failed handler (retried after retryDelay) or a
     * stale ack. With `deadLetter`, the batch's messages are then handled one at a time, and one that failed alone
     * `maxAttempts` times in all is set aside.
     */
    const handlerFailure = async (error: unknown) => {
      await client.query('ROLLBACK')
      await reportHandlerFailure(error, client)
    }
    /**
     * After the batch rolled back for its handler: a stale ack, or a failed handler (with `deadLetter`, perhaps a
     * message set aside). `on`: a working connection, or none when the server ended the batch's (one is checked out
     * for a dead letter then).
     */
    const reportHandlerFailure = async (error: unknown, on: pg.ClientBase | undefined) => {
      // A handler can fail because its lease was lost: its effects, applied by the new owner meanwhile, break a
      // unique key. That is a stale ack (the lease to fix, not the handler), with the failure as its cause; asked
      // as the ack would (a failed question leaves it a failed handler).
      const held = await context
        .query<{ part: number }>('consume', queries.heldLeases, [...base, member, acked.map(([part]) => part), acked.map(([part]) => generations.get(part))], on)
        .catch(() => undefined)
      const lost = held === undefined ? [] : lostOf(held)
      if (lost.length > 0) return staleAck(lost, error)
      counts.handlerFailures++
      failuresInARow++
      emit({
        kind: 'handler-failed',
        error,
        messages: messages.length,
        partitions: batchPartitions,
        firstToken,
        lastToken,
        attempt: failuresInARow,
      })
      handlerFailed = true
      if (deadLetter === undefined) return
      for (const message of messages) attempts.set(message.token, (attempts.get(message.token) ?? 0) + 1)
      const tries = attempts.get(firstToken) ?? 0
      if (messages.length === 1 && tries >= deadLetter.maxAttempts) return on === undefined ? setAsideOnce(deadLetter, error, tries) : setAside(deadLetter, error, tries, on)
      const through = end as Position
      isolateThrough = isolateThrough === undefined ? through : maxPosition(isolateThrough, through)
    }
    /** `setAside` on a connection of its own, for a batch whose session the server ended. */
    const setAsideOnce = async (dead: NonNullable<ConsumeOptions['deadLetter']>, error: unknown, tries: number) => {
      const fresh = await context.checkOut('consume')
      let failed: Error | undefined
      try {
        await setAside(dead, error, tries, fresh.client)
      } catch (thrown) {
        failed = thrown instanceof Error ? thrown : new Error(String(thrown))
        await fresh.client.query('ROLLBACK').catch(() => undefined)
        throw context.failureOn('consume', thrown, fresh.connectionError())
      } finally {
        fresh.release(failed)
      }
    }

    try {
      // READ COMMITTED whatever the session's default_transaction_isolation: the ack below updates cursor rows that
      // the lease connection's renewals update too, and waits for one in flight rather than failing with 40001 (as
      // under REPEATABLE READ or SERIALIZABLE). The handler may raise the level with SET TRANSACTION as its first
      // statement (docs/durable.md, "Isolation"). No statement runs before the handler's, so it can.
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED')
      let thrown: { readonly error: unknown } | undefined
      const watch = watchTransaction(client)
      try {
        handlerSince = scheduler.now()
        handlerCalled = true
        await handler(messages, client)
      } catch (error) {
        thrown = { error }
      } finally {
        handlerSince = undefined
        watch.stop()
      }
      // The handler committed or rolled back itself: an ack now would run apart from its writes (on its own, or in
      // a transaction it began), and a retry would apply what it committed again. Nothing is acknowledged, and
      // the consumer stops.
      if (watch.ended()) throw new HandlerEndedTransactionError({ channel, group, member, firstToken, lastToken })
      if (thrown !== undefined) {
        await handlerFailure(thrown.error)
        return true
      }
      let advanced: Array<{ part: number }>
      try {
        advanced = await ack()
      } catch (error) {
        // The handler caught an error of one of its statements and returned: the transaction is aborted and
        // nothing of it can commit. A failed handler, then: rolled back, and the batch comes again.
        // A serialization failure or deadlock of the ack itself (a handler that raised its transaction's level to
        // REPEATABLE READ or SERIALIZABLE, whose snapshot predates a renewal of its cursor rows; a deadlock with
        // the handler's own locks): the server rolled the transaction back, nothing committed, the connection
        // works. The same as at COMMIT (below): a failed batch, retried after retryDelay, the leases kept. It used
        // to drop every partition as if the outcome were unknown, and take them again a third of leaseTtl later.
        if (!(error instanceof DurableQueryFailedError && (error.info.sqlState === IN_FAILED_TRANSACTION || isRolledBack(error.info)))) throw error
        // The ack met the aborted transaction (25P02): the failure to report is the handler's statement that aborted it.
        const caught = error.info.sqlState === IN_FAILED_TRANSACTION ? watch.firstError() : undefined
        await handlerFailure(caught === undefined ? error : handlerStatementFailure(caught))
        return true
      }
      if (advanced.length < acked.length) {
        await client.query('ROLLBACK')
        staleAck(lostOf(advanced))
        return true
      }
      try {
        await client.query('COMMIT')
      } catch (error) {
        // The server refused the commit (a deferred constraint the handler's writes broke, a serialization
        // failure): nothing of the batch committed and the connection is fine. The handler's writes failed, as
        // if a statement of its own had: a failed handler, retried after retryDelay. It used to end the member,
        // then each member that took its partitions over, one after the other.
        const failure = context.failure('consume commit', error)
        if (!(failure instanceof DurableQueryFailedError) || !(isRefusal(failure.info) || isRolledBack(failure.info))) throw error
        await handlerFailure(failure)
        return true
      }
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error))
      await client.query('ROLLBACK').catch(() => undefined)
      // Nothing was acknowledged and the leases are intact: kept, so that the consumer's stop releases them and
      // another member takes the batch at once rather than after leaseTtl.
      if (error instanceof HandlerEndedTransactionError) throw error
      // A connection the server ended meanwhile says why (its SQLSTATE, such as 25P03), also under the ack's error.
      const failure = context.failureOn('consume', error, connectionError())
      // The handler kept the batch's transaction idle past idle_in_transaction_session_timeout (a call slower than
      // the timeout): the server ended the session and rolled the batch back, nothing committed. The handler's
      // failure, then, as if a statement of its own had failed: retried after retryDelay, the leases kept, and
      // with deadLetter set aside in the end. Taken for a broken connection, it was retried for ever.
      if (handlerCalled && failure instanceof DurableQueryFailedError && failure.info.sqlState === IDLE_IN_TRANSACTION_TIMEOUT) {
        await reportHandlerFailure(failure, undefined)
        return true
      }
      // The commit's outcome may be unknown: forget the cursors held in memory; they are read again at the next takeover.
      drop([...leases.keys()], 'lost')
      throw failure
    } finally {
      appends.unwatch(client)
      release(broken)
      if (handlerFailed) await sleep(retryDelayAfter(retryDelay, failuresInARow))
    }
    for (const appendedTo of appended) context.wake(appendedTo)
    advance()
    counts.batches++
    counts.messages += messages.length
    failuresInARow = 0
    emit({ kind: 'batch', messages: messages.length, partitions: batchPartitions })
    return true
  }

  /** Opens the log (its identity), learns the channel's partitions and joins the group (its cursor rows). */
  const open = async (): Promise<LogMeta> => {
    const meta = await context.meta()
    partitions = await context.partitionsOf(channel)
    const start = await startOf(context, meta, channel, options.from === undefined ? 'earliest' : options.from, 'consume')
    // At READ COMMITTED: members joining at once would otherwise fail the INSERT … ON CONFLICT with 40001.
    await context.queryReadCommitted('consume', queries.joinGroup, [...base, partitions, ...positionParams(start.position)])
    return meta
  }

  /** A failure after which the same work may succeed on a new connection: reported as `retrying`, then tried again. */
  const retried = async (error: unknown): Promise<undefined> => {
    // What fails once stop() gave up on the connections (or the log closed under the batch) is the stop itself:
    // the consumer stopped, it did not fail.
    if (gaveUp || (stopping && error instanceof DurableLogClosedError)) return undefined
    if (!(error instanceof DurableQueryFailedError && isTransient(error.info))) throw error
    emit({ kind: 'retrying', error })
    await pause(context.resolved.pollInterval)
  }

  const run = async () => {
    // Subscribed first: a reconnection of the listener (the server is back) wakes an open that is waiting to retry.
    triggers = context.readTriggers(channel).subscribe({
      next: rouse,
      // The listener failed for good: nothing wakes this consumer any more, so it fails with the listener's error.
      error: (error: unknown) => {
        triggerFailure ??= { error }
        stopping = true
        rouse()
      },
      complete: () => void stop(),
    })
    rereads = heldBack.pipe(heldBackRereads(context)).subscribe(rouse)
    rebalanceSignals = context.options.listener
      .channel(context.wakeChannel)
      .pipe(filter((notification) => notification.payload === rebalancePayload))
      .subscribe({
        next: () => {
          rebalanceAsked = true
          rouse()
        },
        // The listener's failure for good reaches the consumer through its triggers.
        error: () => undefined,
      })
    // The server may be unreachable or restarting when the consumer starts: the open is retried like any batch.
    let meta: LogMeta | undefined
    while (meta === undefined && !stopping) meta = await open().catch(retried)
    if (meta === undefined) {
      if (triggerFailure !== undefined) throw triggerFailure.error
      return
    }
    const renewEvery = Math.max(1, Math.floor(leaseTtl / 3))
    let lastRebalance = Number.NEGATIVE_INFINITY
    // Renewals go on while stopping, until finish(): the batch in flight keeps its leases until it commits.
    renewal = interval(renewEvery, scheduler).subscribe(() => {
      renew().catch((error: unknown) => emit({ kind: 'retrying', error }))
    })
    while (!stopping) {
      try {
        if (rebalanceAsked || scheduler.now() - lastRebalance >= renewEvery) {
          rebalanceAsked = false
          await rebalance()
          lastRebalance = scheduler.now()
        }
        const worked = leases.size > 0 && (await processBatch(meta))
        if (!worked && !stopping) await pause(Math.max(0, lastRebalance + renewEvery - scheduler.now()))
      } catch (error) {
        await retried(error)
      }
    }
    if (triggerFailure !== undefined) throw triggerFailure.error
  }

  /** What stops at once, whatever is still running: timers, triggers, the activity count, the events. Idempotent. */
  let quiet = false
  const quieten = () => {
    renewal?.unsubscribe()
    triggers?.unsubscribe()
    rereads?.unsubscribe()
    rebalanceSignals?.unsubscribe()
    if (quiet) return
    quiet = true
    activity.end()
    events$.complete()
  }

  const finish = async () => {
    renewal?.unsubscribe()
    triggers?.unsubscribe()
    rereads?.unsubscribe()
    rebalanceSignals?.unsubscribe()
    // A read ahead still running must end before the log's pool may be closed.
    await ahead?.read.catch(() => undefined)
    ahead = undefined
    const held = [...leases.entries()]
    if (held.length > 0) {
      await leaseQuery(queries.releaseLeases, [...base, member, held.map(([part]) => part), held.map(([, lease]) => lease.generation)])
        .catch(() => undefined)
    }
    drop(
      held.map(([part]) => part),
      'stopped',
    )
    await leaseQuery(queries.leaveGroup, [...base, member]).catch(() => undefined)
    // Its partitions are free and the others' share is larger: they take them at once.
    if (held.length > 0) signalRebalance()
    if (leaseConnection !== undefined) await dropLeaseConnection(leaseConnection)
    quieten()
  }

  activity.begin()
  const completion = run().then(
    () => finish(),
    async (error: unknown) => {
      stopping = true
      await finish()
      throw error
    },
  )
  // A failure is reported through `done`; keep it from being an unhandled rejection when nobody awaits it.
  completion.catch(() => undefined)
  let givenUp!: () => void
  /** `done` settles when the consumer has stopped: when its work ended, or when stop() gave up on it. */
  const done = Promise.race([completion, new Promise<void>((resolve) => (givenUp = resolve))])
  done.catch(() => undefined)

  const stop = async () => {
    stopping = true
    rouse()
    if (gaveUp || (await settlesWithin(completion, context.resolved.closeTimeout, scheduler))) return
    // closeTimeout: the server does not answer, or the handler does not return. The batch's connection and the
    // lease connection are destroyed: what waits on them fails at once, the batch rolls back with its connection
    // (it comes again: nothing is lost), and the leases expire on the server (another member takes the partitions
    // after leaseTtl). The consumer stops here: no timer, event or connection of it outlives stop(), and `done`
    // resolves, whatever the handler still does.
    gaveUp = true
    const batch = batchClient
    for (const client of [batch?.client, leaseConnection?.client]) if (client !== undefined) socketOf(client)?.destroy()
    // Given back broken (the pool drops it), so that your pool can end though the handler still holds it.
    batch?.release(new Error('rxpg: the consumer stopped after closeTimeout with its batch in flight'))
    quieten()
    givenUp()
  }

  return {
    member,
    events$: events$.asObservable(),
    get stats(): ConsumerStats {
      return { ...counts, partitions: [...leases.keys()].sort((a, b) => a - b), batchStartedAt: handlerSince === undefined ? undefined : new Date(handlerSince) }
    },
    done,
    stop,
    [Symbol.asyncDispose]: stop,
  }
}

/**
 * A statement of the handler's that failed, which the handler caught and went on from: its transaction was aborted
 * all the same, and the ack after it failed with 25P02, which says nothing of why.
 */
function handlerStatementFailure(caught: unknown): DurableQueryFailedError {
  const info = failureInfo(caught)
  return new DurableQueryFailedError(
    { ...info, operation: 'consume handler', detail: `${info.detail}; the handler caught this failure of one of its statements and returned, but it aborted the batch's transaction: nothing of it can commit` },
    { cause: caught },
  )
}

/** [[e, t, i], ...] → [[e...], [t...], [i...]]. */
function transpose(rows: Array<[number, string, string]>): [number[], string[], string[]] {
  return [rows.map((row) => row[0]), rows.map((row) => row[1]), rows.map((row) => row[2])]
}
