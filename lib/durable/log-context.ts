/**
 * @internal What every part of one durable log shares: the pool, its statements, the resolved options, the
 * log's identity (id and epoch), the channels' partition counts, and the wake-ups.
 */
import { createHash } from 'node:crypto'
import pg from 'pg'
import { EMPTY, filter, interval, map, merge, Subject, takeUntil, tap, type Observable, type SchedulerLike } from 'rxjs'
import type { ListenerState } from '../index.js'
import { STATEMENT_NAME_SQLSTATES } from '../pg/statement-name-refused.js'
import { checkOut, failureCause, type CheckedOutClient } from '../pg/check-out.js'
import { namedFor } from '../pg/config.js'
import { socketOf } from '../pg/socket-of.js'
import { coalesceWakes } from './coalesce-wakes.js'
import { DurableLogClosedError, DurableQueryFailedError, DurableSchemaMissingError, UnsupportedServerError } from './errors.js'
import { failureInfo, isSchemaMissing } from './pg-failure.js'
import { queriesFor, type Queries } from './queries.js'
import { readCommittedStatement } from './read-committed.js'
import { DURABLE_SCHEMA_VERSION } from './schema-sql.js'
import type { DurableLogOptions } from './types.js'

export interface LogMeta {
  readonly logId: string
  readonly epoch: number
}

export interface ResolvedOptions {
  readonly pollInterval: number
  readonly wakeWindow: number
  readonly batchSize: number
  readonly partitions: number
  readonly maxAgeSeconds: number | null
  readonly maxBytes: number | null
  readonly partitionSpanSeconds: number
  readonly closeTimeout: number
  readonly premake: number
  readonly maintenanceInterval: number | false
  readonly stall: { readonly threshold: number; readonly interval: number } | false
  readonly maxBatchSize: number
  readonly maxQueue: number
  readonly prepare: boolean
}

/** PostgreSQL 12: the oldest server durable channels support (partitioned tables with a default partition, txid_* functions). */
export const MINIMUM_SERVER_VERSION = 120000
const DAY = 24 * 60 * 60 * 1000
/**
 * pg's `connectionTimeoutMillis` for a pool of the log's own, unless its config sets one: without it pg waits
 * for ever on a server that accepts connections and never answers (pg's JavaScript client ignores
 * `connect_timeout` in a connection string). 10 s, the default of the listener's `connectTimeout`.
 */
const OWN_POOL_CONNECT_TIMEOUT = 10_000

/** Type parsers that keep every column as the server wrote it (see queryTexts). */
const serverText: pg.CustomTypesConfig = { getTypeParser: () => (text: string) => text }

export function resolveOptions(options: DurableLogOptions): ResolvedOptions {
  const retention = options.retention ?? {}
  // A day: every page read (each reader's wake-up, each replayed page) scans and locks every partition, so the
  // default keeps them few (a week's retention: 7 past, the current one, 3 ahead). Measured: an empty live page
  // took 0.13-0.29 ms with 5-12 partitions and 1.19 ms with 173 (7 days of 1-hour spans, the default before).
  const spanMs = retention.partitionSpan ?? DAY
  const maxAge = retention.maxAge === undefined ? 7 * DAY : retention.maxAge
  const closeTimeout = options.closeTimeout ?? 10_000
  const stall = options.stall === false ? false : { threshold: options.stall?.threshold ?? 5000, interval: options.stall?.interval ?? (options.stall?.threshold ?? 5000) / 5 }
  return {
    pollInterval: options.pollInterval ?? 1000,
    wakeWindow: options.wakeWindow ?? 5,
    batchSize: options.batchSize ?? 1000,
    partitions: options.partitions ?? 16,
    maxAgeSeconds: maxAge === null ? null : Math.max(1, Math.ceil(maxAge / 1000)),
    maxBytes: retention.maxBytes ?? null,
    partitionSpanSeconds: Math.max(1, Math.round(spanMs / 1000)),
    premake: retention.premake ?? 3,
    maintenanceInterval: options.maintenanceInterval === undefined ? Math.min(Math.max(1000, spanMs / 4), 60_000) : options.maintenanceInterval,
    stall,
    maxBatchSize: options.appendBatch?.maxBatchSize ?? 1000,
    maxQueue: options.appendBatch?.maxQueue ?? 100_000,
    prepare: options.prepare ?? true,
    closeTimeout,
  }
}

