/**
 * @internal The queue behind `append` and `append$`: values are checked at once, then written in call order,
 * as many as are waiting in one multi-row INSERT. After each commit the channels written to are woken once
 * (coalesced, see coalesce-wakes.ts).
 *
 * A batch with nothing waiting behind it is one statement (one transaction, one round trip). While more is
 * waiting, batches are written in overlapping transactions, up to `OVERLAPPING` at once, so that the server
 * inserts one batch while the client prepares and sends the next: each such transaction first takes its
 * transaction id (`BEGIN; SELECT txid_current()`), and the next batch starts only after that. A log's order
 * is (epoch, transaction id, row id), so the batches keep call order whichever commits first. Measured: 1.1-1.7×
 * the rate of one statement in flight for 1 KiB values (docs/design.md, "Appending").
 *
 * A value the server refuses for its data (SQLSTATE class 22: a character the database's encoding cannot hold,
 * ...) fails alone. The server refuses the whole INSERT, nothing of it written; its values are then written
 * again in one transaction, split in halves under a savepoint down to the values refused (writeApart), first to
 * last, so the others keep call order: a lone batch in a new transaction (nothing later is in flight), an
 * overlapping one in its own transaction, whose id keeps its place before the next batch's (the savepoint is
 * set with `BEGIN; SELECT txid_current()`, no extra round trip; the rows' `tx` stays the top-level id).
 *
 * The transactions it begins run at READ COMMITTED whatever the session's `default_transaction_isolation`
 * (`BEGIN ISOLATION LEVEL READ COMMITTED`, in the same query string: no round trip added), as every transaction of
 * the log's own does (docs/durable.md, "Isolation"). A lone batch's INSERT runs at the session's level: one
 * statement that reads no table is the same at every level, and stays one prepared statement, one round trip.
 */
import type pg from 'pg'
import type { CheckedOutClient } from '../pg/check-out.js'
import { AppendFailedError, DurableLogClosedError, DurableSchemaMissingError, UnsupportedServerError } from './errors.js'
import { joinedValues } from './joined-values.js'
import { partitionOfKey } from './key-partition.js'
import type { LogContext, LogMeta } from './log-context.js'
import { failureInfo, isDataException, isRefusal, isRolledBack } from './pg-failure.js'
import { encodeToken } from './position.js'

/** A value ready to be written: its channel, key and JSON text. */
export interface Encoded {
  readonly channel: string
  readonly key: string | undefined
  readonly text: string
}

interface Waiting extends Encoded {
  readonly settle?: { resolve(token: string): void; reject(error: unknown): void } | undefined
}

type OwnError = AppendFailedError | DurableLogClosedError | DurableSchemaMissingError | UnsupportedServerError

/** Batch transactions in flight at once while a burst is written (each holds a pool connection). */
const OVERLAPPING = 2

/** The savepoint a batch's values are written again from when the server refused them for one's data. */
const SAVEPOINT = 'rxpg_append'

/** How far a batch got: nothing can have been written before `sent`, nor committed before `committing`. */
type Stage = 'preparing' | 'sent' | 'committing'

/** A batch being written, and whether its values have been settled (by its outcome, or by abandon()). */
interface Flight {
  readonly batch: Waiting[]
  stage: Stage
  settled: boolean
  /** Values the server refused for their own data, with its error: they fail alone, whatever the batch's outcome. */
  readonly refused: Map<Waiting, unknown>
}

interface Row {
  epoch: number
  tx: string
  id: string
}

/** What one statement wrote: its values, and its rows (none when no caller waits for a token). */
interface Part {
  readonly batch: Waiting[]
  readonly rows: Row[]
}

export class AppendBatcher {
  private queue: Waiting[] = []
  /** The loop that takes batches off the queue, while there is one. */
  private inFlight: Promise<void> | undefined
  /** Overlapping batch transactions not finished yet (their transaction ids are taken). */
  private readonly overlapping = new Set<Promise<void>>()
  private readonly flights = new Set<Flight>()

  constructor(
    private readonly context: LogContext,
    private readonly reportError: (error: OwnError) => void,
  ) {}

  get depth(): number {
    return this.queue.length
  }

  /** Queues one checked value; `settle` gets its token once committed (or the failure). Returns false when the queue is full. */
  push(item: Waiting): boolean {
    if (this.queue.length >= this.context.resolved.maxQueue) return false
    this.queue.push(item)
    if (this.inFlight === undefined) this.inFlight = Promise.resolve().then(() => this.run())
    return true
  }

