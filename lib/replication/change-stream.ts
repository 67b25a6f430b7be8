import { Observable, asyncScheduler, config as rxjsConfig, type SchedulerLike, type Subscriber } from 'rxjs'
import type { BackoffOptions } from '../backoff.js'
import type { DecodedType, Decoder } from '../operators/decoder.js'
import { assertConnectionConfig, type PgConnectionConfig } from '../pg/config.js'
import { secretsOf } from '../pg/secrets.js'
import { AckLedger } from './ack-ledger.js'
import { ChangeAssembler } from './change-assembler.js'
import { ChangeDecodeError } from './errors.js'
import { classifyReplicationError } from './pg/classify-replication-error.js'
import { pgReplicationSource } from './pg/pg-replication-source.js'
import type { ReplicationSource } from './ports.js'
import { decodeToken } from './position.js'
import { ReplicationConnection } from './replication-connection.js'
import { assertReplicationNames } from './replication-names.js'
import { checkStreamOptionNames, streamSettings } from './stream-settings.js'
import { TableSelection } from './table-selection.js'
import type { Change, Checkpoint, ReplicationFailure, ReplicationMetrics, ReplicationState, Transaction } from './types.js'

export interface ChangeStreamOptions {
  /** The logical replication slot (pgoutput) to read: created beforehand, see `replicationSetupSql`. */
  readonly slot: string
  /** The publication that says which tables' changes reach the slot. */
  readonly publication: string
  /**
   * Resume exactly after this position (a `position` token this stream delivered and you stored): nothing
   * at or before it is delivered again, nothing after it is skipped. Without it the stream starts where the
   * slot's confirmed position is, which can repeat acknowledged changes of a transaction acknowledged only in
   * part (also when `undefined`, so a position you may not have stored yet can be passed as it is). A token
   * the slot has moved past, or of another slot, stops the stream with a typed error.
   */
  readonly resumeAfter?: string | undefined
  /**
   * `'now'`: a batch job's read. The server's WAL position when the stream first connects is its end: every
   * change committed before it is delivered, then `changes$` (or `transactions$`) completes, without one committed
   * after it. It completes at the first transaction that committed at or after the end, or when the server says
   * it has decoded past the end (the stream asks at once, and at every status tick until then), after a last
   * checkpoint where the server had decoded to (when `checkpoints` is on and the WAL moved past the last change).
   * The end stays that of the first session across reconnections. Completion waits for items held back by
   * `maxUnacknowledged`: acknowledge as you go, or raise it above what waits. Default: never complete.
   */
  readonly until?: 'now' | undefined
  /**
   * Where a row its table's decoder refuses goes (and a change holding a value of a type dropped since it was
   * written, which cannot be read as what it was). Default: nowhere: the stream fails with `ChangeDecodeError`,
   * so that nothing is skipped without a decision (resume from your last token once the decoder accepts it).
   * With it, it is called in stream order: after every item before the refused change has been handed to
   * subscribers (also when `maxUnacknowledged` holds some back), before any after it (`transactionStream`: right
   * before the transaction that holds it). The refused change's position (`error.info.position`) can be
   * acknowledged from then on, inside `onInvalid` or later, and acknowledges everything before it; it is not a
   * delivered item (`metrics`: counted in `decodeFailures`, not in `delivered` or `unacknowledged`, and it takes
   * no room under `maxUnacknowledged`). What it throws is reported as a subscriber's is; the stream goes on.
   */
  readonly onInvalid?: ((error: ChangeDecodeError) => void) | undefined
  /** Reading pauses while this many delivered items are unacknowledged (changes, or transactions). Default 10000. */
  readonly maxUnacknowledged?: number | undefined
  /** How often positions are reported to the server (when they changed), and checkpoints delivered, in ms. Default 1000. */
  readonly statusInterval?: number | undefined
  /** Deliver checkpoints while the watched tables are idle and the server's WAL moves on. Default true. */
  readonly checkpoints?: boolean | undefined
  /**
   * While streaming, how often (ms) the publication is checked again: one dropped, or without a table the stream
   * delivers, fails the stream with the `ReplicationSetupError` a start would give (pgoutput skips a missing
   * publication without an error, and nothing of its tables would come). Default 30000; `false`: never.
   */
  readonly recheckInterval?: number | false | undefined
  /**
   * After `interval` ms without a message from the server, ask it for one; none within `timeout` ms: the
   * connection is taken for dead and replaced. Checked every `statusInterval`. Default `{ interval: 30000, timeout: 5000 }`.
   */
  readonly healthCheck?: { readonly interval?: number | undefined; readonly timeout?: number | undefined } | false | undefined
  /**
   * While the stream is behind (the server sends a transaction `behind` ms or more after it committed, by the
   * server's own clock; through that transaction's changes, until one begins that is not), each time the
   * socket has been read dry, reading waits `window` ms, so that the next read carries what arrived meanwhile:
   * hundreds of changes per read instead of one or two, which cuts the CPU per change to about a quarter
   * when catching up on a backlog. Caught up, every read is taken at once. Default `{ behind: 10, window: 3 }`;
   * `false` reads at once always.
   */
  readonly gatherReads?: { readonly behind?: number | undefined; readonly window?: number | undefined } | false | undefined
  /** Back-off between connection attempts (the listener's). After losing a working connection the first attempt is at once. */
  readonly reconnect?: BackoffOptions | undefined
  /**
   * Opening a connection, or starting replication on it, longer than this counts as failed, in ms. It also
   * bounds a report of acknowledgements made while no session was open (`close()` waits at most this long for
   * it). Default 10000.
   */
  readonly connectTimeout?: number | undefined
  /**
   * How long a slot held by another process is retried before the stream fails with `SlotInUseError`, in ms.
   * A crashed consumer's WAL sender can hold the slot for a moment after the crash. Default 10000.
   */
  readonly slotInUseTimeout?: number | undefined
  /** Runs every timer (back-off, status updates, time-outs). Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike | undefined
  /** Where the replication protocol comes from. Default: `pg`; `virtualReplicationSource(...)` draws one. */
  readonly source?: ReplicationSource | undefined
}

