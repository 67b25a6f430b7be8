/**
 * A durable log's numeric options and a consumer's, checked when the log or the consumer is made (see
 * option-checks.ts): a value it cannot honour is a RangeError naming the option, what it must be and the value
 * given, never a loop (a batch of 0 rows read again and again), a hang (appends that never leave the queue) or
 * a failure later (a partition count the table refuses).
 */
import { describeValue, isObjectArgument } from '../errors.js'
import { checkOptionNames, given, OptionChecks, optionShape, unknownOption } from '../option-checks.js'
import { assertChannelName } from '../identifiers.js'
import type { ConsumeOptions, DeadLetterOptions, DurableLogOptions, FetchOptions, IterateOptions, ReadOptions, RetentionOptions, StallOptions } from './types.js'

const checks = new OptionChecks('rxpg/durable')

/** 2^31 - 1 seconds, in ms: the longest age or span maintenance takes (its integer seconds). */
const MAX_SECONDS_MS = 2_147_483_647_000

/** The partition counts `durable_channels` allows (its CHECK constraint). */
export const MAX_PARTITIONS = 1024

/** The options createDurableLog takes, and those of each nested bag (a key added to a type must be added here). */
const LOG_OPTIONS = {
  listener: true,
  pool: true,
  schema: true,
  scheduler: true,
  pollInterval: true,
  wakeWindow: true,
  batchSize: true,
  partitions: true,
  retention: true,
  maintenanceInterval: true,
  stall: true,
  appendBatch: true,
  prepare: true,
  closeTimeout: true,
} as const satisfies Record<keyof DurableLogOptions, true>
const RETENTION_OPTIONS = { maxAge: true, maxBytes: true, partitionSpan: true, premake: true } as const satisfies Record<keyof RetentionOptions, true>
const STALL_OPTIONS = { threshold: true, interval: true } as const satisfies Record<keyof StallOptions, true>
const APPEND_BATCH_OPTIONS = { maxBatchSize: true, maxQueue: true } as const satisfies Record<keyof NonNullable<DurableLogOptions['appendBatch']>, true>

/**
 * @throws TypeError naming an option the log does not take (a misspelt `retention.maxAge` kept every message),
 * RangeError naming the first option that cannot be honoured.
 */
export function checkDurableOptions(options: DurableLogOptions): void {
  checkOptionNames('rxpg/durable', 'createDurableLog', options, LOG_OPTIONS, { noun: "createDurableLog's options", required: true })
  const listener: unknown = options.listener
  const listenerParts = ['channel', 'state$', 'notify'] as const
  if (!isObjectArgument(listener) || listenerParts.some((part) => !(part in listener))) {
    const got = isObjectArgument(listener) ? `an object without ${listenerParts.filter((part) => !(part in listener)).join(', ').replace(/, (?=[^,]*$)/, ' and ')}` : describeValue(listener)
    throw new TypeError(`rxpg/durable: createDurableLog needs listener: the rxpg listener (createPgListener) that wakes its readers; got ${got}`)
  }
  const pool: unknown = options.pool
  if (typeof pool !== 'string' && !isObjectArgument(pool)) {
    throw new TypeError(`rxpg/durable: createDurableLog needs pool: a pg.Pool, a connection string or a pg.PoolConfig; got ${describeValue(pool)}`)
  }
  checkOptionNames('rxpg/durable', "createDurableLog's retention", options.retention, RETENTION_OPTIONS)
  checkOptionNames('rxpg/durable', "createDurableLog's stall", options.stall, STALL_OPTIONS, { offable: true })
  checkOptionNames('rxpg/durable', "createDurableLog's appendBatch", options.appendBatch, APPEND_BATCH_OPTIONS)
  given(options.pollInterval, (value) => checks.positiveMs('pollInterval', value))
  given(options.wakeWindow, (value) => checks.nonNegativeMs('wakeWindow', value))
  given(options.batchSize, (value) => checks.positiveInteger('batchSize', value))
  given(options.partitions, (value) => checks.integerBetween('partitions', value, 1, MAX_PARTITIONS))
  const retention = options.retention ?? {}
  // Ages and spans go to maintenance as whole seconds in an integer (and the span names partitions): at most
  // 2^31 - 1 seconds, about 68 years.
  given(retention.maxAge ?? undefined, (value) => checks.integerBetween('retention.maxAge', value, 1, MAX_SECONDS_MS))
  given(retention.maxBytes ?? undefined, (value) => checks.positiveInteger('retention.maxBytes', value))
  given(retention.partitionSpan, (value) => checks.wholeSecondsMs('retention.partitionSpan', value, MAX_SECONDS_MS))
  given(retention.premake, (value) => checks.integerBetween('retention.premake', value, 0, 1000))
  if (options.maintenanceInterval !== false) given(options.maintenanceInterval, (value) => checks.positiveMs('maintenanceInterval', value))
  if (options.stall) {
    given(options.stall.threshold, (value) => checks.positiveMs('stall.threshold', value))
    given(options.stall.interval, (value) => checks.positiveMs('stall.interval', value))
  }
  given(options.appendBatch?.maxBatchSize, (value) => checks.positiveInteger('appendBatch.maxBatchSize', value))
  given(options.appendBatch?.maxQueue, (value) => checks.positiveInteger('appendBatch.maxQueue', value))
  given(options.closeTimeout, (value) => checks.nonNegativeMsOrInfinity('closeTimeout', value))
}

