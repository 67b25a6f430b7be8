/**
 * `createDurableLog`: durable channels on top of a listener (wake-ups, reconnect gaps) and a pool (the log's
 * tables). See docs/durable.md for the guarantees and how they are kept.
 */
import type pg from 'pg'
import { asyncScheduler, defer, exhaustMap, finalize, from, interval, Subject, type Observer, type Subscription } from 'rxjs'
import { assertChannelName } from '../identifiers.js'
import { quoteIdentifier, type RxpgError, type TypedChannel } from '../index.js'
import { InvalidSinkValueError, isObjectArgument } from '../errors.js'
import { AppendBatcher } from './append-batcher.js'
import { startConsumer } from './consumer.js'
import { groupLag } from './group-lag.js'
import { moveGroup } from './move-group.js'
import { AppendFailedError, DurableLogClosedError, DurableQueryFailedError, InvalidDurableValueError } from './errors.js'
import { partitionOfKey } from './key-partition.js'
import { LogContext, resolveOptions } from './log-context.js'
import { isTransient } from './pg-failure.js'
import { checkPage, cursorAfter, plainMessages, readPage, startOf, typedMessages } from './page.js'
import { encodeToken } from './position.js'
import { checkAppendClient, checkBatchSize, checkConsumeOptions, checkDurableOptions, checkGroupName, checkHandler, CONSUME_OPTIONS, FETCH_OPTIONS, ITERATE_OPTIONS, optionsOf, READ_OPTIONS } from './check-options.js'
import { iterateChannel } from './iterate-channel.js'
import { readChannel } from './read-channel.js'
import { settlesWithin } from '../settles-within.js'
import { assertSchemaName, DEFAULT_SCHEMA, DURABLE_SCHEMA_VERSION, durableSchemaSql } from './schema-sql.js'
import { StallMonitor } from './stall-monitor.js'
import type { AppendOptions, BatchHandler, ConsumeOptions, DurableAppend, DurableBatch, DurableConsumer, DurableLog, DurableLogOptions, FetchOptions, IterateOptions, ReadOptions, StartPosition } from './types.js'

type ChannelArgument = string | TypedChannel<unknown>

/**
 * Opens a durable log (nothing is connected until first use).
 *
 * ```ts
 * const log = createDurableLog({ listener: db, pool })
 * await log.append('orders', { id: 1 }, { key: 'customer-7' })
 * log.read('orders', { from: 'earliest' }).subscribe((message) => console.log(message.token, message.value))
 * ```
 */
