/**
 * @internal The durable carrier: a feed's changes are messages of its durable channel, read with `log.read`
 * (backlog from `from`, then live, in the log's order, with tokens). Triggers wake readers with a NOTIFY on the
 * log's wake-up channel at most once per wake window; a second read one window after each wake-up picks up
 * the changes of writers that committed inside the window without a NOTIFY of their own.
 */
import { asyncScheduler, auditTime, filter, finalize, map, Observable } from 'rxjs'
import { defineChannel, type Either } from '../index.js'
import { createDurableLog, type DurableLog, type StartPosition } from '../durable/index.js'
import { InvalidChangeFeedError } from './errors.js'
import type { InstalledFeed } from './inspect-feed.js'
import type { ChangeSource } from './types.js'
import type { WireChange } from './wire.js'

export function durableWires(source: ChangeSource, installed: InstalledFeed, from: StartPosition): Observable<WireChange> {
  const { feed, names } = installed
  const scheduler = source.scheduler ?? asyncScheduler
  if (source.log !== undefined && source.log.schema !== feed.logSchema) {
    throw new InvalidChangeFeedError({
      table: installed.table,
      detail: `the feed writes to the durable log in schema ${JSON.stringify(feed.logSchema)}, the log given reads schema ${JSON.stringify(source.log.schema)}`,
    })
  }
  // The message's JSON text as it is stored (json: false, a decoder that keeps it): parsed later with the
  // table's column types, so that bigint and numeric keep every digit.
  const raw = defineChannel(names.channel, (text: unknown): Either<never, string> => ({ _tag: 'Right', right: String(text) }), { json: false })
  const lateWakeUps = source.listener.channel(names.wakeChannel).pipe(
    filter((notification) => notification.payload === names.channel),
    auditTime(Math.max(1, feed.wakeWindow ?? 0), scheduler),
  )
  return new Observable<WireChange>((subscriber) => {
    // A reader's own log only reads: maintenance (retention) is for the applications that write the log, with
    // their retention; this one's defaults would drop what they keep longer, in every channel.
    const own: DurableLog | undefined =
      source.log === undefined ? createDurableLog({ listener: source.listener, pool: source.pool, schema: feed.logSchema ?? undefined, scheduler, maintenanceInterval: false }) : undefined
    const log = source.log ?? (own as DurableLog)
    return log
      .read(raw, { from, wakeUps: lateWakeUps })
      .pipe(
        map((message): WireChange => ({ text: message.value._tag === 'Right' ? message.value.right : message.value.left.info.payload, keyText: message.key, token: message.token, statementTime: message.appendedAt })),
        finalize(() => void own?.close()),
      )
      .subscribe(subscriber)
  })
}