/** @throws RangeError naming the first consume option that cannot be honoured. */
export function checkConsumeOptions(options: ConsumeOptions, channel?: string): void {
  given(options.batchSize, (value) => checks.positiveInteger('consume batchSize', value))
  // A lease must outlast a batch: a lease of 0 or 1 ms made every ack stale, and the batch come again at once.
  given(options.leaseTtl, (value) => checks.integerBetween('consume leaseTtl', value, 100, 2_147_483_647))
  given(options.retryDelay, (value) => (typeof value === 'function' ? value : checks.positiveMs('consume retryDelay', value)))
  checkDeadLetter(options.deadLetter, channel)
}

const DEAD_LETTER_OPTIONS = { channel: true, maxAttempts: true } as const satisfies Record<keyof DeadLetterOptions, true>

/**
 * A consumer's `deadLetter`: another channel of the log (a message set aside into the channel consumed would come
 * back to the group, in an envelope, for ever) and a count of attempts.
 */
function checkDeadLetter(deadLetter: DeadLetterOptions | undefined, channel: string | undefined): void {
  if (deadLetter === undefined) return
  checkOptionNames('rxpg/durable', "consume's deadLetter", deadLetter, DEAD_LETTER_OPTIONS, { noun: "consume's deadLetter" })
  assertChannelName(deadLetter.channel)
  if (deadLetter.channel === channel) {
    throw new RangeError(`rxpg/durable: consume's deadLetter.channel must be another channel than the one consumed (${JSON.stringify(channel)}): what it sets aside would come back to the group`)
  }
  checks.positiveInteger('consume deadLetter.maxAttempts', deadLetter.maxAttempts)
}

/**
 * The wait before a failed batch's attempt number `attempt` + 1: `retryDelay` itself, or what it returns.
 * @throws RangeError when a function returns what no timer can wait (the consumer stops with it).
 */
export function retryDelayAfter(retryDelay: NonNullable<ConsumeOptions['retryDelay']>, attempt: number): number {
  return typeof retryDelay === 'function' ? checks.positiveMs(`consume retryDelay(${attempt})'s result`, retryDelay(attempt)) : retryDelay
}

/** The options each operation takes, checked against its type (a key added to the type must be added here). */
export const READ_OPTIONS = { from: true, batchSize: true, wakeUps: true } as const satisfies Record<keyof ReadOptions, true>
export const ITERATE_OPTIONS = { ...READ_OPTIONS, signal: true } as const satisfies Record<keyof IterateOptions, true>
export const FETCH_OPTIONS = { after: true, limit: true } as const satisfies Record<keyof FetchOptions, true>
export const CONSUME_OPTIONS = { from: true, batchSize: true, leaseTtl: true, retryDelay: true, deadLetter: true, member: true } as const satisfies Record<keyof ConsumeOptions, true>

/**
 * An operation's options: an object of the options it takes, or nothing (`undefined` or `null`: the defaults).
 * Anything else is what a JavaScript caller passes by mistake: a token where `{ from: token }` goes, a misspelt
 * `from` (`form`), fetch's `after` on a read. Each read from 'now' without a word.
 * @throws TypeError saying what the options are and, for a string, how to pass a position.
 */
export function optionsOf<T extends object>(operation: string, options: T | null | undefined, known: Readonly<Record<keyof T, true>>, position?: keyof T & string): T | Partial<T> {
  if (options === undefined || options === null) return {}
  const shape = optionShape(known)
  if (!isObjectArgument(options)) {
    const hint = typeof options === 'string' && position !== undefined ? `: to start after a token, pass { ${position}: token }` : ''
    throw new TypeError(`rxpg/durable: ${operation}'s options are an object ${shape}; got ${describeValue(options)}${hint}`)
  }
  const unknown = unknownOption(options, known)
  if (unknown !== undefined) throw new TypeError(`rxpg/durable: ${operation} has no option ${JSON.stringify(unknown)}; its options are ${shape}`)
  return options
}

/**
 * `append`'s `client`: the pg client the caller's transaction runs on. An ORM's transaction object is not one
 * (its statements would fail as "query is not a function", blamed on opening the log).
 */
export function checkAppendClient(client: unknown): void {
  if (client === undefined || (typeof client === 'object' && client !== null && typeof (client as { query?: unknown }).query === 'function')) return
  throw new TypeError(
    `rxpg/durable: append's client must be the pg client your transaction runs on (a pg.Client, or a pool client), with query(text, values); got ${describeValue(client)}. An ORM's transaction object is not one: pass the pg client under it (docs/durable.md, "Appending in your transaction").`,
  )
}

/** A consumer's handler: called for every batch, so a wrong one would fail every batch, retried for ever. */
export function checkHandler(handler: unknown): void {
  if (typeof handler !== 'function') throw new TypeError(`rxpg/durable: consume's handler must be a function (messages, client) => …; got ${describeValue(handler)}`)
}

/** The rows a read asks for per statement (fetch: its `limit`), when given. */
export function checkBatchSize(operation: string, value: number | undefined, option = 'batchSize'): void {
  given(value, (size) => checks.positiveInteger(`${operation} ${option}`, size))
}

/**
 * A consumer group's name: stored as text (a key of the cursors' table), so a non-empty string that PostgreSQL
 * keeps exactly: no NUL, no lone UTF-16 surrogate (which would come back as U+FFFD, another group).
 */
export function checkGroupName(group: unknown): asserts group is string {
  if (typeof group !== 'string' || group === '' || group.includes('\0') || !group.isWellFormed()) {
    const got = typeof group === 'string' ? JSON.stringify(group) : group === null ? 'null' : typeof group
    throw new RangeError(`rxpg/durable: a consumer group's name must be a non-empty string without NUL or lone UTF-16 surrogates; got ${got}`)
  }
}
