/**
 * @internal The durable carrier: a feed's changes are messages of its durable channel, read with `log.read`
 * (backlog from `from`, then live, in the log's order, with tokens). Triggers wake readers with a NOTIFY on the
 * log's wake-up channel at most once per wake window; a second read one window after each wake-up picks up
 * the changes of writers that committed inside the window without a NOTIFY of their own.
 */
import { asyncScheduler, auditTime, filter, finalize, map, Observable } from 'rxjs'
import { defineChannel, type DecodeError, type Either, type TypedChannel } from '../index.js'
import { createDurableLog, type DurableLog, type DurableMessage, type StartPosition } from '../durable/index.js'
import { InvalidChangeFeedError } from './errors.js'
import type { InstalledFeed } from './inspect-feed.js'
import type { ChangeSource } from './types.js'
import type { WireChange } from './wire.js'

/** What reading a durable feed takes: its channel kept as raw text, the late wake-ups, and the log to read. */
interface FeedReading {
  readonly channel: TypedChannel<string>
  readonly wakeUps: Observable<unknown>
  /** The log given, or one of its own, closed by `close()` (a log given is left open). */
  openLog(): { readonly log: DurableLog; close(): Promise<void> }
}

/** Checks the log given against the feed, at once (when called). */
function feedReading(source: ChangeSource, installed: InstalledFeed): FeedReading {
  const { feed, names } = installed
  if (source.log !== undefined) checkFeedLog(source.log, installed)
  const scheduler = source.scheduler ?? asyncScheduler
  return {
    channel: rawFeedChannel(installed),
    wakeUps: source.listener.channel(names.wakeChannel).pipe(
      filter((notification) => notification.payload === names.channel),
      auditTime(Math.max(1, feed.wakeWindow ?? 0), scheduler),
    ),
    openLog: () => {
      if (source.log !== undefined) return { log: source.log, close: async () => undefined }
      // A reader's own log only reads: maintenance (retention) is for the applications that write the log, with
      // their retention; this one's defaults would drop what they keep longer, in every channel.
      const own = createDurableLog({ listener: source.listener, pool: source.pool, schema: feed.logSchema ?? undefined, scheduler, maintenanceInterval: false })
      return { log: own, close: () => own.close() }
    },
  }
}

/** Throws `InvalidChangeFeedError` when `log` is not the durable log the feed writes to (another schema). */
export function checkFeedLog(log: Pick<DurableLog, 'schema'>, installed: InstalledFeed): void {
  if (log.schema === installed.feed.logSchema) return
  throw new InvalidChangeFeedError({
    table: installed.table,
    detail: `the feed writes to the durable log in schema ${JSON.stringify(installed.feed.logSchema)}, the log given reads schema ${JSON.stringify(log.schema)}`,
  })
}

/**
 * The feed's durable channel with each message's JSON text as it is stored (json: false, a decoder that keeps
 * it): parsed later with the table's column types, so that bigint and numeric keep every digit.
 */
export function rawFeedChannel(installed: InstalledFeed): TypedChannel<string> {
  return defineChannel(installed.names.channel, (text: unknown): Either<never, string> => ({ _tag: 'Right', right: String(text) }), { json: false })
}

/** A message of the feed's channel, read through `rawFeedChannel`, as a carrier's change. */
export const wireOf = (message: DurableMessage<Either<DecodeError, string>>): WireChange => ({
  text: message.value._tag === 'Right' ? message.value.right : message.value.left.info.payload,
  keyText: message.key,
  token: message.token,
  statementTime: message.appendedAt,
})

export function durableWires(source: ChangeSource, installed: InstalledFeed, from: StartPosition): Observable<WireChange> {
  const reading = feedReading(source, installed)
  return new Observable<WireChange>((subscriber) => {
    const { log, close } = reading.openLog()
    return log
      .read(reading.channel, { from, wakeUps: reading.wakeUps })
      .pipe(
        map(wireOf),
        finalize(() => void close()),
      )
      .subscribe(subscriber)
  })
}

/**
 * The same changes pulled by `for await` (the log's `iterate`): a page is read only when the loop has used the one
 * before, so a slow consumer holds the reading back rather than a backlog in memory. Ends when `signal` aborts.
 */
export async function* iterateDurableWires(source: ChangeSource, installed: InstalledFeed, from: StartPosition, signal: AbortSignal): AsyncGenerator<WireChange> {
  const reading = feedReading(source, installed)
  const { log, close } = reading.openLog()
  try {
    for await (const message of log.iterate(reading.channel, { from, wakeUps: reading.wakeUps, signal })) yield wireOf(message)
  } finally {
    await close()
  }
}
