import type pg from 'pg'
import type { Observable, Observer, SchedulerLike } from 'rxjs'
import type { DecodeError, Either, PgListener, RxpgError, TypedChannel } from '../index.js'
import type { ConsumerEvent, ConsumerStats } from './consumer.js'
import type { StallEvent } from './detect-stalls.js'

/** One message of a durable channel, as readers and consumers get it. */
export interface DurableMessage<T> {
  /** Opaque resume token: pass it as `from`/`after` to continue right after this message. */
  readonly token: string
  readonly channel: string
  /** The key given at append (per-key order is kept by consumer groups). */
  readonly key?: string | undefined
  readonly value: T
  /** The consumer-group partition the key maps to. */
  readonly partition: number
  /** When the row was appended (the appending statement's time, server clock). */
  readonly appendedAt: Date
}

/** Where to start: after a token, at the first message kept ('earliest'), or with what commits from now on. */
export type StartPosition = string | 'earliest' | 'now'

export interface ReadOptions {
  /** Default 'now' (also when `undefined`, so a token you may not have stored yet can be passed as it is). */
  readonly from?: StartPosition | undefined
  /** Rows fetched per statement (default: the log's `batchSize`). */
  readonly batchSize?: number | undefined
  /**
   * More moments to read at: each emission reads what became readable, besides wake-ups, reconnections and the
   * poll. For wake-ups rxpg cannot see itself, such as those of trigger-written rows (rxpg/changes).
   */
  readonly wakeUps?: Observable<unknown> | undefined
}

export interface IterateOptions extends ReadOptions {
  /** Ends the iteration: a pending or later `next()` rejects with the signal's reason, and the reader stops. */
  readonly signal?: AbortSignal | undefined
}

export interface FetchOptions {
  /** A token, or 'earliest'. */
  readonly after: string | 'earliest'
  /** Most messages returned (default: the log's `batchSize`). */
  readonly limit?: number | undefined
}

/** What `fetch` returns: the messages after the position, and the token to fetch from next. */
export interface DurableBatch<T> {
  readonly messages: ReadonlyArray<DurableMessage<T>>
  /**
   * Where the next fetch starts. Past the last message, and when fewer than `limit` came, past everything
   * final at this fetch's snapshot (so a quiet channel's token moves forward too).
   */
  readonly next: string
}

export interface AppendOptions {
  /** Messages with the same key keep their order for consumer groups (they go to the same partition). */
  readonly key?: string | undefined
  /**
   * A client inside your transaction (the outbox): the message commits or rolls back with your writes. rxpg
   * cannot see that commit, so readers are woken by their poll back-stop, or call `log.wake(channel)` after
   * committing; `log.transaction()` does both for you.
   */
  readonly client?: pg.ClientBase | undefined
}

/** What `append$` takes. */
export interface DurableAppend {
  readonly channel: string
  readonly value: unknown
  readonly key?: string | undefined
}

export interface RetentionOptions {
  /** Messages older than this (ms) are dropped, a whole partition at a time. Default 7 days; `null` for no age limit. */
  readonly maxAge?: number | null | undefined
  /** Oldest partitions are dropped while the log is larger than this (bytes). Default none. */
  readonly maxBytes?: number | null | undefined
  /** Time span of one partition, in ms (whole seconds). Default 1 day: every read scans every partition, so keep them few. */
  readonly partitionSpan?: number | undefined
  /** Partitions created ahead of time. Default 3. */
  readonly premake?: number | undefined
}

export interface StallOptions {
  /** A horizon held back for longer than this (ms) is reported. Default 5000. */
  readonly threshold?: number | undefined
  /** How often the horizon is sampled while readers or consumers run (ms). Default threshold / 5. */
  readonly interval?: number | undefined
}

/** The facts of one stall: what holds the horizon back, reported on `stalls$`. */
export type DurableStall = StallEvent<HorizonHolder>

/**
 * The transaction holding the horizon back, as pg_stat_activity (a session's) or pg_prepared_xacts (a prepared
 * transaction's) show it. A role without pg_read_all_stats (and not a member of the session's role) sees another
 * role's session without its activity: `state` and `since` are then null, the rest is given.
 */