/** The listener channel that carries wake-ups for one schema's log; the payload is the durable channel's name. */
export function wakeChannelOf(schema: string): string {
  const plain = `rxpg.durable.${schema}`
  return Buffer.byteLength(plain) <= 63 ? plain : `rxpg.durable.${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`
}

export class LogContext {
  readonly pool: pg.Pool
  readonly ownsPool: boolean
  readonly queries: Queries
  readonly wakeChannel: string
  closed = false
  /** close() gave up waiting (closeTimeout): the log's connections were destroyed, and no statement starts any more. */
  abandoned = false
  /** Connections the log may destroy when it gives up waiting: clients it checked out, lease connections. */
  private readonly connections = new Set<pg.ClientBase>()
  /** Every client of a pool of its own, checked out or idle, while it is open. */
  private readonly pooled = new Set<pg.ClientBase>()
  private readonly pooledClosedWaiters: Array<() => void> = []
  /** Emits once when the log closes: readers complete, timers stop. */
  readonly closed$ = new Subject<void>()
  /** Commits made in this process, per channel: local readers are woken without waiting for the NOTIFY. */
  private readonly localWakes = new Subject<string>()
  private readonly wakeRequests = new Subject<string>()
  private metaPromise: Promise<LogMeta> | undefined
  /** Runs once, after the log's identity was first read (the first maintenance, so partitions exist). */
  onFirstOpen: (() => Promise<void>) | undefined
  private readonly partitionCounts = new Map<string, number | Promise<number>>()
  private readonly reconnects$: Observable<ListenerState>

  constructor(
    readonly options: DurableLogOptions,
    readonly resolved: ResolvedOptions,
    readonly scheduler: SchedulerLike,
    readonly schema: string,
  ) {
    const poolOption = options.pool
    this.ownsPool = !(poolOption instanceof pg.Pool)
    this.pool = poolOption instanceof pg.Pool ? poolOption : this.ownPool(typeof poolOption === 'string' ? { connectionString: poolOption } : poolOption)
    // A pool of the log's own must not crash the process when an idle client's server goes away.
    if (this.ownsPool) this.pool.on('error', () => undefined)
    this.queries = queriesFor(schema)
    this.wakeChannel = wakeChannelOf(schema)
    // Every connection after a gap may be to a restored database: the epoch is asked again.
    this.reconnects$ = options.listener.state$.pipe(
      filter((state) => state.status === 'connected'),
      tap((state) => {
        if (state.status === 'connected' && state.gap !== undefined) this.metaPromise = undefined
      }),
    )
    // Wake-ups are best effort (the poll back-stop covers a lost one): sent with notify(), whose failures are
    // dropped here, rather than notify$, whose failures would land on the listener's errors$ as the user's own.
    this.wakeRequests.pipe(coalesceWakes(resolved.wakeWindow, scheduler)).subscribe((channel) => {
      if (!this.closed) options.listener.notify(this.wakeChannel, channel).catch(() => undefined)
    })
  }

  /**
   * A pool of the log's own. Its connect time-out is in the pool's options, where pg-pool applies it (to opening a
   * connection, and to waiting for a free one when all `max` are out) and where the connections the log opens
   * beside the pool (a consumer's lease connection, a channel's registration) take their settings from.
   */
  private ownPool(config: pg.PoolConfig): pg.Pool {
    return new pg.Pool({
      ...namedFor('durable'),
      ...config,
      connectionTimeoutMillis: config.connectionTimeoutMillis ?? OWN_POOL_CONNECT_TIMEOUT,
      Client: this.trackedClient(),
    })
  }

  /**
   * The clients of a pool of the log's own, each counted from the moment it is made: abandon() may destroy them
   * all, those still connecting included (a server that accepts connections and never answers would keep one
   * opening, and the process alive, for ever).
   *
   * Each is ended without waiting on the server: pg's `end()` sends Terminate and then waits for the server to
   * close its side, which a frozen server never does, and the half-closed socket kept the process alive after
   * close() (pg-pool's `end()` resolves without waiting for it). Once Terminate is written, the socket is closed.
   */
  private trackedClient(): typeof pg.Client {
    const pooled = this.pooled
    const closedWaiters = this.pooledClosedWaiters
    return class TrackedClient extends pg.Client {
      constructor(config?: string | pg.ClientConfig) {
        super(config)
        pooled.add(this)
        this.once('end', () => {
          pooled.delete(this)
          if (pooled.size === 0) for (const resolve of closedWaiters.splice(0)) resolve()
        })
      }

      override end(): Promise<void>
      override end(callback: (error: Error) => void): void
      override end(callback?: (error: Error) => void): Promise<void> | void {
        const socket = socketOf(this)
        if (socket !== undefined && !socket.destroyed) socket.once('finish', () => socket.destroy())
        return callback === undefined ? super.end() : super.end(callback)
      }
    }
  }