  /** Resolves once everything queued so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.inFlight !== undefined || this.overlapping.size > 0) await Promise.all([this.inFlight, ...this.overlapping])
  }

  /**
   * Fails the batches being written, whose statements close() gave up waiting for (their connections are
   * destroyed): `unknown` once sent (it may have committed), else `not-sent`. Their own outcome, should it
   * still come, is then ignored.
   */
  abandon(): void {
    for (const flight of this.flights) {
      const outcome = flight.stage === 'preparing' ? 'not-sent' : 'unknown'
      this.settleFlight(flight, () => {
        for (const item of flight.batch) {
          if (flight.refused.has(item)) this.fail(item, refusedError(item, flight.refused.get(item)))
          else this.fail(item, new AppendFailedError({ channel: item.channel, outcome, detail: `the log was closed before the batch's statement answered (closeTimeout ${this.context.resolved.closeTimeout} ms)` }))
        }
      })
    }
  }

  /** Fails everything still waiting when close() gave up on the server: nothing of it was sent. */
  failQueued(): void {
    for (const item of this.queue.splice(0)) {
      this.fail(item, new AppendFailedError({ channel: item.channel, outcome: 'not-sent', detail: `the log was closed before it was written (closeTimeout ${this.context.resolved.closeTimeout} ms)` }))
    }
  }

  /** Rejects everything still waiting (on close, after the last drain). */
  rejectAll(): void {
    for (const item of this.queue.splice(0)) this.fail(item, new DurableLogClosedError({ operation: 'append' }))
  }

  private async run(): Promise<void> {
    // Once close() gave up on the server, what waits stays queued for failQueued(): nothing more is sent.
    while (this.queue.length > 0 && !this.context.abandoned) {
      const size = this.context.resolved.maxBatchSize
      if (this.queue.length <= size) {
        // Nothing behind it: one statement. Overlapping transactions still in flight took their ids before it.
        await this.write(this.queue.splice(0, size))
        continue
      }
      // Room first, then the batch: a batch is always either queued or a flight (abandon() and failQueued()
      // fail every value, none is held in between).
      while (this.overlapping.size >= OVERLAPPING) await Promise.race(this.overlapping)
      if (this.context.abandoned || this.queue.length <= size) continue
      const { idTaken, done } = this.writeOverlapping(this.queue.splice(0, size))
      this.overlapping.add(done)
      void done.then(() => this.overlapping.delete(done))
      await idTaken
    }
    this.inFlight = undefined
  }