export interface HorizonHolder {
  /** Backend pid (null for a prepared transaction). */
  readonly pid: number | null
  /** Global id of a prepared transaction (pg_prepared_xacts), else null. */
  readonly preparedGid: string | null
  /** The session's state (`'idle in transaction'`, `'active'`, …), `'prepared'` for a prepared transaction. */
  readonly state: string | null
  /** When its transaction began (pg_stat_activity.xact_start), or was prepared; read as a number, whatever the session's DateStyle. */
  readonly since: Date | null
  readonly user: string | null
  readonly database: string | null
  readonly applicationName: string | null
}

export interface DurableLogOptions {
  /** Wake-ups and reconnect gaps come from it; the log's own wake-ups are sent through its `notify()`. */
  readonly listener: Pick<PgListener, 'channel' | 'state$' | 'notify'>
  /**
   * Where the log lives: your `pg.Pool` (not closed by `close()`), or a connection string / pool config for a
   * pool of the log's own (closed by `close()`), whose `connectionTimeoutMillis` is 10000 unless the config sets
   * it: pg waits for ever on a server that accepts connections and never answers, and ignores `connect_timeout`
   * in a connection string.
   */
  readonly pool: pg.Pool | string | pg.PoolConfig
  /** The schema holding the log's tables (default 'rxpg'). */
  readonly schema?: string | undefined
  /** Runs every timer (poll, wake-up window, leases, maintenance, stall sampling). Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike | undefined
  /** Readers and consumers read at least this often (ms), whatever wake-ups say. Default 1000. */
  readonly pollInterval?: number | undefined
  /** At most one wake-up NOTIFY per channel per this many ms (the first one is sent at once). Default 5. */
  readonly wakeWindow?: number | undefined
  /** Rows per read statement. Default 1000. */
  readonly batchSize?: number | undefined
  /** Partitions of a channel first used by this log (fixed per channel once stored). Default 16. */
  readonly partitions?: number | undefined
  readonly retention?: RetentionOptions | undefined
  /** How often maintenance runs (ms). Default a quarter of the partition span, at most a minute. `false`: never (run `maintain()` yourself). */
  readonly maintenanceInterval?: number | false | undefined
  readonly stall?: StallOptions | false | undefined
  /** `append$`/`append` batching: most rows per statement (default 1000), most rows waiting (default 100000). */
  readonly appendBatch?: { readonly maxBatchSize?: number | undefined; readonly maxQueue?: number | undefined } | undefined
  /**
   * Run the log's statements as named prepared statements (default `true`: each is planned once per
   * connection). `false` for a pool behind a transaction-mode pooler without prepared-statement support
   * (PgBouncer before 1.21).
   */
  readonly prepare?: boolean | undefined
  /**
   * How long `close()` and a consumer's `stop()` wait for work in flight (appends being written, a consumer's
   * batch and leases), in ms. Then they give up: the log's connections are destroyed (a server that stopped
   * answering would hold them for ever), appends in flight fail (`unknown`, or `not-sent` before they were
   * sent), a batch in flight rolls back with its connection (it comes again: nothing is lost). Default 10000;
   * `Infinity` waits for ever.
   */
  readonly closeTimeout?: number | undefined
}

export interface ConsumeOptions {
  /**
   * Where a new group starts: right after a token of this log, at the first message kept ('earliest', the
   * default) or with what commits from now on ('now'). An existing group resumes from its cursors.
   */
  readonly from?: StartPosition | undefined
  /** Most messages per batch (one transaction). Default 100. */
  readonly batchSize?: number | undefined
  /**
   * Lease length in ms. Leases are renewed every third of it on a connection of the consumer's own, also while
   * the handler runs: a slow handler keeps its partitions as long as its process runs and reaches the database.
   * It is how long a member that stopped answering (killed, frozen, cut off) keeps them before another member
   * takes them over. Default 10000.
   */
  readonly leaseTtl?: number | undefined
  /**
   * Wait after a handler failure before the batch is tried again, in ms; or a function of the attempt (1 after
   * a first failure, counting up while batches keep failing, as the `handler-failed` event's `attempt`) that
   * returns it: a back-off, such as `(attempt) => Math.min(60_000, 500 * 2 ** attempt)`. A result that is not a
   * positive number of ms (at most 2,147,483,647) stops the consumer with a `RangeError`. Default 1000.
   */
  readonly retryDelay?: number | ((attempt: number) => number) | undefined
  /**
   * Sets aside a message the handler keeps failing on (a poison message) rather than retrying it for ever while
   * every partition of the member waits. After a failed batch its messages are handled one at a time; one whose
   * handler has failed `maxAttempts` times (at least once alone) is appended to `channel` as a {@link DeadLetter},
   * in the transaction that moves the group's cursor past it. Default: no set-aside (retried for ever).
   */
  readonly deadLetter?: DeadLetterOptions | undefined
  /** This consumer's id in the group (default: random). */
  readonly member?: string | undefined
}