/** `tables` as a list: only these tables, rows raw. `'orders'` is `public.orders`; `'"a.b".c'` a name holding a dot, double-quoted as in SQL. */
export interface ChangeStreamTableList {
  readonly tables?: readonly string[] | undefined
}

/** `tables` as name → decoder (Standard Schema, io-ts style, or a function returning an `Either`): typed rows. */
export interface ChangeStreamTableDecoders<T extends Readonly<Record<string, Decoder<unknown>>>> {
  readonly tables: T
}

/**
 * A `tables` key's schema and table names, as table-names.ts reads it: `schema.table` or `table` as spelled, or
 * double-quoted parts (`"a.b".c`, `a."b.c"`); `string` where a doubled quote leaves the type unsure.
 */
type NamePart<P extends string> = P extends `"${infer Inner}"` ? (Inner extends `${string}"${string}` ? string : Inner) : P extends `${string}"${string}` ? string : P
type SplitName<K extends string> = K extends `"${infer S}".${infer T}`
  ? [NamePart<`"${S}"`>, NamePart<T>]
  : K extends `"${string}`
    ? ['public', NamePart<K>]
    : K extends `${infer S}.${infer T}`
      ? [NamePart<S>, NamePart<T>]
      : ['public', NamePart<K>]
type SchemaOf<K extends string> = SplitName<K>[0]
type TableOf<K extends string> = SplitName<K>[1]

/** The changes of tables given as name → decoder: a union discriminated by `table` (and `schema`). */
export type TypedChange<T extends Readonly<Record<string, Decoder<unknown>>>> = {
  [K in keyof T & string]: Change<DecodedType<T[K]>, SchemaOf<K>, TableOf<K>>
}[keyof T & string]

