/**
 * `consumeChanges`: a durable feed's changes worked by a consumer group of its durable log, as typed changes:
 * the group's members share the feed channel's partitions (a row's changes stay in its key's partition, in
 * order), and each batch is handled in the transaction that advances the group's cursor, so effects written
 * through its client happen once. The same changes as `tableChanges`, read into their JSON form with the
 * table's column types (so bigint and numeric keep every digit) and decoded with the codec. See docs/changes.md.
 */
import type pg from 'pg'
import { asyncScheduler } from 'rxjs'
import { describeValue } from '../errors.js'
import { checkConsumeOptions, checkGroupName, CONSUME_OPTIONS, optionsOf } from '../durable/check-options.js'
import type { DecodedType, Decoder } from '../index.js'
import type { ConsumeOptions, DurableConsumer, DurableLog } from '../durable/index.js'
import { FEED_READER_OPTIONS, refuseUnknownOptions } from './feed-options.js'
import { changeDecoder } from './decode-change.js'
import { checkFeedLog, rawFeedChannel, wireOf } from './durable-wires.js'
import { InvalidChangeFeedError } from './errors.js'
import { inspectFeed } from './inspect-feed.js'
import { wireReader } from './read-wire.js'
import type { ChangeConsumerSource, ChangesHandler, ConsumeChangesOptions, JsonRow } from './types.js'

/**
 * Joins consumer group `group` of a durable feed once the feed is checked in the catalog (installed, as asked,
 * triggers enabled), and works its changes in batches: `handler(changes, client)` runs in the transaction that
 * advances the group's cursor. `consume` (the log's) says what `consumeOptions` are (`from`: where a new group
 * starts, default `'earliest'`), and what the returned consumer does (`events$`, `stats`, `stop()`).
 *
 * ```ts
 * const consumer = await consumeChanges({ log, pool }, { table: 'public.orders', row: Order }, 'billing', async (changes, client) => {
 *   for (const change of changes) await client.query('INSERT INTO billed (order_id, op) VALUES ($1, $2)', [change.key.id, change.op])
 * })
 * ```
 *
 * @throws (rejects) `ChangeFeedNotInstalledError` (naming the SQL to run), `NoPrimaryKeyError`,
 * `ChangesUnsupportedServerError`, `ChangesQueryFailedError`; `InvalidChangeFeedError` for a light feed (it has
 * no log to consume), a log of another schema than the feed's, or options that cannot name a feed.
 */
export async function consumeChanges<D extends Decoder<unknown> = Decoder<JsonRow>>(
  source: ChangeConsumerSource,
  options: ConsumeChangesOptions<D>,
  group: string,
  handler: ChangesHandler<DecodedType<D>>,
  consumeOptions?: ConsumeOptions,
): Promise<DurableConsumer>
export async function consumeChanges(
  source: ChangeConsumerSource,
  options: ConsumeChangesOptions<Decoder<unknown>>,
  group: string,
  handler: ChangesHandler<unknown>,
  consumeOptions?: ConsumeOptions,
): Promise<DurableConsumer> {
  // A misspelt option is refused: `from` belongs to the group's options (consumeOptions), not to the feed's.
  refuseUnknownOptions(options, FEED_READER_OPTIONS, (name) => (name === 'from' ? " (where a new group starts is consumeOptions' `from`, the fifth argument)" : ''))
  // A JavaScript caller's source without its pool failed as a query failure ("reading 'query'").
  const given = source as { readonly pool?: Partial<pg.Pool> | undefined; readonly log?: Partial<DurableLog> | undefined } | null | undefined
  if (typeof given?.pool?.query !== 'function' || typeof given.pool.connect !== 'function') {
    throw new TypeError(`rxpg/changes: consumeChanges needs source { log, pool }: pool must be a pg.Pool (it checks the feed and reads the column types); got ${describeValue(given?.pool)}`)
  }
  if (typeof given.log?.consume !== 'function') {
    throw new TypeError(`rxpg/changes: consumeChanges needs source { log, pool }: log must be a durable log (createDurableLog) in the feed's logSchema; got ${describeValue(given.log)}`)
  }
  // The group's arguments, checked before the catalog is asked: the handler is wrapped below, and log.consume
  // would take the wrapper, whatever was given (a string, or the arguments in log.consume's order).
  if (typeof handler !== 'function') throw new TypeError(`rxpg/changes: consumeChanges' handler must be a function (changes, client) => …; got ${describeValue(handler)}`)
  checkGroupName(group)
  checkConsumeOptions(optionsOf('consume', consumeOptions, CONSUME_OPTIONS, 'from'))
  const installed = await inspectFeed(source.pool, options)
  const { feed } = installed
  if (feed.carrier !== 'durable') {
    throw new InvalidChangeFeedError({ table: installed.table, detail: 'consumer groups work durable feeds only: a light feed NOTIFYs its changes and keeps none (install it with carrier durable)' })
  }
  checkFeedLog(source.log, installed)
  const read = wireReader(source.pool, installed, source.scheduler ?? asyncScheduler)
  const decode = changeDecoder(options.row, { schema: feed.schema, table: feed.table, channel: installed.names.channel })
  return source.log.consume(
    rawFeedChannel(installed),
    group,
    async (messages, client) => {
      const changes = []
      // In order: reading a change may read the table's column types again, which the next ones then use.
      for (const message of messages) changes.push(await decode(await read(wireOf(message))))
      await handler(changes, client)
    },
    consumeOptions,
  )
}
