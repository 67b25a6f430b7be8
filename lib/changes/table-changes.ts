/**
 * `tableChanges`: a table's change feed as an Observable of typed changes. It first checks the feed in the
 * catalog (installed, as asked, triggers enabled), then reads it through its carrier, reads each change into
 * its JSON form, and decodes the rows with the codec. See docs/changes.md.
 */
import { asyncScheduler, concatMap, defer, Observable, switchMap } from 'rxjs'
import type { DecodedType, Decoder } from '../index.js'
import { describeValue } from '../errors.js'
import { isTimerMs, MAX_TIMER_MS } from '../timer-limit.js'
import { changeDecoder } from './decode-change.js'
import { durableWires } from './durable-wires.js'
import { FEED_READER_OPTIONS, refuseUnknownOptions } from './feed-options.js'
import { InvalidChangeFeedError } from './errors.js'
import { resolveFeed } from './feed.js'
import { inspectFeed } from './inspect-feed.js'
import { lightWires } from './light-wires.js'
import { wireReader } from './read-wire.js'
import type { ChangeSource, JsonRow, TableChange, TableChangesOptions } from './types.js'
import { watchFeed } from './watch-feed.js'

/** How often a running reader checks that its feed still carries the table's changes (`recheckInterval`), in ms. */
export const DEFAULT_RECHECK_INTERVAL = 30_000

/** The options `tableChanges` takes, checked against its type (a field added there must be added here). */
const OPTIONS = { ...FEED_READER_OPTIONS, from: true, recheckInterval: true } as const satisfies Record<keyof TableChangesOptions<unknown>, true>

/**
 * The changes of a table, as its feed's triggers capture them: `{ op, schema, table, key, new, old, token?,
 * statementTime }`, with `new` and `old` decoded by `options.row` (a `Left` with a `DecodeError` when a row
 * does not pass: the stream goes on).
 *
 * Cold: each subscription checks the feed and reads on its own. A durable feed starts at `from` (default
 * `'now'`) and can resume from any change's `token`; a light feed delivers what is committed while it
 * listens. Errors: `ChangeFeedNotInstalledError` (naming the SQL to run), `NoPrimaryKeyError`,
 * `ChangesUnsupportedServerError`, `ChangesQueryFailedError`, and the durable log's own (an invalid or
 * expired token).
 *
 * ```ts
 * const Order = z.object({ id: z.string(), status: z.string(), total: z.string() })
 * tableChanges({ listener: db, pool }, { table: 'public.orders', row: Order }).subscribe((change) => {
 *   if (change.new?._tag === 'Right') console.log(change.op, change.new.right.status)
 * })
 * ```
 *
 * @throws InvalidChangeFeedError at once, for options that cannot name a feed.
 */
export function tableChanges<D extends Decoder<unknown> = Decoder<JsonRow>>(source: ChangeSource, options: TableChangesOptions<D>): Observable<TableChange<DecodedType<D>>>
export function tableChanges(source: ChangeSource, options: TableChangesOptions<Decoder<unknown>>): Observable<TableChange<unknown>> {
  // A misspelt option is refused: a misspelt `from` read from 'now' without a word.
  refuseUnknownOptions(options, OPTIONS)
  const requested = resolveFeed(options)
  const fromOnLight = () => new InvalidChangeFeedError({ table: options.table, detail: '`from` applies to durable feeds only (a light feed delivers what is committed while it listens)' })
  if (options.from !== undefined && requested.carrier === 'light' && options.carrier !== undefined) throw fromOnLight()
  // Left out: the default; null is refused, as a null `from` is (no value that it could mean).
  const recheck = options.recheckInterval === undefined ? DEFAULT_RECHECK_INTERVAL : options.recheckInterval
  if (recheck !== false && !isTimerMs(recheck, true)) {
    const got = typeof recheck === 'number' ? String(recheck) : describeValue(recheck)
    throw new InvalidChangeFeedError({ table: options.table, detail: `recheckInterval must be a positive number of ms (at most ${MAX_TIMER_MS}) or false; got ${got}` })
  }
  const scheduler = source.scheduler ?? asyncScheduler
  return defer(() => inspectFeed(source.pool, options)).pipe(
    switchMap((installed) => {
      if (options.from !== undefined && installed.feed.carrier === 'light') throw fromOnLight()
      const wires = installed.feed.carrier === 'durable' ? durableWires(source, installed, options.from === undefined ? 'now' : options.from) : lightWires(source, installed)
      const read = wireReader(source.pool, installed, scheduler)
      const decode = changeDecoder(options.row, { schema: installed.feed.schema, table: installed.feed.table, channel: installed.names.channel })
      const changes = wires.pipe(concatMap(async (wire) => decode(await read(wire))))
      if (recheck === false) return changes
      // The checks end with the changes (the log or the listener closed), and fail the stream when the feed stopped.
      return new Observable<TableChange<unknown>>((subscriber) => {
        const subscription = changes.subscribe(subscriber)
        subscription.add(watchFeed(source.pool, installed, recheck, scheduler).subscribe({ error: (error: unknown) => subscriber.error(error) }))
        return subscription
      })
    }),
  )
}