/** What both kinds of stream have: their state, counters, acknowledgement and end. */
export interface ReplicationStream extends AsyncDisposable {
  /** The replication connection's life, replaying the current state. Completes on `close()`. */
  readonly state$: Observable<ReplicationState>
  readonly metrics: ReplicationMetrics
  /**
   * Acknowledges a delivered position and everything before it: the slot may then release the WAL behind
   * it. Call it once the item is processed (at-least-once), or once its position is stored with its effect
   * (exactly once). Throws `InvalidReplicationTokenError` for a position this stream has not delivered, and
   * `ReplicationStreamClosedError` after `close()`.
   * The slot is told by the next status update; while no session is open (after the last subscriber left, or
   * after a failure), by a short session `statusInterval` later, or by `close()`.
   */
  ack(position: string): void
  /**
   * Ends the connection (a connected stream reports the acknowledged position in a last status update) and
   * every timer, and completes every subscriber. Acknowledgements no status update has carried yet (made while
   * no session streamed) are then reported on a short session: it resolves once the server has them, or rejects with
   * `AcknowledgementsNotReportedError` when it cannot within `connectTimeout` (the stream is closed all the
   * same). Idempotent: every call gets the same outcome.
   */
  close(): Promise<void>
}

export interface ChangeStream<C> extends ReplicationStream {
  /**
   * Every committed change, in commit order, and checkpoints between transactions while the watched tables are
   * idle. Subscribing connects (shared by concurrent subscribers); after the last unsubscribes the stream goes
   * idle and a later subscriber continues after what was delivered.
   */
  readonly changes$: Observable<C | Checkpoint>
}

export interface TransactionStream<C> extends ReplicationStream {
  /**
   * Every committed transaction with the changes this stream delivers, whole, in commit order, and
   * checkpoints. Each transaction is held in memory until its commit: for transactions that may not fit,
   * use `changeStream`, which delivers change by change.
   */
  readonly transactions$: Observable<Transaction<C> | Checkpoint>
}

/**
 * A change stream from PostgreSQL logical replication (pgoutput): every committed change to the tables of
 * `publication`, in commit order, read through `slot`, each with a position to acknowledge and to resume from.
 *
 * ```ts
 * const stream = changeStream(process.env.DATABASE_URL!, { slot: 'orders_feed', publication: 'orders', tables: { orders: Order } })
 * stream.changes$.subscribe((change) => {
 *   if (change.op === 'insert') ship(change.new)
 *   stream.ack(change.position)
 * })
 * ```
 */
export function changeStream<const T extends Readonly<Record<string, Decoder<unknown>>>>(
  config: PgConnectionConfig,
  options: ChangeStreamOptions & ChangeStreamTableDecoders<T>,
): ChangeStream<TypedChange<T>>
export function changeStream(config: PgConnectionConfig, options: ChangeStreamOptions & ChangeStreamTableList): ChangeStream<Change>
export function changeStream(
  config: PgConnectionConfig,
  options: ChangeStreamOptions & { readonly tables?: readonly string[] | Readonly<Record<string, Decoder<unknown>>> | undefined },
): ChangeStream<Change<unknown>> {
  const core = streamCore(config, options, 'changes')
  return { ...core.common, changes$: core.items$ as Observable<Change<unknown> | Checkpoint> }
}

/** Like `changeStream`, but each transaction is delivered whole at its commit. */
export function transactionStream<const T extends Readonly<Record<string, Decoder<unknown>>>>(
  config: PgConnectionConfig,
  options: ChangeStreamOptions & ChangeStreamTableDecoders<T>,
): TransactionStream<TypedChange<T>>
export function transactionStream(config: PgConnectionConfig, options: ChangeStreamOptions & ChangeStreamTableList): TransactionStream<Change>
export function transactionStream(
  config: PgConnectionConfig,
  options: ChangeStreamOptions & { readonly tables?: readonly string[] | Readonly<Record<string, Decoder<unknown>>> | undefined },
): TransactionStream<Change<unknown>> {
  const core = streamCore(config, options, 'transactions')
  return { ...core.common, transactions$: core.items$ as Observable<Transaction<Change<unknown>> | Checkpoint> }
}