  /** Resolves once every client of a pool of the log's own has closed its socket. */
  pooledClosed(): Promise<void> {
    if (this.pooled.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.pooledClosedWaiters.push(resolve))
  }

  /** Counts `client` among the log's connections (see abandon()); the returned function stops counting it. */
  track(client: pg.ClientBase): () => void {
    this.connections.add(client)
    return () => void this.connections.delete(client)
  }

  /** A pool client, counted among the log's connections while it is out. */
  async checkOut(operation: string): Promise<CheckedOutClient> {
    if (this.abandoned) throw new DurableLogClosedError({ operation })
    // A connection refused (the role's CONNECTION LIMIT, 53300) is the log's typed error, which readers and consumers retry.
    const out = await checkOut(this.pool).catch((error: unknown) => {
      throw this.failure(operation, error)
    })
    const untrack = this.track(out.client)
    return {
      ...out,
      release: (error) => {
        untrack()
        out.release(error)
      },
    }
  }

  /**
   * Gives up on the log's connections (close() waited `closeTimeout` for them): destroys their sockets, so that
   * every statement still waiting on them fails at once (a server that stopped answering never would), and
   * refuses new statements. A statement your own pool runs for the log (`pool.query`) is not the log's to end.
   */
  abandon(): void {
    this.abandoned = true
    for (const client of [...this.connections, ...this.pooled]) socketOf(client)?.destroy()
    this.connections.clear()
  }

  /**
   * Runs one statement on the pool (or `client`), with failures turned into typed errors. `outsideTransaction`:
   * `client` runs no transaction block, so a statement it had refused by name may run again on it.
   */
  async query<Row extends pg.QueryResultRow>(operation: string, text: string, values: unknown[], client?: pg.ClientBase, outsideTransaction = false): Promise<Row[]> {
    if ((this.closed && client === undefined) || this.abandoned) throw new DurableLogClosedError({ operation })
    try {
      return await this.againUnnamed(outsideTransaction ? undefined : client, text, async (name) => (await (client ?? this.pool).query<Row>({ name, text, values })).rows)
    } catch (error) {
      throw this.failure(operation, error)
    }
  }

  /**
   * `query` at READ COMMITTED, whatever the session's `default_transaction_isolation`, in one round trip: for the
   * statements that update rows others update concurrently, or insert under ON CONFLICT, outside a transaction of
   * rxpg's (read-committed.ts). On the pool, or on `client`, which must not be in a transaction block (the
   * statement is a transaction of its own). Not a prepared statement.
   */
  async queryReadCommitted<Row extends pg.QueryResultRow>(operation: string, text: string, values: unknown[], client?: pg.ClientBase): Promise<Row[]> {
    if ((this.closed && client === undefined) || this.abandoned) throw new DurableLogClosedError({ operation })
    try {
      const statement = readCommittedStatement(text, values)
      // Two statements in one simple query: pg answers with the result of each; the rows are the last one's.
      const results = (await (client ?? this.pool).query<Row>(statement)) as unknown as pg.QueryResult<Row> | Array<pg.QueryResult<Row>>
      return (Array.isArray(results) ? results.at(-1)?.rows : results.rows) ?? []
    } catch (error) {
      throw this.failure(operation, error)
    }
  }

  /**
   * Runs `run` with the statement's name; when the server refuses that name (a transaction-mode pooler: see
   * STATEMENT_NAME_SQLSTATES), the log sends unnamed statements from then on, and the statement runs again
   * unnamed (it never ran), unless it ran in a transaction block (`inTransaction`), which the failure aborted.
   */
  private async againUnnamed<R>(inTransaction: pg.ClientBase | undefined, text: string, run: (name: string | undefined) => Promise<R>): Promise<R> {
    const name = this.statementName(text)
    try {
      return await run(name)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (name === undefined || typeof code !== 'string' || !STATEMENT_NAME_SQLSTATES.has(code)) throw error
      this.unnamed = true
      if (inTransaction !== undefined) throw error
      return run(undefined)
    }
  }