export interface DeadLetterOptions {
  /** The channel of this log that set-aside messages are appended to; not the channel consumed. */
  readonly channel: string
  /** Handler failures of one message before it is set aside, counting each failed batch it was in: 1 or more. */
  readonly maxAttempts: number
}

/** The value appended to a consumer's `deadLetter.channel` for a message set aside (with the message's key). */
export interface DeadLetter {
  /** Where the message was, and its token there. */
  readonly channel: string
  readonly token: string
  readonly key: string | null
  /** The group and member that set it aside. */
  readonly group: string
  readonly member: string
  /** Its value as stored (JSON), whatever a typed channel's decoder made of it. */
  readonly value: unknown
  /** When it was appended to `channel` (ISO 8601). */
  readonly appendedAt: string
  /** The handler failures it was in. */
  readonly attempts: number
  /**
   * The last failure: its `name`, `message`, `code` where it has a string one (an rxpg code, a pg error's SQLSTATE),
   * and `sqlState` where it carries one (an rxpg error's `info.sqlState`, a pg error's code).
   */
  readonly error: { readonly name: string; readonly message: string; readonly code?: string | undefined; readonly sqlState?: string | undefined }
}

/**
 * A batch handler: runs inside the transaction that advances the group's cursor; write through `client` for
 * exactly-once effects. Throw to roll the batch back (it comes again after `retryDelay`); never `COMMIT` or
 * `ROLLBACK` on `client` (the consumer then stops with `HandlerEndedTransactionError`).
 */
export type BatchHandler<T> = (messages: ReadonlyArray<DurableMessage<T>>, client: pg.PoolClient) => Promise<void> | void

/** What `groupLag` tells of a consumer group. */
export interface GroupLag {
  /** Messages after the group's cursors, in all its partitions (those of a batch in flight included). */
  readonly waiting: number
  /** When the oldest of them was appended; undefined when none waits. */
  readonly oldestAppendedAt: Date | undefined
  /**
   * True when retention dropped messages after a partition's cursor: the group fell behind the retention, and
   * its members stop with `CursorExpiredError` (`moveGroup(channel, group, 'earliest')` lets it go on). `waiting`
   * counts only the messages kept.
   */
  readonly expired: boolean
  /** Each partition, in order; empty for a group that never ran. */
  readonly partitions: readonly PartitionLag[]
}

export interface PartitionLag {
  readonly partition: number
  /** Messages after the partition's cursor. */
  readonly waiting: number
  readonly oldestAppendedAt: Date | undefined
  /** The token the partition resumes after. */
  readonly cursor: string
  /** Retention dropped messages after its cursor. */
  readonly expired: boolean
  /** The member holding the partition's lease, and until when; undefined when no lease is live. */
  readonly owner: string | undefined
  readonly leaseExpiresAt: Date | undefined
}

/** A running member of a consumer group. */
export interface DurableConsumer extends AsyncDisposable {
  readonly member: string
  /** Leases taken and lost, batches committed, stale acks rejected, handler failures. */
  readonly events$: Observable<ConsumerEvent>
  readonly stats: ConsumerStats
  /** Settles when the consumer has stopped: resolves after `stop()`, rejects when it failed for good (e.g. `CursorExpiredError`). */
  readonly done: Promise<void>
  /** Finishes the batch in flight, gives the partitions back, and stops; waits at most the log's `closeTimeout`, then destroys its connections (the batch rolls back: it comes again). */
  stop(): Promise<void>
}

