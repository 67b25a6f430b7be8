/**
 * @internal The queue behind `append` and `append$`: values are checked at once, then written in call order,
 * as many as are waiting in one multi-row INSERT (one transaction, one round trip), one statement in flight.
 * After each commit the channels written to are woken once (coalesced, see coalesce-wakes.ts).
 */
import { AppendFailedError, DurableLogClosedError, DurableSchemaMissingError, UnsupportedServerError } from './errors.js'
import { joinedValues } from './joined-values.js'
import { partitionOfKey } from './key-partition.js'
import type { LogContext } from './log-context.js'
import { failureInfo, isRefusal } from './pg-failure.js'
import { encodeToken } from './position.js'

/** A value ready to be written: its channel, key and JSON text. */
export interface Encoded {
  readonly channel: string
  readonly key: string | undefined
  readonly text: string
}

interface Waiting extends Encoded {
  readonly settle?: { resolve(token: string): void; reject(error: unknown): void }
}

export class AppendBatcher {
  private queue: Waiting[] = []
  private inFlight: Promise<void> | undefined

  constructor(
    private readonly context: LogContext,
    private readonly reportError: (error: AppendFailedError | DurableLogClosedError | DurableSchemaMissingError | UnsupportedServerError) => void,
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
    while (this.inFlight !== undefined) await this.inFlight
  }

  /** Rejects everything still waiting (on close, after the last drain). */
  rejectAll(): void {
    for (const item of this.queue.splice(0)) this.fail(item, new DurableLogClosedError({ operation: 'append' }))
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.context.resolved.maxBatchSize)
      await this.write(batch)
    }
    this.inFlight = undefined
  }

  private async write(batch: Waiting[]): Promise<void> {
    let tokens: string[]
    // Until the INSERT is sent nothing can have been written; after, a broken connection leaves it unknown.
    let sent = false
    try {
      const meta = await this.context.meta()
      const channels = [...new Set(batch.map((item) => item.channel))]
      const counts = new Map<string, number>()
      for (const channel of channels) counts.set(channel, await this.context.partitionsOf(channel))
      sent = true
      const returning = batch.some((item) => item.settle !== undefined)
      const [statement, values] = this.statementFor(batch, counts, returning)
      if (returning) {
        const rows = await this.context.query<{ epoch: number; tx: string; id: string }>('append', statement, values)
        // Ids were taken in the order of the rows given; RETURNING's order is not promised, so sort by id.
        rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
        tokens = rows.map((row) => encodeToken(meta.logId, { epoch: row.epoch, tx: BigInt(row.tx), id: BigInt(row.id) }))
      } else {
        // Only append$ values: nobody waits for a token, so none is returned.
        await this.context.query('append', statement, values)
        tokens = []
      }
      for (const channel of channels) this.context.wake(channel)
    } catch (error) {
      const info = failureInfo(error instanceof Error && error.cause !== undefined ? error.cause : error)
      const outcome = !sent || isRefusal(info) ? 'not-sent' : 'unknown'
      for (const item of batch) {
        this.fail(item, isOwnError(error) ? error : new AppendFailedError({ channel: item.channel, outcome, ...info }, { cause: error }))
      }
      return
    }
    batch.forEach((item, index) => item.settle?.resolve(tokens[index] as string))
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

  private fail(item: Waiting, error: AppendFailedError | DurableLogClosedError | DurableSchemaMissingError | UnsupportedServerError): void {
    if (item.settle) item.settle.reject(error)
    else this.reportError(error)
  }
}

/** Errors that already say what is wrong with the log itself (closed, not installed): passed on as they are. */
function isOwnError(error: unknown): error is DurableLogClosedError | DurableSchemaMissingError | UnsupportedServerError {
  return error instanceof DurableLogClosedError || error instanceof DurableSchemaMissingError || error instanceof UnsupportedServerError
}
