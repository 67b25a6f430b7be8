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
 */
import type { CheckedOutClient } from '../pg/check-out.js'
import { AppendFailedError, DurableLogClosedError, DurableSchemaMissingError, UnsupportedServerError } from './errors.js'
import { joinedValues } from './joined-values.js'
import { partitionOfKey } from './key-partition.js'
import type { LogContext, LogMeta } from './log-context.js'
import { failureInfo, isRefusal } from './pg-failure.js'
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

/** How far a batch got: nothing can have been written before `sent`, nor committed before `committing`. */
type Stage = 'preparing' | 'sent' | 'committing'

/** A batch being written, and whether its values have been settled (by its outcome, or by abandon()). */
interface Flight {
  readonly batch: Waiting[]
  stage: Stage
  settled: boolean
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
          this.fail(item, new AppendFailedError({ channel: item.channel, outcome, detail: `the log was closed before the batch's statement answered (closeTimeout ${this.context.resolved.closeTimeout} ms)` }))
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
      const prepared = await this.prepare(batch)
      if (this.context.closed) throw new DurableLogClosedError({ operation: 'append' })
      // Connected first: a server that cannot be reached (down, starting, shutting down) was sent nothing.
      connection = await this.context.checkOut('append')
      flight.stage = 'committing' // a statement outside a transaction block commits as it ends
      const rows = await this.context.query<{ epoch: number; tx: string; id: string }>('append', prepared.statement, prepared.values, connection.client, true)
      this.settleFlight(flight, () => this.committed(batch, meta, prepared.channels, rows))
    } catch (error) {
      // A connection that failed mid-statement is not given back to the pool.
      if (connection !== undefined && flight.stage === 'committing' && !isRefusal(infoOf(error))) {
        broken = error instanceof Error ? error : new Error(String(error))
      }
      this.settleFlight(flight, () => this.failed(batch, error, flight.stage))
    } finally {
      this.flights.delete(flight)
      connection?.release(broken)
    }
  }

  private fly(batch: Waiting[]): Flight {
    const flight: Flight = { batch, stage: 'preparing', settled: false }
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
        const prepared = await this.prepare(batch)
        if (this.context.closed) throw new DurableLogClosedError({ operation: 'append' })
        connection = await this.context.checkOut('append')
        await connection.client.query('BEGIN; SELECT txid_current()')
        takeId()
        flight.stage = 'sent'
        const rows = await this.context.query<{ epoch: number; tx: string; id: string }>('append', prepared.statement, prepared.values, connection.client)
        flight.stage = 'committing'
        await connection.client.query('COMMIT')
        this.settleFlight(flight, () => this.committed(batch, meta, prepared.channels, rows))
      } catch (error) {
        takeId()
        if (connection !== undefined && flight.stage !== 'committing') {
          await connection.client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError))
        }
        this.settleFlight(flight, () => this.failed(batch, error, flight.stage))
      } finally {
        this.flights.delete(flight)
        connection?.release(broken)
      }
    })()
    return { idTaken, done }
  }

  /** The batch's channels (their partition counts known) and its INSERT. */
  private async prepare(batch: Waiting[]): Promise<{ channels: string[]; statement: string; values: unknown[] }> {
    const channels = [...new Set(batch.map((item) => item.channel))]
    const counts = new Map<string, number>()
    for (const channel of channels) counts.set(channel, await this.context.partitionsOf(channel))
    const returning = batch.some((item) => item.settle !== undefined)
    const [statement, values] = this.statementFor(batch, counts, returning)
    return { channels, statement, values }
  }

  private committed(batch: Waiting[], meta: LogMeta, channels: string[], rows: Array<{ epoch: number; tx: string; id: string }>): void {
    for (const channel of channels) this.context.wake(channel)
    if (rows.length === 0) return // append$ only: nobody waits for a token, so none was returned
    // Ids were taken in the order of the rows given; RETURNING's order is not promised, so sort by id.
    rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
    batch.forEach((item, index) => {
      const row = rows[index] as { epoch: number; tx: string; id: string }
      item.settle?.resolve(encodeToken(meta.logId, { epoch: row.epoch, tx: BigInt(row.tx), id: BigInt(row.id) }))
    })
  }

  /**
   * Fails every value of a batch. Nothing was written when the batch never reached the server, when the server
   * refused it, or when its transaction ended before COMMIT; a connection lost while committing leaves it unknown.
   */
  private failed(batch: Waiting[], error: unknown, stage: Stage): void {
    const info = infoOf(error)
    const outcome = stage !== 'committing' || isRefusal(info) ? 'not-sent' : 'unknown'
    for (const item of batch) {
      this.fail(item, isOwnError(error) ? error : new AppendFailedError({ channel: item.channel, outcome, ...info }, { cause: error }))
    }
  }

  /** The INSERT for a batch and its parameters: the joined form when it applies (joined-values.ts), else one array per column. */
  private statementFor(batch: Waiting[], counts: ReadonlyMap<string, number>, returning: boolean): [string, unknown[]] {
    const { queries } = this.context
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

/** What failed, from the driver's error (kept as the cause of rxpg's own errors). */
function infoOf(error: unknown): ReturnType<typeof failureInfo> {
  return failureInfo(error instanceof Error && error.cause !== undefined ? error.cause : error)
}