/** A durable log in one schema: append, read from a token, fetch, consume in groups. Made by `createDurableLog`. */
export interface DurableLog extends AsyncDisposable {
  readonly schema: string
  /** Appends one message; resolves with its token once committed (or, with `options.client`, once inserted in your transaction). */
  append(channel: string, value: unknown, options?: AppendOptions): Promise<string>
  append<T>(channel: TypedChannel<T>, value: NoInfer<T>, options?: AppendOptions): Promise<string>
  /** A batched sink: one multi-row INSERT per batch, in call order (two batches overlap while more waits). Failures go to `errors$`. `error()`/`complete()` are ignored. */
  readonly append$: Observer<DurableAppend>
  /** Failures with no caller to reject (from `append$`); a process warning when nothing subscribes. */
  readonly errors$: Observable<RxpgError>
  /**
   * Runs `work` in a transaction on a pool client, commits, then wakes readers of every channel appended to with
   * `{ client }` in it. Rolls back and rethrows what `work` throws; a failing `COMMIT` (a deferred constraint)
   * rejects with `DurableQueryFailedError` (`info.operation` `'transaction commit'`, the driver's error as `cause`).
   */
  transaction<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R>
  /** Wakes readers of `channel` (coalesced); for appends committed in a transaction of your own. */
  wake(channel: string): void
  /** Backlog then live, gap-free and without duplicates, in the log's total order. Cold: each subscription reads on its own. */
  read(channel: string, options?: ReadOptions): Observable<DurableMessage<unknown>>
  read<T>(channel: TypedChannel<T>, options?: ReadOptions): Observable<DurableMessage<Either<DecodeError, T>>>
  /**
   * `read` pulled instead of pushed, for `for await`: a page is read when the loop wants more than it holds, so an
   * asynchronous handler paces the reader and a backlog is never held in memory. The same order, triggers and
   * errors as `read`; ends when the log closes.
   */
  iterate(channel: string, options?: IterateOptions): AsyncIterableIterator<DurableMessage<unknown>>
  iterate<T>(channel: TypedChannel<T>, options?: IterateOptions): AsyncIterableIterator<DurableMessage<Either<DecodeError, T>>>
  /** One page after a position (CouchDB's `_changes?since=`). */
  fetch(channel: string, options: FetchOptions): Promise<DurableBatch<unknown>>
  fetch<T>(channel: TypedChannel<T>, options: FetchOptions): Promise<DurableBatch<Either<DecodeError, T>>>
  /** Joins consumer group `group` of `channel` and starts working. */
  consume(channel: string, group: string, handler: BatchHandler<unknown>, options?: ConsumeOptions): DurableConsumer
  consume<T>(channel: TypedChannel<T>, group: string, handler: BatchHandler<Either<DecodeError, T>>, options?: ConsumeOptions): DurableConsumer
  /**
   * Moves consumer group `group` of `channel` to `to` (right after a token of this log, the first message kept
   * ('earliest'), or what commits from now on ('now')): after `CursorExpiredError`, to skip a backlog, or to
   * process messages again. Every partition moves, and every lease is taken away, so a batch in flight does not
   * commit (its ack is stale); running members carry on from `to` at their next takeover. Resolves with the
   * token of the position moved to. Rejects with `CursorExpiredError` for a token older than the retention,
   * `InvalidTokenError` for one that is malformed, of another log or ahead of the database (a typo), and a
   * `RangeError` for a group that never ran (nothing is created: a new group starts at consume's `from`). `'now'` is where the channel
   * stands below the snapshot horizon: messages of transactions still running (a batch in flight included) come
   * after it.
   */
  moveGroup(channel: string | TypedChannel<unknown>, group: string, to: StartPosition): Promise<string>
  /** The consumer groups of `channel` that have run (they have cursors), by name. */
  groups(channel: string | TypedChannel<unknown>): Promise<readonly string[]>
  /**
   * How far consumer group `group` of `channel` is behind: the messages after its cursors (in all, and per
   * partition), the oldest one's append time, and who holds each partition's lease. A group that never ran has no
   * partitions. It counts every message waiting: an operator's call (a dashboard, an alert), not one per batch.
   */
  groupLag(channel: string | TypedChannel<unknown>, group: string): Promise<GroupLag>
  /** A horizon held back longer than the threshold, and when it moves again. Sampled while readers or consumers run. */
  readonly stalls$: Observable<DurableStall>
  /** Development: installs the schema (the same SQL as `npx rxpg sql durable`) and runs maintenance once (the first partitions). */
  ensureSchema(): Promise<void>
  /** Runs maintenance now (partitions ahead, retention); `elected: false` when another process was running it. */
  maintain(): Promise<{ readonly elected: boolean; readonly created: number; readonly dropped: number }>
  /** Stops readers (they complete), consumers (leases given back), timers; sends what is queued; ends a pool of its own. Idempotent. */
  close(): Promise<void>
}