function streamCore(
  config: PgConnectionConfig,
  options: ChangeStreamOptions & { readonly tables?: readonly string[] | Readonly<Record<string, Decoder<unknown>>> | undefined },
  mode: 'changes' | 'transactions',
): { common: ReplicationStream; items$: Observable<unknown> } {
  assertConnectionConfig('rxpg/replication', mode === 'changes' ? 'changeStream' : 'transactionStream', config)
  checkStreamOptionNames(mode === 'changes' ? 'changeStream' : 'transactionStream', options)
  const { slot, publication } = options
  assertReplicationNames(slot, publication, options.tables === undefined ? [] : Array.isArray(options.tables) ? options.tables : Object.keys(options.tables))
  const settings = streamSettings(options)
  const start = options.resumeAfter === undefined ? undefined : decodeToken(options.resumeAfter)
  const scheduler = options.scheduler ?? asyncScheduler
  const secrets = secretsOf(config)
  const names = { slot, publication }
  const selection = new TableSelection(options.tables as never)

  const onInvalid = options.onInvalid
  /**
   * What onInvalid throws is reported as a subscriber's is (rxjs's `onUnhandledError`, else thrown on its own),
   * and the stream goes on: it is called in the middle of the stream's work (a commit, a release of what waited
   * for room, inside your `ack`), which must not stop half done.
   */
  const passToOnInvalid = (error: ChangeDecodeError) => {
    try {
      onInvalid?.(error)
    } catch (thrown: unknown) {
      scheduler.schedule(() => {
        const report = rxjsConfig.onUnhandledError
        if (report === null) throw thrown
        report(thrown)
      })
    }
  }
  const assembler = new ChangeAssembler(mode, selection, onInvalid !== undefined)
  const ledger = new AckLedger()
  if (start !== undefined) {
    assembler.startAfter(start.position)
    ledger.startAfter(start.position)
    ledger.tag = start.tag
  }

  let subscribers: ReadonlyArray<Subscriber<unknown>> = []
  let ended: { readonly failure?: ReplicationFailure | undefined } | undefined
  /** Everything up to `until`'s end was delivered: every subscriber completes, and a later one at once. */
  const complete = () => {
    ended ??= {}
    const ending = subscribers
    subscribers = []
    for (const subscriber of ending) subscriber.complete()
  }
  const connection = new ReplicationConnection(
    options.source ?? pgReplicationSource(config, { ...names, ...(selection.names === undefined ? {} : { tables: selection.names }) }),
    assembler,
    ledger,
    // A refused change comes in its place in the stream (only with onInvalid): to onInvalid, not to subscribers.
    (item) => {
      if (item instanceof ChangeDecodeError) return passToOnInvalid(item)
      for (const subscriber of subscribers) subscriber.next(item)
    },
    {
      scheduler,
      backoff: options.reconnect ?? {},
      ...settings,
      checkpoints: options.checkpoints ?? true,
      classify: (error) => classifyReplicationError(error, secrets, names),
      request: { slot, publication, tables: selection.names },
      resumeTag: start?.tag,
      until: options.until === undefined ? undefined : { caughtUp: complete },
    },
  )
  const live = connection

  // A stream that fails errors its subscribers (after state$ says why); a closed one completes them.
  live.states$.subscribe((state) => {
    if (state.status !== 'failed' && state.status !== 'closed') return
    ended = state.status === 'failed' ? { failure: state.error } : {}
    const ending = subscribers
    subscribers = []
    for (const subscriber of ending) {
      if (state.status === 'failed') subscriber.error(state.error)
      else subscriber.complete()
    }
  })

  const items$ = new Observable<unknown>((subscriber) => {
    if (ended !== undefined) return ended.failure === undefined ? subscriber.complete() : subscriber.error(ended.failure)
    subscribers = [...subscribers, subscriber]
    if (subscribers.length === 1) live.want()
    return () => {
      const before = subscribers.length
      subscribers = subscribers.filter((other) => other !== subscriber)
      if (before > 0 && subscribers.length === 0 && ended === undefined) live.unwant()
    }
  })

  const close = () => live.close()
  return {
    items$,
    common: {
      state$: live.states$,
      metrics: { snapshot: () => live.metrics() },
      ack: (position) => live.ack(position),
      close,
      [Symbol.asyncDispose]: close,
    },
  }
}