  /** One batch as one statement in its own transaction. */
  private async write(batch: Waiting[]): Promise<void> {
    const flight = this.fly(batch)
    let connection: CheckedOutClient | undefined
    let broken: Error | undefined
    try {
      const meta = await this.context.meta()
      const { writable, counts } = await this.prepare(flight)
      if (this.context.closed) throw new DurableLogClosedError({ operation: 'append' })
      let parts: Part[] = []
      if (writable.length > 0) {
        // Connected first: a server that cannot be reached (down, starting, shutting down) was sent nothing.
        connection = await this.context.checkOut('append')
        flight.stage = 'committing' // a statement outside a transaction block commits as it ends
        const [statement, values] = this.statementFor(writable, counts)
        try {
          parts = [{ batch: writable, rows: await this.context.query<Row>('append', statement, values, connection.client, true) }]
        } catch (error) {
          if (!refusedForData(writable, error)) throw error
          // Nothing was written, and nothing later is in flight (the run loop waits for this batch): its values
          // again, in a transaction of their own, keep their place.
          flight.stage = 'sent'
          await connection.client.query(`BEGIN ISOLATION LEVEL READ COMMITTED; SAVEPOINT ${SAVEPOINT}`)
          parts = await this.writeApart(connection.client, flight, writable, counts)
          flight.stage = 'committing'
          await connection.client.query('COMMIT')
        }
      }
      this.settleFlight(flight, () => this.committed(flight, meta, counts, parts))
    } catch (error) {
      if (connection !== undefined && flight.stage === 'sent') {
        await connection.client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError))
      } else if (connection !== undefined && flight.stage === 'committing' && !isRefusal(infoOf(error)) && !isRolledBack(infoOf(error))) {
        // A connection that failed mid-statement is not given back to the pool.
        broken = error instanceof Error ? error : new Error(String(error))
      }
      this.settleFlight(flight, () => this.failed(flight, error))
    } finally {
      this.flights.delete(flight)
      connection?.release(broken)
    }
  }

  private fly(batch: Waiting[]): Flight {
    const flight: Flight = { batch, stage: 'preparing', settled: false, refused: new Map() }
    this.flights.add(flight)
    return flight
  }

  /** Settles a batch's values once: by its outcome, or by abandon(), whichever comes first. */
  private settleFlight(flight: Flight, settle: () => void): void {
    if (flight.settled) return
    flight.settled = true
    settle()
  }

  /** One batch in a transaction that takes its id first; `idTaken` resolves then (or when it failed before). */
  private writeOverlapping(batch: Waiting[]): { idTaken: Promise<void>; done: Promise<void> } {
    let takeId!: () => void
    const idTaken = new Promise<void>((resolve) => (takeId = resolve))
    const done = (async () => {
      const flight = this.fly(batch)
      let connection: CheckedOutClient | undefined
      let broken: Error | undefined
      try {
        const meta = await this.context.meta()
        const { writable, counts } = await this.prepare(flight)
        if (this.context.closed) throw new DurableLogClosedError({ operation: 'append' })
        let parts: Part[] = []
        if (writable.length > 0) {
          connection = await this.context.checkOut('append')
          // The savepoint, sent with BEGIN, is there for a refusal (below); the rows' tx stays the top-level id.
          await connection.client.query(`BEGIN ISOLATION LEVEL READ COMMITTED; SELECT txid_current(); SAVEPOINT ${SAVEPOINT}`)
          takeId()
          flight.stage = 'sent'
          const [statement, values] = this.statementFor(writable, counts)
          try {
            parts = [{ batch: writable, rows: await this.context.query<Row>('append', statement, values, connection.client) }]
          } catch (error) {
            if (!refusedForData(writable, error)) throw error
            // Written again in this transaction: a new one would take an id after the next batch's.
            await connection.client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`)
            parts = await this.writeApart(connection.client, flight, writable, counts)
          }
          flight.stage = 'committing'
          await connection.client.query('COMMIT')
        }
        takeId()
        this.settleFlight(flight, () => this.committed(flight, meta, counts, parts))
      } catch (error) {
        takeId()
        if (connection !== undefined && flight.stage !== 'committing') {
          await connection.client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError))
        }
        this.settleFlight(flight, () => this.failed(flight, error))
      } finally {
        this.flights.delete(flight)
        connection?.release(broken)
      }
    })()
    return { idTaken, done }
  }

  /**
   * The partition counts of the batch's channels, and its values to write: all but those of a channel whose name
   * the server refused for its data (registering it failed, e.g. a character the database's encoding cannot
   * hold), which fail alone.
   */
  private async prepare(flight: Flight): Promise<{ writable: Waiting[]; counts: Map<string, number> }> {
    const counts = new Map<string, number>()
    for (const channel of new Set(flight.batch.map((item) => item.channel))) {
      try {
        counts.set(channel, await this.context.partitionsOf(channel))
      } catch (error) {
        if (isOwnError(error) || !isDataException(infoOf(error))) throw error
        for (const item of flight.batch) if (item.channel === channel) flight.refused.set(item, error)
      }
    }
    return { writable: flight.refused.size === 0 ? flight.batch : flight.batch.filter((item) => !flight.refused.has(item)), counts }
  }

  /**
   * Writes `values` again, in the transaction `client` is in, from the savepoint SAVEPOINT: the server refused
   * them in one statement for one value's data, so nothing of it was applied. They are split in halves, each one
   * statement; a half refused again is rolled back to the savepoint and split again, down to the single values
   * refused, which fail alone (`flight.refused`). Halves go first to last, in one transaction: the rows keep call
   * order and the batch's place in the log. k values refused among n cost about 2k·log2(n) statements.
   */
  private async writeApart(client: pg.ClientBase, flight: Flight, values: Waiting[], counts: ReadonlyMap<string, number>): Promise<Part[]> {
    const parts: Part[] = []
    const write = async (group: Waiting[]): Promise<void> => {
      const [statement, parameters] = this.statementFor(group, counts)
      let rows: Row[]
      try {
        rows = await this.context.query<Row>('append', statement, parameters, client)
      } catch (error) {
        if (isOwnError(error) || !isDataException(infoOf(error))) throw error
        await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`)
        if (group.length === 1) flight.refused.set(group[0] as Waiting, error)
        else for (const half of halves(group)) await write(half)
        return
      }
      parts.push({ batch: group, rows })
      // Past the rows written, so that a later refusal does not roll them back.
      await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}; SAVEPOINT ${SAVEPOINT}`)
    }
    for (const half of halves(values)) await write(half)
    return parts
  }

  /** Settles a batch after its commit: each value written with its own row's token, each refused with its own error. */
  private committed(flight: Flight, meta: LogMeta, counts: ReadonlyMap<string, number>, parts: Part[]): void {
    if (parts.length > 0) for (const channel of counts.keys()) this.context.wake(channel)
    for (const { batch, rows } of parts) {
      if (rows.length === 0) continue // append$ only: nobody waits for a token, so none was returned
      // Ids were taken in the order of the rows given; RETURNING's order is not promised, so sort by id.
      rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
      batch.forEach((item, index) => {
        const row = rows[index] as Row
        item.settle?.resolve(encodeToken(meta.logId, { epoch: row.epoch, tx: BigInt(row.tx), id: BigInt(row.id) }))
      })
    }
    for (const [item, error] of flight.refused) this.fail(item, refusedError(item, error))
  }

  /**
   * Fails every value of a batch (a value refused for its own data with its own error). Nothing was written when
   * the batch never reached the server, when the server refused it, or when its transaction ended before COMMIT;
   * a connection lost while committing leaves it unknown.
   */
  private failed(flight: Flight, error: unknown): void {
    const info = infoOf(error)
    // A serialization failure or deadlock rolled the transaction back: nothing committed (a lone INSERT at your
    // level, under SERIALIZABLE, can meet one with a serializable transaction of yours that read the log).
    const outcome = flight.stage !== 'committing' || isRefusal(info) || isRolledBack(info) ? 'not-sent' : 'unknown'
    for (const item of flight.batch) {
      if (flight.refused.has(item)) this.fail(item, refusedError(item, flight.refused.get(item)))
      else this.fail(item, isOwnError(error) ? error : new AppendFailedError({ channel: item.channel, outcome, ...info }, { cause: error }))
    }
  }

  /** The INSERT for a batch and its parameters: the joined form when it applies (joined-values.ts), else one array per column. */
  private statementFor(batch: Waiting[], counts: ReadonlyMap<string, number>): [string, unknown[]] {
    const { queries } = this.context
    const returning = batch.some((item) => item.settle !== undefined)
    const joined = joinedValues(batch)
    if (joined !== undefined) {
      const channel = batch[0]!.channel
      return [returning ? queries.appendJoined : queries.appendJoinedQuiet, [channel, counts.get(channel) ?? 1, joined]]
    }
    return [
      returning ? queries.appendMany : queries.appendManyQuiet,
      [
        batch.map((item) => item.channel),
        batch.map((item) => partitionOfKey(item.key, counts.get(item.channel) ?? 1)),
        batch.map((item) => item.key ?? null),
        batch.map((item) => item.text),
      ],
    ]
  }

  private fail(item: Waiting, error: OwnError): void {
    if (item.settle) item.settle.reject(error)
    else this.reportError(error)
  }
}

/** Errors that already say what is wrong with the log itself (closed, not installed): passed on as they are. */
function isOwnError(error: unknown): error is Exclude<OwnError, AppendFailedError> {
  return error instanceof DurableLogClosedError || error instanceof DurableSchemaMissingError || error instanceof UnsupportedServerError
}

/**
 * True when the server refused a statement of several values for a value's data (SQLSTATE class 22): nothing of
 * it was applied, and written apart, the values it did not refuse can be.
 */
function refusedForData(values: readonly Waiting[], error: unknown): boolean {
  return values.length > 1 && !isOwnError(error) && isDataException(infoOf(error))
}

/** The error of a value the server refused for its own data: nothing of it was written. */
function refusedError(item: Waiting, error: unknown): AppendFailedError {
  return new AppendFailedError({ channel: item.channel, outcome: 'not-sent', ...infoOf(error) }, { cause: error })
}

/** A group of values in two halves, the first half first (a single value as it is). */
function halves(values: Waiting[]): Waiting[][] {
  const middle = Math.ceil(values.length / 2)
  return values.length > 1 ? [values.slice(0, middle), values.slice(middle)] : [values]
}

/** What failed, from the driver's error (kept as the cause of rxpg's own errors). */
function infoOf(error: unknown): ReturnType<typeof failureInfo> {
  return failureInfo(error instanceof Error && error.cause !== undefined ? error.cause : error)
}