export function createDurableLog(options: DurableLogOptions): DurableLog {
  checkDurableOptions(options)
  const schema = options.schema ?? DEFAULT_SCHEMA
  assertSchemaName(schema)
  const scheduler = options.scheduler ?? asyncScheduler
  const resolved = resolveOptions(options)
  const context = new LogContext(options, resolved, scheduler, schema)
  const errors$ = new Subject<RxpgError>()
  let errorWatchers = 0
  const reportError = (error: RxpgError) => (errorWatchers > 0 ? errors$.next(error) : process.emitWarning(error))
  const batcher = new AppendBatcher(context, reportError)
  const stalls = new StallMonitor(context)
  const activity = { begin: () => stalls.begin(), end: () => stalls.end() }
  const consumers = new Set<DurableConsumer>()
  /** Channels appended to inside each `transaction()`, woken after its commit. */
  const appendedIn = new WeakMap<pg.ClientBase, Set<string>>()
  let maintenance: Subscription | undefined
  let closing: Promise<void> | undefined

  // At READ COMMITTED: after its advisory lock, durable_maintain() must see what the maintenance before it made.
  const maintain = async () => {
    const [row] = await context.queryReadCommitted<{ elected: boolean; created: number; dropped: number }>('maintenance', context.queries.maintain, [
      resolved.partitionSpanSeconds,
      resolved.maxAgeSeconds,
      resolved.maxBytes,
      resolved.premake,
    ])
    return row ?? { elected: false, created: 0, dropped: 0 }
  }
  /** Maintenance's failures go to errors$, but not the one of a log closed meanwhile: closing is not a failure. */
  const maintainReporting = () =>
    maintain().catch((error: RxpgError) => {
      if (!(context.closed && error instanceof DurableLogClosedError)) reportError(error)
    })
  context.onFirstOpen = async () => {
    if (resolved.maintenanceInterval === false || context.closed) return
    await maintainReporting()
    if (context.closed) return
    maintenance = interval(resolved.maintenanceInterval, scheduler)
      .pipe(exhaustMap(() => from(maintainReporting())))
      .subscribe()
  }

  const nameOf = (channel: ChannelArgument) => {
    // Anything but a typed channel is checked as the name itself (a number is refused as a number).
    const name: unknown = typeof channel === 'object' && channel !== null && 'name' in channel ? channel.name : channel
    assertChannelName(name)
    return name
  }
  const typedOf = (channel: ChannelArgument) => (typeof channel === 'string' ? undefined : channel)

  /** The JSON text of a value, checked now: a value with no JSON form is refused before anything is queued. */
  const encode = async (channel: ChannelArgument, name: string, value: unknown): Promise<string> => {
    if (typeof channel !== 'string') return channel.payloadOf(value)
    return jsonOf(name, value)
  }

  const appendInClient = async (name: string, text: string, key: string | undefined, client: pg.ClientBase) => {
    const meta = await context.meta(client)
    const partitions = await context.partitionsOf(name, client)
    const [row] = await context.query<{ epoch: number; tx: string; id: string }>('append', context.queries.appendOne, [name, partitionOfKey(key, partitions), key ?? null, text], client)
    if (row === undefined) throw new Error('rxpg: INSERT … RETURNING returned no row')
    appendedIn.get(client)?.add(name)
    return encodeToken(meta.logId, { epoch: row.epoch, tx: BigInt(row.tx), id: BigInt(row.id) })
  }

  /**
   * Appends in a transaction of a client, and the channels they went to, woken after its commit: `transaction()`'s,
   * and a consumer batch's (its dead letters, and its handler's appends).
   */
  const transactionAppends = {
    append: appendInClient,
    watch: (client: pg.ClientBase) => {
      const channels = new Set<string>()
      appendedIn.set(client, channels)
      return channels
    },
    unwatch: (client: pg.ClientBase) => void appendedIn.delete(client),
  }

  const queueFull = (name: string) =>
    new AppendFailedError({ channel: name, outcome: 'not-sent', detail: `${resolved.maxQueue} appends are already waiting; raise appendBatch.maxQueue or slow the producer` })

  /**
   * Appends without a client take turns after their encoding: a typed channel's validation may be asynchronous,
   * and an append whose value validated first must not be queued before one called earlier (a "shipped" written
   * before its "placed"). Encodings still run at once, side by side; only the queueing waits.
   */
  let encodedTurn: Promise<unknown> = Promise.resolve()
  const append = async (channel: ChannelArgument, value: unknown, appendOptions: AppendOptions = {}): Promise<string> => {
    checkAppendClient(appendOptions.client)
    const name = nameOf(channel)
    const key = keyOf(name, appendOptions.key)
    if (appendOptions.client) return appendInClient(name, await encode(channel, name, value), key, appendOptions.client)
    const encoded = encode(channel, name, value)
    // Its failure is this append's, when its turn comes: not an unhandled rejection meanwhile.
    encoded.catch(() => undefined)
    const turn = encodedTurn.then(() => encoded)
    encodedTurn = turn.catch(() => undefined)
    const text = await turn
    return new Promise<string>((resolve, reject) => {
      if (!batcher.push({ channel: name, key, text, settle: { resolve, reject } })) reject(queueFull(name))
    })
  }

  const append$: Observer<DurableAppend> = {
    next: (append) => {
      // JavaScript callers can pass anything; destructuring null threw a TypeError into the producer.
      if (!isObjectArgument(append)) {
        reportError(new InvalidSinkValueError({ sink: 'append$', expected: '{ channel, value, key? }', value: append }))
        return
      }
      const { channel, value, key } = append
      let text: string
      let checkedKey: string | undefined
      try {
        assertChannelName(channel)
        checkedKey = keyOf(channel, key)
        text = jsonOf(channel, value)
      } catch (error) {
        reportError(error as RxpgError)
        return
      }
      if (!batcher.push({ channel, key: checkedKey, text })) reportError(queueFull(channel))
    },
    // A producer finishing or failing must not close a sink others share.
    error: () => undefined,
    complete: () => undefined,
  }

  /** transaction() calls in flight: close() waits for them, as for the log's other work (at most closeTimeout). */
  const transactions = new Set<Promise<unknown>>()
  const transaction = <R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> => {
    const running = runTransaction(work)
    transactions.add(running)
    const done = () => void transactions.delete(running)
    running.then(done, done)
    return running
  }
  const runTransaction = async <R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> => {
    if (context.closed) throw new DurableLogClosedError({ operation: 'transaction' })
    const { client, release, connectionError } = await context.checkOut('transaction').catch((error: unknown) => {
      throw context.failure('transaction', error)
    })
    const channels = transactionAppends.watch(client)
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      let result: R
      try {
        result = await work(client)
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError))
        throw error
      }
      try {
        await client.query('COMMIT')
      } catch (error) {
        // A deferred constraint, a serialization failure, a broken connection: nothing committed (or, for a
        // connection lost in flight, the outcome is unknown). rxpg's statement, so rxpg's typed error.
        // A connection the server ended meanwhile says why (its SQLSTATE); the COMMIT's own error only that it broke.
        const failure = context.failureOn('transaction commit', error, connectionError())
        if (failure instanceof DurableQueryFailedError && isTransient(failure.info)) broken = failure
        throw failure
      }
      for (const channel of channels) context.wake(channel)
      return result
    } finally {
      transactionAppends.unwatch(client)
      release(broken)
    }
  }

  const fetch = async (channel: ChannelArgument, options: FetchOptions): Promise<DurableBatch<unknown>> => {
    // Left out (JavaScript), `after` is undefined: refused below as a malformed token, saying what it must be.
    const fetchOptions = optionsOf('fetch', options, FETCH_OPTIONS, 'after')
    const limit = fetchOptions.limit ?? resolved.batchSize
    checkBatchSize('fetch', limit, 'limit')
    const name = nameOf(channel)
    const typed = typedOf(channel)
    const meta = await context.meta()
    const start = await startOf(context, meta, name, fetchOptions.after as string, 'fetch')
    const page = await readPage(context, 'fetch', name, start.position, limit)
    checkPage(page, start.position, meta, name, start.fromEarliest ? page.expiredThrough : undefined)
    const messages = typed ? await typedMessages(meta, typed, page.rows) : plainMessages(meta, name, page.rows)
    return { messages, next: encodeToken(meta.logId, cursorAfter(page, start.position, page.rows.length >= limit)) }
  }

  /** A server that stopped answering (or work that does not end): give up on what is in flight rather than wait for ever. */
  const giveUp = () => {
    context.abandon()
    batcher.abandon()
  }

  const log = {
    schema,
    append,
    append$,
    errors$: defer(() => {
      errorWatchers++
      return errors$.pipe(finalize(() => errorWatchers--))
    }),
    transaction,
    wake: (channel: string) => context.wake(nameOf(channel)),
    read: (channel: ChannelArgument, options?: ReadOptions) => {
      const readOptions = optionsOf('read', options, READ_OPTIONS, 'from')
      checkBatchSize('read', readOptions.batchSize)
      return readChannel(context, nameOf(channel), typedOf(channel), readOptions, activity)
    },
    iterate: (channel: ChannelArgument, options?: IterateOptions) => {
      const iterateOptions = optionsOf('iterate', options, ITERATE_OPTIONS, 'from')
      checkBatchSize('iterate', iterateOptions.batchSize)
      return iterateChannel(context, nameOf(channel), typedOf(channel), iterateOptions, activity)
    },
    fetch,
    consume: (channel: ChannelArgument, group: string, handler: BatchHandler<unknown>, options?: ConsumeOptions) => {
      const name = nameOf(channel)
      checkGroupName(group)
      checkHandler(handler)
      const consumeOptions = optionsOf('consume', options, CONSUME_OPTIONS)
      checkConsumeOptions(consumeOptions, name)
      const consumer = startConsumer(context, name, group, typedOf(channel), handler, consumeOptions, activity, transactionAppends)
      consumers.add(consumer)
      void consumer.done.then(
        () => consumers.delete(consumer),
        () => consumers.delete(consumer),
      )
      return consumer
    },
    moveGroup: async (channel: ChannelArgument, group: string, to: StartPosition) => {
      const name = nameOf(channel)
      checkGroupName(group)
      return moveGroup(context, name, group, to)
    },
    groups: async (channel: ChannelArgument) => {
      const rows = await context.query<{ grp: string }>('groups', context.queries.groups, [nameOf(channel)])
      return rows.map((row) => row.grp)
    },
    groupLag: async (channel: ChannelArgument, group: string) => {
      const name = nameOf(channel)
      checkGroupName(group)
      return groupLag(context, name, group)
    },
    stalls$: stalls.stalls$,
    ensureSchema: async () => {
      // No connection (a server that is down or refuses) fails as every other call does: DurableQueryFailedError.
      const { client, release } = await context.checkOut('ensureSchema').catch((error: unknown) => {
        throw context.failure('ensureSchema', error)
      })
      try {
        await context.assertServerVersion(client)
        // Installed at this version (by a migration): nothing to do. Running the script again would need what
        // only its owner has (CREATE on the database), which an application role that calls this at start lacks.
        if ((await installedVersion(client, schema)) === DURABLE_SCHEMA_VERSION) return
        // READ COMMITTED whatever the session's default: after the lock, each statement sees what an install before
        // it committed (under REPEATABLE READ the meta row's INSERT … ON CONFLICT failed with 40001).
        await client.query('BEGIN ISOLATION LEVEL READ COMMITTED')
        // Concurrent installs would race on CREATE … IF NOT EXISTS: one at a time.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('rxpg.durable.install'), hashtext($1))`, [schema])
        await client.query(durableSchemaSql({ schema }))
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw context.failure('ensureSchema', error)
      } finally {
        release()
      }
      // The first partitions, so that the first rows do not land in the default partition.
      await maintain()
    },
    maintain,
    close: () =>
      (closing ??= (async () => {
        // One deadline for all of it: consumers, appends, and a pool of its own, which ends only once every
        // client is back (a page read waiting on a lock, a handler that does not return).
        const deadline = resolved.closeTimeout === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : scheduler.now() + resolved.closeTimeout
        const inTime = (work: Promise<unknown>) => settlesWithin(work, Math.max(0, deadline - scheduler.now()), scheduler)
        const finished = (async () => {
          await Promise.all([...consumers].map((consumer) => consumer.stop()))
          await Promise.allSettled([...transactions])
          await batcher.drain()
        })()
        if (!(await inTime(finished))) giveUp()
        maintenance?.unsubscribe()
        context.close()
        if (context.abandoned) batcher.failQueued()
        else batcher.rejectAll()
        errors$.complete()
        if (context.ownsPool) {
          // pg-pool's end() resolves once it has told its clients to end, not once their sockets are closed: those
          // are waited for too (each closes once its Terminate is written), so that nothing of the log's is left.
          const ended = context.pool.end().then(() => context.pooledClosed())
          ended.catch(() => undefined)
          if (!context.abandoned && !(await inTime(ended))) giveUp()
        }
      })()),
  }
  return { ...log, [Symbol.asyncDispose]: log.close } as DurableLog
}