  /**
   * `query` with each row as an array of the server's text for each column (null for NULL): no object per row
   * and no type parser (neither pg's JSON.parse of a json column nor a parser the application set globally), for
   * the page reads, the hot path, which parse what they use themselves.
   */
  async queryTexts(operation: string, text: string, values: unknown[]): Promise<Array<Array<string | null>>> {
    if (this.closed || this.abandoned) throw new DurableLogClosedError({ operation })
    try {
      return await this.againUnnamed(undefined, text, async (name) => (await this.pool.query<Array<string | null>>({ name, text, values, rowMode: 'array', types: serverText })).rows)
    } catch (error) {
      throw this.failure(operation, error)
    }
  }

  private readonly statementNames = new Map<string, string>()
  /** Set once the server refused a statement by its name: unnamed from then on, as with `prepare: false`. */
  private unnamed = false

  /**
   * Statements run as named prepared statements (`prepare: true`, the default): parsed and planned once per
   * connection instead of at every page, which was a third of a page read's time. The name is derived from the
   * text, so every connection and every log on the same schema agree on it.
   */
  private statementName(text: string): string | undefined {
    if (!this.resolved.prepare || this.unnamed) return undefined
    let name = this.statementNames.get(text)
    if (name === undefined) {
      name = `rxpg_durable_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
      this.statementNames.set(text, name)
    }
    return name
  }

  /**
   * `failure` for a statement on a client checked out with `checkOut`, whose connection may have failed meanwhile
   * (`connectionError`): the server that ended the session says why (its SQLSTATE, such as 25P03), where the
   * statement's own error says only that the client broke, also when a query of this log classified it already
   * (without a SQLSTATE: it keeps its operation).
   */
  failureOn(operation: string, error: unknown, connectionError: Error | undefined): Error {
    if (error instanceof DurableQueryFailedError && error.info.sqlState === undefined && connectionError !== undefined) return this.failure(error.info.operation, connectionError)
    return this.failure(operation, failureCause(error, connectionError))
  }

  failure(operation: string, error: unknown): Error {
    // Already classified by a query of this log (or the server's version check): wrapping it again would read
    // its code as the driver's, and leave the documented error only as the cause.
    if (error instanceof DurableLogClosedError || error instanceof DurableSchemaMissingError || error instanceof DurableQueryFailedError || error instanceof UnsupportedServerError) return error
    const info = failureInfo(error)
    if (isSchemaMissing(info)) {
      return new DurableSchemaMissingError({ schema: this.schema, reason: 'missing', expectedVersion: DURABLE_SCHEMA_VERSION, ...info }, { cause: error })
    }
    if (this.closed && /pool|ended/i.test(info.detail)) return new DurableLogClosedError({ operation })
    return new DurableQueryFailedError({ operation, ...info }, { cause: error })
  }

  /**
   * The log's id and epoch, asked once (and again after every reconnect gap). Fails with the schema error when
   * not installed. With `client` (an append inside the caller's transaction) it is asked on that client: every
   * pool connection may be held by such transactions, waiting for this answer.
   */
  meta(client?: pg.ClientBase): Promise<LogMeta> {
    const current = (this.metaPromise ??= this.loadMeta(client))
    current.catch(() => {
      if (this.metaPromise === current) this.metaPromise = undefined
    })
    return current
  }

  private async loadMeta(client?: pg.ClientBase): Promise<LogMeta> {
    let rows: Array<{ server_version: number; log_id: string; epoch: number; version: number }>
    try {
      // On the caller's client (its transaction, at its level), or at READ COMMITTED: durable_epoch() reads the meta
      // row again after its advisory lock, which under REPEATABLE READ would still show it as before the lock.
      rows = client === undefined ? await this.queryReadCommitted('open', this.queries.meta, []) : await this.query('open', this.queries.meta, [], client)
    } catch (error) {
      if (error instanceof DurableSchemaMissingError) await this.assertServerVersion()
      throw error
    }
    const row = rows[0]
    if (row === undefined) throw new DurableSchemaMissingError({ schema: this.schema, reason: 'missing', expectedVersion: DURABLE_SCHEMA_VERSION, detail: 'durable_meta has no row' })
    if (row.server_version < MINIMUM_SERVER_VERSION) throw new UnsupportedServerError({ serverVersionNum: row.server_version, minimumVersionNum: MINIMUM_SERVER_VERSION })
    if (row.version !== DURABLE_SCHEMA_VERSION) {
      throw new DurableSchemaMissingError({
        schema: this.schema,
        reason: 'outdated',
        expectedVersion: DURABLE_SCHEMA_VERSION,
        foundVersion: row.version,
        detail: `durable_meta.version is ${row.version}`,
      })
    }
    const first = this.onFirstOpen
    this.onFirstOpen = undefined
    // The first maintenance runs on the pool: awaited (so partitions exist before the first rows), except for
    // a caller's transaction, which may hold the last pool connection.
    if (client === undefined) await first?.()
    else void first?.()
    return { logId: row.log_id, epoch: row.epoch }
  }

  async assertServerVersion(client?: pg.ClientBase): Promise<void> {
    const [row] = await this.query<{ server_version: number }>('open', this.queries.serverVersion, [], client)
    if (row !== undefined && row.server_version < MINIMUM_SERVER_VERSION) {
      throw new UnsupportedServerError({ serverVersionNum: row.server_version, minimumVersionNum: MINIMUM_SERVER_VERSION })
    }
  }

  /**
   * The channel's partition count: stored on first use (this log's default), fixed after, cached.
   *
   * With `client` (an append in the caller's transaction) the count is read through that client, and a channel
   * seen for the first time is registered on a short-lived connection of its own, committed at once: inside
   * the caller's transaction the row would lock out every other first append to the channel until that
   * transaction ends, and a pool connection may not be free (the caller's transactions can hold them all).
   */
  partitionsOf(channel: string, client?: pg.ClientBase): number | Promise<number> {
    const known = this.partitionCounts.get(channel)
    if (known !== undefined) return known
    const loading = (client === undefined ? this.registerChannel(channel) : this.readChannel(channel, client)).then(
      (count) => {
        this.partitionCounts.set(channel, count)
        return count
      },
      (error: unknown) => {
        this.partitionCounts.delete(channel)
        throw error
      },
    )
    this.partitionCounts.set(channel, loading)
    return loading
  }

  /**
   * At READ COMMITTED: under REPEATABLE READ, a concurrent first registration of the channel (another process)
   * makes the INSERT … ON CONFLICT fail with 40001 rather than find the row.
   */
  private async registerChannel(channel: string, client?: pg.ClientBase): Promise<number> {
    const [row] = await this.queryReadCommitted<{ partitions: number }>('channel registration', this.queries.channelPartitions, [channel, this.resolved.partitions], client)
    return row?.partitions ?? this.resolved.partitions
  }

  private async readChannel(channel: string, client: pg.ClientBase): Promise<number> {
    const [row] = await this.query<{ partitions: number }>('channel registration', this.queries.channelPartitionsKnown, [channel], client)
    if (row !== undefined) return row.partitions
    const own = new pg.Client(this.pool.options)
    own.on('error', () => undefined)
    try {
      await own.connect()
      return await this.registerChannel(channel, own)
    } catch (error) {
      throw this.failure('channel registration', error)
    } finally {
      await own.end().catch(() => undefined)
    }
  }

  /** After a commit that appended to `channel`: wakes local readers now, and others through one coalesced NOTIFY. */
  wake(channel: string): void {
    if (this.closed) return
    this.localWakes.next(channel)
    this.wakeRequests.next(channel)
  }

  /** When a reader of `channel` should read: a wake-up (local or NOTIFY), a (re)connection of the listener, the poll back-stop, and the reader's own `wakeUps`. */
  readTriggers(channel: string, wakeUps: Observable<unknown> = EMPTY): Observable<unknown> {
    return merge(
      wakeUps,
      this.options.listener.channel(this.wakeChannel).pipe(filter((notification) => notification.payload === channel)),
      this.localWakes.pipe(filter((woken) => woken === channel)),
      this.reconnects$,
      interval(this.resolved.pollInterval, this.scheduler),
    ).pipe(
      map(() => undefined),
      takeUntil(this.closed$),
    )
  }

  close(): void {
    this.closed = true
    this.closed$.next()
    this.closed$.complete()
    this.localWakes.complete()
    this.wakeRequests.complete()
  }
}