/** A value's JSON text, or `InvalidDurableValueError` for one with no JSON form (undefined, a function, a BigInt, a cycle). */
function jsonOf(channel: string, value: unknown): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    throw new InvalidDurableValueError({ channel, detail: `the value has no JSON form (${error instanceof Error ? error.message : String(error)})` }, { cause: error })
  }
  if (text === undefined) throw new InvalidDurableValueError({ channel, detail: `the value has no JSON form (JSON.stringify gave undefined for a ${typeof value})` })
  return text
}

/** The key to store: a string without NUL, or undefined for none (null, which JavaScript callers pass, too). */
function keyOf(channel: string, key: unknown): string | undefined {
  if (key === undefined || key === null) return undefined
  if (typeof key !== 'string') throw new InvalidDurableValueError({ channel, detail: `its key must be a string; got ${typeof key}` })
  if (key.includes('\0')) throw new InvalidDurableValueError({ channel, detail: `its key must not hold a NUL character (PostgreSQL text cannot); got ${JSON.stringify(key)}` })
  // Stored as UTF-8, a lone surrogate would come back as U+FFFD: another key, in another partition.
  if (!key.isWellFormed()) throw new InvalidDurableValueError({ channel, detail: `its key must not hold a lone UTF-16 surrogate (it would come back as U+FFFD); got ${JSON.stringify(key)}` })
  return key
}

/**
 * The schema version of the log installed in `schema`, or undefined when none is, or when its functions name
 * another schema in their search_path (the schema was renamed since: running the SQL again repairs it).
 */
async function installedVersion(client: pg.ClientBase, schema: string): Promise<number | undefined> {
  const s = quoteIdentifier(schema)
  const { rows } = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [`${s}.durable_meta`])
  if (rows[0]?.present !== true) return undefined
  const installed = await client.query<{ version: number }>(
    `SELECT version FROM ${s}.durable_meta
     WHERE format('search_path=%s, pg_catalog, pg_temp', quote_ident($1)) = ANY (SELECT unnest(proconfig) FROM pg_proc WHERE oid = to_regprocedure($2))`,
    [schema, `${s}.durable_epoch()`],
  )
  return installed.rows[0]?.version
}
